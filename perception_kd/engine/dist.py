"""Launching distributed training on CPU (gloo) or CUDA (nccl) from torchrun.

``torchrun`` (``python -m torch.distributed.run``) starts one process per rank and sets
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``.

mmengine's own launcher (``init_dist('pytorch')``) calls ``torch.cuda.set_device`` and its
default DDP wrapper passes ``device_ids=[LOCAL_RANK]``; both fail on a CPU-only machine.
:func:`configure_launcher` therefore

- on CUDA: leaves the launch to mmengine (``env_cfg.dist_cfg.backend='nccl'``);
- on CPU: initialises a gloo process group itself, before the Runner is built (mmengine
  then skips its own ``init_dist``), and sets
  ``model_wrapper_cfg=dict(type='MMDistributedDataParallel', device_ids=None)``.

Example::

    cfg = Config.fromfile('configs/centerpoint_lidar_cpu.py')
    configure_launcher(cfg, 'pytorch')   # inside a torchrun process
    runner = Runner.from_cfg(cfg)
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist
from mmengine.config import Config

__all__ = ['DistEnv', 'configure_launcher', 'default_backend', 'init_distributed',
           'torchrun_env']

_TORCHRUN_VARS = ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT')


@dataclass(frozen=True)
class DistEnv:
    """The torchrun environment of this process."""
    rank: int
    world_size: int
    local_rank: int
    master_addr: str
    master_port: int


def torchrun_env() -> DistEnv:
    """Read the rank and rendezvous variables torchrun sets; clear error if absent."""
    missing = [name for name in _TORCHRUN_VARS if name not in os.environ]
    if missing:
        raise RuntimeError(
            f'--launcher pytorch needs the torchrun environment, but {", ".join(missing)} '
            'is not set; start the script through torchrun, e.g. '
            '`tools/dist_train.sh CONFIG 2` or `python -m torch.distributed.run '
            '--nproc_per_node 2 tools/train.py CONFIG --launcher pytorch`')
    return DistEnv(rank=int(os.environ['RANK']), world_size=int(os.environ['WORLD_SIZE']),
                   local_rank=int(os.environ['LOCAL_RANK']),
                   master_addr=os.environ['MASTER_ADDR'],
                   master_port=int(os.environ['MASTER_PORT']))


def default_backend() -> str:
    """``'nccl'`` when CUDA is available, else ``'gloo'``."""
    return 'nccl' if torch.cuda.is_available() else 'gloo'


def init_distributed(backend: str | None = None, timeout_s: float = 1800) -> DistEnv:
    """Initialise the default process group from the torchrun environment.

    Args:
        backend: ``'gloo'``, ``'nccl'`` or None for :func:`default_backend`.
        timeout_s: collective timeout in seconds.

    Returns:
        The :class:`DistEnv` of this process. Idempotent: an initialised group is kept.
    """
    env = torchrun_env()
    if torch_dist.is_initialized():
        return env
    backend = backend or default_backend()
    if backend == 'nccl':
        if not torch.cuda.is_available():
            raise RuntimeError("backend 'nccl' needs CUDA; use 'gloo' on a CPU-only machine")
        torch.cuda.set_device(env.local_rank % torch.cuda.device_count())
    torch_dist.init_process_group(backend=backend, init_method='env://', rank=env.rank,
                                  world_size=env.world_size,
                                  timeout=datetime.timedelta(seconds=timeout_s))
    return env


def configure_launcher(cfg: Config, launcher: str) -> DistEnv | None:
    """Prepare ``cfg`` (in place) and the process group for ``launcher``.

    Args:
        cfg: the experiment config; ``launcher``, ``env_cfg.dist_cfg`` and, on CPU,
            ``model_wrapper_cfg`` are set.
        launcher: ``'none'`` (one process) or ``'pytorch'`` (torchrun).

    Returns:
        The :class:`DistEnv` for ``'pytorch'``, None for ``'none'``.
    """
    if launcher == 'none':
        cfg.launcher = 'none'
        return None
    if launcher != 'pytorch':
        raise ValueError(f"launcher must be 'none' or 'pytorch', got {launcher!r}")
    env = torchrun_env()
    cfg.launcher = 'pytorch'
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    backend = dist_cfg.get('backend') or default_backend()
    if backend == 'nccl' and not torch.cuda.is_available():
        raise RuntimeError("env_cfg.dist_cfg.backend='nccl' needs CUDA, but none is available; "
                           "set it to 'gloo' (or leave it unset) to train on CPU")
    dist_cfg['backend'] = backend
    if torch.cuda.is_available():
        return env  # mmengine's own init_dist (set_device + init_process_group) and DDP
    init_distributed(backend, timeout_s=dist_cfg.get('timeout', 1800))
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    if _is_ddp_wrapper(wrapper['type'], cfg.get('default_scope')):
        wrapper['device_ids'] = None  # CPU modules take no device ids
    cfg.model_wrapper_cfg = wrapper
    return env


def _is_ddp_wrapper(wrapper_type, scope: str | None) -> bool:
    """Whether a model wrapper type is a DistributedDataParallel (takes ``device_ids``)."""
    from mmengine.registry import MODEL_WRAPPERS
    from torch.nn.parallel import DistributedDataParallel
    if isinstance(wrapper_type, str):
        with MODEL_WRAPPERS.switch_scope_and_registry(scope) as registry:
            wrapper_type = registry.get(wrapper_type)
    return isinstance(wrapper_type, type) and issubclass(wrapper_type, DistributedDataParallel)
