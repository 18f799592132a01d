"""tools/compare.py: the command line on fake runs (--report-only, no torch imported) and
one real comparison through tools/train.py on the toy task (two arms, one seed, one epoch),
then a lost final validation evaluated through tools/test.py, then nothing left to run
(about 45 s of CPU, mostly the four subprocesses' imports; 2 min wall on a loaded
2-core machine)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))           # toy_task
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'compare'))  # fake_runs
from fake_runs import write_config, write_run  # noqa: E402
from toy_task import REPO, TOOLS_TEST_DIR, write_toy_config  # noqa: E402

TOOL = REPO / 'tools' / 'compare.py'

# runs the tool as a script (as `python tools/compare.py` does) and reports whether torch
# was imported on the way
RUN_AS_SCRIPT = '''
import runpy, sys
sys.argv = [{tool!r}] + {args!r}
code = 0
try:
    runpy.run_path({tool!r}, run_name='__main__')
except SystemExit as exc:
    code = exc.code
print('TORCH_IMPORTED', 'torch' in sys.modules)
sys.exit(code)
'''


def _run_script(args, env=None, timeout=120):
    code = RUN_AS_SCRIPT.format(tool=str(TOOL), args=[str(a) for a in args])
    return subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=str(REPO))


def test_report_only_on_fake_runs(tmp_path):
    alone = write_config(tmp_path / 'alone.py', gain=0.0)
    distilled = write_config(tmp_path / 'distilled.py', gain=0.05)
    work = tmp_path / 'cmp'
    gains = {0: 0.03, 1: -0.01, 2: 0.04}
    for seed, gain in gains.items():
        write_run(work / 'alone' / f'seed{seed}', seed, 0.0, epochs=4)
        write_run(work / 'distilled' / f'seed{seed}', seed, gain, epochs=4)
    write_run(work / 'alone' / 'seed3', 3, 0.0, epochs=4)
    failed_dir = work / 'distilled' / 'seed3'
    failed_dir.mkdir(parents=True)
    (failed_dir / 'compare_status.json').write_text(json.dumps(dict(
        status='failed', returncode=1, reason='exit code 1: boom',
        log=str(failed_dir / 'train.log'))))
    args = [alone, distilled, '--work-dir', work, '--seeds', 0, 1, 2, 3, '--epochs', 4,
            '--report-only', '--names', 'alone', 'distilled']
    result = _run_script(args)
    assert result.returncode == 0, result.stderr
    assert 'TORCH_IMPORTED False' in result.stdout
    out = result.stdout
    assert 't-interval on 3 paired differences' in out
    row = next(line for line in out.splitlines() if line.startswith('| mAP |'))
    assert '| 0.2100 | 0.2300 | +0.0200 |' in row and '(contains 0)' in row
    assert f'distilled seed 3: **failed**: exit code 1: boom (log `{failed_dir}' in out
    assert not (failed_dir / 'train.log').exists()          # --report-only trains nothing
    report = json.loads((work / 'compare_alone_vs_distilled.json').read_text())
    assert report['paired_seeds'] == [0, 1, 2]
    assert report['metrics']['NDS']['difference']['mean'] == \
        sum(g / 2 for g in gains.values()) / 3
    assert (work / 'compare_alone_vs_distilled.md').read_text() in out
    assert (work / 'compare_alone_vs_distilled.png').stat().st_size > 10_000

    # bad input: one line naming what to change
    result = _run_script([alone, '--work-dir', work])
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith('compare.py: error: one config needs --a-options and/or '
                                     '--b-options') and 'Traceback' not in result.stderr


def test_real_toy_comparison_trains_then_skips(tmp_path):
    config = write_toy_config(tmp_path / 'toy.py', max_epochs=3)
    work = tmp_path / 'cmp'
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(TOOLS_TEST_DIR), str(REPO), os.environ.get('PYTHONPATH', '')]))
    args = [sys.executable, str(TOOL), config, '--names', 'wide', 'narrow',
            '--a-options', '+model.hidden=8', '--b-options', '+model.hidden=2',
            '--work-dir', str(work), '--seeds', '0', '--epochs', '1', '--procs', '2',
            '--metrics', 'mse', '--metric-prefix', 'toy/']
    first = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300,
                           cwd=str(REPO))
    assert first.returncode == 0, first.stdout + first.stderr
    assert 'compare: train wide seed 0' in first.stdout
    log = (work / 'narrow' / 'seed0' / 'train.log').read_text()
    assert '--seed 0' in log and 'train_cfg.max_epochs=1' in log
    assert '+model.hidden=2' in log
    report = json.loads((work / 'compare_wide_vs_narrow.json').read_text())
    assert report['paired_seeds'] == [0]
    mse = report['metrics']['mse']
    assert mse['difference']['n'] == 1 and mse['difference']['low'] is None
    assert mse['a'][0] > 0 and mse['b'][0] > 0 and mse['a'][0] != mse['b'][0]
    status = json.loads((work / 'wide' / 'seed0' / 'compare_status.json').read_text())
    assert status['status'] == 'finished' and status['final_step'] == 1
    assert (work / 'wide' / 'seed0' / 'epoch_1.pth').is_file()

    # narrow's final validation "lost" (as if killed during it): its epoch_1.pth is
    # evaluated with the real tools/test.py, wide is skipped
    narrow = work / 'narrow' / 'seed0'
    (narrow / 'compare_status.json').unlink()
    for scalars in narrow.glob('*/vis_data/scalars.json'):
        kept = [line for line in scalars.read_text().splitlines() if 'toy/mse' not in line]
        scalars.write_text('\n'.join(kept) + '\n')
    second = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300,
                            cwd=str(REPO))
    assert second.returncode == 0, second.stdout + second.stderr
    assert 'compare: evaluate narrow seed 0' in second.stdout
    assert 'compare: train' not in second.stdout
    evaluated = json.loads((narrow / 'final_eval' / 'metrics.json').read_text())
    assert evaluated['checkpoint'] == str(narrow / 'epoch_1.pth')
    report2 = json.loads((work / 'compare_wide_vs_narrow.json').read_text())
    # the same weights on the same split: the validation's number again
    assert report2['metrics']['mse']['b'][0] == pytest.approx(mse['b'][0], rel=1e-5)

    log = (narrow / 'train.log').read_text()
    again = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120,
                           cwd=str(REPO))
    assert again.returncode == 0, again.stderr
    assert 'compare: train' not in again.stdout and 'compare: evaluate' not in again.stdout
    assert (narrow / 'train.log').read_text() == log
    assert json.loads((work / 'compare_wide_vs_narrow.json').read_text())['metrics'] == \
        report2['metrics']
