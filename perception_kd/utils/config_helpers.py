"""Small helpers for experiment configs (importable from mmengine Python configs)."""
from __future__ import annotations

from collections.abc import Sequence


def adapt_pipeline(pipeline: Sequence[dict], point_cloud_range: Sequence[float] | None = None,
                   insert_after: dict[str, dict] | None = None, **per_type: dict) -> list[dict]:
    """A copy of a base config's pipeline for an experiment.

    Every step with a ``point_cloud_range`` key gets ``point_cloud_range`` (when given);
    ``per_type`` maps a transform type to key updates for its steps, e.g.
    ``adapt_pipeline(p, pcr, LoadPointsFromMultiSweeps=dict(sweeps_num=2))``;
    ``insert_after`` maps a transform type to a new step placed right after it, e.g.
    ``insert_after=dict(LoadPointsFromFile=dict(type='LoadOCFPoints'))``.
    """
    types = [step['type'] for step in pipeline]
    missing = sorted(set(insert_after or {}) - set(types))
    if missing:
        raise KeyError(f'insert_after: the pipeline has no {missing} step (it has {types})')
    steps = []
    for step in pipeline:
        step = dict(step)
        if point_cloud_range is not None and 'point_cloud_range' in step:
            step['point_cloud_range'] = list(point_cloud_range)
        step.update(per_type.get(step['type'], {}))
        steps.append(step)
        if insert_after and step['type'] in insert_after:
            steps.append(dict(insert_after[step['type']]))
    return steps
