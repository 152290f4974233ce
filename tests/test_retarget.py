import numpy as np
import pytest

from core.retarget import MIXAMO, MappingError, parse_mapping, resolve_mapping
from core.skeleton import H36M_SKELETON as SK


def test_namespaced_bones_match():
    names = [f"mixamorig:{n}" for n in MIXAMO] + ["mixamorig:LeftHand"]
    resolved = resolve_mapping(MIXAMO, names)
    assert resolved[names.index("mixamorig:Hips")] == "pelvis_frame"


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"),
    ('["Hips"]', "JSON object"),
])
def test_bad_custom_mapping_text(text, message):
    with pytest.raises(MappingError, match=message):
        parse_mapping(text)


def test_bad_rules_and_missing_hips():
    with pytest.raises(MappingError, match="neither 'joint>joint'"):
        resolve_mapping({"Hips": "pelvis_frame", "Arm": "left_shoulder>elbow"}, ["Hips", "Arm"])
    with pytest.raises(MappingError, match="pelvis_frame"):
        resolve_mapping({"Arm": "left_shoulder>left_elbow"}, ["Arm"])


def _bone(name, parent, head, tail):
    from core.retarget import TargetBone
    return TargetBone(name, parent, np.eye(3), np.array(head, float), np.array(tail, float))


def test_joints_come_from_heads_past_twist_bones_whatever_the_tails():
    from core.retarget import joint_points, leg_length, rest_joints
    # thigh -> shin -> shin twist (on the shin's line) -> foot -> toe; tails anywhere, as importers leave them
    bones = [_bone("hips", -1, [0, 0, 1], [5, 5, 5]), _bone("thigh", 0, [0.1, 0, 0.95], [-3, 40, 2]),
             _bone("shin", 1, [0.1, 0, 0.5], [9, 9, 9]), _bone("shin_twist", 2, [0.1, 0, 0.3], [0, 0, 0]),
             _bone("foot", 3, [0.1, 0, 0.08], [1, 1, 1]), _bone("toe", 4, [0.1, -0.15, 0.0], [2, 2, 2])]
    resolved = {0: "pelvis_frame", 1: "left_hip>left_knee", 2: "left_knee>left_ankle"}
    points = joint_points(bones, resolved)
    assert points["left_knee"] == (2, "head") and points["left_ankle"] == (4, "head")  # the foot, not the twist
    assert np.allclose(rest_joints(bones, resolved)["left_ankle"], [0.1, 0, 0.08])
    assert leg_length(bones, resolved) == pytest.approx(0.45 + 0.42)


def test_root_path_scales_about_the_floor_under_the_first_pelvis():
    from core.retarget import root_path
    pelvis = np.array([[3.0, 2.0, 1.0], [3.0, 0.0, 1.0]])
    path = root_path(pelvis, 0.5)
    np.testing.assert_allclose(path, [[3.0, 2.0, 0.5], [3.0, 1.0, 0.5]])  # starts there, half the height and travel


def test_lifted_knee_axes_never_flip():
    from core.retarget import lifted_hinges
    frames = 5
    upper = np.tile([0.0, 0.0, -1.0], (frames, 1))
    bend = np.radians([30, 2, 0, 30, -30])  # bent, nearly straight, straight, bent, bent the wrong way (forwards)
    lower = np.stack([np.zeros(frames), np.sin(bend), -np.cos(bend)], axis=-1)  # +y is backwards
    forward = np.tile([0.0, -1.0, 0.0], (frames, 1))
    axes = lifted_hinges(upper, lower, forward, "knee")
    np.testing.assert_allclose(axes, np.tile([1.0, 0, 0], (frames, 1)), atol=1e-9)
    assert lifted_hinges(upper, upper, forward, "knee") is None  # never bent: nothing to measure


def test_a_limbs_twist_is_shared_with_its_twist_bone_and_the_knee_bends_in_the_lifted_plane():
    from core.retarget import _rotation_about, _twist_angle, solve
    from core.rotations import shortest_arc
    from training.rig_corpus.motion import walk
    idx = SK.index
    joints = walk(20)
    # knees pointing 40 degrees outwards: the thigh must twist to bend the rig's knee in that plane
    for side, sign in (("left", 1), ("right", -1)):
        thigh = joints[:, idx(f"{side}_knee")] - joints[:, idx(f"{side}_hip")]
        turn = _rotation_about(thigh, np.full(len(joints), np.radians(40 * sign)))
        shin = joints[:, idx(f"{side}_ankle")] - joints[:, idx(f"{side}_knee")]
        joints[:, idx(f"{side}_ankle")] = joints[:, idx(f"{side}_knee")] + np.einsum("tij,tj->ti", turn, shin)
    rest = joints[0].copy()
    rest[:, :2] -= rest[idx("pelvis"), :2]
    for side in ("left", "right"):  # straight legs at rest
        rest[idx(f"{side}_knee")] = rest[idx(f"{side}_hip")] - [0, 0, 0.45]
        rest[idx(f"{side}_ankle")] = rest[idx(f"{side}_hip")] - [0, 0, 0.88]
    names = [("hips", -1, "pelvis", "spine"), ("spine", 0, "pelvis", "thorax"), ("thigh.L", 0, "left_hip", None),
             ("twist.L", 2, None, None), ("shin.L", 3, "left_knee", "left_ankle"), ("thigh.R", 0, "right_hip", None),
             ("shin.R", 5, "right_knee", "right_ankle")]
    heads = {"twist.L": (rest[idx("left_hip")] + rest[idx("left_knee")]) / 2}
    bones = [_bone(n, p, heads.get(n, rest[idx(h)] if h else None), rest[idx(t)] if t else [9, 9, 9])
             for n, p, h, t in names]
    resolved = {0: "pelvis_frame", 1: "pelvis>spine", 2: "left_hip>left_knee", 4: "left_knee>left_ankle",
                5: "right_hip>right_knee", 6: "right_knee>right_ankle"}
    basis, _, _ = solve(joints, bones, resolved)
    assert set(basis) == {0, 1, 2, 3, 4, 5, 6}  # the twist bone is keyed too
    world = {}
    for b, bone in enumerate(bones):  # rest rotations are identity here: global = parent's global @ basis
        world[b] = (world[bone.parent] if bone.parent >= 0 else np.eye(3)) @ basis[b]
    along = joints[:, idx("left_knee")] - joints[:, idx("left_hip")]
    swing = shortest_arc(np.tile(rest[idx("left_knee")] - rest[idx("left_hip")], (len(joints), 1)), along) @ world[0]
    first_half = _twist_angle(world[2] @ np.swapaxes(swing, -1, -2), along)
    second_half = _twist_angle(world[3] @ np.swapaxes(world[2], -1, -2), along)
    assert np.all(np.abs(first_half) > np.radians(10))
    np.testing.assert_allclose(first_half, second_half, atol=1e-6)
    # the rig's knee axis (its rest axis, +x: straight leg, facing -y), carried by the twist bone,
    # is the normal of the lifted thigh-shin plane wherever the knee is bent enough to have one
    shin = joints[:, idx("left_ankle")] - joints[:, idx("left_knee")]
    normal = np.cross(along, shin)
    bent = np.linalg.norm(normal, axis=-1) / np.linalg.norm(along, axis=-1) / np.linalg.norm(shin, axis=-1) > 0.2
    carried = world[3] @ np.array([1.0, 0, 0])
    cos = np.sum(carried * normal, axis=-1) / np.linalg.norm(normal, axis=-1)
    assert bent.sum() >= 5
    np.testing.assert_allclose(np.abs(cos[bent]), 1.0, atol=1e-6)
