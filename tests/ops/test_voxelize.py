"""Hard voxelization: exact contents on hand-made clouds, and agreement of the torch, native
(the project's C++ kernel) and spconv backends."""
import warnings

import pytest
import torch

from perception_kd.ops import Voxelization, grid_shape, native, voxelize, voxelize_batch


def need_native():
    if native.load() is None:
        pytest.skip(f'the C++ kernels are not built here ({native.load_error() or "disabled"}); '
                    'they need a C++ compiler: python -m perception_kd.ops.native')

# Grid over x in [0, 4), y in [0, 3), z in [0, 2) with 1 m voxels: 4 x 3 x 2 voxels.
RANGE = [0, 0, 0, 4, 3, 2]
SIZE = [1, 1, 1]
# Last column tags the point with its list position.
POINTS = torch.tensor([
    [3.5, 0.5, 0.5, 0],    # voxel (z,y,x) = (0,0,3): first voxel to appear
    [0.5, 0.5, 0.5, 1],    # (0,0,0)
    [3.6, 0.5, 0.5, 2],    # (0,0,3) again
    [3.7, 0.5, 0.5, 3],    # (0,0,3) a third time
    [1.5, 2.5, 1.5, 4],    # (1,2,1)
    [0.5, 1.5, 0.5, 5],    # (0,1,0)
    [4.0, 0.5, 0.5, 6],    # x == x_max: outside
    [-0.1, 0.5, 0.5, 7],   # x < x_min: outside
    [0.2, 0.2, 0.2, 8],    # (0,0,0) again, after all other voxels
    [1.0, 1.0, 2.5, 9],    # z >= z_max: outside
])


def tags(voxels, num_points):
    """Point tags per voxel, padding dropped."""
    return [voxels[i, :n, 3].long().tolist() for i, n in enumerate(num_points.tolist())]


def test_grid_shape_rounds():
    assert grid_shape(SIZE, RANGE) == (4, 3, 2)
    assert grid_shape([0.1, 0.1, 0.2], [-51.2, -51.2, -5, 51.2, 51.2, 3]) == (1024, 1024, 40)


def test_hand_made_contents_order_and_range():
    voxels, coords, num = voxelize(POINTS, SIZE, RANGE, max_points_per_voxel=5, max_voxels=10)
    assert coords.dtype == torch.int32 and num.dtype == torch.int32
    assert coords.tolist() == [[0, 0, 3], [0, 0, 0], [1, 2, 1], [0, 1, 0]]
    assert num.tolist() == [3, 2, 1, 1]
    assert tags(voxels, num) == [[0, 2, 3], [1, 8], [4], [5]]
    assert voxels.shape == (4, 5, 4)
    assert torch.equal(voxels[1, 1], POINTS[8])
    assert (voxels[0, 3:] == 0).all() and (voxels[2, 1:] == 0).all()   # zero padding


def test_max_points_keeps_first_points():
    voxels, coords, num = voxelize(POINTS, SIZE, RANGE, max_points_per_voxel=2, max_voxels=10)
    assert num.tolist() == [2, 2, 1, 1]
    assert tags(voxels, num) == [[0, 2], [1, 8], [4], [5]]


def test_max_voxels_keeps_first_voxels_and_fills_them():
    voxels, coords, num = voxelize(POINTS, SIZE, RANGE, max_points_per_voxel=5, max_voxels=2)
    assert coords.tolist() == [[0, 0, 3], [0, 0, 0]]
    # Point 8 comes after voxels 3 and 4 were refused, yet still joins voxel (0,0,0).
    assert tags(voxels, num) == [[0, 2, 3], [1, 8]]


def test_non_deterministic_mode_is_raster_order_with_same_voxels():
    voxels, coords, num = voxelize(POINTS, SIZE, RANGE, 5, 10, deterministic=False)
    assert coords.tolist() == [[0, 0, 0], [0, 0, 3], [0, 1, 0], [1, 2, 1]]
    assert tags(voxels, num) == [[1, 8], [0, 2, 3], [5], [4]]


