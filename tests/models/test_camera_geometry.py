"""Camera geometry and lift-splat: frustum, lifting, BEV cells, bda, dataset consistency."""
import os
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config

from perception_kd.models.camera import (
    CameraGeometry,
    DepthLSSTransform,
    bev_pool,
    build_frustum,
    lift_to_lidar,
    project_to_image,
)
from perception_kd.structures import Det3DDataSample, make_transform, rotz

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # tiny_data (importlib mode)
from tiny_data import tiny_batch  # noqa: E402

CONFIG = os.path.join(os.path.dirname(__file__), '..', '..', 'configs', '_base_', 'datasets',
                      'nuscenes_multimodal.py')
PCR = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]
# a front camera at the LiDAR origin looking along +x: x_cam = -y, y_cam = -z, z_cam = x
LIDAR2CAM = np.array([[0, -1, 0, 0], [0, 0, -1, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=np.float64)
FX, CX, CY = 100.0, 87.5, 31.5
IMG_HW, FEAT_HW, DBOUND = (64, 176), (4, 11), (1.0, 60.0, 0.5)


def front_camera(bda=np.eye(4), img_aug=np.eye(4)):
    intr = np.eye(4)
    intr[0, 0] = intr[1, 1] = FX
    intr[0, 2], intr[1, 2] = CX, CY
    sample = Det3DDataSample()
    sample.set_metainfo(dict(cam2img=intr[None], lidar2cam=LIDAR2CAM[None], bda_mat=bda,
                             img_aug_matrix=img_aug[None], lidar2img=(intr @ LIDAR2CAM)[None]))
    return sample


def test_frustum_pixel_centres_and_bins():
    frustum = build_frustum((128, 352), (8, 22), DBOUND)
    assert frustum.shape == (118, 8, 22, 3)
    np.testing.assert_allclose(frustum[0, 0, 0].numpy(), [7.5, 7.5, 1.25])
    np.testing.assert_allclose(frustum[-1, -1, -1].numpy(), [351 - 7.5, 127 - 7.5, 59.75])


def test_lift_matches_pinhole_formula():
    geometry = CameraGeometry.from_samples([front_camera()], 1)
    uvd = torch.tensor([[CX, CY, 10.0], [CX + 50.0, CY - 20.0, 20.0]])
    points = lift_to_lidar(uvd, geometry)[0, 0]
    expected = [[10.0, 0.0, 0.0], [20.0, -50.0 * 20 / FX, 20.0 * 20 / FX]]
    np.testing.assert_allclose(points.numpy(), expected, atol=1e-4)


def splat_one_cell(sample, row, col, depth_bin, channels=3):
    """Lift-splat with all depth mass of one feature cell in one bin -> (C, H, W) BEV."""
    transform = DepthLSSTransform(in_channels=8, out_channels=channels, point_cloud_range=PCR,
                                  bev_cell=0.8, dbound=DBOUND, mid_channels=8, z_range=None)
    geometry = CameraGeometry.from_samples([sample], 1)
    points = transform.frustum_points(geometry, IMG_HW, FEAT_HW)
    depth = torch.zeros(1, transform.num_bins, *FEAT_HW)
    depth[0, depth_bin, row, col] = 1.0
    context = torch.arange(1.0, channels + 1)[None, :, None, None].expand(1, channels, *FEAT_HW)
    bev = bev_pool(depth, context, points, transform.grid, num_cams=1)
    return bev[0], transform.grid


def expected_point(row, col, depth_bin):
    """Augmented-LiDAR point of a frustum point of the front camera (no augmentation)."""
    u = (col + 0.5) * IMG_HW[1] / FEAT_HW[1] - 0.5
    v = (row + 0.5) * IMG_HW[0] / FEAT_HW[0] - 0.5
    d = DBOUND[0] + (depth_bin + 0.5) * DBOUND[2]
    return np.array([d, -(u - CX) * d / FX, -(v - CY) * d / FX])


@pytest.mark.parametrize('row,col,depth_bin', [(1, 2, 40), (3, 9, 90), (0, 5, 5)])
def test_single_frustum_point_lands_in_its_bev_cell(row, col, depth_bin):
    assert expected_point(row, col, depth_bin)[0] < PCR[3]
    bev, grid = splat_one_cell(front_camera(), row, col, depth_bin)
    x, y, _ = expected_point(row, col, depth_bin)
    cell_row, cell_col = grid.cell_index(np.float64(x), np.float64(y))
    nonzero = bev.abs().sum(0).nonzero().tolist()
    assert nonzero == [[int(cell_row), int(cell_col)]]
    np.testing.assert_allclose(bev[:, cell_row, cell_col].numpy(), [1.0, 2.0, 3.0])


def test_bda_rotation_moves_the_splatted_feature():
    row, col, depth_bin = 1, 8, 60
    x, y, z = expected_point(row, col, depth_bin)
    bda = make_transform(rotz(np.pi / 2), [0.0, 0.0, 0.0])  # (x, y) -> (-y, x)
    bev, grid = splat_one_cell(front_camera(bda=bda), row, col, depth_bin)
    cell = grid.cell_index(np.float64(-y), np.float64(x))
    assert bev.abs().sum(0).nonzero().tolist() == [[int(cell[0]), int(cell[1])]]
    flip = np.diag([-1.0, 1.0, 1.0, 1.0])  # flip_x then 1.05 scale and a shift
    bda = make_transform(np.eye(3) * 1.05, [2.0, -3.0, 0.0]) @ flip
    bev, grid = splat_one_cell(front_camera(bda=bda), row, col, depth_bin)
    cell = grid.cell_index(np.float64(-x * 1.05 + 2.0), np.float64(y * 1.05 - 3.0))
    assert bev.abs().sum(0).nonzero().tolist() == [[int(cell[0]), int(cell[1])]]


def test_z_range_filter():
    transform = DepthLSSTransform(in_channels=8, out_channels=2, point_cloud_range=PCR,
                                  bev_cell=0.8, dbound=DBOUND, mid_channels=8, z_range=(-1.0, 1.0))
    geometry = CameraGeometry.from_samples([front_camera()], 1)
    points = transform.frustum_points(geometry, IMG_HW, FEAT_HW)
    depth = torch.ones(1, transform.num_bins, *FEAT_HW) / transform.num_bins
    bev = bev_pool(depth, torch.ones(1, 2, *FEAT_HW), points, transform.grid, 1, (-1.0, 1.0))
    inside = (points[0, :, 2].abs() < 1.0) & (points[0, :, :2].abs() < 51.2).all(1)
    np.testing.assert_allclose(bev[0, 0].sum().item(), inside.sum().item() / transform.num_bins,
                               rtol=1e-5)


def test_missing_camera_key_is_named():
    sample = Det3DDataSample()
    sample.set_metainfo(dict(cam2img=np.tile(np.eye(4), (6, 1, 1))))
    with pytest.raises(KeyError, match="'lidar2cam'"):
        CameraGeometry.from_samples([sample], 6)
    sample.set_metainfo(dict(lidar2cam=np.tile(np.eye(4), (5, 1, 1))))
    with pytest.raises(ValueError, match=r"'lidar2cam' .*\(5, 4, 4\), expected \(6, 4, 4\)"):
        CameraGeometry.from_samples([sample], 6)


def multimodal_batch(root, train=True, final_size=(64, 176), batch_size=2, seed=0):
    """A batch of the multimodal config's pipeline on the tiny tree (320x180 images)."""
    cfg = Config.fromfile(CONFIG)
    loader = cfg.train_dataloader if train else cfg.val_dataloader
    return tiny_batch(loader.dataset, root, final_size, batch_size, seed)


def test_geometry_consistent_with_dataset_lidar2img(tiny_root, tiny_infos):
    """Project LiDAR points with the pipeline's lidar2img (image and BEV augmentation
    applied), lift the (u, v, d) back through the frustum geometry: same 3D points."""
    batch = multimodal_batch(tiny_root, train=True)
    samples = batch['data_samples']
    assert not np.allclose(samples[0].bda_mat, np.eye(4))
    assert not np.allclose(samples[0].img_aug_matrix[0], np.eye(4))
    geometry = CameraGeometry.from_samples(samples, 6)
    for b, sample in enumerate(samples):
        lidar2img = torch.as_tensor(sample.lidar2img)
        bda = torch.as_tensor(sample.bda_mat)
        np.testing.assert_allclose(geometry.lidar2img[b].numpy(),
                                   (lidar2img @ torch.linalg.inv(bda)).numpy(), atol=1e-6)
        points = batch['inputs']['points'][b][:, :3]
        uvd = project_to_image(points, lidar2img, bda)  # (6, N, 3)
        lifted = lift_to_lidar(uvd[None], CameraGeometry(
            geometry.cam2img[b:b + 1], geometry.lidar2cam[b:b + 1], geometry.img_aug[b:b + 1],
            geometry.bda[b:b + 1]))[0]
        front = uvd[..., 2] > 0.5
        assert front.sum() > 1000
        error = (lifted - points[None]).norm(dim=-1)[front]
        assert error.max() < 1e-3


def test_lift_splat_keeps_float32_geometry_under_autocast():
    """Under bfloat16 autocast (tools/train.py --amp on CPU) the frustum geometry stays
    float32: the far point still lands in its cell and the sums are float32."""
    row, col, depth_bin = 3, 9, 90  # x = 46.25 m: bf16 would be off by up to 0.25 m
    reference, grid = splat_one_cell(front_camera(), row, col, depth_bin)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        bev, _ = splat_one_cell(front_camera(), row, col, depth_bin)
        geometry = CameraGeometry.from_samples([front_camera()], 1)
        points = lift_to_lidar(torch.tensor([[CX + 33.3, CY, 47.3]]), geometry)
    assert bev.dtype == points.dtype == torch.float32
    assert torch.equal(bev, reference)
    np.testing.assert_allclose(points[0, 0, 0, 1].item(), -33.3 * 47.3 / FX, rtol=1e-6)
