"""Statistics for paired comparisons (no torch).

:func:`paired_difference` summarises per-seed differences ``b - a`` of two arms trained
with the same seeds: their mean, standard deviation, standard error and the two-sided
Student t confidence interval of the mean difference (the "paired t-interval"):

    mean +- t_{(1 + confidence) / 2, n - 1} * sd / sqrt(n)

It treats the seeds as independent draws of the training noise and the differences as
roughly normal; with 3 to 5 seeds the t quantile is large (4.30 for 3 pairs, 2.78 for 5),
so the interval is honest about how little a few seeds tell.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class PairedDifference:
    """Summary of ``n`` paired differences. With fewer than 2 pairs, ``sd``, ``se``, ``t``,
    ``low`` and ``high`` are NaN (no spread to estimate); with none, ``mean`` is NaN too."""
    n: int
    mean: float
    sd: float
    se: float
    t: float
    low: float
    high: float
    confidence: float

    @property
    def has_interval(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)

    @property
    def contains_zero(self) -> bool | None:
        """Whether the interval contains 0; None without an interval."""
        if not self.has_interval:
            return None
        return self.low <= 0.0 <= self.high

    @property
    def method(self) -> str:
        """How the interval was computed, for a report ("95 % t-interval on 4 paired
        differences")."""
        pairs = 'paired difference' if self.n == 1 else 'paired differences'
        return f'{self.confidence * 100:g} % t-interval on {self.n} {pairs}'

    def to_dict(self) -> dict:
        out = asdict(self)
        out['contains_zero'] = self.contains_zero
        return {k: (None if isinstance(v, float) and math.isnan(v) else v)
                for k, v in out.items()}


def t_quantile(probability: float, dof: int) -> float:
    """The ``probability`` quantile of Student's t with ``dof`` degrees of freedom."""
    from scipy.stats import t
    return float(t.ppf(probability, dof))


def sample_sd(values: Sequence[float]) -> float:
    """Sample standard deviation (n - 1 in the denominator); nan below 2 values."""
    n = len(values)
    if n < 2:
        return float('nan')
    mean = math.fsum(values) / n
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))


def paired_difference(first: Sequence[float], second: Sequence[float] | None = None,
                      confidence: float = 0.95) -> PairedDifference:
    """Mean paired difference with its t-interval.

    ``paired_difference(diffs)`` summarises the differences themselves;
    ``paired_difference(a, b)`` the differences ``b[i] - a[i]`` (same length, pair i = the
    two arms' runs with seed i).

    Raises:
        ValueError: lengths differ, a value is not finite, or ``confidence`` not in (0, 1).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f'confidence must be in (0, 1), got {confidence}')
    if second is None:
        diffs = [float(d) for d in first]
    else:
        if len(first) != len(second):
            raise ValueError(f'paired_difference: {len(first)} values of the first arm and '
                             f'{len(second)} of the second; pairs need one of each')
        diffs = [float(b) - float(a) for a, b in zip(first, second)]
    if not all(math.isfinite(d) for d in diffs):
        raise ValueError(f'paired_difference: not every difference is finite: {diffs}; leave '
                         'out the pairs with a missing value')
    n = len(diffs)
    nan = float('nan')
    if n == 0:
        return PairedDifference(0, nan, nan, nan, nan, nan, nan, confidence)
    mean = math.fsum(diffs) / n
    if n == 1:
        return PairedDifference(1, mean, nan, nan, nan, nan, nan, confidence)
    sd = sample_sd(diffs)
    se = sd / math.sqrt(n)
    t = t_quantile(0.5 + confidence / 2.0, n - 1)
    return PairedDifference(n, mean, sd, se, t, mean - t * se, mean + t * se, confidence)
