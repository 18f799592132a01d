"""perception_kd.compare: planning (skip / resume / train), running through a stand-in
trainer, failed runs reported and left out, and the report's numbers."""
import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # fake_runs (importlib mode)
from fake_runs import FAKE_TEST, FAKE_TRAIN, fake_metrics, write_config, write_run  # noqa: E402

from perception_kd.compare import (  # noqa: E402
    EVALUATE,
    RESUME,
    SKIP,
    TRAIN,
    Arm,
    CompareError,
    build_report,
    execute,
    format_markdown,
    plan_runs,
    plot_report,
    schedule_options,
)
from perception_kd.compare.plan import load_config  # noqa: E402
from perception_kd.compare.runs import read_status, validation_curve  # noqa: E402
from perception_kd.utils.stats import paired_difference  # noqa: E402


@pytest.fixture
def arms(tmp_path):
    return (Arm('alone', write_config(tmp_path / 'alone.py', gain=0.0)),
            Arm('distilled', write_config(tmp_path / 'distilled.py', gain=0.05)))


def _plan(arms, work, seeds=(0, 1, 2), epochs=4, **kwargs):
    return plan_runs(arms, list(seeds), str(work), epochs=epochs, val_interval=1,
                     python=sys.executable, train_script=str(FAKE_TRAIN),
                     test_script=str(FAKE_TEST), **kwargs)


def test_schedule_is_cut_as_the_benchmark_scripts_did(tmp_path):
    config = write_config(tmp_path / 'c.py')
    cfg = load_config(config)
    assert schedule_options(cfg, config, 6, None) == [
        'train_cfg.max_epochs=6', 'param_scheduler.1.end=6', 'param_scheduler.1.T_max=5',
        'train_cfg.val_interval=6']
    assert schedule_options(cfg, config, None, None) == []
    assert schedule_options(cfg, config, None, 3) == ['train_cfg.val_interval=3']
    # the options reach the config the run will see
    cut = load_config(config, schedule_options(cfg, config, 6, 2))
    assert cut.train_cfg.max_epochs == 6 and cut.train_cfg.val_interval == 2
    assert (cut.param_scheduler[1].end, cut.param_scheduler[1].T_max) == (6, 5)
    assert cut.param_scheduler[0].end == 1       # the warm-up is untouched


def test_planner_skips_finished_resumes_partial_trains_the_rest(arms, tmp_path):
    work = tmp_path / 'cmp'
    write_run(work / 'alone' / 'seed0', 0, 0.0, epochs=4)                  # finished
    write_run(work / 'distilled' / 'seed0', 0, 0.05, epochs=4, last_epoch=2)  # partial
    write_run(work / 'alone' / 'seed1', 1, 0.0, epochs=4, last_epoch=0,
              checkpoint=False)                                           # started, nothing
    plans = {(p.arm, p.seed): p for p in _plan(arms, work)}
    assert plans[('alone', 0)].action == SKIP
    assert plans[('alone', 0)].metrics['mAP'] == pytest.approx(0.2)
    assert plans[('distilled', 0)].action == RESUME
    assert '--resume' in plans[('distilled', 0)].command
    for key in [('alone', 1), ('distilled', 1), ('alone', 2), ('distilled', 2)]:
        assert plans[key].action == TRAIN and '--resume' not in plans[key].command
    command = plans[('distilled', 2)].command
    assert command[command.index('--seed') + 1] == '2'
    assert command[command.index('--work-dir') + 1] == str(work / 'distilled' / 'seed2')
    assert 'train_cfg.max_epochs=4' in command and 'param_scheduler.1.T_max=3' in command
    # a run validated at epoch 2 of a 4-epoch schedule is not finished for --epochs 4,
    # but it is for --epochs 2
    plans2 = {(p.arm, p.seed): p for p in _plan(arms, tmp_path / 'other', epochs=2)}
    assert plans2[('alone', 0)].action == TRAIN


