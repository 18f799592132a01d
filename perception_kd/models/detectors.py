"""``BEVDetector``: modality encoders -> (fuser) -> BEV backbone/neck -> head.

One detector class for LiDAR, camera and fusion models; the config picks the parts.
Feature levels are named and returned by :meth:`BEVDetector.extract_feats`, so a
distiller reads them without hooks:

- ``bev_low`` (B, C_low, H, W): the modality encoder's BEV output (LiDAR: sparse encoder
  flattened to BEV; camera: lift-splat output; fusion: the fused map);
- ``bev_high`` (B, C_high, H, W): the BEV backbone + neck output, on the same grid;
- ``responses``: the head's outputs, one dict per task group with ``heatmap``
  (B, n_cls, H, W) logits and regression maps ``reg`` (2), ``height`` (1), ``dim`` (3),
  ``rot`` (2), ``vel`` (2).

Encoder contracts (any registered module that follows them plugs in):
- ``lidar_encoder(inputs: dict, data_samples) -> Tensor (B, C, H, W)``, or
  ``(Tensor, aux: dict)``; reads ``inputs['voxels']`` (from the data preprocessor) and
  ``inputs['points']``. ``aux['motion_bev']``, if given, goes to the head as its
  ``motion_bev`` argument (``LidarBEVEncoder(motion_side=True)``).
- ``camera_encoder(inputs: dict, data_samples) -> (Tensor (B, C, H, W), aux: dict)``;
  reads ``inputs['imgs']`` (B, Ncam, 3, H, W) and the camera geometry in the samples'
  metainfo (``cam2img``, ``lidar2cam``, ``img_aug_matrix``, ``bda_mat``);
  ``camera_encoder.loss(aux, inputs, data_samples) -> dict`` (e.g. depth supervision).
- ``fuser(list of BEV maps) -> Tensor (B, C, H, W)`` when both encoders exist.
- ``head.loss(responses, data_samples) -> dict`` and
  ``head.predict(responses, data_samples) -> list[InstanceData]`` (boxes (M, 9) in the
  LiDAR frame of the sample as given to the model).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from mmengine.model import BaseModel
from torch import Tensor

from ..registry import MODELS
from ..structures import Det3DDataSample


@dataclass
class BEVFeatures:
    """The named feature levels of a BEV detector for one batch (see module doc)."""
    bev_low: Tensor
    bev_high: Tensor
    responses: list[dict[str, Tensor]]
    aux: dict[str, Tensor] = field(default_factory=dict)

    def select(self, index: Sequence[int] | Tensor) -> BEVFeatures:
        """The levels of the samples ``index`` (batch positions), in that order.

        ``aux`` is not indexed (its layout is the encoder's; e.g. the camera's is per
        image): the result's ``aux`` is empty.
        """
        index = torch.as_tensor(index, dtype=torch.long, device=self.bev_low.device)
        return BEVFeatures(self.bev_low[index], self.bev_high[index],
                           [{key: value[index] for key, value in task.items()}
                            for task in self.responses])


@MODELS.register_module()
class BEVDetector(BaseModel):
    """A BEV 3D detector composed from config.

    Args:
        data_preprocessor: e.g. ``dict(type='Det3DDataPreprocessor', voxelize_cfg=...)``.
        lidar_encoder / camera_encoder: at least one of them.
        fuser: required when both encoders are given.
        bev_backbone, bev_neck: 2D BEV networks; the neck returns one map on the encoders'
            grid (``bev_high``).
        head: a dense head with ``loss`` and ``predict`` (e.g. ``CenterHead``).
    """

    def __init__(self, head: dict, bev_backbone: dict, bev_neck: dict | None = None,
                 lidar_encoder: dict | None = None, camera_encoder: dict | None = None,
                 fuser: dict | None = None, data_preprocessor: dict | None = None,
                 init_cfg: dict | None = None):
        if isinstance(data_preprocessor, dict):
            # build in our scope (mmengine's BaseModel would look in its root registry)
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if lidar_encoder is None and camera_encoder is None:
            raise ValueError('BEVDetector needs a lidar_encoder, a camera_encoder or both')
        if lidar_encoder is not None and camera_encoder is not None and fuser is None:
            raise ValueError(
                'BEVDetector with both a lidar_encoder and a camera_encoder needs a fuser'
            )
        self.lidar_encoder = MODELS.build(lidar_encoder) if lidar_encoder else None
        self.camera_encoder = MODELS.build(camera_encoder) if camera_encoder else None
        self.fuser = MODELS.build(fuser) if fuser else None
        self.bev_backbone = MODELS.build(bev_backbone)
        self.bev_neck = MODELS.build(bev_neck) if bev_neck else None
        self.head = MODELS.build(head)

    @property
    def modalities(self) -> tuple:
        return tuple(
            name
            for name, enc in (('lidar', self.lidar_encoder), ('camera', self.camera_encoder))
            if enc is not None
        )

    def extract_feats(self, inputs: dict, data_samples: Sequence[Det3DDataSample]) -> BEVFeatures:
        """Run the encoders, fuser, BEV backbone/neck and head; return every level."""
        maps, aux = [], {}
        if self.camera_encoder is not None:
            cam_bev, aux = self.camera_encoder(inputs, data_samples)
            maps.append(cam_bev)
        side = {}
        if self.lidar_encoder is not None:
            lidar = self.lidar_encoder(inputs, data_samples)
            if isinstance(lidar, tuple):
                lidar, lidar_aux = lidar
                side = {k: lidar_aux[k] for k in ('motion_bev',) if k in lidar_aux}
            maps.insert(0, lidar)
        bev_low = self.fuser(maps) if self.fuser is not None else maps[0]
        bev_high = self.bev_backbone(bev_low)
        if self.bev_neck is not None:
            bev_high = self.bev_neck(bev_high)
        if isinstance(bev_high, (list, tuple)):
            if len(bev_high) != 1:
                raise ValueError(f'the BEV neck must return one map, got {len(bev_high)}')
            bev_high = bev_high[0]
        responses = self.head(bev_high, **side)
        return BEVFeatures(bev_low, bev_high, responses, aux)

    def loss(self, inputs: dict, data_samples: Sequence[Det3DDataSample],
             feats: BEVFeatures | None = None) -> dict[str, Tensor]:
        """Detection losses (and the camera encoder's auxiliary losses)."""
        feats = self.extract_feats(inputs, data_samples) if feats is None else feats
        losses = self.detection_loss(feats, data_samples)
        losses.update(self.auxiliary_loss(feats, inputs, data_samples))
        return losses

    def detection_loss(self, feats: BEVFeatures,
                       data_samples: Sequence[Det3DDataSample]) -> dict[str, Tensor]:
        """The head's losses against the samples' boxes (``gt_instances_3d``)."""
        return self.head.loss(feats.responses, data_samples)

    def auxiliary_loss(self, feats: BEVFeatures, inputs: dict,
                       data_samples: Sequence[Det3DDataSample]) -> dict[str, Tensor]:
        """Losses that need no boxes (the camera encoder's depth from LiDAR); may be empty."""
        if self.camera_encoder is not None and hasattr(self.camera_encoder, 'loss'):
            return self.camera_encoder.loss(feats.aux, inputs, data_samples)
        return {}

    def predict(self, inputs: dict, data_samples: Sequence[Det3DDataSample],
                feats: BEVFeatures | None = None) -> list[Det3DDataSample]:
        """Boxes in each sample's LiDAR frame, set as ``pred_instances_3d``.

        If the sample was BEV-augmented (``bda_mat`` not identity), the boxes are mapped
        back to the un-augmented frame by the head.
        """
        feats = self.extract_feats(inputs, data_samples) if feats is None else feats
        results = self.head.predict(feats.responses, data_samples)
        for sample, pred in zip(data_samples, results):
            sample.pred_instances_3d = pred
        return list(data_samples)

    def _forward(self, inputs: dict, data_samples=None) -> BEVFeatures:
        return self.extract_feats(inputs, data_samples)

    def forward(self, inputs: dict, data_samples: list[Det3DDataSample] | None = None,
                mode: str = 'tensor') -> dict[str, Tensor] | list[Det3DDataSample] | BEVFeatures:
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs, data_samples)
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got {mode!r}")