def test_points_land_in_their_voxel_and_counts_add_up():
    torch.manual_seed(1)
    pts = torch.rand(2000, 4) * torch.tensor([12.0, 10.0, 6.0, 1.0]) - torch.tensor([1.0, 1, 1, 0])
    size, rng = [0.5, 0.5, 0.5], [0, 0, 0, 10, 8, 4]
    voxels, coords, num = voxelize(pts, size, rng, max_points_per_voxel=3, max_voxels=100000)
    assert len(torch.unique(coords, dim=0)) == len(coords)
    for slot in range(3):
        used = num > slot
        cell = torch.floor(voxels[used, slot, :3] / 0.5).long()
        assert torch.equal(cell.flip(1), coords[used].long())
    inside = ((pts[:, :3] >= 0) & (pts[:, :3] < torch.tensor([10.0, 8.0, 4.0]))).all(1)
    _, per_voxel = torch.unique(torch.floor(pts[inside, :3] / 0.5), dim=0, return_counts=True)
    assert num.sum() == per_voxel.clamp(max=3).sum()


def test_empty_and_all_outside():
    for pts in (torch.zeros(0, 4), torch.full((5, 4), 100.0)):
        voxels, coords, num = voxelize(pts, SIZE, RANGE, 3, 10)
        assert voxels.shape == (0, 3, 4) and coords.shape == (0, 3) and num.shape == (0,)


def test_float64_kept():
    voxels, _, _ = voxelize(POINTS.double(), SIZE, RANGE, 3, 10)
    assert voxels.dtype == torch.float64


@pytest.mark.parametrize('kwargs', [dict(points=torch.zeros(5, 2)), dict(voxel_size=[1, 1]),
                                    dict(point_cloud_range=[0, 0, 0, 4, 3, 0]),
                                    dict(max_voxels=0)])
def test_bad_arguments_raise(kwargs):
    args = dict(points=POINTS, voxel_size=SIZE, point_cloud_range=RANGE, max_points_per_voxel=3,
                max_voxels=10)
    args.update(kwargs)
    with pytest.raises(ValueError):
        voxelize(**args)


def test_batch_prepends_sample_index():
    other = POINTS[[4, 1]]
    voxels, coords, num = voxelize_batch([POINTS, other], SIZE, RANGE, 5, 10)
    single = voxelize(POINTS, SIZE, RANGE, 5, 10)
    assert coords.shape == (6, 4) and coords.dtype == torch.int32
    assert coords[:4, 0].tolist() == [0] * 4 and coords[4:, 0].tolist() == [1, 1]
    assert torch.equal(coords[:4, 1:], single.coords)
    assert coords[4:, 1:].tolist() == [[1, 2, 1], [0, 0, 0]]
    assert num.tolist() == [3, 2, 1, 1, 1, 1]
    assert torch.equal(voxels[:4], single.voxels)


def test_module_caps_by_mode_and_accepts_lists():
    layer = Voxelization(SIZE, RANGE, max_num_points=5, max_voxels=(3, 1))
    assert layer.grid_shape == (4, 3, 2)
    assert len(layer.train()(POINTS).coords) == 3
    assert len(layer.eval()(POINTS).coords) == 1
    assert layer([POINTS, POINTS]).coords.shape == (2, 4)


def test_module_builds_from_registry():
    from perception_kd.registry import MODELS
    layer = MODELS.build(dict(type='Voxelization', voxel_size=SIZE, point_cloud_range=RANGE,
                              max_num_points=5, max_voxels=10))
    assert isinstance(layer, Voxelization)


