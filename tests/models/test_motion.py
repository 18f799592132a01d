"""The motion inputs of the LiDAR detectors: the time-indexed BEV stack of the sweeps
(SweepOccupancyBEV) and the recorded point-feature scaling of MeanVFE."""
import pytest
import torch
import torch.nn.functional as F

from perception_kd.models.lidar import (
    FeatureScaleMismatch,
    LidarBEVEncoder,
    MeanVFE,
    SweepOccupancyBEV,
)
from perception_kd.structures import BEVGrid
from perception_kd.utils.checkpoint import compare_state_dicts

RANGE = [-6.4, -6.4, -3.0, 6.4, 6.4, 1.0]
SPARSE = dict(type='SparseEncoder', in_channels=5, voxel_size=[0.2, 0.2, 0.5],
              point_cloud_range=RANGE, base_channels=4, stage_channels=(4, 8, 8, 8),
              stage_blocks=(0, 0, 0, 0), stage_strides=(1, 2, 2, 2),
              stage_z_paddings=(1, 1, 1, 0), out_channels=8, out_z_kernel=1, out_z_stride=1)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _voxels(points, batch):
    """One voxel per point: voxels (M, 2, 5) with a zero padding row, coors (b, z, y, x)."""
    pts = torch.tensor(points, dtype=torch.float32)
    voxels = torch.cat([pts[:, None], torch.zeros_like(pts)[:, None]], dim=1)
    coors = torch.zeros((len(pts), 4), dtype=torch.int32)
    coors[:, 0] = torch.tensor(batch)
    return voxels, torch.ones(len(pts), dtype=torch.int32), coors


def test_occupancy_bins_cells_and_padding():
    motion = SweepOccupancyBEV(RANGE, bev_cell=0.8, fine_cell=0.2, time_edges=(0.05, 0.15),
                               out_channels=4)
    points = [[1.05, -2.05, 0.0, 10.0, 0.0],    # keyframe
              [1.05, -2.05, 0.0, 10.0, 0.1],    # sweep 0.1 s: bin 1, same cell
              [1.05, -2.05, 0.0, 10.0, 0.2],    # older than the last edge: not counted
              [9.00, 0.00, 0.0, 10.0, 0.0],     # outside the range
              [-6.35, 6.35, 0.0, 10.0, 0.0]]    # second sample, corner cell
    voxels, num_points, coors = _voxels(points, [0, 0, 0, 0, 1])
    occ = motion.occupancy(voxels, num_points, coors, batch_size=2)
    assert occ.shape == (2, 2, 64, 64)
    assert occ.sum() == 3     # the zero padding rows (x = y = 0) are not points
    col, row = int((1.05 + 6.4) / 0.2), int((-2.05 + 6.4) / 0.2)
    assert occ[0, 0, row, col] == 1 and occ[0, 1, row, col] == 1
    assert occ[1, 0, 63, 0] == 1


def test_stack_lands_in_the_bev_cell_of_the_point():
    """pixel_unshuffle keeps the layout of the detector's BEV grid (W along +x, H along +y)."""
    motion = SweepOccupancyBEV(RANGE, bev_cell=0.8, fine_cell=0.2, time_edges=(0.05,),
                               out_channels=4)
    x, y = 3.3, -1.7
    voxels, num_points, coors = _voxels([[x, y, 0.0, 1.0, 0.0]], [0])
    stack = F.pixel_unshuffle(motion.occupancy(voxels, num_points, coors, 1), 4)
    assert stack.shape == (1, 16) + motion.bev_shape
    row, col = BEVGrid.from_range(RANGE, 0.8).cell_index(x, y)
    hits = torch.nonzero(stack[0].sum(0))
    assert hits.tolist() == [[int(row), int(col)]]


def test_motion_branch_sees_displacement_and_learns():
    """The branch's output differs between a static and a moved trail (same keyframe), and
    gradients reach it through LidarBEVEncoder, whose output shape is unchanged."""
    torch.manual_seed(0)
    enc = LidarBEVEncoder(dict(type='MeanVFE'), SPARSE, bev_cell=1.6,
                          motion_encoder=dict(type='SweepOccupancyBEV', fine_cell=0.4,
                                              time_edges=(0.05, 0.15)))
    plain = LidarBEVEncoder(dict(type='MeanVFE'), SPARSE, bev_cell=1.6)
    enc.eval()
    key = [[1.0, 1.0, 0.0, 1.0, 0.0], [1.1, 1.0, 0.0, 1.0, 0.0]]
    static = key + [[1.0, 1.0, 0.0, 1.0, 0.1], [1.1, 1.0, 0.0, 1.0, 0.1]]
    moved = key + [[0.3, 1.0, 0.0, 1.0, 0.1], [0.4, 1.0, 0.0, 1.0, 0.1]]
    outs = []
    for pts in (static, moved):
        voxels, num_points, coors = _voxels(pts, [0] * len(pts))
        outs.append(enc.motion_encoder(voxels, num_points, coors, 1))
    assert not torch.allclose(outs[0], outs[1])
    enc.train()
    voxels, num_points, coors = _voxels(moved, [0] * 4)
    coors[:, 1:] = torch.tensor([[2, 37, 37], [2, 37, 38], [2, 37, 33], [2, 37, 34]])
    bev = enc(dict(voxels=dict(voxels=voxels, num_points=num_points, coors=coors,
                               batch_size=1)))
    assert bev.shape == (1,) + plain.sparse_encoder.out_shape
    bev.sum().backward()
    assert enc.motion_encoder.net[0].weight.grad.abs().sum() > 0