def test_finished_runs_are_not_retrained_and_failed_ones_are_reported(arms, tmp_path,
                                                                      monkeypatch):
    work = tmp_path / 'cmp'
    calls = tmp_path / 'calls.txt'
    monkeypatch.setenv('FAKE_CALLS', str(calls))
    monkeypatch.setenv('FAKE_FAIL', 'distilled:1')
    lines = []
    plans = _plan(arms, work)
    execute(plans, procs=2, threads=3, echo=lines.append, poll_s=0.05)
    ran = calls.read_text().splitlines()
    assert len(ran) == 6 and all(line.endswith('OMP=3') for line in ran)
    failed = read_status(str(work / 'distilled' / 'seed1'))
    assert failed['status'] == 'failed' and failed['returncode'] == 1
    assert failed['reason'] == 'exit code 1: train.py: error: fake crash in some.key: details'
    assert failed['log'] == str(work / 'distilled' / 'seed1' / 'train.log')
    assert 'fake crash' in Path(failed['log']).read_text()
    assert any(line.startswith('compare: FAILED distilled seed 1') for line in lines)
    assert read_status(str(work / 'alone' / 'seed2'))['status'] == 'finished'

    report = build_report(plans, ('alone', 'distilled'))
    assert report['paired_seeds'] == [0, 2]
    assert report['excluded'] == [dict(arm='distilled', seed=1, status='failed',
                                       reason=failed['reason'], log=failed['log'])]
    assert report['unpaired'] == [dict(arm='alone', seed=1)]
    m_ap = report['metrics']['mAP']
    # the failed seed is in no mean: alone (0.20 + 0.22) / 2, distilled (0.25 + 0.27) / 2
    assert m_ap['mean_a'] == pytest.approx(0.21) and m_ap['mean_b'] == pytest.approx(0.26)
    # seed spread of each arm: sample sd of (0.20, 0.22) = 0.02 / sqrt(2)
    assert m_ap['sd_a'] == pytest.approx(0.02 / 2 ** 0.5) == m_ap['sd_b']
    assert m_ap['differences'] == pytest.approx([0.05, 0.05])
    assert m_ap['difference']['n'] == 2 and m_ap['difference']['mean'] == pytest.approx(0.05)
    assert m_ap['difference']['sd'] == pytest.approx(0.0, abs=1e-12)
    text = format_markdown(report)
    assert 't-interval on 2 paired differences' in text
    assert '| seed sd alone | | 0.0141 |' in text
    assert 'distilled seed 1: **failed**: exit code 1' in text and failed['log'] in text
    assert 'alone seed 1: finished, but its pair did not' in text

    # second call: the five finished runs are skipped, the failed one is tried again
    monkeypatch.delenv('FAKE_FAIL')
    again = _plan(arms, work)
    assert [(p.arm, p.seed) for p in again if p.action != SKIP] == [('distilled', 1)]
    execute(again, procs=2, echo=lines.append, poll_s=0.05)
    assert len(calls.read_text().splitlines()) == 7
    status = read_status(str(work / 'distilled' / 'seed1'))
    assert status['status'] == 'finished' and 'reason' not in status
    assert [a['returncode'] for a in status['attempts']] == [1, 0]
    assert build_report(again, ('alone', 'distilled'))['paired_seeds'] == [0, 1, 2]