@pytest.mark.parametrize('max_voxels', [100000, 500])
def test_matches_spconv_point_to_voxel(max_voxels):
    from spconv.pytorch.utils import PointToVoxel
    torch.manual_seed(0)
    rng = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]
    size = [0.8, 0.8, 0.4]
    # Clustered points so voxels overflow, plus points outside the range.
    centres = torch.rand(300, 3) * torch.tensor([110.0, 110, 10]) - torch.tensor([55.0, 55, 6])
    pts = centres.repeat_interleave(20, 0) + torch.randn(6000, 3) * 0.2
    pts = torch.cat([pts, torch.rand(6000, 2)], 1)
    ours = voxelize(pts, size, rng, max_points_per_voxel=6, max_voxels=max_voxels)
    gen = PointToVoxel(vsize_xyz=size, coors_range_xyz=rng, num_point_features=5,
                       max_num_voxels=max_voxels, max_num_points_per_voxel=6)
    voxels, coords, num = gen(pts)
    assert (ours.num_points == 6).any() and len(coords) > 0
    if max_voxels == 500:
        assert len(coords) == 500
    # Same voxel set (order aligned by coordinates), same counts and contents.
    key = lambda c: (c[:, 0].long() * 1000 + c[:, 1]) * 1000 + c[:, 2]  # noqa: E731
    ours_order, theirs_order = torch.argsort(key(ours.coords)), torch.argsort(key(coords))
    assert torch.equal(ours.coords[ours_order], coords[theirs_order])
    assert torch.equal(ours.num_points[ours_order], num[theirs_order])
    assert torch.equal(ours.voxels[ours_order], voxels[theirs_order])


