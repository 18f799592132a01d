"""Live progress: ProgressFileHook in a real (toy) training and test run in a subprocess,
and run_with_progress drawing it as lines or a tqdm bar, failures and the summary."""
import io
import json
import os
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # toy_task (pytest's importlib mode)
from toy_task import REPO, TOOLS_TEST_DIR, write_toy_config  # noqa: E402

from perception_kd.engine import progress as progress_hook  # noqa: E402
from perception_kd.engine import progress_view  # noqa: E402
from perception_kd.engine.progress_view import (  # noqa: E402
    Job,
    StepFailed,
    format_duration,
    format_summary,
    progress_mode,
    run_lanes,
    run_with_progress,
)

ENV = dict(PYTHONPATH=f'{REPO}{os.pathsep}{TOOLS_TEST_DIR}', OMP_NUM_THREADS='1')
SLOW = [dict(type='ToySlowIterHook', seconds=0.15)]


def _lines(text, phase):
    pattern = rf'toy: {phase} (?:iter|batch) (\d+)/(\d+)'
    return [(int(a), int(b)) for a, b in re.findall(pattern, text)]


def test_the_view_reads_the_iteration_counter_of_a_real_training_and_test(tmp_path):
    cfg = write_toy_config(tmp_path / 'toy.py', max_epochs=2, custom_hooks=SLOW)
    work_dir = tmp_path / 'run'
    stream, steps = io.StringIO(), []
    run_with_progress([sys.executable, 'tools/train.py', cfg, '--work-dir', str(work_dir)],
                      str(tmp_path / 'train.out'), 'toy', cwd=str(REPO), env=ENV, steps=steps,
                      mode='lines', interval=0, poll=0.05, stream=stream)
    out = stream.getvalue()
    train = _lines(out, 'training')
    # 16 samples, batch 4, 2 epochs: 8 iterations, read one by one as they happen
    assert train[-1] == (8, 8) and all(total == 8 for _, total in train)
    seen = sorted({it for it, _ in train})
    assert len(seen) >= 5 and seen == sorted(seen)
    # the losses shown are the iterations' own (log interval 1, window 1 in the toy config)
    shown = {int(m[0]): float(m[1]) for m in
             re.findall(r'training iter (\d+)/8 \(\d+%\), epoch \d/2, loss ([\d.]+)', out)}
    log_dir = next(p for p in work_dir.iterdir() if p.is_dir())
    logged = {r['step']: r['loss'] for r in map(json.loads, (log_dir / 'vis_data' /
              'scalars.json').read_text().splitlines()) if 'loss' in r}
    assert len(shown) >= 4
    for it, loss in shown.items():
        assert loss == pytest.approx(logged[it], abs=1e-4)
    val = _lines(out, 'validation')                      # the epoch-2 validation
    assert val and all(total == 2 for _, total in val)
    assert f'log: {tmp_path / "train.out"}' in out and 'toy: done in' in out
    assert steps[0].status == 'done' and steps[0].seconds > 0
    record = json.loads((tmp_path / 'train.out.progress.json').read_text())
    assert (record['phase'], record['status'], record['iter']) == ('train', 'done', 8)

    # evaluation, drawn as a tqdm bar into a non-terminal stream; the hook must not build
    # the training set in a test run (here one that cannot be built)
    stream = io.StringIO()
    run_with_progress([sys.executable, 'tools/test.py', cfg, str(work_dir / 'epoch_2.pth'),
                       '--work-dir', str(work_dir), '--out-json', str(tmp_path / 'test'),
                       '--cfg-options', 'train_dataloader.dataset.num_samples=-1'],
                      str(tmp_path / 'test.out'), 'toy', cwd=str(REPO), env=ENV, steps=steps,
                      mode='bar', poll=0.05, stream=stream)
    out = stream.getvalue()
    assert 'toy: evaluation' in out and '2/2' in out
    assert (tmp_path / 'test' / 'metrics.json').is_file()
    table = format_summary(steps)
    assert table.count('| toy |') == 2 and '**total**' in table