def test_report_numbers_against_paired_difference(arms, tmp_path):
    work = tmp_path / 'cmp'
    gains = {0: 0.03, 1: -0.01, 2: 0.04, 3: 0.02}
    for seed, gain in gains.items():
        write_run(work / 'alone' / f'seed{seed}', seed, 0.0, epochs=4)
        write_run(work / 'distilled' / f'seed{seed}', seed, gain, epochs=4)
    plans = _plan(arms, work, seeds=(0, 1, 2, 3))
    assert all(p.action == SKIP for p in plans)
    report = build_report(plans, ('alone', 'distilled'))
    expected = paired_difference([gains[s] for s in range(4)])
    diff = report['metrics']['mAP']['difference']
    assert diff['mean'] == pytest.approx(0.02) and diff['n'] == 4
    for key in ('sd', 'se', 't', 'low', 'high'):
        assert diff[key] == pytest.approx(getattr(expected, key))
    assert diff['contains_zero'] is True          # -0.01 .. +0.04 over four seeds
    assert report['metrics']['mAP']['higher_is_better'] is True
    assert report['metrics']['mATE']['higher_is_better'] is False
    # mATE = 1 - mAP: the same differences with the sign flipped
    assert report['metrics']['mATE']['difference']['mean'] == pytest.approx(-0.02)
    # mASE is the same in every run: difference 0, sd 0, the interval a point at 0
    assert report['metrics']['mASE']['difference']['low'] == pytest.approx(0.0)
    text = format_markdown(report)
    assert 't-interval on 4 paired differences' in text
    row = next(line for line in text.splitlines() if line.startswith('| mAP |'))
    assert '+0.0200' in row and '(contains 0)' in row
    assert f'{expected.low:+.4f}' in row and f'{expected.high:+.4f}' in row
    assert '| alone | 3 | 0.2300 |' in text
    # the curves come from the logs: one validation per epoch
    curve = validation_curve(str(work / 'distilled' / 'seed3'))
    assert list(curve) == [1, 2, 3, 4]
    assert curve[4]['mAP'] == pytest.approx(fake_metrics(3, 0.02, 4, 4)['mAP'])
    png = plot_report(report, str(tmp_path / 'cmp.png'))
    assert Path(png).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    json.dumps(report, allow_nan=False)             # strict JSON


def test_missing_metric_and_single_pair(arms, tmp_path):
    work = tmp_path / 'cmp'
    write_run(work / 'alone' / 'seed0', 0, 0.0, epochs=4)
    write_run(work / 'distilled' / 'seed0', 0, 0.05, epochs=4)
    plans = _plan(arms, work, seeds=(0, 1))
    report = build_report(plans, ('alone', 'distilled'))
    assert report['paired_seeds'] == [0]
    assert [e['status'] for e in report['excluded']] == ['not run', 'not run']
    diff = report['metrics']['mAP']['difference']
    assert diff['n'] == 1 and diff['low'] is None
    text = format_markdown(report)
    assert 'n/a (1 pair: no interval)' in text


def test_run_dir_of_another_setup_is_refused(arms, tmp_path, monkeypatch):
    work = tmp_path / 'cmp'
    monkeypatch.setenv('FAKE_CALLS', str(tmp_path / 'calls.txt'))
    execute(_plan(arms, work, seeds=(0,)), echo=lambda line: None, poll_s=0.05)
    other = (arms[0], Arm('distilled', arms[1].config, ('fake_gain=0.1',)))
    with pytest.raises(CompareError, match=r'distilled/seed0 holds a run of another setup '
                       r"\(options: .*"):
        _plan(other, work, seeds=(0,))
    with pytest.raises(CompareError, match='arm names must differ'):
        _plan((arms[0], Arm('alone', arms[1].config)), work)
    with pytest.raises(CompareError, match="'train_cfg.max_epochs' is not KEY=VALUE"):
        _plan(arms, work, common_options=['train_cfg.max_epochs'])
    # a run another comparison is training now (its process alive) is not started twice
    (work / 'alone' / 'seed1').mkdir(parents=True)
    (work / 'alone' / 'seed1' / 'compare_status.json').write_text(json.dumps(
        dict(status='running', pid=os.getpid())))
    with pytest.raises(CompareError, match=f'seed1 is being trained by process {os.getpid()}'):
        _plan(arms, work, seeds=(0, 1))
    iter_based = tmp_path / 'iters.py'
    iter_based.write_text("train_cfg = dict(type='IterBasedTrainLoop', max_iters=10)\n")
    with pytest.raises(CompareError, match='iters.py: train_cfg has no max_epochs'):
        _plan((arms[0], Arm('iters', str(iter_based))), work, epochs=None)


