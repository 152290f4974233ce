import numpy as np
import pytest

from core.retarget import MIXAMO, MappingError, parse_mapping, resolve_mapping


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
