"""Baking in the real bpy module (headless), through the add-on as the built extension vendors it."""
import importlib
import time

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from tests.motion_helpers import FOOT_LENGTHS, LENGTHS, rigid_motion  # noqa: E402


@pytest.fixture
def scene():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy.context.scene


def _bone_heads(obj, bake, frame):
    bpy.context.scene.frame_set(frame)
    return np.array([obj.matrix_world @ obj.pose.bones[name].head for name in bake.BONE_NAMES])


def test_baked_armature_follows_the_joints(addon, scene):
    positions, _ = rigid_motion(frames=30, seed=4)
    obj = addon.create_armature("Mocap", LENGTHS, scene.collection)
    addon.bake_motion(obj, positions, frame_start=1)
    for frame in (1, 12, 30):
        np.testing.assert_allclose(_bone_heads(obj, addon, frame), positions[frame - 1], atol=1e-4)
    action = obj.animation_data.action
    assert tuple(action.frame_range) == (1.0, 30.0)


def test_a_motion_with_feet_on_an_armature_without_foot_bones_is_a_clear_error(addon, scene):
    positions, _ = rigid_motion(frames=3, seed=4, feet=True)
    obj = addon.create_armature("NoFeet", LENGTHS, scene.collection)
    with pytest.raises(ValueError, match="lacks the bones LeftToeBase"):
        addon.bake_motion(obj, positions)
    assert obj.animation_data is None          # nothing was keyframed


def test_bake_respects_the_object_transform(addon, scene):
    positions, _ = rigid_motion(frames=10, seed=5)
    obj = addon.create_armature("Moved", LENGTHS, scene.collection)
    obj.location = (2.0, -1.0, 0.5)
    obj.rotation_euler = (0.0, 0.0, 0.7)
    bpy.context.view_layer.update()
    addon.bake_motion(obj, positions)
    np.testing.assert_allclose(_bone_heads(obj, addon, 5), positions[4], atol=1e-4)


def test_bake_of_10000_frames_is_fast(addon, scene):
    positions, _ = rigid_motion(frames=10_000, seed=6)
    obj = addon.create_armature("Long", LENGTHS, scene.collection)
    started = time.perf_counter()
    addon.bake_motion(obj, positions)
    seconds = time.perf_counter() - started
    assert seconds < 10  # the benchmark reports the real figure; this only catches a per-key Python loop
    np.testing.assert_allclose(_bone_heads(obj, addon, 7_777), positions[7_776], atol=1e-4)


@pytest.fixture
def exporter(addon):
    return importlib.import_module("videopose_mocap.export")


def _imported_armature(before):
    new = [o for o in bpy.context.scene.objects if o.type == "ARMATURE" and o.name not in before]
    assert len(new) == 1
    return new[0]


def _heads_by_name(obj, names, frame):
    bpy.context.scene.frame_set(frame)
    return np.array([obj.matrix_world @ obj.pose.bones[name].head for name in names])


@pytest.mark.parametrize("feet", [False, True])
@pytest.mark.parametrize("fmt", ["bvh", "fbx"])
def test_export_and_reimport_round_trip(addon, exporter, scene, tmp_path, fmt, feet):
    """Through Blender's own importers every joint comes back, the toe bases and toe tips too."""
    from core.skeleton import FOOT_SKELETON, H36M_SKELETON
    positions, _ = rigid_motion(frames=20, seed=7, feet=feet)
    scene.render.fps = 30
    skeleton = FOOT_SKELETON if feet else H36M_SKELETON
    obj = addon.create_armature("Mocap", FOOT_LENGTHS if feet else LENGTHS, scene.collection, skeleton)
    addon.bake_motion(obj, positions, frame_start=1)
    names = addon.bone_names(skeleton)
    for frame in (1, 10):   # the new armature follows every joint
        np.testing.assert_allclose(_heads_by_name(obj, names, frame), positions[frame - 1], atol=1e-4)
    path = str(tmp_path / f"motion.{fmt}")
    (exporter.export_bvh if fmt == "bvh" else exporter.export_fbx)(obj, path)
    before = {o.name for o in scene.objects}
    if fmt == "bvh":
        # Written Y-up in centimetres, so Blender's importer reads it back with its default axes, scaled.
        bpy.ops.import_anim.bvh(filepath=path, update_scene_fps=False, update_scene_duration=False,
                                global_scale=0.01)
    else:
        bpy.ops.import_scene.fbx(filepath=path, anim_offset=0.0)  # the importer shifts by one frame by default
    imported = _imported_armature(before)
    for frame in (1, 10, 20):
        original = _heads_by_name(obj, names, frame)
        again = _heads_by_name(imported, names, frame)
        np.testing.assert_allclose(again, original, atol=1e-3)  # within 1 mm


