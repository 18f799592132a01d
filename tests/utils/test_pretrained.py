"""resolve_pretrained: the real download path (torch.hub.load_state_dict_from_url) against a
file:// URL of a checkpoint the test writes; hash mismatch refused; offline one-liners; the
--cfg-options hint of tools/train.py. No network."""
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from perception_kd.models.camera.resnet import ResNet
from perception_kd.utils import pretrained as pt
from perception_kd.utils.pretrained import (
    PretrainedWeightsError,
    find_option_key,
    resolve_pretrained,
)

REPO = Path(__file__).resolve().parents[2]


def _published(tmp_path, good_hash=True):
    """A tiny torchvision-style ResNet-18 checkpoint named ``resnet18-<sha256[:8]>.pth``
    in a 'server' folder, and its file:// URL."""
    server = tmp_path / 'server'
    server.mkdir(exist_ok=True)
    staging = server / 'staging.pth'
    torch.manual_seed(0)
    torch.save(ResNet(depth=18, base_channels=8).state_dict(), staging)
    digest = hashlib.sha256(staging.read_bytes()).hexdigest()[:8]
    name = f'resnet18-{digest if good_hash else "00000000"}.pth'
    staging.rename(server / name)
    return name, (server / name).as_uri()


def test_download_from_a_file_url_into_the_hub_cache(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(pt.OFFLINE_ENV, raising=False)
    name, url = _published(tmp_path)
    cache = tmp_path / 'hub' / 'checkpoints'
    path = resolve_pretrained(f'checkpoints/{name}', url=url, model_dir=str(cache))
    assert path == str(cache / name)
    assert (cache / name).read_bytes() == (tmp_path / 'server' / name).read_bytes()
    assert '100%' in capsys.readouterr().err                   # torch's progress bar
    # the cached file is used from now on, even offline and with the server gone
    (tmp_path / 'server' / name).unlink()
    monkeypatch.setenv(pt.OFFLINE_ENV, '1')
    assert resolve_pretrained(f'checkpoints/{name}', url=url, model_dir=str(cache)) == path
    # and the ResNet loads it: same weights as the published ones
    model = ResNet(depth=18, base_channels=8, pretrained=path)
    torch.manual_seed(0)
    torch.testing.assert_close(model.conv1.weight, ResNet(depth=18, base_channels=8).conv1.weight)


def test_a_wrong_hash_is_refused_and_not_kept(tmp_path, monkeypatch):
    monkeypatch.delenv(pt.OFFLINE_ENV, raising=False)
    name, url = _published(tmp_path, good_hash=False)
    cache = tmp_path / 'hub' / 'checkpoints'
    with pytest.raises(PretrainedWeightsError, match='does not match the hash in its name') as err:
        resolve_pretrained(f'checkpoints/{name}', url=url, model_dir=str(cache),
                           option='model.backbone.pretrained')
    assert '\n' not in str(err.value)
    assert '--cfg-options model.backbone.pretrained=None' in str(err.value)
    assert not (cache / name).exists() and list(cache.iterdir()) == []


def test_offline_and_unreachable_give_one_line(tmp_path, monkeypatch):
    cache = tmp_path / 'hub'
    monkeypatch.setenv(pt.OFFLINE_ENV, '1')
    with pytest.raises(PretrainedWeightsError) as err:
        ResNet(depth=50, pretrained='checkpoints/resnet50-0676ba61.pth')
    message = str(err.value)
    assert '\n' not in message and 'PERCEPTION_KD_OFFLINE is set' in message
    assert 'https://download.pytorch.org/models/resnet50-0676ba61.pth' in message
    assert 'put it at checkpoints/resnet50-0676ba61.pth' in message
    monkeypatch.delenv(pt.OFFLINE_ENV)
    missing = (tmp_path / 'nowhere' / 'resnet18-f37072fd.pth').as_uri()
    with pytest.raises(PretrainedWeightsError, match='the download from file:.* failed') as err:
        resolve_pretrained('checkpoints/resnet18-f37072fd.pth', url=missing, model_dir=str(cache))
    assert '\n' not in str(err.value)
    # a mirror through the environment
    name, _ = _published(tmp_path)
    monkeypatch.setenv(pt.URL_ENV, (tmp_path / 'server').as_uri())
    assert Path(resolve_pretrained(f'x/{name}', model_dir=str(cache))).is_file()


def test_find_option_key():
    cfg = dict(model=dict(camera_encoder=dict(backbone=dict(pretrained='a.pth')),
                          necks=[dict(pretrained=None), dict(pretrained='b.pth')]))
    assert find_option_key(cfg, 'a.pth') == 'model.camera_encoder.backbone.pretrained'
    assert find_option_key(cfg, 'b.pth') == 'model.necks.1.pretrained'
    assert find_option_key(cfg, 'c.pth') is None


def test_train_tool_first_run_offline_is_one_line(tmp_path, tiny_root, tiny_infos):
    """The headline config on a fresh clone with a data root in place, offline: no
    traceback, the exact option."""
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', 'configs/bevdepth_cam.py', '--work-dir',
         str(tmp_path / 'run'), '--data-root', tiny_root], cwd=REPO, capture_output=True,
        text=True, timeout=300,
        env=dict(__import__('os').environ, PERCEPTION_KD_OFFLINE='1', TORCH_HOME=str(tmp_path),
                 OMP_NUM_THREADS='1', PYTHONPATH=str(REPO)))
    assert proc.returncode == 2   # a tool error (1: a check found problems)
    assert 'Traceback' not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if 'error' in line]
    assert len(lines) == 1, proc.stderr[-2000:]
    assert 'ImageNet ResNet-50 weights checkpoints/resnet50-0676ba61.pth not found' in lines[0]
    assert '--cfg-options model.camera_encoder.backbone.pretrained=None' in lines[0]
