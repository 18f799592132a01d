"""benchmarks/class_confusion.py: nearest prediction per ground-truth box, by class and motion."""
import importlib.util
from pathlib import Path
from types import SimpleNamespace

SCRIPT = Path(__file__).resolve().parents[2] / 'benchmarks' / 'class_confusion.py'
spec = importlib.util.spec_from_file_location('class_confusion', SCRIPT)
class_confusion = importlib.util.module_from_spec(spec)
spec.loader.exec_module(class_confusion)


class FakeGT(dict):
    @property
    def sample_tokens(self):
        return list(self)


def box(name, xy, velocity=(0.0, 0.0)):
    return SimpleNamespace(detection_name=name, translation=(*xy, 0.0), velocity=velocity)


def pred(name, xy, score):
    return dict(detection_name=name, translation=[*xy, 0.0], detection_score=score)


def test_nearest_prediction_counts():
    gt = FakeGT(a=[box('bicycle', (0, 0), (2.0, 0.0)), box('bicycle', (10, 0)),
                   box('car', (20, 0))],
                b=[box('motorcycle', (0, 0), (float('nan'), 0.0))])
    results = dict(a=[pred('motorcycle', (0.3, 0), 0.9), pred('bicycle', (0.8, 0), 0.9),
                      pred('bicycle', (10.2, 0), 0.1),        # below min_score
                      pred('car', (20, 0), 0.9)],
                   b=[pred('motorcycle', (1.5, 0), 0.9)])      # farther than the radius
    table = class_confusion.confusion(gt, results, ['bicycle', 'motorcycle'], min_score=0.2,
                                      radius=1.0, moving=0.5)
    assert table == {('bicycle', 'moving'): {'motorcycle': 1},
                     ('bicycle', 'static'): {'none': 1},
                     ('motorcycle', 'static'): {'none': 1}}