def _hard_cloud(seed: int, rng, size, num: int = 4000) -> torch.Tensor:
    """Clustered points (voxels overflow), points outside the range, and points exactly on
    voxel faces and on the range's faces (float32), with a tag column."""
    gen = torch.Generator().manual_seed(seed)
    lo, hi = torch.tensor(rng[:3]), torch.tensor(rng[3:])
    centres = torch.rand(num // 20, 3, generator=gen) * (hi - lo) * 1.1 + lo - 0.05 * (hi - lo)
    pts = centres.repeat_interleave(20, 0) + torch.randn(num // 20 * 20, 3, generator=gen) * 0.3
    faces = lo + torch.randint(0, 8, (500, 3), generator=gen) * torch.tensor(size)
    faces[:50, 0] = hi[0]
    faces[50:100, 2] = lo[2]
    xyz = torch.cat([pts, faces])[torch.randperm(len(pts) + 500, generator=gen)]
    tag = torch.arange(len(xyz), dtype=torch.float32)[:, None]
    return torch.cat([xyz, torch.rand(len(xyz), 1, generator=gen), tag], 1).float()


GRIDS = [
    ([0.2, 0.2, 8.0], [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0], 20, 30000),   # pillars
    ([0.2, 0.2, 8.0], [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0], 3, 40),       # both caps bind
    ([0.8, 0.8, 0.4], [-20.0, -20.0, -3.0, 20.0, 20.0, 1.0], 5, 100000),   # 3D grid
    ([1.0, 1.0, 1.0], [0, 0, 0, 4, 3, 2], 2, 5),
    ([0.1, 0.1, 0.2], [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0], 3, 2000),    # 42M cells: hashed
]


# spconv is not used on the 42M-cell grid (its dense table would take 168 MB)
@pytest.mark.parametrize('backend,size,rng,max_points,max_voxels',
                         [('native', *g) for g in GRIDS] + [('spconv', *g) for g in GRIDS[:-1]])
def test_compiled_backends_equal_torch_backend(backend, size, rng, max_points, max_voxels):
    if backend == 'native':
        need_native()
    for seed in range(3):
        pts = _hard_cloud(seed, rng, size)
        ref = voxelize(pts, size, rng, max_points, max_voxels, backend='torch')
        out = voxelize(pts, size, rng, max_points, max_voxels, backend=backend)
        assert len(ref.coords) > 0
        for a, b in zip(out, ref):
            assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    # hand-made case too
    ref = voxelize(POINTS, SIZE, RANGE, 2, 3, backend='torch')
    assert all(torch.equal(a, b) for a, b in zip(
        voxelize(POINTS, SIZE, RANGE, 2, 3, backend=backend), ref))


def test_native_nan_points_empty_clouds_and_geometry_changes():
    """NaN/inf coordinates are dropped as by the torch path; the kernel's cell table is
    reused across calls and geometries without leaking voxels from one call to the next."""
    need_native()
    pillars = ([0.2, 0.2, 8.0], [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0])
    small = ([1.0, 1.0, 1.0], [0, 0, 0, 4, 3, 2])
    fine = ([0.1, 0.1, 0.2], [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0])       # hashed
    pts = _hard_cloud(5, pillars[1], pillars[0])
    pts[::97, 0] = float('nan')
    pts[1::89, 1] = float('inf')
    pts[2::83, 2] = float('-inf')
    for size, rng in (pillars, small, fine, pillars, small, fine):
        for cloud in (pts, pts[:0], pts.flip(0)):
            ref = voxelize(cloud, size, rng, 4, 1000, backend='torch')
            out = voxelize(cloud, size, rng, 4, 1000, backend='native')
            assert all(a.shape == b.shape and torch.equal(a, b) for a, b in zip(out, ref))
    with pytest.raises(RuntimeError, match='float32'):
        native.load().hard_voxelize(pts.double(), *pillars[0:1], pillars[1][:3], [512, 512, 1],
                                    4, 10)


def test_backend_choice_and_results_not_shared(monkeypatch):
    import sys
    vox = sys.modules['perception_kd.ops.voxelize']   # the package exports the function
    pillars = ([0.2, 0.2, 8.0], [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0])
    pts = _hard_cloud(0, pillars[1], pillars[0])
    first = voxelize(pts, *pillars, 4, 1000)
    copy = [t.clone() for t in first]
    voxelize(pts.flip(0), *pillars, 4, 1000)    # same cached generator
    assert all(torch.equal(a, b) for a, b in zip(first, copy))
    calls = []
    real = vox._voxelize_spconv
    monkeypatch.setattr(vox, '_voxelize_spconv', lambda *a: calls.append('spconv') or real(*a))
    real_load = native.load
    monkeypatch.setattr(native, 'load', lambda: calls.append('native') or real_load())
    voxelize(pts, *pillars, 4, 1000)                                      # auto: compiled
    voxelize(pts.double(), *pillars, 4, 1000)                             # float64: torch
    voxelize(pts, *pillars, 4, 1000, deterministic=False)                 # raster order: torch
    Voxelization(*pillars, max_num_points=4, max_voxels=1000, backend='torch')(pts)
    # the native kernel where it is built, spconv where it is not
    assert calls == ['native'] if real_load() is not None else ['native', 'spconv']
    calls.clear()
    voxelize(pts, [0.1, 0.1, 0.2], pillars[1], 4, 1000)                   # 42M cells
    assert calls == ['native']          # (without the kernel: torch, spconv's table is dense)
    with pytest.raises(ValueError, match="backend='spconv' needs float32"):
        voxelize(pts.double(), *pillars, 4, 1000, backend='spconv')
    with pytest.raises(ValueError, match="backend='native' needs float32"):
        voxelize(pts, *pillars, 4, 1000, backend='native', deterministic=False)
    with pytest.raises(ValueError, match='backend must be one of'):
        voxelize(pts, *pillars, 4, 1000, backend='mmcv')


def test_native_disabled_or_unbuildable_falls_back_to_spconv(monkeypatch):
    pillars = ([0.2, 0.2, 8.0], [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0])
    pts = _hard_cloud(1, pillars[1], pillars[0])
    ref = voxelize(pts, *pillars, 4, 1000, backend='spconv')
    monkeypatch.setenv('PERCEPTION_KD_NATIVE', '0')
    assert native.load() is None and not native.available()
    assert all(torch.equal(a, b) for a, b in zip(voxelize(pts, *pillars, 4, 1000), ref))
    with pytest.raises(RuntimeError, match="backend='native': the C.. kernel could not be built"):
        voxelize(pts, *pillars, 4, 1000, backend='native')
    # a build that fails (no compiler): one warning naming the reason, then spconv
    monkeypatch.delenv('PERCEPTION_KD_NATIVE')
    monkeypatch.setattr(native, '_STATE', {})
    import torch.utils.cpp_extension as cpp

    def no_compiler(**kwargs):
        raise RuntimeError('c++: command not found')
    monkeypatch.setattr(cpp, 'load', no_compiler)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        out = voxelize(pts, *pillars, 4, 1000)
        voxelize(pts, *pillars, 4, 1000)
    assert all(torch.equal(a, b) for a, b in zip(out, ref))
    built = [w for w in caught if 'could not be built' in str(w.message)]
    assert len(built) == 1 and 'command not found' in str(built[0].message)
    assert 'command not found' in native.load_error()
