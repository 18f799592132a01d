"""Detectors build from their configs outside a Runner (no mmengine default scope set), in a
fresh interpreter without ``register_all_modules``: the registry's locations import them."""
import subprocess
import sys

CODE = """
import perception_kd
from mmengine.config import Config
from mmengine.registry import DefaultScope
from perception_kd.registry import MODELS
assert DefaultScope.get_current_instance() is None
model = MODELS.build(Config.fromfile('configs/centerpoint_lidar_cpu.py').model)
print(type(model.data_preprocessor).__name__)
"""


def test_build_without_default_scope():
    out = subprocess.run([sys.executable, '-c', CODE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith('Det3DDataPreprocessor')
