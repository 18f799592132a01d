"""Stand-in for tools/train.py in the comparison tests: parses the same command line,
appends it to ``$FAKE_CALLS``, and writes the logs of a finished run with the metrics of
fake_runs.fake_metrics (the config's ``fake_gain``). ``$FAKE_FAIL`` = ``ARM:SEED`` (the
work dir ends with ARM/seedSEED): exits 1 with an error line, as a crashed run does."""
import argparse
import ast
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_runs import write_run  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('config')
    parser.add_argument('--work-dir')
    parser.add_argument('--seed', type=int)
    parser.add_argument('--resume', action='store_true')
    parser.add_argument('--data-root')
    parser.add_argument('--cfg-options', nargs='+', default=[])
    args = parser.parse_args()
    with open(os.environ['FAKE_CALLS'], 'a') as calls:
        calls.write(' '.join(sys.argv[1:]) + f' OMP={os.environ.get("OMP_NUM_THREADS")}\n')
    work = Path(args.work_dir)
    if os.environ.get('FAKE_FAIL') == f'{work.parent.name}:{work.name[4:]}':
        print('train.py: error: fake crash in\n  some.key: details', flush=True)
        print('', flush=True)
        sys.exit(1)
    options = dict(option.split('=', 1) for option in args.cfg_options)
    epochs = int(options.get('train_cfg.max_epochs', 12))
    gain = 0.0
    for line in Path(args.config).read_text().splitlines():
        if line.startswith('fake_gain'):
            gain = ast.literal_eval(line.split('=', 1)[1].strip())
    stamp = time.strftime('%Y%m%d_%H%M%S') + f'_{os.getpid()}'
    write_run(work, args.seed, gain, epochs, stamp=stamp)


if __name__ == '__main__':
    main()
