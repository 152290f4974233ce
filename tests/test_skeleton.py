import numpy as np
import pytest

from core.skeleton import H36M_SKELETON, Skeleton, flip_horizontal


def test_h36m_skeleton_layout():
    sk = H36M_SKELETON
    assert sk.num_joints == 17 and len(sk.bones()) == 16
    assert sk.parents[sk.index("left_wrist")] == sk.index("left_elbow")
    assert sk.parents[sk.index("right_ankle")] == sk.index("right_knee")
    assert sk.children(sk.index("thorax")) == [9, 11, 14]
    for left, right in zip(sk.joints_left, sk.joints_right):
        assert sk.names[left].replace("left", "right") == sk.names[right]


def test_flip_is_an_involution_and_preserves_bone_lengths():
    poses = np.random.default_rng(0).normal(size=(5, 17, 3))
    flipped = flip_horizontal(poses, H36M_SKELETON)
    np.testing.assert_array_equal(flip_horizontal(flipped, H36M_SKELETON), poses)
    np.testing.assert_allclose(np.sort(H36M_SKELETON.bone_lengths(flipped), axis=-1),
                               np.sort(H36M_SKELETON.bone_lengths(poses), axis=-1))
    left_hip = H36M_SKELETON.index("left_hip")
    right_hip = H36M_SKELETON.index("right_hip")
    assert flipped[0, left_hip, 0] == -poses[0, right_hip, 0]


def test_bone_lengths_known_answer():
    pose = np.zeros((17, 3))
    pose[1] = [3, 4, 0]
    assert H36M_SKELETON.bone_lengths(pose)[0] == pytest.approx(5)


def test_parents_must_be_topological():
    with pytest.raises(ValueError, match="topological"):
        Skeleton(("a", "b"), (1, -1), (), ())
