"""Property tests of the SE(3) helpers (quaternions, rigid transforms)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyquaternion import Quaternion

from perception_kd.structures import (
    chain,
    invert,
    make_transform,
    matrix_to_quat,
    matrix_yaw,
    quat_to_matrix,
    record_to_transform,
    rotz,
    transform_points,
    yaw_to_quat,
)

settings.register_profile('pkd', deadline=None, max_examples=60)
settings.load_profile('pkd')

finite = st.floats(-1.0, 1.0, allow_nan=False)
quats = st.tuples(finite, finite, finite, finite).map(np.array).filter(
    lambda q: np.linalg.norm(q) > 0.1)
angles = st.floats(-10.0, 10.0, allow_nan=False)
translations = st.tuples(*[st.floats(-1e3, 1e3, allow_nan=False)] * 3).map(np.array)


def canonical(q):
    q = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return -q if q[0] < 0 else q


@given(quats)
def test_quat_matrix_round_trip(q):
    rot = quat_to_matrix(q)
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(rot) == pytest.approx(1.0)
    back = matrix_to_quat(rot)
    assert back[0] >= 0 and np.linalg.norm(back) == pytest.approx(1.0)
    # q and -q are the same rotation: compare up to sign
    assert min(np.abs(back - canonical(q)).max(), np.abs(back + canonical(q)).max()) < 1e-9
    np.testing.assert_allclose(quat_to_matrix(back), rot, atol=1e-12)


@given(quats)
def test_quat_matches_pyquaternion(q):
    np.testing.assert_allclose(quat_to_matrix(q), Quaternion(q).normalised.rotation_matrix,
                               atol=1e-12)


@given(angles)
def test_yaw_helpers_agree(yaw):
    np.testing.assert_allclose(quat_to_matrix(yaw_to_quat(yaw)), rotz(yaw), atol=1e-12)
    wrapped = (yaw + np.pi) % (2 * np.pi) - np.pi
    assert np.angle(np.exp(1j * (matrix_yaw(rotz(yaw)) - wrapped))) == pytest.approx(0.0, abs=1e-9)


@given(quats, translations)
def test_invert(q, t):
    transform = make_transform(q, t)
    np.testing.assert_allclose(invert(transform) @ transform, np.eye(4), atol=1e-9)
    np.testing.assert_allclose(transform @ invert(transform), np.eye(4), atol=1e-9)
    np.testing.assert_allclose(invert(transform), np.linalg.inv(transform), atol=1e-9)


@given(quats, translations, quats, translations)
def test_chain_and_transform_points(q1, t1, q2, t2):
    a2b, b2c = make_transform(q1, t1), make_transform(q2, t2)
    np.testing.assert_allclose(chain(a2b, b2c), b2c @ a2b, atol=1e-9)
    points = np.array([[1.0, 2.0, 3.0, 7.0], [-4.0, 0.5, 0.0, 8.0]])
    moved = transform_points(a2b, points)
    np.testing.assert_array_equal(moved[:, 3], points[:, 3])  # extra columns kept
    np.testing.assert_allclose(transform_points(invert(a2b), moved), points, atol=1e-7)


def test_make_transform_from_matrix_and_record():
    rot = rotz(0.3)
    np.testing.assert_allclose(make_transform(rot, [1, 2, 3])[:3, :3], rot)
    record = dict(token='x', rotation=list(yaw_to_quat(0.3)), translation=[1, 2, 3])
    np.testing.assert_allclose(record_to_transform(record), make_transform(rot, [1, 2, 3]),
                               atol=1e-12)
    with pytest.raises(KeyError, match='rotation'):
        record_to_transform(dict(token='y', translation=[0, 0, 0]))
