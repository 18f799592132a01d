"""perception_kd.utils.stats.paired_difference against hand-computed cases."""
import math

import pytest

from perception_kd.utils.stats import paired_difference, t_quantile


def test_differences_one_to_four_by_hand():
    # mean 2.5; squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5, sd = sqrt(5 / 3)
    result = paired_difference([1.0, 2.0, 3.0, 4.0])
    sd = math.sqrt(5.0 / 3.0)
    se = sd / 2.0
    assert result.n == 4
    assert result.mean == pytest.approx(2.5)
    assert result.sd == pytest.approx(1.2909944, abs=1e-7)
    assert result.sd == pytest.approx(sd)
    assert result.se == pytest.approx(0.6454972, abs=1e-7)
    assert result.t == pytest.approx(3.182446, abs=1e-6)     # t_{0.975, 3} from a table
    assert result.low == pytest.approx(2.5 - 3.182446 * se, abs=1e-6)
    assert result.high == pytest.approx(2.5 + 3.182446 * se, abs=1e-6)
    assert (round(result.low, 4), round(result.high, 4)) == (0.4457, 4.5543)
    assert result.contains_zero is False
    assert result.method == '95 % t-interval on 4 paired differences'


def test_two_arms_are_paired_as_second_minus_first():
    alone = [0.2865, 0.2593, 0.2018, 0.2323]
    distilled = [0.4411, 0.3384, 0.1886, 0.3251]
    result = paired_difference(alone, distilled)
    diffs = [b - a for a, b in zip(alone, distilled)]
    assert result.mean == pytest.approx(sum(diffs) / 4)
    assert result.mean == pytest.approx(0.078325)
    # a gain of about two standard errors: the 95 % interval still contains 0
    assert result.low < 0 < result.high
    assert result.contains_zero is True
    assert paired_difference(distilled, alone).mean == pytest.approx(-result.mean)


def test_confidence_level_and_quantiles():
    assert t_quantile(0.975, 2) == pytest.approx(4.302653, abs=1e-6)
    assert t_quantile(0.95, 9) == pytest.approx(1.833113, abs=1e-6)
    wide = paired_difference([1.0, 2.0, 3.0, 4.0], confidence=0.99)
    narrow = paired_difference([1.0, 2.0, 3.0, 4.0], confidence=0.80)
    assert wide.t == pytest.approx(5.840909, abs=1e-6)
    assert narrow.high - narrow.low < wide.high - wide.low
    assert wide.method.startswith('99 % t-interval')


def test_too_few_pairs_give_no_interval():
    one = paired_difference([0.3])
    assert one.n == 1 and one.mean == pytest.approx(0.3)
    assert math.isnan(one.sd) and math.isnan(one.low) and not one.has_interval
    assert one.contains_zero is None
    assert one.method == '95 % t-interval on 1 paired difference'
    assert one.to_dict()['low'] is None          # strict JSON: no NaN
    none = paired_difference([])
    assert none.n == 0 and math.isnan(none.mean)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match='pairs need one of each'):
        paired_difference([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match='not every difference is finite'):
        paired_difference([1.0, float('nan')])
    with pytest.raises(ValueError, match='confidence'):
        paired_difference([1.0, 2.0], confidence=95)
