"""``LiMAPretrainer``: image-to-LiDAR pretraining of a sparse 3D backbone (SLidR base + LiMA).

What one training step does (shapes for a batch of B samples, Ncam cameras):

1. 3D: voxels -> ``backbone_3d`` (e.g. MinkUNet) -> per-voxel features -> per point (through
   ``point2voxel``) -> ``head_3d`` (Linear to D) -> L2-normalised ``(N_total, D)``.
2. 2D: images ``(B, Ncam, 3, H, W)`` -> ``image_encoder`` (frozen, no grad, eval) ->
   ``(B, Ncam, Ct, h, w)``.
3. Regions: superpixels with at least one paired point (``pairs``: point -> camera pixel);
   the image features are averaged per region -> teacher targets ``(R, Ct)``.
4. Cross-View Aggregation (``cross_view.enabled``): copies of one 3D region in two
   neighbouring cameras are merged (``cross_view.py``) -> G groups.
5. Long-Term Feature Propagation (``memory.num_frames`` = k > 0): each batch slot is a
   stream of one scene (``SceneSequentialSampler``); the current points, moved to the global
   frame by their ego pose, look up the FIFO bank of the slot's last k keyframes
   (``memory.py``); a group's target becomes ``normalise((1 - a) t + a m)`` with ``m`` the
   mean memory target over its points that hit and ``a = memory.weight x hit fraction``.
   Points that no camera sees now but that hit the memory form extra regions whose target
   is the stored one (``memory.extra_regions``). The frame's own fused targets are pushed
   afterwards.
6. Losses: ``loss_spatial`` = InfoNCE between pooled 3D features and ``head_2d`` (Linear
   Ct -> D) of the targets (T = 0.07, SLidR/SuperFlow); ``loss_cross_sequence``
   (``cross_sequence.enabled``): mutual-nearest-neighbour matches of memory-fused targets
   across the scenes of the batch pull their 3D features together (``losses.py``).

The memory exists only during pretraining: downstream models load ``backbone_3d.*`` only
(no extra parameter, no extra cost). Design choices and their reasons: ``docs/lima.md``.
"""
from __future__ import annotations

import torch
from mmengine.model import BaseModel
from torch import Tensor, nn

from ...registry import MODELS
from .cross_view import fuse_groups, merge_regions
from .losses import cross_sequence_alignment, region_infonce
from .memory import FeatureMemoryBank
from .regions import normalize as _normalize
from .regions import pool_pixels, pool_points, region_ids_of_pairs, scatter_mean

__all__ = ['LiMAPretrainer']


