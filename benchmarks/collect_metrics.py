#!/usr/bin/env python
"""Print a Markdown table of the final validation metrics of training runs.

    python benchmarks/collect_metrics.py work_dirs/exp_a work_dirs/exp_b ...

Reads the last line with ``NuScenes/mAP`` of each work dir's newest
``*/vis_data/scalars.json`` (mmengine's local visualizer backend), i.e. the validation
that ``tools/train.py`` runs at the end of the schedule.
"""
import glob
import json
import os.path as osp
import sys

COLUMNS = ('mAP', 'NDS', 'mATE', 'mASE', 'mAOE', 'mAVE', 'mAAE')


def final_metrics(work_dir: str) -> dict:
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')), key=osp.getmtime)
    for path in reversed(files):
        found = None
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                if 'NuScenes/mAP' in record:
                    found = record
        if found:
            return found
    raise SystemExit(f'collect_metrics.py: error: no validation metrics under {work_dir} '
                     '(did the run finish its schedule?)')


def main(argv=None):
    dirs = (argv if argv is not None else sys.argv[1:])
    if not dirs:
        raise SystemExit(__doc__)
    print('| run | ' + ' | '.join(COLUMNS) + ' |')
    print('|---|' + '---|' * len(COLUMNS))
    for work_dir in dirs:
        metrics = final_metrics(work_dir)
        print(
            f'| {osp.basename(osp.normpath(work_dir))} | '
            + ' | '.join(f'{metrics.get("NuScenes/" + c, float("nan")):.4f}' for c in COLUMNS)
            + ' |'
        )


if __name__ == '__main__':
    main()