def test_a_failing_step_prints_the_log_tail_and_the_rerun_command(tmp_path):
    stream, steps = io.StringIO(), []
    cmd = [sys.executable, '-c', 'print("line one"); print("boom here"); raise SystemExit(3)']
    with pytest.raises(StepFailed) as err:
        run_with_progress(cmd, str(tmp_path / 'logs' / 'x.out'), 'broken step', cwd=str(tmp_path),
                          env=dict(FOO='a b'), steps=steps, mode='lines', stream=stream)
    out = stream.getvalue()
    assert 'step "broken step" failed (exit 3)' in out and 'boom here' in out
    assert f"cd {tmp_path} && FOO='a b' {sys.executable} -c" in out
    assert steps[0].status == 'failed' and err.value.result.returncode == 3


# job: create my file, then wait (up to 20 s) for the other lane's file: passes only when
# the two lanes run at the same time
HANDSHAKE = ('import os, sys, time\n'
             'open(sys.argv[1], "w").close()\n'
             'end = time.time() + 20\n'
             'while not os.path.exists(sys.argv[2]):\n'
             '    assert time.time() < end, "the other lane did not run alongside"\n'
             '    time.sleep(0.05)\n')


def test_lanes_run_side_by_side_and_in_order_within_a_lane(tmp_path):
    a, b = str(tmp_path / 'a'), str(tmp_path / 'b')
    py = sys.executable

    def job(name, *args):
        return Job([py, '-c', *args], str(tmp_path / f'{name}.out'), name,
                   env=dict(OMP_NUM_THREADS='1'))
    lanes = [[job('a1', HANDSHAKE, a, b), job('a2', 'print("second")')],
             [job('b1', HANDSHAKE, b, a)]]
    stream, steps = io.StringIO(), []
    results = run_lanes(lanes, steps=steps, mode='lines', poll=0.02, stream=stream)
    assert sorted(r.label for r in results) == ['a1', 'a2', 'b1']
    assert [r.label for r in results if r.label.startswith('a')] == ['a1', 'a2']
    assert all(r.status == 'done' for r in steps) and len(steps) == 3
    assert (tmp_path / 'a2.out').read_text().strip() == 'second'
    out = stream.getvalue()
    assert 'a1: done in' in out and 'b1: done in' in out


def test_a_failing_lane_stops_the_other_and_says_how_to_rerun_it(tmp_path):
    py = sys.executable
    lanes = [[Job([py, '-c', 'import sys; print("boom"); sys.exit(3)'],
                  str(tmp_path / 'bad.out'), 'bad')],
             [Job([py, '-c', 'import time; time.sleep(60)'], str(tmp_path / 'slow.out'),
                  'slow'), Job([py, '-c', 'pass'], str(tmp_path / 'never.out'), 'never')]]
    stream, steps = io.StringIO(), []
    with pytest.raises(StepFailed, match='bad'):
        run_lanes(lanes, steps=steps, mode='lines', poll=0.02, stream=stream)
    status = {s.label: s.status for s in steps}
    assert status == dict(bad='failed', slow='stopped')      # 'never' did not start
    out = stream.getvalue()
    assert 'boom' in out and 'slow: stopped (step "bad" failed)' in out
    assert 'to re-run this step alone' in out and not (tmp_path / 'never.out').exists()


def test_progress_mode_never_sizes_a_bar_from_a_zero_terminal(monkeypatch):
    monkeypatch.delenv(progress_view.MODE_ENV, raising=False)
    assert progress_mode(io.StringIO()) == 'lines'           # not a terminal

    class FakeTTY(io.StringIO):
        def isatty(self):
            return True

        def fileno(self):
            return 1

    monkeypatch.setattr(os, 'get_terminal_size', lambda fd=None: os.terminal_size((0, 0)))
    assert progress_mode(FakeTTY()) == 'lines'
    monkeypatch.setattr(os, 'get_terminal_size', lambda fd=None: os.terminal_size((120, 40)))
    assert progress_mode(FakeTTY()) == 'bar'
    monkeypatch.setenv(progress_view.MODE_ENV, 'lines')
    assert progress_mode(FakeTTY()) == 'lines'


def test_helpers():
    assert progress_view.PROGRESS_ENV == progress_hook.PROGRESS_ENV
    assert format_duration(75) == '1:15' and format_duration(3725) == '1:02:05'
    assert format_duration(None) == '?'
