import numpy as np
import pytest

from core.bvh_export import write_bvh
from core.rotations import euler_zxy, forward_kinematics, global_rotations, rest_pose, shortest_arc  # noqa: F401
from core.skeleton import H36M_SKELETON
from training.bvh import axis_rotation, forward_kinematics as bvh_fk, read_bvh
from training.mocap import bvh_to_h36m
from tests.motion_helpers import LENGTHS, rigid_motion as _rigid_motion

SK = H36M_SKELETON


def test_shortest_arc_maps_vectors():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(100, 3)), rng.normal(size=(100, 3))
    b[0] = -a[0]  # opposite vectors
    r = shortest_arc(a, b)
    mapped = np.einsum("nij,nj->ni", r, a / np.linalg.norm(a, axis=1, keepdims=True))
    np.testing.assert_allclose(mapped, b / np.linalg.norm(b, axis=1, keepdims=True), atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-9)


def test_solved_rotations_reproduce_rigid_motion_exactly():
    positions, rest = _rigid_motion()
    solved = global_rotations(positions, rest)
    np.testing.assert_allclose(forward_kinematics(positions[:, 0], solved, rest), positions, atol=1e-9)


def test_rest_pose_faces_minus_y_with_left_at_plus_x():
    rest = rest_pose(LENGTHS)
    assert rest[SK.index("left_hip"), 0] > 0 and rest[SK.index("left_wrist"), 0] > 0
    assert rest[SK.index("head"), 2] > 0 > rest[SK.index("left_ankle"), 2]


def test_euler_zxy_inverts_rotation_order():
    rng = np.random.default_rng(2)
    angles = np.column_stack([rng.uniform(-170, 170, 50), rng.uniform(-85, 85, 50), rng.uniform(-170, 170, 50)])
    matrices = axis_rotation("Z", angles[:, 0]) @ axis_rotation("X", angles[:, 1]) @ axis_rotation("Y", angles[:, 2])
    recovered = euler_zxy(matrices[:, None])[:, 0]
    rebuilt = axis_rotation("Z", recovered[:, 0]) @ axis_rotation("X", recovered[:, 1]) @ axis_rotation("Y", recovered[:, 2])
    np.testing.assert_allclose(rebuilt, matrices, atol=1e-9)


@pytest.mark.parametrize("units, scale", [("cm", 0.01), ("m", 1.0)])
def test_bvh_round_trip_through_an_independent_reader(tmp_path, units, scale):
    positions, _ = _rigid_motion(seed=3)
    path = tmp_path / "motion.bvh"
    write_bvh(str(path), positions, fps=30, bone_lengths=LENGTHS, units=units)
    bvh = read_bvh(str(path))
    assert bvh.num_frames == 40 and bvh.frame_rate == pytest.approx(30)
    joints, _ = bvh_fk(bvh)
    names = [n for n in bvh.names if not n.endswith("_end")]
    assert len(names) == 17
    recovered = bvh_to_h36m(bvh, unit_scale=scale)  # the training reader's name mapping, Y up -> Z up
    limbs = [j for j in range(17) if SK.names[j] not in ("head", "neck_nose")]  # the reader synthesises the head
    np.testing.assert_allclose(recovered[:, limbs], positions[:, limbs], atol=1e-5)


def test_bad_positions_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="shape"):
        write_bvh(str(tmp_path / "x.bvh"), np.zeros((3, 16, 3)), 30)
    with pytest.raises(ValueError, match="units"):
        write_bvh(str(tmp_path / "x.bvh"), np.zeros((3, 17, 3)) + np.arange(17)[None, :, None], 30, units="in")
