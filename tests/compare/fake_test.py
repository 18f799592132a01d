"""Stand-in for tools/test.py in the comparison tests: parses the same command line,
appends ``TEST <args>`` to ``$FAKE_CALLS`` and writes ``<out-json>/metrics.json`` as the
tool does, with fake_runs.fake_metrics of the final epoch (the checkpoint's)."""
import argparse
import ast
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_runs import fake_metrics  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--work-dir')
    parser.add_argument('--out-json')
    parser.add_argument('--data-root')
    parser.add_argument('--cfg-options', nargs='+', default=[])
    args = parser.parse_args()
    with open(os.environ['FAKE_CALLS'], 'a') as calls:
        calls.write('TEST ' + ' '.join(sys.argv[1:]) + '\n')
    epoch = int(Path(args.checkpoint).stem.split('_')[1])
    seed = int(Path(args.work_dir).name[4:])
    gain = 0.0
    for line in Path(args.config).read_text().splitlines():
        if line.startswith('fake_gain'):
            gain = ast.literal_eval(line.split('=', 1)[1].strip())
    metrics = {f'NuScenes/{k}': v for k, v in fake_metrics(seed, gain, epoch, epoch).items()}
    os.makedirs(args.out_json, exist_ok=True)
    with open(os.path.join(args.out_json, 'metrics.json'), 'w') as file:
        json.dump(dict(config=args.config, checkpoint=args.checkpoint, metrics=metrics), file)


if __name__ == '__main__':
    main()
