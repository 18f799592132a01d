"""Issue 14, point 7 and 8: faults that were tracebacks are one line naming the file, exit
status 2, found at start-up (before the Runner logs anything), and leave nothing
half-written under a final name. Faults are built on a copy of the tiny tree per test."""
import errno
import os
import os.path as osp
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # toy_task (pytest's importlib mode)
from toy_task import REPO, load_tool, write_toy_config  # noqa: E402

from perception_kd.utils.cli import ToolError, ToolExit, tool_errors  # noqa: E402

train = load_tool('train')
test_tool = load_tool('test')
CENTERPOINT = str(REPO / 'configs' / 'centerpoint_lidar_cpu.py')
LIDAR2CAM = str(REPO / 'configs' / 'unidistill_lidar2cam_cpu.py')


# ------------------------------------------------------------------------------ cli
def test_tool_errors_one_line_exit_2_and_traceback_on_request(monkeypatch, capsys):
    @tool_errors('x.py', expected=(FileNotFoundError,))
    def main(exc):
        raise exc

    with pytest.raises(ToolExit) as info:
        main(FileNotFoundError('info file /a/b.pkl not found'))
    assert info.value.code == 2 and str(info.value) == 'x.py: error: info file /a/b.pkl not found'
    assert capsys.readouterr().err == 'x.py: error: info file /a/b.pkl not found\n'
    with pytest.raises(ToolExit, match=r"^x.py: error: key 'k' is missing$"):   # no quotes
        with tool_errors('x.py', expected=(KeyError,)):
            raise KeyError("key 'k' is missing")
    with pytest.raises(ZeroDivisionError):            # a bug keeps its traceback
        main(ZeroDivisionError('bug'))
    with pytest.raises(SystemExit) as info:           # a check's verdict passes (status 1)
        main(SystemExit('FAILED: 3 bad files'))
    assert info.value.code == 'FAILED: 3 bad files'
    monkeypatch.setenv('PKD_TRACEBACK', '1')
    with pytest.raises(ToolError, match='wanted'):    # the original, with its traceback
        main(ToolError('wanted'))


# ------------------------------------------------------------------- the tiny tree
@pytest.fixture
def root(tiny_root, tiny_infos, tmp_path):
    """A copy of the tiny tree: its own info files, everything else symlinked."""
    dst = tmp_path / 'root'
    dst.mkdir()
    for name in os.listdir(tiny_root):
        if not name.endswith('.pkl'):
            os.symlink(osp.join(tiny_root, name), dst / name)
    for path in tiny_infos.values():
        (dst / osp.basename(path)).write_bytes(Path(path).read_bytes())
    return dst


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def _not_a_pickle(path: Path) -> None:
    path.write_text('scene,token\nscene-0061,abc\n')


def _random_bytes(path: Path) -> Path:
    path.write_bytes(os.urandom(4096))
    return path


def _exits(capsys, fn, *args) -> str:
    """Run a tool's main; it must exit with status 2 and one stderr line; the message."""
    with pytest.raises(SystemExit) as info:
        fn(*args)
    assert info.value.code == 2, info.value
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == str(info.value) and 'Traceback' not in '\n'.join(err)
    return str(info.value)


@pytest.mark.parametrize('fault', [_truncate, _not_a_pickle])
def test_train_and_test_refuse_a_broken_info_file_at_start_up(root, tmp_path, capsys, fault):
    work_dir = tmp_path / 'work'
    fault(root / 'nuscenes_infos_train.pkl')
    message = _exits(capsys, train.main, [CENTERPOINT, '--data-root', str(root),
                                          '--work-dir', str(work_dir)])
    assert message.startswith('train.py: error: train_dataloader: info file '
                              f'{root}/nuscenes_infos_train.pkl is ')
    assert ('truncated' if fault is _truncate else 'not a pickle') in message
    assert os.listdir(work_dir) == []              # no Runner: no log dir, no checkpoint

    fault(root / 'nuscenes_infos_val.pkl')
    checkpoint = _random_bytes(tmp_path / 'model.pth')
    message = _exits(capsys, test_tool.main, [CENTERPOINT, str(checkpoint), '--data-root',
                                              str(root), '--work-dir', str(work_dir)])
    assert f'test_dataloader: info file {root}/nuscenes_infos_val.pkl is ' in message


@pytest.mark.parametrize('fault', [_truncate, _not_a_pickle])
def test_dataset_and_visualiser_name_a_broken_info_file(root, capsys, fault):
    from tools.visualize import main as visualize
    info = root / 'nuscenes_infos_val.pkl'
    fault(info)
    message = _exits(capsys, visualize, ['--info', str(info), '--data-root', str(root),
                                         '--out', str(root / 'vis')])
    assert message.startswith(f'visualize.py: error: info file {info} cannot be read: ')
    assert ('truncated' if fault is _truncate else 'not a pickle') in message
    assert not (root / 'vis').exists()


