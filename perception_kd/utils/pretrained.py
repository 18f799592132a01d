"""Finding ImageNet backbone weights on a first run: a local file, the torch hub cache, or
a download (``torch.hub.load_state_dict_from_url``: hash check, progress bar).

Configs name torchvision's files by their published names (e.g.
``checkpoints/resnet50-0676ba61.pth``; the part after the dash is the start of the file's
SHA-256). :func:`resolve_pretrained` returns a readable path for such a name:

1. the path itself, when the file exists;
2. the file of that name in the torch hub cache (``$TORCH_HOME/hub/checkpoints``);
3. otherwise it is downloaded there from :data:`TORCHVISION_URLS` (or
   ``$PERCEPTION_KD_WEIGHTS_URL/<name>``, a mirror), the hash prefix checked;
4. when that is not possible (``PERCEPTION_KD_OFFLINE=1``, no network, an unknown name, a
   wrong hash) a :class:`PretrainedWeightsError` whose message is one line: what is
   missing, where to put it, and the ``--cfg-options`` that trains from scratch.
"""
from __future__ import annotations

import os
import os.path as osp
import socket
import urllib.error
from collections.abc import Mapping

__all__ = ['OFFLINE_ENV', 'PretrainedWeightsError', 'TORCHVISION_URLS', 'URL_ENV',
           'find_option_key', 'hub_checkpoint_dir', 'resolve_pretrained', 'scratch_hint']

OFFLINE_ENV = 'PERCEPTION_KD_OFFLINE'
URL_ENV = 'PERCEPTION_KD_WEIGHTS_URL'
_TV = 'https://download.pytorch.org/models/'
# torchvision's ImageNet weights (IMAGENET1K_V1; resnet50 also V2) by file name
TORCHVISION_URLS = {name: _TV + name for name in (
    'resnet18-f37072fd.pth', 'resnet34-b627a593.pth', 'resnet50-0676ba61.pth',
    'resnet50-11ad3fa6.pth', 'resnet101-63fe2227.pth', 'resnet152-394f9c45.pth')}
DOWNLOAD_TIMEOUT_S = 60


class PretrainedWeightsError(FileNotFoundError):
    """Pretrained weights named by a config are neither on disk nor downloadable.

    ``path`` is the configured path; the message is one line.
    """

    def __init__(self, message: str, path: str | None = None):
        super().__init__(message)
        self.path = path


def hub_checkpoint_dir() -> str:
    """torch's download cache for weights (``torch.hub.get_dir()/checkpoints``)."""
    import torch.hub
    return osp.join(torch.hub.get_dir(), 'checkpoints')


def _offline() -> bool:
    return os.environ.get(OFFLINE_ENV, '').strip().lower() not in ('', '0', 'false', 'no')


def scratch_hint(option: str | None = None) -> str:
    """How to train without the file."""
    if option:
        return f'or train from scratch with --cfg-options {option}=None'
    return 'or set pretrained=None in the config to train from scratch'


def resolve_pretrained(path: str, what: str = 'pretrained weights', url: str | None = None,
                       model_dir: str | None = None, option: str | None = None,
                       progress: bool = True) -> str:
    """A local file holding the weights ``path`` names, downloading them if needed.

    Args:
        path: the configured file (e.g. ``checkpoints/resnet50-0676ba61.pth``).
        what: what the weights are, for messages (e.g. ``'ImageNet ResNet-50 weights'``).
        url: where to download from; default :data:`TORCHVISION_URLS` by file name
            (``$PERCEPTION_KD_WEIGHTS_URL/<name>`` when set). The hash in the file name
            (``name-<sha256 prefix>.pth``) is checked.
        model_dir: the download folder (default :func:`hub_checkpoint_dir`).
        option: the config key of ``path``, named in the message as the
            ``--cfg-options KEY=None`` that trains from scratch.
        progress: draw torch's download progress bar (stderr).

    Raises:
        PretrainedWeightsError: not found and not downloadable (one-line message).
    """
    if osp.isfile(path):
        return path
    name = osp.basename(path)
    model_dir = model_dir or hub_checkpoint_dir()
    cached = osp.join(model_dir, name)
    if osp.isfile(cached):
        return cached
    if url is None:
        base = os.environ.get(URL_ENV)
        url = base.rstrip('/') + '/' + name if base else TORCHVISION_URLS.get(name)
    where = f'put it at {path} (or in {model_dir}/)'
    if url is None:
        raise PretrainedWeightsError(
            f'{what} {path} not found (and {name} is not a file this project knows how to '
            f'download): {where}, {scratch_hint(option)}', path)
    if _offline():
        raise PretrainedWeightsError(
            f'{what} {path} not found and {OFFLINE_ENV} is set (no download): fetch {url} and '
            f'{where}, {scratch_hint(option)}', path)
    import torch.hub
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        os.makedirs(model_dir, exist_ok=True)
        torch.hub.load_state_dict_from_url(url, model_dir=model_dir, map_location='cpu',
                                           progress=progress, check_hash=True, file_name=name,
                                           weights_only=True)
    except RuntimeError as err:
        if 'hash' in str(err):   # torch removes the partial download
            raise PretrainedWeightsError(
                f'{what}: the file downloaded from {url} does not match the hash in its name '
                f'({name}); it was not kept. Fetch it again, or {where}, '
                f'{scratch_hint(option)}', path) from err
        raise
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, 'reason', None) or err
        raise PretrainedWeightsError(
            f'{what} {path} not found and the download from {url} failed ({reason}): fetch it '
            f'on a machine with internet and {where}, {scratch_hint(option)}', path) from err
    finally:
        socket.setdefaulttimeout(previous)
    if not osp.isfile(cached):   # cannot happen with torch's hub, but never return a ghost
        raise PretrainedWeightsError(f'{what}: download of {url} left no {cached}', path)
    return cached


def find_option_key(cfg: Mapping, value: str, key: str = 'pretrained',
                    prefix: str = '') -> str | None:
    """The dotted ``--cfg-options`` key of the first ``key`` whose value is ``value``.

    Walks dicts and lists (list items as ``name.N``, as mmengine's options address them).
    """
    items = cfg.items() if isinstance(cfg, Mapping) else \
        enumerate(cfg) if isinstance(cfg, (list, tuple)) else ()
    for name, item in items:
        dotted = f'{prefix}{name}'
        if name == key and item == value:
            return dotted
        if isinstance(item, (Mapping, list, tuple)):
            found = find_option_key(item, value, key, dotted + '.')
            if found:
                return found
    return None


def pretrained_error_message(err: PretrainedWeightsError, cfg) -> str:
    """``err``'s message with the exact ``--cfg-options`` of ``cfg`` that trains without
    the file (or, for a distiller whose student is a config file, the key in that file)."""
    message = str(err)
    model = cfg.get('model') if hasattr(cfg, 'get') else None   # a Config or a dict
    key = find_option_key(model or {}, err.path) if err.path else None
    if key:
        return message.replace(scratch_hint(), scratch_hint(f'model.{key}'))
    for role in ('student', 'teacher'):
        spec = (model or {}).get(role) if isinstance(model, Mapping) else None
        if isinstance(spec, str) and osp.isfile(spec) and err.path:
            from mmengine.config import Config
            inner = find_option_key(Config.fromfile(spec).get('model', {}), err.path)
            if inner:
                return message.replace(
                    scratch_hint(), f'or train from scratch: set model.{inner}=None in {spec} '
                    f'(the {role} config)')
    return message
