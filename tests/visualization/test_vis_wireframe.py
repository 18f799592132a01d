"""Box wireframes: corners, edges, heading mark, dashes; the Open3D line set."""
import numpy as np
import pytest

from perception_kd.visualization import BOX_LINES, box_wireframe, boxes_line_set, dash_segments
from perception_kd.visualization.wireframe import dashed, ego_box

# A hand-made box: centre (10, -4, 0.5), l=4, w=2, h=1.5, yaw 30 degrees.
BOX = np.array([[10.0, -4.0, 0.5, 4.0, 2.0, 1.5, np.pi / 6]])


def hand_corners():
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    out = []
    # nuScenes order: front face (+l/2) then rear face; (+w,+h), (-w,+h), (-w,-h), (+w,-h).
    for dx in (2.0, -2.0):
        for dy, dz in ((1.0, 0.75), (-1.0, 0.75), (-1.0, -0.75), (1.0, -0.75)):
            out.append([10 + c * dx - s * dy, -4 + s * dx + c * dy, 0.5 + dz])
    return np.array(out)


def test_wireframe_corners_edges_and_heading_of_a_rotated_box():
    wire = box_wireframe(BOX)
    np.testing.assert_allclose(wire.vertices[:8], hand_corners(), atol=1e-12)
    np.testing.assert_allclose(wire.vertices[8], BOX[0, :3])
    front_centre = np.array([10 + 2 * np.cos(np.pi / 6), -4 + 2 * np.sin(np.pi / 6), 0.5])
    np.testing.assert_allclose(wire.vertices[9], front_centre, atol=1e-12)
    lengths = np.linalg.norm(wire.segments[:, 1] - wire.segments[:, 0], axis=1)
    # 4 front-face edges (w, h, w, h), 4 rear-face edges, 4 long edges, heading l/2.
    np.testing.assert_allclose(lengths, [2, 1.5, 2, 1.5, 2, 1.5, 2, 1.5, 4, 4, 4, 4, 2], atol=1e-12)
    assert len(wire) == len(BOX_LINES) == 13 and set(wire.line_box) == {0}


def test_open3d_line_set_has_the_corners_and_edges():
    lines = boxes_line_set(np.concatenate([BOX, BOX + [0, 10, 0, 0, 0, 0, 0]]), np.array([0, 7]))
    points = np.asarray(lines.points)
    np.testing.assert_allclose(points[:8], hand_corners(), atol=1e-12)
    np.testing.assert_allclose(points[10:18], hand_corners() + [0, 10, 0], atol=1e-12)
    edges = {tuple(sorted(e)) for e in np.asarray(lines.lines)[:12].tolist()}
    cube = {tuple(sorted(e)) for e in [(0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7),
                                       (7, 4), (0, 4), (1, 5), (2, 6), (3, 7)]}
    assert edges == cube
    colors = np.asarray(lines.colors)
    assert len(colors) == 26 and not np.allclose(colors[0], colors[13])   # car vs pedestrian


def test_dashes_cover_segments_with_gaps():
    starts = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    ends = np.array([[9.5, 0.0], [0.1, 0.0], [1.0, 1.0]])
    d0, d1, source = dash_segments(starts, ends, dash=1.0)
    first = source == 0
    assert first.sum() == 5                                    # 5 dashes + 4 gaps in 9.5 m
    np.testing.assert_allclose(d0[first][0], [0, 0])
    np.testing.assert_allclose(d1[first][-1], [9.5, 0])         # last dash ends on the end point
    np.testing.assert_allclose(np.linalg.norm(d1 - d0, axis=1)[first], 9.5 / 9)
    assert (source == 1).sum() == 1 and (source == 2).sum() == 1   # short and empty segments
    wire = dashed(box_wireframe(BOX), 0.5)
    assert len(wire) > 13 and set(wire.line_box) == {0}


@pytest.mark.parametrize('yaw', [0.0, np.pi / 2])
def test_ego_box_points_along_the_ego_heading(yaw):
    from perception_kd.structures import make_transform, rotz
    lidar2ego = make_transform(rotz(yaw), [0.9, 0.0, 1.8])
    box = ego_box(lidar2ego)[0]
    ego_forward_in_lidar = rotz(-yaw) @ [1.0, 0.0, 0.0]
    assert np.allclose([np.cos(box[6]), np.sin(box[6])], ego_forward_in_lidar[:2])
    assert box[2] < 0                                          # below the sensor