def test_test_refuses_a_random_bytes_checkpoint(root, tmp_path, capsys):
    checkpoint = _random_bytes(tmp_path / 'epoch_3.pth')
    message = _exits(capsys, test_tool.main, [CENTERPOINT, str(checkpoint), '--data-root',
                                              str(root), '--work-dir', str(tmp_path / 'w')])
    assert message.startswith(f'test.py: error: checkpoint: checkpoint {checkpoint} is '
                              'truncated or not a torch checkpoint')


def test_train_refuses_a_random_bytes_teacher_checkpoint(root, tmp_path, capsys):
    teacher = _random_bytes(tmp_path / 'teacher.pth')
    message = _exits(capsys, train.main, [LIDAR2CAM, '--data-root', str(root), '--work-dir',
                                          str(tmp_path / 'w'), '--cfg-options',
                                          f'model.teacher_ckpt={teacher}'])
    assert message.startswith(f'train.py: error: model.teacher_ckpt: checkpoint {teacher} is '
                              'truncated or not a torch checkpoint')


def test_evaluator_version_the_root_does_not_have_is_found_at_start_up(root, tmp_path, capsys):
    """Point 8: before training, not at the first validation after a whole epoch."""
    work_dir = tmp_path / 'w'
    message = _exits(capsys, train.main, [CENTERPOINT, '--data-root', str(root), '--work-dir',
                                          str(work_dir), '--cfg-options',
                                          'val_evaluator.version=v1.0-trainval'])
    assert message == (f"train.py: error: val_evaluator: NuScenesDetMetric: version="
                       f"'v1.0-trainval' but {root}/v1.0-trainval does not exist; this data "
                       "root has v1.0-mini: set the evaluator's version (--cfg-options "
                       "val_evaluator.version=v1.0-mini)")
    assert os.listdir(work_dir) == []
    torch.save({'state_dict': {}}, tmp_path / 'y.pth')
    message = _exits(capsys, test_tool.main, [
        CENTERPOINT, str(tmp_path / 'y.pth'), '--data-root', str(root),
        '--work-dir', str(work_dir), '--cfg-options', '+test_evaluator.eval_set=val'])
    assert message == ("test.py: error: test_evaluator: NuScenesDetMetric: eval_set='val' is "
                       'not a split of v1.0-mini (one of mini_train, mini_val)')


# --------------------------------------------------------------- unwritable outputs
def _read_only(monkeypatch, directory):
    """Writes into ``directory`` fail as on a read-only mount (root ignores chmod)."""
    mkstemp = tempfile.mkstemp

    def fake(*args, dir=None, **kwargs):
        if dir is not None and osp.realpath(dir) == osp.realpath(directory):
            raise OSError(errno.EROFS, 'Read-only file system', dir)
        return mkstemp(*args, dir=dir, **kwargs)
    monkeypatch.setattr(tempfile, 'mkstemp', fake)


def _full_disk(monkeypatch):
    def fake(fd):
        raise OSError(errno.ENOSPC, 'No space left on device')
    monkeypatch.setattr(os, 'fsync', fake)


@pytest.mark.parametrize('fault', ['file', 'read-only', 'full'])
def test_train_refuses_an_unwritable_work_dir(tmp_path, monkeypatch, capsys, fault):
    cfg = write_toy_config(tmp_path / 'toy.py', max_epochs=1)
    work_dir = tmp_path / 'run'
    if fault == 'file':
        work_dir.write_text('not a folder')
    elif fault == 'read-only':
        work_dir.mkdir()
        _read_only(monkeypatch, work_dir)
    else:
        work_dir.mkdir()
        _full_disk(monkeypatch)
    message = _exits(capsys, train.main, [cfg, '--work-dir', str(work_dir)])
    reason = {'file': f'{work_dir} is a file, not a folder',
              'read-only': f'{work_dir} is on a read-only file system',
              'full': f'no space left on the device of {work_dir}'}[fault]
    assert message == f'train.py: error: work dir {work_dir} cannot be written: {reason} ' \
                      '(--work-dir)'
    if fault != 'file':
        assert os.listdir(work_dir) == []          # no probe left behind, no log dir


def _make_ocf():
    return load_tool('make_ocf')


@pytest.mark.parametrize('fault', ['file', 'read-only-infos', 'full'])
def test_make_ocf_checks_its_outputs_before_building(root, tmp_path, monkeypatch, capsys, fault):
    out = tmp_path / 'ocf'
    if fault == 'file':
        out.write_text('in the way')
    elif fault == 'read-only-infos':
        _read_only(monkeypatch, root)              # the OCF folder takes files, the infos not
    else:
        _full_disk(monkeypatch)
    message = _exits(capsys, _make_ocf().main, [str(root), '--out', str(out), '--no-progress'])
    reason = {'file': f'OCF output folder {out} cannot be written: {out} is a file, not a '
                      'folder',
              'read-only-infos': f'info file folder {root} cannot be written: {root} is on a '
                                 'read-only file system',
              'full': f'OCF output folder {out} cannot be written: no space left on the '
                      f'device of {out}'}[fault]
    assert message == f'make_ocf.py: error: {reason}'
    if fault != 'file':                            # nothing built before the check failed
        assert os.listdir(out) == []
    assert not list(root.glob('*_ocf.pkl'))


