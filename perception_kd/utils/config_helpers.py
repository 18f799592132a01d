"""Small helpers for experiment configs (importable from mmengine Python configs)."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence


def adapt_pipeline(pipeline: Sequence[dict], point_cloud_range: Optional[Sequence[float]] = None,
                   **per_type: Dict) -> List[dict]:
    """A copy of a base config's pipeline for an experiment.

    Every step with a ``point_cloud_range`` key gets ``point_cloud_range`` (when given);
    ``per_type`` maps a transform type to key updates for its steps, e.g.
    ``adapt_pipeline(p, pcr, LoadPointsFromMultiSweeps=dict(sweeps_num=2))``.
    """
    steps = []
    for step in pipeline:
        step = dict(step)
        if point_cloud_range is not None and 'point_cloud_range' in step:
            step['point_cloud_range'] = list(point_cloud_range)
        step.update(per_type.get(step['type'], {}))
        steps.append(step)
    return steps
