"""LiDAR encoder: mean VFE, sparse encoder shapes and the BEV cell of a point."""
import pytest
import torch

from perception_kd.models import Det3DDataPreprocessor
from perception_kd.models.lidar import LidarBEVEncoder, MeanVFE, SparseEncoder
from perception_kd.structures import BEVGrid

PCR = [-12.8, -6.4, -3.0, 12.8, 6.4, 1.0]   # not square: catches x/y mix-ups
VOXEL = [0.2, 0.2, 0.5]                      # 128 x 64 x 8 voxels
SPARSE = dict(type='SparseEncoder', in_channels=5, voxel_size=VOXEL, point_cloud_range=PCR,
              base_channels=4, stage_channels=(4, 8, 8, 8), stage_blocks=(1, 1, 1, 0),
              stage_strides=(1, 2, 2, 2), stage_z_paddings=(1, 1, 1, 0), out_channels=8,
              out_z_kernel=1, out_z_stride=1)


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: on a shared 2-core machine, spinning OpenMP threads of several
    processes make these small ops many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def encoder(**kwargs):
    return LidarBEVEncoder(voxel_encoder=dict(type='MeanVFE', num_features=5),
                           sparse_encoder=dict(SPARSE, **kwargs))


def voxelize(clouds, voxel_size=VOXEL):
    pre = Det3DDataPreprocessor(voxelize_cfg=dict(voxel_size=voxel_size, point_cloud_range=PCR,
                                                  max_num_points=5, max_voxels=1000))
    return pre(dict(inputs=dict(points=clouds), data_samples=None))['inputs']


def test_mean_vfe():
    voxels = torch.zeros((2, 3, 6))
    voxels[0, :2, :] = torch.tensor([[1.0] * 6, [3.0] * 6])
    voxels[1, :1, :] = 5.0
    out = MeanVFE(num_features=5)(voxels, torch.tensor([2, 1], dtype=torch.int32))
    torch.testing.assert_close(out, torch.tensor([[2.0] * 5, [5.0] * 5]))
    with pytest.raises(ValueError, match='num_features=5'):
        MeanVFE(5)(torch.zeros((2, 3, 4)), torch.ones(2))


def test_shapes_and_grid():
    enc = encoder()
    # z: 8 + 1 = 9 -> 5 -> 3 -> 1 (the last stage pads z by 0), conv_out keeps it
    assert enc.sparse_encoder.sparse_shape == (9, 64, 128) and enc.sparse_encoder.out_depth == 1
    assert enc.bev_grid == BEVGrid.from_range(PCR, 1.6) and enc.bev_grid.shape == (8, 16)
    inputs = voxelize([torch.rand(300, 5) * 10 - 5, torch.rand(200, 5) * 6 - 3])
    out = enc(inputs, None)
    depth = enc.sparse_encoder.out_depth
    assert out.shape == (2, 8 * depth, 8, 16) == (2, enc.out_channels, 8, 16)
    out.mean().backward()
    assert enc.sparse_encoder.conv_input[0].weight.grad is not None


def test_grid_must_divide_by_the_stride():
    with pytest.raises(ValueError, match='not divisible by the total stride 8'):
        SparseEncoder(in_channels=5, voxel_size=[0.3, 0.3, 0.5], point_cloud_range=PCR)
    with pytest.raises(ValueError, match='bev_cell=0.8'):
        LidarBEVEncoder(dict(type='MeanVFE'), SPARSE, bev_cell=0.8)


def _positive_encoder():
    """An encoder whose active sites all carry positive features: eval-mode BN, |weights|,
    and the input conv reading only the (positive) intensity column."""
    enc = encoder().eval()
    with torch.no_grad():
        for param in enc.parameters():
            param.abs_()
        weight = enc.sparse_encoder.conv_input[0].weight      # (out, k, k, k, in)
        assert weight.shape[-1] == 5
        weight[..., [0, 1, 2, 4]] = 0.0
    return enc


def test_single_point_lights_the_bev_cell_of_bevgrid():
    enc = _positive_encoder()
    grid = enc.bev_grid
    # cells chosen so that x, y differ; points placed in the first voxel of a BEV cell
    # (fine index multiple of the stride 8), where no strided conv spreads them.
    for row, col in [(0, 0), (2, 13), (7, 3), (5, 15)]:
        x0, y0 = grid.cells_to_metres(col, row)
        point = torch.tensor([[x0 + 0.05, y0 + 0.13, -0.2, 0.5, 0.0]])
        bev = enc(voxelize([point]), None)[0]
        lit = (bev.abs().sum(0) > 0).nonzero().tolist()
        assert lit == [[row, col]], (row, col, lit)
        assert grid.cell_index(point[0, 0], point[0, 1]) == (row, col)


def test_any_point_lights_its_bevgrid_cell():
    """Elsewhere strided convs also reach the next cell (+x / +y), never another one."""
    enc = _positive_encoder()
    grid = enc.bev_grid
    gen = torch.Generator().manual_seed(0)
    for _ in range(10):
        xy = torch.rand(2, generator=gen) * torch.tensor([25.4, 12.6]) + torch.tensor([-12.7, -6.3])
        point = torch.tensor([[xy[0], xy[1], 0.0, 1.0, 0.0]])
        bev = enc(voxelize([point]), None)[0]
        lit = {tuple(c) for c in (bev.abs().sum(0) > 0).nonzero().tolist()}
        row, col = (int(v) for v in grid.cell_index(xy[0], xy[1]))
        assert (row, col) in lit
        assert lit <= {(row + dr, col + dc) for dr in (0, 1) for dc in (0, 1)}


def test_empty_samples_and_empty_batches():
    enc = encoder()
    inputs = voxelize([torch.zeros((0, 5)), torch.rand(100, 5) * 4 - 2])
    out = enc(inputs, None)
    assert out.shape == (2, enc.out_channels, 8, 16)
    assert out[0].abs().sum() == 0 and out[1].abs().sum() > 0
    inputs = voxelize([torch.zeros((0, 5)), torch.zeros((0, 5))])
    out = enc(inputs, None)
    assert out.shape == (2, enc.out_channels, 8, 16) and out.abs().sum() == 0
    out.sum().backward()  # in the graph, zero gradients


def test_missing_voxels_key():
    with pytest.raises(KeyError, match="inputs\\['ocf_voxels'\\]"):
        LidarBEVEncoder(dict(type='MeanVFE'), SPARSE, voxels_key='ocf_voxels')(
            voxelize([torch.rand(10, 5)]), None)


@pytest.mark.filterwarnings('ignore:Using a non-tuple sequence')  # inside spconv's dense()
def test_height_compression_matches_spconv_dense():
    import spconv.pytorch as spconv

    from perception_kd.models.lidar.sparse_encoder import height_compression
    indices = torch.tensor([[0, 0, 1, 2], [0, 1, 1, 2], [1, 2, 0, 3]], dtype=torch.int32)
    feats = torch.arange(6, dtype=torch.float32).view(3, 2)
    x = spconv.SparseConvTensor(feats, indices, [3, 2, 4], 2)
    torch.testing.assert_close(height_compression(x), x.dense().flatten(1, 2))
