"""CenterNet Gaussian targets: radius formula, kernel and drawing."""
import math

import pytest
import torch

from perception_kd.ops import draw_gaussian, gaussian_2d, gaussian_radius


def test_radius_hand_values():
    # (10, 10), overlap 0.7: case 3 is 2.8 r^2 - 28 r - 30 -> (b + sqrt(d)) / 2 = -14 + 2 sqrt(70);
    # cases 1 and 2 give (20 + sqrt(400 - 4 * 30 / 1.7)) / 2 and (40 + sqrt(1120)) / 2, larger.
    assert gaussian_radius((10, 10)) == pytest.approx(-14 + 2 * math.sqrt(70))
    assert -14 + 2 * math.sqrt(70) == pytest.approx(2.7332, abs=1e-4)
    # (4, 8), overlap 0.5: case 3 is 2 r^2 - 12 r - 16 -> -6 + sqrt(68).
    assert gaussian_radius((4, 8), min_overlap=0.5) == pytest.approx(-6 + math.sqrt(68))
    # (10, 10), overlap 0.1 (CenterPoint's): 0.4 r^2 - 4 r - 90 -> -2 + 2 sqrt(10).
    assert gaussian_radius((10, 10), min_overlap=0.1) == pytest.approx(-2 + 2 * math.sqrt(10))
    # The three cases, min taken: for a thin box case 1 can still exceed case 3.
    h, w, o = 1.0, 40.0, 0.7
    r1 = (h + w + math.sqrt((h + w) ** 2 - 4 * w * h * (1 - o) / (1 + o))) / 2
    r2 = (2 * (h + w) + math.sqrt(4 * (h + w) ** 2 - 16 * (1 - o) * w * h)) / 2
    r3 = (-2 * o * (h + w) + math.sqrt(4 * o * o * (h + w) ** 2 + 16 * o * (1 - o) * w * h)) / 2
    assert gaussian_radius((h, w), o) == pytest.approx(min(r1, r2, r3))


def test_radius_vectorised_matches_scalar():
    heights, widths = torch.tensor([10.0, 4.0, 1.0, 30.0]), torch.tensor([10.0, 8.0, 40.0, 3.0])
    radii = gaussian_radius((heights, widths), 0.1)
    assert radii.shape == (4,)
    for r, h, w in zip(radii.tolist(), heights.tolist(), widths.tolist()):
        assert r == pytest.approx(gaussian_radius((h, w), 0.1), rel=1e-6)


def test_kernel_peak_symmetry_and_sigma():
    kernel = gaussian_2d((5, 5), sigma=5 / 6)
    assert kernel.shape == (5, 5) and kernel[2, 2] == 1.0 and kernel.max() == 1.0
    assert torch.equal(kernel, kernel.flip(0)) and torch.equal(kernel, kernel.T)
    assert kernel[2, 3].item() == pytest.approx(math.exp(-1 / (2 * (5 / 6) ** 2)), rel=1e-6)
    assert kernel[0, 0].item() == pytest.approx(math.exp(-8 / (2 * (5 / 6) ** 2)), rel=1e-6)


def test_draw_peak_at_centre_row_col_convention():
    heatmap = torch.zeros(10, 12)
    draw_gaussian(heatmap, (7, 3), 2)          # x_col = 7, y_row = 3
    assert heatmap[3, 7] == 1.0 and heatmap.max() == 1.0
    assert torch.equal(heatmap[1:6, 5:10], gaussian_2d((5, 5), 5 / 6))
    assert heatmap.sum() == pytest.approx(gaussian_2d((5, 5), 5 / 6).sum().item())


def test_draw_max_merges():
    a, b, both = torch.zeros(9, 9), torch.zeros(9, 9), torch.zeros(9, 9)
    draw_gaussian(a, (3, 4), 2)
    draw_gaussian(b, (5, 4), 3, k=0.8)
    draw_gaussian(both, (3, 4), 2)
    draw_gaussian(both, (5, 4), 3, k=0.8)
    assert torch.equal(both, torch.maximum(a, b))
    assert both[4, 3] == 1.0 and both[4, 5] == pytest.approx(0.8)
    # Drawing a weaker peak never lowers what is there.
    before = both.clone()
    draw_gaussian(both, (3, 4), 1, k=0.1)
    assert torch.equal(both, before)


def test_draw_clips_at_borders():
    kernel = gaussian_2d((7, 7), 7 / 6)
    corner = draw_gaussian(torch.zeros(6, 8), (0, 0), 3)
    assert torch.equal(corner[:4, :4], kernel[3:, 3:]) and corner[4:].sum() == 0
    far = draw_gaussian(torch.zeros(6, 8), (7, 5), 3)
    assert torch.equal(far[2:, 4:], kernel[:4, :4])
    # A centre just outside still draws its tail; one far outside draws nothing.
    outside = draw_gaussian(torch.zeros(6, 8), (-2, 2), 3)
    assert torch.equal(outside[:, :2], kernel[1:7, 5:7]) and outside[:, 2:].sum() == 0
    assert draw_gaussian(torch.zeros(6, 8), (20, 2), 3).sum() == 0
    # Radius 0: a single cell.
    single = draw_gaussian(torch.zeros(3, 3), (1, 1), 0)
    assert single.sum() == 1.0 and single[1, 1] == 1.0
