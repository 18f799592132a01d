"""Engine pieces for the tools: launcher, hooks, mixed precision, config and checkpoint
helpers. Hooks and optimizer wrappers register in :mod:`perception_kd.registry`."""
from ..utils.checkpoint import (
    CheckpointMismatchError,
    CheckpointWarning,
    StateDictMismatch,
    check_checkpoint_matches,
    checkpoint_problem,
    compare_state_dicts,
    latest_checkpoint,
    load_checkpoint_file,
)
from .amp import CPUAutocastOptimWrapper, cpu_autocast_supported, enable_amp
from .checkpoint_hook import AtomicCheckpointHook, CheckpointSaveError, write_last_checkpoint
from .config import (
    ConfigError,
    UnknownConfigKeyError,
    add_override_args,
    check_cfg_options,
    explain_registry_error,
    load_config,
    set_data_root,
    set_jsonfile_prefix,
    stale_variable_notes,
)
from .dist import DistEnv, configure_launcher, default_backend, init_distributed, torchrun_env
from .hooks import CheckInvalidLossHook, InvalidLossError
from .progress import PROGRESS_ENV, ProgressFileHook, read_progress
from .runner import build_runner, config_stem, unique_experiment_name
from .seeding import EpochSeedHook

__all__ = [
    'add_override_args', 'AtomicCheckpointHook', 'CheckpointSaveError', 'CheckpointWarning',
    'checkpoint_problem', 'EpochSeedHook', 'write_last_checkpoint',
    'CPUAutocastOptimWrapper', 'CheckInvalidLossHook', 'CheckpointMismatchError', 'ConfigError',
    'DistEnv',
    'InvalidLossError', 'StateDictMismatch', 'UnknownConfigKeyError', 'build_runner',
    'check_cfg_options', 'check_checkpoint_matches', 'compare_state_dicts', 'config_stem',
    'configure_launcher', 'cpu_autocast_supported', 'default_backend', 'enable_amp',
    'explain_registry_error', 'init_distributed', 'latest_checkpoint', 'load_checkpoint_file',
    'load_config', 'set_data_root', 'set_jsonfile_prefix', 'stale_variable_notes',
    'torchrun_env', 'unique_experiment_name', 'PROGRESS_ENV', 'ProgressFileHook', 'read_progress'
]
