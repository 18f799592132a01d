"""The simulated nuScenes-format world: the embedded default dataset.

``generate_dataset(SyntheticConfig(out=..., ...))`` writes a tree that the unmodified
nuscenes-devkit loads (see ``docs/data_format.md`` and ``tools/make_synthetic.py``).
"""
from .writer import (
    SyntheticConfig,
    Tokens,
    generate_dataset,
    load_config,
    replay_world,
    scene_names,
)

__all__ = [
    "SyntheticConfig",
    "Tokens",
    "generate_dataset",
    "load_config",
    "replay_world",
    "scene_names",
]