def test_curves_of_a_resumed_run_and_a_cut_line(tmp_path):
    run = tmp_path / 'run'
    write_run(run, 0, 0.0, epochs=4, last_epoch=2, stamp='20261207_100000')
    # the resumed run logs epochs 1..4 again (its epochs 1, 2 replace the first one's) and was
    # killed while writing a line
    write_run(run, 1, 0.0, epochs=4, stamp='20261207_110000')
    with open(run / '20261207_110000' / 'vis_data' / 'scalars.json', 'a') as file:
        file.write('{"NuScenes/mAP": 0.9, "st')
    curve = validation_curve(str(run))
    assert list(curve) == [1, 2, 3, 4]
    assert curve[2]['mAP'] == pytest.approx(fake_metrics(1, 0.0, 2, 4)['mAP'])
    assert curve[4]['mAP'] == pytest.approx(0.21)


def test_run_stopped_in_its_final_validation_is_evaluated_not_retrained(arms, tmp_path,
                                                                         monkeypatch):
    work = tmp_path / 'cmp'
    calls = tmp_path / 'calls.txt'
    monkeypatch.setenv('FAKE_CALLS', str(calls))
    write_run(work / 'alone' / 'seed0', 0, 0.0, epochs=4)
    write_run(work / 'distilled' / 'seed0', 0, 0.05, epochs=4, validate_last=False)
    plans = {(p.arm, p.seed): p for p in _plan(arms, work, seeds=(0,))}
    evaluate = plans[('distilled', 0)]
    assert evaluate.action == EVALUATE
    assert evaluate.command[1:4] == [str(FAKE_TEST), arms[1].config,
                                     str(work / 'distilled' / 'seed0' / 'epoch_4.pth')]
    assert evaluate.command[evaluate.command.index('--out-json') + 1] == \
        str(work / 'distilled' / 'seed0' / 'final_eval')
    execute(list(plans.values()), echo=lambda line: None, poll_s=0.05)
    assert [line.split()[0] for line in calls.read_text().splitlines()] == ['TEST']
    status = read_status(str(work / 'distilled' / 'seed0'))
    assert status['status'] == 'finished'
    assert status['metrics']['mAP'] == pytest.approx(0.25)
    again = _plan(arms, work, seeds=(0,))
    assert [p.action for p in again] == [SKIP, SKIP]
    # the evaluation file counts even without the status file
    (work / 'distilled' / 'seed0' / 'compare_status.json').unlink()
    assert [p.action for p in _plan(arms, work, seeds=(0,))] == [SKIP, SKIP]
    report = build_report(again, ('alone', 'distilled'))
    assert report['metrics']['mAP']['differences'] == pytest.approx([0.05])


def test_a_config_edited_after_its_runs_is_refused(arms, tmp_path, monkeypatch):
    """The run spec records a fingerprint of the resolved config: editing a value of the
    config file after its runs (same path, same options) is refused; a comment is not a
    change; a run recorded before fingerprints existed is still adopted."""
    work = tmp_path / 'cmp'
    monkeypatch.setenv('FAKE_CALLS', str(tmp_path / 'calls.txt'))
    execute(_plan(arms, work, seeds=(0,)), echo=lambda line: None, poll_s=0.05)
    spec_path = work / 'distilled' / 'seed0' / 'compare_run.json'
    assert len(json.loads(spec_path.read_text())['config_sha256']) == 16
    config = Path(arms[1].config)
    config.write_text(config.read_text() + '# a comment only\n')
    assert {p.action for p in _plan(arms, work, seeds=(0,))} == {SKIP}
    config.write_text(config.read_text().replace('fake_gain = 0.05', 'fake_gain = 0.07'))
    with pytest.raises(CompareError, match=r'distilled/seed0 holds a run of another setup '
                       r"\(config_sha256: .*a config or one of its bases was edited"):
        _plan(arms, work, seeds=(0,))
    spec = json.loads(spec_path.read_text())
    del spec['config_sha256']
    spec_path.write_text(json.dumps(spec))
    assert {p.action for p in _plan(arms, work, seeds=(0,))} == {SKIP}
