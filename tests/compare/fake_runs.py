"""Fake training runs for the comparison tests (no torch): a config with the CPU schedule,
work dirs with the files ``tools/train.py`` leaves, and a stand-in for ``tools/train.py``
(``FAKE_TRAIN``) that writes them quickly with known metrics."""
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FAKE_TRAIN = Path(__file__).resolve().parent / 'fake_train.py'
FAKE_TEST = Path(__file__).resolve().parent / 'fake_test.py'
METRIC_NAMES = ('mAP', 'NDS', 'mATE', 'mASE', 'mAOE', 'mAVE', 'mAAE')


def write_config(path, gain: float = 0.0) -> str:
    """A config inheriting the real cpu_short schedule (12 epochs, cosine from epoch 1);
    ``gain`` is what the fake trainer adds to mAP (its "method effect")."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    schedule = REPO / 'configs' / '_base_' / 'schedules' / 'cpu_short.py'
    path.write_text(f'_base_ = [{str(schedule)!r}]\nfake_gain = {gain!r}\n')
    return str(path)


def fake_metrics(seed: int, gain: float, epoch: int, max_epochs: int) -> dict:
    """Known metrics: mAP = 0.2 + 0.01 * seed + gain at the end, lower before."""
    scale = epoch / max_epochs
    m_ap = (0.2 + 0.01 * seed + gain) * scale
    return {'mAP': m_ap, 'NDS': m_ap / 2 + 0.1, 'mATE': 1.0 - m_ap, 'mASE': 0.5,
            'mAOE': 1.2, 'mAVE': 2.0 + seed, 'mAAE': 0.8}


def write_run(run_dir, seed: int, gain: float, epochs: int, last_epoch: int | None = None,
              stamp: str = '20261207_120000', checkpoint: bool = True,
              validate_last: bool = True) -> None:
    """What a run of ``epochs`` epochs left after ``last_epoch`` (default: all) epochs,
    validating every epoch: scalars.json with training and validation records, and the
    epoch checkpoints (empty files). ``validate_last=False``: killed during the validation
    of ``last_epoch`` (its checkpoint saved, its validation not logged)."""
    run_dir = Path(run_dir)
    vis = run_dir / stamp / 'vis_data'
    vis.mkdir(parents=True, exist_ok=True)
    last = epochs if last_epoch is None else last_epoch
    with open(vis / 'scalars.json', 'a') as file:
        for epoch in range(1, last + 1):
            file.write(json.dumps({'loss': 1.0 / epoch, 'epoch': epoch, 'iter': epoch,
                                   'step': epoch}) + '\n')
            if checkpoint:
                (run_dir / f'epoch_{epoch}.pth').write_bytes(b'')
            if epoch == last and not validate_last:
                break
            record = {f'NuScenes/{k}': v
                      for k, v in fake_metrics(seed, gain, epoch, epochs).items()}
            file.write(json.dumps(dict(record, step=epoch)) + '\n')
    if checkpoint and last:
        (run_dir / 'last_checkpoint').write_text(str(run_dir / f'epoch_{last}.pth'))
