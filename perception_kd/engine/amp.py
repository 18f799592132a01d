"""Mixed precision for ``tools/train.py --amp`` on CUDA (fp16) and CPU (bfloat16).

mmengine's ``AmpOptimWrapper`` refuses to run without an accelerator, so on CPU
:func:`enable_amp` uses :class:`CPUAutocastOptimWrapper`: the forward pass runs under
``torch.autocast('cpu', dtype=torch.bfloat16)``; bfloat16 has float32's exponent range,
so no loss scaling is needed.

Example::

    enable_amp(cfg)   # cfg.optim_wrapper: OptimWrapper -> AmpOptimWrapper / CPUAutocastOptimWrapper
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper

from ..registry import OPTIM_WRAPPERS

__all__ = ['CPUAutocastOptimWrapper', 'cpu_autocast_supported', 'enable_amp']

_PLAIN = ('OptimWrapper', 'mmengine.OptimWrapper')
_AMP = ('AmpOptimWrapper', 'mmengine.AmpOptimWrapper', 'CPUAutocastOptimWrapper',
        'perception_kd.CPUAutocastOptimWrapper')


@OPTIM_WRAPPERS.register_module()
class CPUAutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward pass runs under CPU autocast (bfloat16 by default).

    Args:
        dtype: ``'bfloat16'`` (default) or ``'float16'``.
        **kwargs: as :class:`mmengine.optim.OptimWrapper` (optimizer, clip_grad, ...).
    """

    def __init__(self, *args, dtype: str | torch.dtype = 'bfloat16', **kwargs):
        super().__init__(*args, **kwargs)
        self.cast_dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype

    @contextmanager
    def optim_context(self, model: torch.nn.Module):
        with super().optim_context(model), torch.autocast('cpu', dtype=self.cast_dtype):
            try:
                yield
            except (KeyError, RuntimeError, TypeError, NotImplementedError) as exc:
                dtype_name = str(self.cast_dtype).replace('torch.', '')
                if dtype_name.lower() not in repr(exc).lower():
                    raise
                raise RuntimeError(
                    f'{type(exc).__name__}: {exc} under CPU {dtype_name} autocast (--amp): a '
                    f'module of the model has no {dtype_name} CPU kernel (e.g. spconv sparse '
                    'convolutions); train without --amp, or run that module in float32 '
                    "(torch.autocast('cpu', enabled=False) and float inputs)") from exc


def cpu_autocast_supported(dtype: torch.dtype = torch.bfloat16) -> str | None:
    """None if a linear layer runs forward and backward under CPU autocast, else why not."""
    try:
        layer = torch.nn.Linear(4, 4)
        with torch.autocast('cpu', dtype=dtype):
            out = layer(torch.randn(2, 4))
        out.float().sum().backward()
        if out.dtype != dtype:
            return f'autocast produced {out.dtype}, not {dtype}'
    except Exception as exc:  # noqa: BLE001  (report any failure as "unsupported")
        return f'{type(exc).__name__}: {exc}'
    return None


def enable_amp(cfg: Config, device: str | None = None) -> str:
    """Switch ``cfg.optim_wrapper`` to mixed precision, in place.

    Args:
        cfg: config with an ``optim_wrapper`` of type ``OptimWrapper`` (or already AMP).
        device: ``'cuda'`` or ``'cpu'``; default: CUDA when available.

    Returns:
        A one-line description of what was set, for the log.

    Raises:
        ValueError: the config has no optim_wrapper, or one of a custom type.
        RuntimeError: bfloat16 autocast does not work on this CPU.
    """
    device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    wrapper = cfg.get('optim_wrapper')
    if not isinstance(wrapper, dict):
        raise ValueError('--amp: the config has no optim_wrapper dict to switch to mixed precision')
    wrapper_type = wrapper.get('type', 'OptimWrapper')
    if wrapper_type in _AMP:
        return f'--amp: optim_wrapper is already {wrapper_type}'
    if wrapper_type not in _PLAIN:
        raise ValueError(f'--amp replaces an OptimWrapper, but optim_wrapper.type is '
                         f'{wrapper_type!r}; set the mixed-precision wrapper in the config instead')
    if device == 'cuda':
        wrapper['type'] = 'AmpOptimWrapper'
        wrapper.setdefault('loss_scale', 'dynamic')
        return 'AMP: AmpOptimWrapper (float16 autocast, dynamic loss scaling) on CUDA'
    problem = cpu_autocast_supported(torch.bfloat16)
    if problem is not None:
        raise RuntimeError(f'--amp on CPU needs bfloat16 autocast, which fails here ({problem}); '
                           'train without --amp')
    wrapper['type'] = 'CPUAutocastOptimWrapper'
    wrapper['dtype'] = 'bfloat16'
    return ('AMP: CPUAutocastOptimWrapper (bfloat16 autocast) on CPU; without native bfloat16 '
            'instructions (AVX512-BF16/AMX) it is slower than float32, and a module without '
            'a bfloat16 CPU kernel fails in its forward pass')