def test_bvh_is_written_y_up(addon, exporter, scene, tmp_path):
    """BVH readers expect Y up: the rest pose's head is above the hips along +Y in the file."""
    obj = addon.create_armature("Mocap", LENGTHS, scene.collection)
    addon.bake_motion(obj, rigid_motion(frames=3, seed=7)[0], frame_start=1)
    path = tmp_path / "motion.bvh"
    exporter.export_bvh(obj, str(path))
    lines = [line.split() for line in path.read_text().splitlines()]
    spine_line = next(i for i, words in enumerate(lines) if words[:2] == ["JOINT", "Spine1"])
    spine = np.array(lines[spine_line + 2][1:], float)  # its OFFSET: straight up from the hips in the rest pose
    assert spine[1] > 5 and abs(spine[0]) < 1e-2 and abs(spine[2]) < 1e-2, spine  # in centimetres
    assert [o.name for o in scene.objects] == ["Mocap"] and len(bpy.data.armatures) == 1  # no copy left behind


def test_exporting_without_animation_is_a_clear_error(addon, exporter, scene, tmp_path):
    obj = addon.create_armature("Still", LENGTHS, scene.collection)
    with pytest.raises(ValueError, match="no animation"):
        exporter.export_bvh(obj, str(tmp_path / "x.bvh"))
    assert not (tmp_path / "x.bvh").exists()


def test_bvh_units_other_than_cm_or_m_are_a_clear_error(addon, exporter, scene, tmp_path):
    obj = addon.create_armature("Mocap", LENGTHS, scene.collection)
    addon.bake_motion(obj, rigid_motion(frames=3, seed=7)[0], frame_start=1)
    with pytest.raises(ValueError, match="BVH units must be one of"):
        exporter.export_bvh(obj, str(tmp_path / "x.bvh"), units="km")
    assert not (tmp_path / "x.bvh").exists() and [o.name for o in scene.objects] == ["Mocap"]


@pytest.fixture
def rigify():
    """Rigify enabled for one test; left enabled, Blender 4.2's bpy module crashes at interpreter exit."""
    import addon_utils
    addon_utils.enable("rigify", default_set=True)
    yield
    addon_utils.disable("rigify", default_set=True)


def _metarig():
    bpy.ops.object.armature_human_metarig_add()
    bpy.ops.object.mode_set(mode="OBJECT")
    return bpy.context.object


def _mixamo_rig(addon):
    """An armature named like Mixamo's (with its namespace), bones along our rest pose."""
    from core.rotations import rest_pose
    from core.skeleton import FOOT_SKELETON
    rest = rest_pose(FOOT_LENGTHS, FOOT_SKELETON) + np.array([0, 0, 1.0])
    joint = {n: rest[i] for i, n in enumerate(FOOT_SKELETON.names)}
    bones = [("Hips", "pelvis", "spine", None), ("Spine", "pelvis", "spine", "Hips"),
             ("Spine1", "spine", "thorax", "Spine"), ("Neck", "thorax", "neck_nose", "Spine1"),
             ("Head", "neck_nose", "head", "Neck")]
    for side, s in (("Left", "left"), ("Right", "right")):
        bones += [(f"{side}UpLeg", f"{s}_hip", f"{s}_knee", "Hips"), (f"{side}Leg", f"{s}_knee", f"{s}_ankle", f"{side}UpLeg"),
                  (f"{side}Shoulder", "thorax", f"{s}_shoulder", "Spine1"),
                  (f"{side}Arm", f"{s}_shoulder", f"{s}_elbow", f"{side}Shoulder"),
                  (f"{side}ForeArm", f"{s}_elbow", f"{s}_wrist", f"{side}Arm"),
                  (f"{side}Foot", f"{s}_ankle", f"{s}_ball", f"{side}Leg"),
                  (f"{side}ToeBase", f"{s}_ball", f"{s}_toe", f"{side}Foot")]
    armature = bpy.data.armatures.new("mixamo")
    obj = bpy.data.objects.new("mixamo", armature)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    for name, head, tail, parent in bones:
        eb = armature.edit_bones.new(f"mixamorig:{name}")
        eb.head, eb.tail = joint[head].tolist(), (joint[tail] + (0 if name != "Hips" else 0)).tolist()
        if name == "Hips":
            eb.tail = (joint["pelvis"] + np.array([0, 0, 0.1])).tolist()
        if parent:
            eb.parent = armature.edit_bones[f"mixamorig:{parent}"]
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj


@pytest.mark.parametrize("rig_kind", ["RIGIFY_METARIG", "MIXAMO"])
@pytest.mark.parametrize("feet", [False, True])
def test_bake_onto_existing_rig_points_limbs_along_the_joints(addon, scene, rigify, rig_kind, feet):
    """Every mapped bone points along its segment; with feet the foot and toe bones too, and a motion
    without feet leaves them out (its 17 joints cannot say where the toes are)."""
    from core.retarget import PRESETS, drivable
    from core.skeleton import FOOT_SKELETON
    positions, _ = rigid_motion(frames=15, seed=8, feet=feet)
    obj = _metarig() if rig_kind == "RIGIFY_METARIG" else _mixamo_rig(addon)
    foot_bone = "foot.L" if rig_kind == "RIGIFY_METARIG" else "mixamorig:LeftFoot"
    resting = np.array(obj.pose.bones[foot_bone].matrix_basis)
    addon.bake_onto_rig(obj, positions, PRESETS[rig_kind], frame_start=1)
    sk = FOOT_SKELETON
    mapping = drivable(PRESETS[rig_kind], positions.shape[1])
    assert ("LeftFoot" in mapping or "foot.L" in mapping) == feet
    scene.frame_set(9)
    turned = not np.allclose(np.array(obj.pose.bones[foot_bone].matrix_basis), resting, atol=1e-4)
    assert turned == feet
    starting_at = {rule.split(">")[0]: bone for bone, rule in mapping.items() if ">" in rule}

    def pose_bone(bone):
        return obj.pose.bones[bone if bone in obj.pose.bones else f"mixamorig:{bone}"]

    for frame in (1, 9):
        scene.frame_set(frame)
        for bone, rule in mapping.items():
            if ">" not in rule:
                continue
            # the segment ends where the bone mapped to the next segment starts (a spine of
            # several bones turns as one), or at the bone's own tail
            end = rule.split(">")[1]
            end_point = pose_bone(starting_at[end]).head if end in starting_at else pose_bone(bone).tail
            direction = np.array(obj.matrix_world @ end_point) - np.array(obj.matrix_world @ pose_bone(bone).head)
            a, b = (sk.index(n) for n in rule.split(">"))
            wanted = positions[frame - 1, b] - positions[frame - 1, a]
            cosine = direction @ wanted / np.linalg.norm(direction) / np.linalg.norm(wanted)
            assert cosine > 0.9999, (bone, cosine)
    # The hips move with the clip's pelvis (scaled to the rig's legs).
    scene.frame_set(1)
    start = np.array(obj.pose.bones[0].head)
    scene.frame_set(15)
    assert np.linalg.norm(np.array(obj.pose.bones[0].head) - start) > 0.01


def test_bake_onto_generated_rigify_rig_moves_its_deforming_bones_along_the_joints(addon, scene, rigify):
    """The generated rig's FK controls hang under constraint-driven helpers; what must follow the
    joints is what Blender evaluates for the bones the mesh deforms with (ORG-/DEF- chains)."""
    from core.retarget import PRESET_SWITCHES, RIGIFY_GENERATED
    _metarig()
    bpy.ops.pose.rigify_generate()
    rig = bpy.context.object
    positions, _ = rigid_motion(frames=12, seed=10)
    # Without the switches the neck follows the chest only half way: refused, nothing changed.
    with pytest.raises(ValueError, match="turns only in part"):
        addon.bake_onto_rig(rig, positions, RIGIFY_GENERATED)
    assert rig.animation_data is None or rig.animation_data.action is None
    assert rig.pose.bones["thigh_parent.L"]["IK_FK"] == 0.0
    addon.bake_onto_rig(rig, positions, RIGIFY_GENERATED, frame_start=1, switches=PRESET_SWITCHES["RIGIFY_GENERATED"])
    assert rig.pose.bones["thigh_parent.L"]["IK_FK"] == 1.0
    sk = addon.SK
    deforming = {"ORG-thigh.L": "left_hip>left_knee", "ORG-shin.R": "right_knee>right_ankle",
                 "ORG-upper_arm.L": "left_shoulder>left_elbow", "ORG-forearm.R": "right_elbow>right_wrist",
                 "DEF-thigh.R": "right_hip>right_knee", "DEF-upper_arm.R": "right_shoulder>right_elbow",
                 "neck": "thorax>neck_nose", "head": "neck_nose>head"}
    for frame in (1, 7, 12):
        scene.frame_set(frame)
        for bone, rule in deforming.items():
            pose_bone = rig.pose.bones[bone]
            direction = np.array(rig.matrix_world @ pose_bone.tail) - np.array(rig.matrix_world @ pose_bone.head)
            a, b = (sk.index(n) for n in rule.split(">"))
            wanted = positions[frame - 1, b] - positions[frame - 1, a]
            cosine = direction @ wanted / np.linalg.norm(direction) / np.linalg.norm(wanted)
            assert cosine > 0.999, (frame, bone, cosine)
    scene.frame_set(1)
    start = np.array(rig.pose.bones["ORG-spine"].head)
    scene.frame_set(12)
    assert np.linalg.norm(np.array(rig.pose.bones["ORG-spine"].head) - start) > 0.01


def test_generated_rigify_mapping_on_a_plain_rig_changes_nothing(addon, scene, rigify):
    from core.retarget import PRESET_SWITCHES, RIGIFY_GENERATED
    obj = _metarig()
    positions, _ = rigid_motion(frames=5, seed=11)
    with pytest.raises(ValueError, match="lacks"):
        addon.bake_onto_rig(obj, positions, RIGIFY_GENERATED, switches=PRESET_SWITCHES["RIGIFY_GENERATED"])
    assert obj.animation_data is None


def test_mapping_with_missing_bones_changes_nothing(addon, scene, rigify):
    from core.retarget import MIXAMO
    obj = _metarig()
    positions, _ = rigid_motion(frames=5, seed=9)
    actions_before = len(bpy.data.actions)
    with pytest.raises(ValueError, match="lacks: .*Hips"):  # the vendored MappingError
        addon.bake_onto_rig(obj, positions, MIXAMO)
    assert len(bpy.data.actions) == actions_before and obj.animation_data is None