def test_make_ocf_disk_full_while_building_names_the_file(root, tmp_path, monkeypatch, capsys):
    from perception_kd.datasets import io
    write_all = io._write_all
    calls = []

    def full_after_two(file, data):
        calls.append(file.name)
        if len(calls) == 3:
            file.write(data[:len(data) // 2])
            raise OSError(errno.ENOSPC, 'No space left on device')
        write_all(file, data)
    monkeypatch.setattr(io, '_write_all', full_after_two)
    out = tmp_path / 'ocf'
    message = _exits(capsys, _make_ocf().main, [str(root), '--out', str(out), '--no-progress',
                                                '--scenes', 'scene-0061'])
    assert message.startswith(f'make_ocf.py: error: cannot write {out}/')
    assert message.endswith(': No space left on device')
    written = sorted(os.listdir(out))
    assert not [name for name in written if name.endswith('.tmp')]
    assert len([name for name in written if name.endswith('.pcd.bin')]) == 2   # the whole ones
    assert not list(root.glob('*_ocf.pkl'))


# ----------------------------------------------------------------- as a process
def test_data_root_error_is_the_only_output(tmp_path):
    """Issue 14: `--data-root` that does not exist came after ~800 lines of log; now the
    start-up check prints one line and the process exits 2 before the Runner starts."""
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1')
    env.pop('PKD_TRACEBACK', None)
    missing = tmp_path / 'no_such_root'
    proc = subprocess.run([sys.executable, str(REPO / 'tools' / 'train.py'), CENTERPOINT,
                           '--data-root', str(missing), '--work-dir', str(tmp_path / 'w')],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines() == [
        f'train.py: error: train_dataloader: data root {missing}/ does not exist (set it with '
        '--data-root or data_root in the config)'], proc.stderr[-3000:]
    assert 'mmengine' not in proc.stdout


# ------------------------------------------------------ the other tools (same rule)
def _missing_input(tmp_path):
    """tool -> (argv, the path the one line must name): each with a missing input."""
    missing = tmp_path / 'missing'
    a_file = tmp_path / 'a_file'
    a_file.write_text('in the way')
    return {
        'split_infos': ([f'{missing}.pkl', '--labelled-fraction', '0.5'], f'{missing}.pkl'),
        'make_superpixels': ([str(missing)], str(missing)),
        'make_synthetic': (['--out', str(a_file), '--scenes', '1', '--keyframes', '2'],
                           str(a_file)),        # no input file: an --out that is a file
        'export_student': ([LIDAR2CAM, f'{missing}.pth'], f'{missing}.pth'),
        'demo_unidistill': (['--data-root', str(missing), '--work-dir', str(tmp_path / 'w')],
                            str(missing)),
        'lima_table': (['--pretrain-config', f'{missing}.py', '--work-dir', str(tmp_path / 'w')],
                       f'{missing}.py'),
        'check_dataset': ([f'{missing}.py'], f'{missing}.py'),
        'compare': ([f'{missing}.py', CENTERPOINT, '--work-dir', str(tmp_path / 'w')],
                    f'{missing}.py'),
    }


@pytest.mark.parametrize('tool', ['split_infos', 'make_superpixels', 'make_synthetic',
                                  'export_student', 'demo_unidistill', 'lima_table',
                                  'check_dataset', 'compare'])
def test_every_tool_names_a_missing_input_in_one_line_and_exits_2(tool, tmp_path, monkeypatch,
                                                                 capsys):
    monkeypatch.delenv('PKD_TRACEBACK', raising=False)
    argv, path = _missing_input(tmp_path)[tool]
    with pytest.raises(SystemExit) as info:
        load_tool(tool).main(argv)
    assert info.value.code == 2, info.value
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [str(info.value)]                           # one line, no traceback
    assert err[0].startswith(f'{tool}.py: error: ') and path in err[0], err[0]
    assert not (tmp_path / 'w').exists()                      # refused before any run


def test_a_tool_error_is_exit_2_as_a_process_and_a_traceback_on_request(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1')
    env.pop('PKD_TRACEBACK', None)
    cmd = [sys.executable, str(REPO / 'tools' / 'lima_table.py'), '--pretrain-config',
           str(tmp_path / 'no.py'), '--work-dir', str(tmp_path / 'w')]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2 and proc.stdout == ''
    assert proc.stderr == (f'lima_table.py: error: config file {tmp_path}/no.py not found '
                           '(--pretrain-config)\n')
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                          env=dict(env, PKD_TRACEBACK='1'))
    assert proc.returncode == 1 and 'Traceback' in proc.stderr and 'ToolError' in proc.stderr