@MODELS.register_module()
class LiMAPretrainer(BaseModel):
    """See the module docstring.

    Args:
        backbone_3d: sparse 3D backbone cfg; ``forward(features, coors, batch_size) -> (V, C)``
            per input voxel, attribute ``out_channels``.
        image_encoder: frozen image encoder cfg (``FrozenImageEncoder``); attribute
            ``out_channels``.
        embed_dim: D, the common width of both projection heads.
        temperature: InfoNCE temperature.
        max_regions: cap of regions per batch in the InfoNCE (random subset; cost R^2).
        cross_view: ``dict(enabled, min_shared, min_fraction)``.
        memory: ``dict(num_frames, voxel_size, weight, max_points, extra_regions,
            min_points)``; ``num_frames=0`` disables it.
        cross_sequence: ``dict(enabled, weight, threshold)``.
        data_preprocessor: voxelising preprocessor that also passes images, pairs and
            superpixels (``LiMADataPreprocessor``).
    """

    def __init__(self, backbone_3d: dict, image_encoder: dict, embed_dim: int = 64,
                 temperature: float = 0.07, max_regions: int | None = 4096,
                 cross_view: dict | None = None, memory: dict | None = None,
                 cross_sequence: dict | None = None, data_preprocessor: dict | None = None,
                 init_cfg: dict | None = None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone_3d = MODELS.build(backbone_3d)
        self.image_encoder = MODELS.build(image_encoder)
        self.head_3d = nn.Linear(self.backbone_3d.out_channels, embed_dim)
        self.head_2d = nn.Linear(self.image_encoder.out_channels, embed_dim)
        self.temperature = float(temperature)
        self.max_regions = max_regions
        self.cross_view = _options('cross_view', cross_view, enabled=False, min_shared=3,
                                   min_fraction=0.3)
        self.memory_cfg = _options('memory', memory, num_frames=0, voxel_size=0.5, weight=0.5,
                                   max_points=20000, extra_regions=True, min_points=3)
        self.cross_sequence = _options('cross_sequence', cross_sequence, enabled=False,
                                       weight=1.0, threshold=0.8)
        self.memory = FeatureMemoryBank(self.memory_cfg['num_frames'],
                                        self.memory_cfg['voxel_size'],
                                        self.memory_cfg['max_points'])
        self._last_time: dict[int, float] = {}

    # ------------------------------------------------------------------ features
    def point_features(self, voxels: dict) -> Tensor:
        """L2-normalised projected 3D features of every point -> (N_total, D)."""
        extra = {'sparse_shape': voxels['sparse_shape']} if 'sparse_shape' in voxels else {}
        feats = self.backbone_3d(voxels['features'], voxels['coors'], voxels['batch_size'],
                                 **extra)
        return _normalize(self.head_3d(feats))[voxels['point2voxel']]

    def forward(self, inputs: dict, data_samples: list | None = None, mode: str = 'loss'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode in ('tensor', 'predict'):
            return self.point_features(inputs['voxels'])
        raise ValueError(f'LiMAPretrainer: unknown mode {mode!r} (loss, tensor, predict)')

    # ------------------------------------------------------------------ the step
    def loss(self, inputs: dict, data_samples: list) -> dict:
        voxels = inputs['voxels']
        point_k = self.point_features(voxels)
        counts = torch.as_tensor(voxels['points_per_sample'], device=point_k.device)
        offsets = torch.cumsum(counts, 0) - counts
        imgs = inputs['imgs']                                      # (B, Ncam, 3, H, W)
        b, ncam = imgs.shape[:2]
        with torch.no_grad():
            teacher = self.image_encoder(imgs.flatten(0, 1))
        teacher = teacher.view(b, ncam, *teacher.shape[1:])
        pairs = torch.cat([torch.cat([torch.full_like(p[:, :1], i), p], 1)
                           for i, p in enumerate(inputs['pairing'])])
        superpixels = inputs['superpixels']
        if isinstance(superpixels, (list, tuple)):
            raise ValueError('LiMAPretrainer needs superpixel maps of one size for every sample; '
                             'give ImageAug3D a final_size')
        regions = region_ids_of_pairs(pairs, superpixels)
        targets, pix_counts = pool_pixels(teacher, superpixels, regions, pairs)
        stats = dict(regions=float(len(regions)))

        if self.cross_view['enabled']:
            group, num_groups, links = merge_regions(pairs, regions,
                                                     self.cross_view['min_shared'],
                                                     self.cross_view['min_fraction'])
            targets = fuse_groups(targets, pix_counts, group, num_groups)
            group_sample = torch.zeros(num_groups, dtype=torch.long, device=group.device)
            group_sample[group] = regions.sample
            stats['merged'] = float(len(regions) - num_groups)
        else:
            group = torch.arange(len(regions), device=pairs.device)
            num_groups, group_sample = len(regions), regions.sample
        pair_group = torch.where(regions.pair_region >= 0,
                                 group[regions.pair_region.clamp(min=0)],
                                 torch.full_like(regions.pair_region, -1))
        targets = _normalize(targets.detach())
        k = _normalize(pool_points(point_k, pairs, pair_group, num_groups, offsets))

        if self.memory.num_frames > 0:
            targets, extra_k, extra_q, extra_scene, mem_stats = self._propagate(
                inputs['points'], data_samples, point_k, pairs, pair_group, targets,
                group_sample, offsets)
            stats.update(mem_stats)
        else:
            extra_k = extra_q = extra_scene = None

        all_k, all_t = k, targets
        if extra_k is not None and len(extra_k):
            all_k, all_t = torch.cat([k, extra_k]), torch.cat([targets, extra_q])
        q = _normalize(self.head_2d(all_t))
        losses = dict(loss_spatial=region_infonce(all_k, q, self.temperature, self.max_regions))
        if self.cross_sequence['enabled']:
            scene_ids = self._scene_ids(data_samples, all_k.device)
            scene = scene_ids[group_sample]
            if extra_scene is not None and len(extra_scene):
                scene = torch.cat([scene, scene_ids[extra_scene]])
            loss, matches = cross_sequence_alignment(all_k, all_t, scene, self.temperature,
                                                     self.cross_sequence['threshold'])
            losses['loss_cross_sequence'] = loss * self.cross_sequence['weight']
            stats['xseq_matches'] = float(matches)
        for key, value in stats.items():
            losses[key] = torch.tensor(value, device=k.device)
        return losses

    # ------------------------------------------------------------------ memory
    def _propagate(self, points: list, data_samples: list, point_k: Tensor, pairs: Tensor,
                   pair_group: Tensor, targets: Tensor, group_sample: Tensor, offsets: Tensor):
        """Memory lookup, aggregation into the targets, extra regions, then push."""
        cfg = self.memory_cfg
        new_targets = targets.clone()
        extra_k, extra_q, extra_scene = [], [], []
        hits = total = 0
        for i, sample in enumerate(data_samples):
            meta = sample.metainfo
            time = float(meta.get('timestamp', 0.0))
            reset = self.memory.start(i, str(meta.get('scene_token', i)))
            if not reset and time <= self._last_time.get(i, -float('inf')):
                self.memory.clear(i)                   # the sampler replayed the scene
            self._last_time[i] = time
            xyz = _to_global(points[i][:, :3], meta)
            found = self.memory.query(i, xyz)
            # per group of this sample: mean memory target over its points that hit
            sel = pairs[:, 0] == i
            p_points, p_group = pairs[sel, 1], pair_group[sel]
            ok = p_group >= 0
            p_points, p_group = p_points[ok], p_group[ok]
            key = torch.unique(p_group * len(xyz) + p_points)
            g, p = key // len(xyz), key % len(xyz)
            hit = found.hit[p]
            if hit.any():
                mean, n_hit = scatter_mean(found.feat[p[hit]], g[hit], len(targets))
                n_all = torch.bincount(g, minlength=len(targets)).clamp(min=1)
                alpha = (cfg['weight'] * n_hit / n_all).unsqueeze(1).to(targets.dtype)
                touched = n_hit > 0
                mixed = _normalize((1 - alpha) * targets + alpha * _normalize(mean))
                new_targets = torch.where(touched.unsqueeze(1), mixed, new_targets)
            hits += int(found.hit.sum())
            total += len(xyz)
            if cfg['extra_regions']:
                unseen = torch.ones(len(xyz), dtype=torch.bool, device=xyz.device)
                unseen[pairs[sel, 1]] = False
                take = unseen & found.hit
                if take.any():
                    uid, inverse, n = torch.unique(found.source[take], return_inverse=True,
                                                   return_counts=True)
                    pooled, _ = scatter_mean(point_k[offsets[i] + torch.nonzero(take)[:, 0]],
                                             inverse, len(uid))
                    keep = n >= cfg['min_points']
                    extra_k.append(_normalize(pooled[keep]))
                    extra_q.append(_normalize(found.source_targets[uid[keep]]))
                    extra_scene.append(torch.full((int(keep.sum()),), i, dtype=torch.long,
                                                  device=xyz.device))
            # push this frame's own (cross-view fused) targets
            mine = torch.nonzero(group_sample == i).squeeze(1)
            local = torch.full((len(targets),), -1, dtype=torch.long, device=xyz.device)
            local[mine] = torch.arange(len(mine), device=xyz.device)
            self.memory.push(i, str(meta.get('token', '')), xyz[p], local[g], targets[mine])
        stats = dict(mem_hit=hits / max(total, 1), mem_mb=self.memory.nbytes() / 2 ** 20)
        if extra_k:
            extra = (torch.cat(extra_k), torch.cat(extra_q), torch.cat(extra_scene))
            stats['mem_regions'] = float(len(extra[0]))
        else:
            extra = (None, None, None)
        return (new_targets, *extra, stats)

    @staticmethod
    def _scene_ids(data_samples: list, device) -> Tensor:
        names = [str(s.metainfo.get('scene_token', i)) for i, s in enumerate(data_samples)]
        index = {name: j for j, name in enumerate(dict.fromkeys(names))}
        return torch.tensor([index[n] for n in names], dtype=torch.long, device=device)


def _to_global(xyz: Tensor, meta: dict) -> Tensor:
    """Keyframe LiDAR points (after any BEV augmentation ``bda_mat``) -> global, float64."""
    missing = [key for key in ('lidar2ego', 'ego2global') if key not in meta]
    if missing:
        raise KeyError(f'LiMA memory needs {missing} in the data samples\' metainfo '
                       '(Pack3DDetInputs meta_keys)')
    mat = torch.as_tensor(meta['ego2global'], dtype=torch.float64) @ \
        torch.as_tensor(meta['lidar2ego'], dtype=torch.float64)
    if 'bda_mat' in meta:
        mat = mat @ torch.linalg.inv(torch.as_tensor(meta['bda_mat'], dtype=torch.float64))
    mat = mat.to(xyz.device)
    return xyz.double() @ mat[:3, :3].T + mat[:3, 3]


def _options(name: str, given: dict | None, **defaults) -> dict:
    """Defaults updated by ``given``; unknown keys are an error naming the option."""
    given = dict(given or {})
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise KeyError(f'LiMAPretrainer {name}: unknown keys {unknown}; known: {sorted(defaults)}')
    return {**defaults, **given}