def test_motion_encoder_config_errors():
    with pytest.raises(ValueError, match='whole multiple'):
        SweepOccupancyBEV(RANGE, bev_cell=0.8, fine_cell=0.3, time_edges=(0.05,),
                          out_channels=4)
    with pytest.raises(ValueError, match='increasing'):
        SweepOccupancyBEV(RANGE, bev_cell=0.8, fine_cell=0.2, time_edges=(0.15, 0.05),
                          out_channels=4)


def test_feature_scale_divides_every_column():
    voxels = torch.tensor([[[2.0, 4.0, 1.0, 100.0, 0.1], [4.0, 8.0, 3.0, 50.0, 0.3]]])
    raw = MeanVFE(5)(voxels, torch.tensor([2]))
    scaled = MeanVFE(5, feature_scale=(2, 4, 0.5, 25, 0.1))(voxels, torch.tensor([2]))
    assert torch.allclose(scaled, raw / torch.tensor([2, 4, 0.5, 25, 0.1]))
    with pytest.raises(ValueError, match='one per column'):
        MeanVFE(5, feature_scale=(1, 2))


def test_checkpoint_with_another_scaling_is_refused():
    scaled = MeanVFE(5, feature_scale=(51.2, 51.2, 5, 255, 0.1))
    raw = MeanVFE(5)
    with pytest.raises(FeatureScaleMismatch, match='feature_scale'):
        raw.load_state_dict(scaled.state_dict())
    with pytest.raises(FeatureScaleMismatch, match='51.2'):
        scaled.load_state_dict(raw.state_dict())
    # a checkpoint from before the scaling was recorded: raw features; fine for a raw model
    raw.load_state_dict({}, strict=True)
    with pytest.raises(FeatureScaleMismatch, match='no point-feature scaling'):
        scaled.load_state_dict({}, strict=True)
    # the key/shape comparison used before loading (test.py, Distiller teachers) too
    mismatch = compare_state_dicts(raw.state_dict(), scaled.state_dict())
    assert not mismatch.ok and 'trained with [51.2' in mismatch.format()
    assert compare_state_dicts(raw.state_dict(), {}).ok
    assert not compare_state_dicts(scaled.state_dict(), {}).ok


def test_motion_side_hands_the_motion_map_to_the_head():
    """LidarBEVEncoder(motion_side=True) returns (bev, {'motion_bev': map}); the detector
    adds the map to the BEV (as without motion_side) and passes it to the head's vel
    branch: cutting the side weights of that branch changes the velocity only."""
    from perception_kd.models import BEVDetector
    with pytest.raises(ValueError, match='needs a motion_encoder'):
        LidarBEVEncoder(dict(type='MeanVFE'), SPARSE, bev_cell=1.6, motion_side=True)
    torch.manual_seed(0)
    motion = dict(type='SweepOccupancyBEV', fine_cell=0.4, time_edges=(0.05, 0.15))
    enc = LidarBEVEncoder(dict(type='MeanVFE'), SPARSE, bev_cell=1.6, motion_encoder=motion,
                          motion_side=True).eval()
    key = [[1.0, 1.0, 0.0, 1.0, 0.0], [1.1, 1.0, 0.0, 1.0, 0.0]]
    moved = key + [[0.3, 1.0, 0.0, 1.0, 0.1], [0.4, 1.0, 0.0, 1.0, 0.1]]
    voxels, num_points, coors = _voxels(moved, [0] * 4)
    coors[:, 1:] = torch.tensor([[2, 37, 37], [2, 37, 38], [2, 37, 33], [2, 37, 34]])
    inputs = dict(voxels=dict(voxels=voxels, num_points=num_points, coors=coors, batch_size=1))
    bev, aux = enc(inputs)
    side = aux['motion_bev']
    assert side.shape == bev.shape
    sparse_only = enc.sparse_encoder(enc.voxel_encoder(voxels, num_points), coors, 1)
    assert torch.allclose(bev, sparse_only + side)

    detector = BEVDetector(
        lidar_encoder=dict(type='LidarBEVEncoder', voxel_encoder=dict(type='MeanVFE'),
                           sparse_encoder=SPARSE, bev_cell=1.6, motion_encoder=motion,
                           motion_side=True),
        bev_backbone=dict(type='SECONDBackbone', in_channels=8, out_channels=(8,),
                          layer_nums=(0,), layer_strides=(1,)),
        head=dict(type='CenterHead', in_channels=8, point_cloud_range=RANGE, bev_cell=1.6,
                  class_names=['car'], tasks=[['car']], share_channels=8, head_channels=8,
                  final_kernel=1, velocity_side_channels=8)).eval()
    vel_conv = detector.head.task_heads[0].branches['vel'][0]
    assert vel_conv.in_channels == 8 + 8
    with torch.no_grad():
        feats = detector.extract_feats(inputs, None)
        vel_conv.weight[:, 8:] = 0.0
        cut = detector.extract_feats(inputs, None)
    assert not torch.allclose(feats.responses[0]['vel'], cut.responses[0]['vel'])
    assert torch.equal(feats.responses[0]['heatmap'], cut.responses[0]['heatmap'])
