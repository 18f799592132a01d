"""The sample container passed from the pipeline to models and metrics.

``Det3DDataSample`` is an mmengine ``BaseDataElement`` with:
- metainfo: ``sample_idx``, ``token`` (nuScenes sample token), ``lidar2ego`` and
  ``ego2global`` (4x4), per camera ``cam2img`` / ``lidar2cam`` / ``lidar2img`` (Ncam, 4, 4),
  ``img_aug_matrix`` (Ncam, 4, 4), ``bda_mat`` (4x4 BEV augmentation, original lidar ->
  augmented lidar), ``img_shape``, ``num_pts_feats``, ...
- ``gt_instances_3d``: ``InstanceData`` with ``bboxes_3d`` (N, 9) float tensor
  ``(x, y, z, l, w, h, yaw, vx, vy)`` in the (augmented) LiDAR frame and ``labels_3d`` (N,).
- ``pred_instances_3d``: ``InstanceData`` with ``bboxes_3d`` (M, 9), ``scores_3d`` (M,),
  ``labels_3d`` (M,), LiDAR frame of the un-augmented sample.
- ``gt_pts_seg``: ``PointData`` with ``pts_semantic_mask`` (N,) int64, one label per point
  of ``inputs['points']`` (lidarseg: 0..15, 16 = ignore; see ``docs/lidarseg.md``).
- ``pred_pts_seg``: ``PointData`` with ``pts_semantic_mask`` (N,) int64 predicted labels.
"""
from mmengine.structures import BaseDataElement, InstanceData

from .point_data import PointData


class Det3DDataSample(BaseDataElement):
    """Ground truth, predictions and meta information of one 3D detection sample."""

    @property
    def gt_instances_3d(self) -> InstanceData:
        return self._gt_instances_3d

    @gt_instances_3d.setter
    def gt_instances_3d(self, value: InstanceData):
        self.set_field(value, '_gt_instances_3d', dtype=InstanceData)

    @gt_instances_3d.deleter
    def gt_instances_3d(self):
        del self._gt_instances_3d

    @property
    def pred_instances_3d(self) -> InstanceData:
        return self._pred_instances_3d

    @pred_instances_3d.setter
    def pred_instances_3d(self, value: InstanceData):
        self.set_field(value, '_pred_instances_3d', dtype=InstanceData)

    @pred_instances_3d.deleter
    def pred_instances_3d(self):
        del self._pred_instances_3d

    @property
    def gt_pts_seg(self) -> PointData:
        return self._gt_pts_seg

    @gt_pts_seg.setter
    def gt_pts_seg(self, value: PointData):
        self.set_field(value, '_gt_pts_seg', dtype=PointData)

    @gt_pts_seg.deleter
    def gt_pts_seg(self):
        del self._gt_pts_seg

    @property
    def pred_pts_seg(self) -> PointData:
        return self._pred_pts_seg

    @pred_pts_seg.setter
    def pred_pts_seg(self, value: PointData):
        self.set_field(value, '_pred_pts_seg', dtype=PointData)

    @pred_pts_seg.deleter
    def pred_pts_seg(self):
        del self._pred_pts_seg
