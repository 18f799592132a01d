#!/usr/bin/env python
"""Start-up of the numpy tools before and after the lazy imports (issue 17.6), side by side.

    python benchmarks/bench_startup.py [--before 5e90391] [--runs 5] [--tmp-dir DIR]

Each command runs ``--runs`` times in a fresh interpreter against two trees: this checkout
("after") and ``git archive <--before>`` unpacked into a temporary folder ("before"),
alternating before/after so that the load of a shared machine hits both alike. Each tree
runs with its own folder as working directory and ``PYTHONPATH``; the interpreter is this
one. Printed: the median wall seconds of each side, their ratio, and whether torch was
imported (one extra run per side with ``-X importtime``, not timed).

The data of the ``make_ocf`` / ``create_data`` / ``visualize`` rows is a small synthetic
tree written once with ``tools/make_synthetic.py`` (``--scenes``, ``--keyframes``); the
runs write into the temporary folder, never into ``data/``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def export_revision(revision: str, dest: str) -> None:
    """``git archive`` of ``revision`` unpacked into ``dest`` (no worktree, no checkout)."""
    archive = subprocess.run(['git', '-C', REPO, 'archive', revision], check=True,
                             capture_output=True).stdout
    subprocess.run(['tar', '-x', '-C', dest], input=archive, check=True)


def timed(cmd: list[str], tree: str) -> tuple[float, str]:
    """Wall seconds of ``cmd`` run in ``tree`` and its stderr; fails loudly."""
    env = dict(os.environ, PYTHONPATH=tree, OMP_NUM_THREADS='1', MPLBACKEND='Agg')
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f'{" ".join(cmd)} failed in {tree}:\n{proc.stderr[-3000:]}')
    return seconds, proc.stderr


def imported_modules(cmd: list[str], tree: str) -> set[str]:
    """Top-level names of the modules that ``cmd`` imports (``python -X importtime``)."""
    stderr = timed(cmd[:1] + ['-X', 'importtime'] + cmd[1:], tree)[1]
    return {line.rsplit('|', 1)[-1].strip().split('.')[0] for line in stderr.splitlines()
            if line.startswith('import time:')}


def commands(data: dict) -> list[tuple[str, list[str]]]:
    py = sys.executable
    ocf_run = [py, 'tools/make_ocf.py', data['root'], '--no-progress', '--force',
               '--out', data['ocf_out'], '--info-suffix', '_bench', '--infos', *data['infos']]
    return [
        ("python -c 'import perception_kd'", [py, '-c', 'import perception_kd']),
        ("python -c 'import perception_kd.ocf'", [py, '-c', 'import perception_kd.ocf']),
        ('tools/make_ocf.py --help', [py, 'tools/make_ocf.py', '--help']),
        ('tools/make_synthetic.py --help', [py, 'tools/make_synthetic.py', '--help']),
        ('tools/visualize.py --help', [py, 'tools/visualize.py', '--help']),
        (f'tools/create_data.py ({data["frames"]} keyframes)',
         [py, 'tools/create_data.py', data['root'], '--out-dir', data['infos_out'],
          '--max-sweeps', '2', '--no-progress']),
        (f'tools/make_ocf.py ({data["frames"]} keyframes)', ocf_run),
        ('tools/visualize.py --write-noisy-gt',
         [py, 'tools/visualize.py', '--info', data['infos'][-1], '--data-root', data['root'],
          '--write-noisy-gt', os.path.join(data['ocf_out'], 'noisy.json')]),
    ]


def make_data(tmp: str, scenes: int, keyframes: int) -> dict:
    root = os.path.join(tmp, 'nuscenes')
    subprocess.run([sys.executable, 'tools/make_synthetic.py', '--out', root, '--scenes',
                    str(scenes), '--keyframes', str(keyframes), '--image-size', '64x36',
                    '--workers', '1', '--no-lidarseg'],
                   cwd=REPO, check=True, capture_output=True)
    infos_out = os.path.join(tmp, 'infos')
    os.makedirs(infos_out)
    subprocess.run([sys.executable, 'tools/create_data.py', root, '--out-dir', infos_out,
                    '--max-sweeps', '2', '--no-progress'], cwd=REPO, check=True,
                   capture_output=True)
    infos = sorted(os.path.join(infos_out, name) for name in os.listdir(infos_out))
    return dict(root=root, infos=infos, infos_out=os.path.join(tmp, 'infos_rerun'),
                ocf_out=os.path.join(tmp, 'ocf'), frames=scenes * keyframes)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--before', default='5e90391', help='git revision of "before"')
    parser.add_argument('--runs', type=int, default=5, help='fresh interpreters per command '
                                                            'and side (default: %(default)s)')
    parser.add_argument('--scenes', type=int, default=2)
    parser.add_argument('--keyframes', type=int, default=10)
    parser.add_argument('--tmp-dir', default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.tmp_dir) as tmp:
        before = os.path.join(tmp, 'before')
        os.makedirs(before)
        export_revision(args.before, before)
        data = make_data(tmp, args.scenes, args.keyframes)
        os.makedirs(data['infos_out'])
        rows = []
        for label, cmd in commands(data):
            times = {'before': [], 'after': []}
            for _ in range(args.runs):
                for side, tree in (('before', before), ('after', REPO)):
                    times[side].append(timed(cmd, tree)[0])
                    shutil.rmtree(data['ocf_out'], ignore_errors=True)
            torch = [side for side, tree in (('before', before), ('after', REPO))
                     if 'torch' in imported_modules(cmd, tree)]
            shutil.rmtree(data['ocf_out'], ignore_errors=True)
            rows.append((label, statistics.median(times['before']),
                         statistics.median(times['after']), torch))
    load = os.getloadavg()
    print(f'{args.runs} runs per command and side, median wall seconds; before = '
          f'{args.before}, after = this checkout; {os.cpu_count()} CPUs, load average '
          f'{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min) at the end')
    print(f'{"command":<44}{"before s":>10}{"after s":>10}{"ratio":>8}  torch imported')
    for label, old, new, torch in rows:
        imported = ', '.join(torch) or 'neither'
        print(f'{label:<44}{old:>10.2f}{new:>10.2f}{old / new:>7.1f}x  {imported}')


if __name__ == '__main__':
    main()
