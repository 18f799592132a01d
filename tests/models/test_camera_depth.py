"""Depth supervision: per-cell LiDAR depth-bin targets and the BEVDepth BCE loss."""
import importlib.util
import os

import numpy as np
import torch
import torch.nn.functional as F

from perception_kd.models.camera import (
    CameraGeometry,
    bev_pool,
    build_frustum,
    depth_bce_loss,
    depth_bin_targets,
    lift_to_lidar,
)
from perception_kd.structures import BEVGrid, make_transform, rotz

_spec = importlib.util.spec_from_file_location(
    'camera_geometry_tests', os.path.join(os.path.dirname(__file__), 'test_camera_geometry.py'))
geo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(geo)

IMG_HW, FEAT_HW, DBOUND = geo.IMG_HW, geo.FEAT_HW, geo.DBOUND  # (64, 176), (4, 11), 1..60 m


def lidar_point(u, v, d):
    """Un-augmented LiDAR point seen by the test front camera at pixel (u, v), depth d."""
    return [d, -(u - geo.CX) * d / geo.FX, -(v - geo.CY) * d / geo.FX]


def targets(points, bda=np.eye(4), img_aug=np.eye(4)):
    sample = geo.front_camera(bda=bda, img_aug=img_aug)
    pts = torch.tensor(points, dtype=torch.float32)
    pts = pts @ torch.as_tensor(bda[:3, :3]).float().T + torch.as_tensor(bda[:3, 3]).float()
    lidar2img = torch.as_tensor(img_aug_projection(img_aug) @ sample.lidar2img)[None]
    return depth_bin_targets([pts], lidar2img, torch.as_tensor(bda)[None], IMG_HW, FEAT_HW, DBOUND)


def img_aug_projection(img_aug):
    proj = np.eye(4)
    proj[:2, :2], proj[:2, 2] = img_aug[:2, :2], img_aug[:2, 3]
    return proj


def test_point_at_known_depth_gives_its_bin():
    u, v = 7.5 * 16 - 0.5 + 3.0, 2.5 * 16 - 0.5 - 5.0  # inside feature cell (2, 7)
    points = [lidar_point(u, v, 20.3),   # bin floor((20.3 - 1) / 0.5) = 38
              lidar_point(u + 2, v, 30.0),  # same cell, farther: the nearest wins
              lidar_point(10.0, 10.0, 70.0),  # beyond d_max: cell (0, 0) ignored
              [-10.0, 0.0, 0.0],  # behind the camera
              lidar_point(-40.0, 10.0, 10.0)]  # left of the image
    labels = targets(points)
    assert labels.shape == (1, *FEAT_HW) and labels.dtype == torch.long
    expected = torch.full((1, *FEAT_HW), -1)
    expected[0, 2, 7] = 38
    assert torch.equal(labels, expected)
    # cell boundary at u = 15.5 (stride 16, centres at 16j + 7.5)
    labels = targets([lidar_point(15.45, 0.0, 5.2), lidar_point(15.55, 0.0, 5.2)])
    assert labels[0, 0, :3].tolist() == [8, 8, -1]


def test_targets_undo_bda_and_follow_img_aug():
    u, v = 100.0, 20.0
    point = lidar_point(u, v, 12.0)
    plain = targets([point])
    bda = make_transform(rotz(0.7) * 1.05, [1.0, -2.0, 0.3])
    assert torch.equal(targets([point], bda=bda), plain)
    flip = np.eye(4)  # horizontal flip of the 176-wide image: u -> 175 - u
    flip[0, 0], flip[0, 3] = -1.0, 175.0
    flipped = targets([point], img_aug=flip)
    assert flipped[0, 1, 10 - 6].item() == plain[0, 1, 6].item() == 22


def test_bce_loss():
    labels = torch.full((2, 3, 4), -1)
    labels[0, 1, 2], labels[1, 0, 0] = 5, 0
    perfect = F.one_hot(labels.clamp(min=0), 8).permute(0, 3, 1, 2).float()
    assert depth_bce_loss(perfect, labels).item() < 1e-4
    uniform = torch.full((2, 8, 3, 4), 1 / 8, requires_grad=True)
    loss = depth_bce_loss(uniform, labels)
    expected = -(np.log(1 / 8) + 7 * np.log(7 / 8))  # per valid cell, averaged
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-5)
    loss.backward()
    assert uniform.grad[0, :, 0, 0].abs().sum() == 0  # ignored cell
    empty = depth_bce_loss(uniform, torch.full((2, 3, 4), -1))
    assert empty.item() == 0 and empty.requires_grad


def test_lifted_lidar_depth_lines_up_with_lidar_in_bev(tiny_root, tiny_infos):
    """Splatting the LiDAR depth targets back to BEV lands on the LiDAR's own cells."""
    batch = geo.multimodal_batch(tiny_root, train=True, final_size=(64, 176))
    samples, points = batch['data_samples'], batch['inputs']['points']
    feat_hw = (16, 44)  # stride 4: the lateral error of a cell centre stays below ~1 m
    lidar2img = torch.stack([torch.as_tensor(s.lidar2img) for s in samples])
    bda = torch.stack([torch.as_tensor(s.bda_mat) for s in samples])
    labels = depth_bin_targets(points, lidar2img, bda, (64, 176), feat_hw, DBOUND)
    assert (labels >= 0).sum() > 500
    depth = F.one_hot(labels.clamp(min=0), 118).permute(0, 3, 1, 2).float()
    depth *= (labels >= 0)[:, None]
    geometry = CameraGeometry.from_samples(samples, 6)
    frustum = lift_to_lidar(build_frustum((64, 176), feat_hw, DBOUND).reshape(-1, 3), geometry)
    grid = BEVGrid.from_range(geo.PCR, 0.8)
    bev = bev_pool(depth, torch.ones(12, 1, *feat_hw), frustum.flatten(0, 1), grid, 6)[:, 0]
    for b, pts in enumerate(points):
        rows, cols = grid.cell_index(pts[:, 0], pts[:, 1])
        occupied = torch.zeros(grid.shape)
        occupied[rows.clamp(0, 127), cols.clamp(0, 127)] = 1.0
        near = F.max_pool2d(occupied[None, None], 3, 1, 1)[0, 0] > 0
        assert bev[b].sum() > 200
        assert bev[b][near].sum() / bev[b].sum() > 0.9
