"""voxelize_points: unique voxels (mean / first point) and the point -> voxel map."""
import pytest
import torch

from perception_kd.ops import voxelize_points

GRID = dict(voxel_size=[1.0, 1.0, 1.0], point_cloud_range=[0, 0, 0, 4, 4, 2])


def test_hand_case_mean_and_map():
    a = torch.tensor([[0.5, 0.5, 0.5, 1.0], [1.5, 0.5, 0.5, 2.0], [0.6, 0.4, 0.5, 3.0]])
    b = torch.tensor([[3.5, 3.5, 1.5, 4.0]])
    out = voxelize_points([a, b], **GRID)
    assert out.coords.tolist() == [[0, 0, 0, 0], [0, 0, 0, 1], [1, 1, 3, 3]]
    assert out.point2voxel.tolist() == [0, 1, 0, 2]
    assert torch.allclose(out.features[0], torch.tensor([0.55, 0.45, 0.5, 2.0]))
    assert out.points_per_sample.tolist() == [3, 1]
    assert out.voxels_per_sample.tolist() == [2, 1]
    assert out.coords.dtype == torch.int32 and out.point2voxel.dtype == torch.int64
    first = voxelize_points([a, b], reduce='first', **GRID)
    assert torch.equal(first.features[0], a[0])


def test_out_of_range_clip_or_drop():
    pts = torch.tensor([[-3.0, 0.5, 0.5, 1.0], [0.5, 0.5, 0.5, 2.0], [9.0, 9.0, 9.0, 3.0]])
    clipped = voxelize_points([pts], **GRID)
    assert clipped.point2voxel.tolist() == [0, 0, 1]          # border voxels
    assert clipped.coords.tolist() == [[0, 0, 0, 0], [0, 1, 3, 3]]
    dropped = voxelize_points([pts], clip=False, **GRID)
    assert dropped.point2voxel.tolist() == [-1, 0, -1]
    assert len(dropped.features) == 1


def test_empty_cloud_and_every_point_maps_back():
    torch.manual_seed(0)
    pts = torch.rand(500, 4) * torch.tensor([4.0, 4.0, 2.0, 1.0])
    out = voxelize_points([torch.zeros(0, 4), pts], **GRID)
    assert out.voxels_per_sample.tolist()[0] == 0
    cells = torch.floor(pts[:, [2, 1, 0]]).int()
    assert torch.equal(out.coords[out.point2voxel, 1:], cells)
    assert (out.coords[:, 0] == 1).all()
    with pytest.raises(ValueError, match='reduce'):
        voxelize_points([pts], reduce='max', **GRID)
