"""Bake lifted motion onto a new armature: Blender glue over ``core.rotations``.

The armature is our 17 joints (with feet, ``FOOT_SKELETON``'s 21: toe bases and toe tips) in a
T-pose with the clip's bone lengths, standing on the floor.
Each pose bone gets the rotation that makes its bone point along the lifted joints, expressed
in Blender's bone-local terms (basis = R_rest^T . local rotation . R_rest); the root bone also
gets its location. Keyframes are written in bulk with ``foreach_set``: through the action's
channelbag on Blender 4.4+ (5.0 has no ``Action.fcurves``), through ``Action.fcurves`` on 4.2.
"""
from __future__ import annotations

import bpy
import numpy as np

from .core.bvh_export import BVH_NAMES
from .core.cleanup import ANKLE_HEIGHT
from .core.rotations import FRAME_JOINTS, global_rotations, local_rotations, rest_pose
from .core.skeleton import FOOT_SKELETON, H36M_SKELETON, Skeleton

SK = H36M_SKELETON
LEAF_LENGTH = 0.08  # metres: bones of end joints (feet, hands, head top) need some length in Blender


def bone_names(skeleton: Skeleton = SK) -> list[str]:
    """The armature's bone names, one per joint of ``skeleton`` (the BVH names)."""
    return [BVH_NAMES[name] for name in skeleton.names]


BONE_NAMES = bone_names(SK)


def skeleton_of(joint_count: int) -> Skeleton:
    """The skeleton of joints (T, ``joint_count``, 3): the 17 joints, or those and the feet."""
    for skeleton in (SK, FOOT_SKELETON):
        if joint_count == skeleton.num_joints:
            return skeleton
    raise ValueError(f"motions have {SK.num_joints} or {FOOT_SKELETON.num_joints} joints, not {joint_count}")


def _bone_tail(rest: np.ndarray, joint: int, skeleton: Skeleton = SK) -> np.ndarray:
    name = skeleton.names[joint]
    children = skeleton.children(joint)
    if name in FRAME_JOINTS:
        return rest[skeleton.index(FRAME_JOINTS[name][0])]
    if len(children) == 1:
        return rest[children[0]]
    direction = rest[joint] - rest[skeleton.parents[joint]]
    return rest[joint] + direction / max(np.linalg.norm(direction), 1e-9) * LEAF_LENGTH


def standing_rest_pose(bone_lengths: np.ndarray, skeleton: Skeleton = SK) -> np.ndarray:
    """T-pose standing on the floor (z = 0): the ankles ANKLE_HEIGHT above it, or with feet, the toes on it."""
    rest = rest_pose(bone_lengths, skeleton)
    rest[:, 2] -= rest[:, 2].min() - (ANKLE_HEIGHT if skeleton is SK else 0.0)
    return rest


def create_armature(name: str, bone_lengths: np.ndarray, collection: bpy.types.Collection,
                    skeleton: Skeleton = SK) -> bpy.types.Object:
    """A new armature object of ``skeleton``'s joints, linked into ``collection`` and made active;
    ``bone_lengths`` one per bone of ``skeleton``."""
    rest = standing_rest_pose(bone_lengths, skeleton)
    names = bone_names(skeleton)
    armature = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, armature)
    collection.objects.link(obj)
    view_layer = bpy.context.view_layer
    view_layer.objects.active = obj
    obj.select_set(True)
    previous_mode = bpy.context.mode
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        for joint, bone_name in enumerate(names):
            bone = armature.edit_bones.new(bone_name)
            bone.head = rest[joint].tolist()
            bone.tail = _bone_tail(rest, joint, skeleton).tolist()
            if skeleton.parents[joint] >= 0:
                bone.parent = armature.edit_bones[names[skeleton.parents[joint]]]
    finally:
        bpy.ops.object.mode_set(mode="OBJECT" if previous_mode != "EDIT_ARMATURE" else "EDIT")
    for pose_bone in obj.pose.bones:
        pose_bone.rotation_mode = "QUATERNION"
    return obj


def matrices_to_quaternions(matrices: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations -> (T, 4) unit quaternions (w, x, y, z), sign-continuous over time."""
    m = matrices
    trace = m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2]
    candidates = np.stack([
        np.stack([1 + trace, m[:, 2, 1] - m[:, 1, 2], m[:, 0, 2] - m[:, 2, 0], m[:, 1, 0] - m[:, 0, 1]], -1),
        np.stack([m[:, 2, 1] - m[:, 1, 2], 1 + m[:, 0, 0] - m[:, 1, 1] - m[:, 2, 2], m[:, 0, 1] + m[:, 1, 0], m[:, 0, 2] + m[:, 2, 0]], -1),
        np.stack([m[:, 0, 2] - m[:, 2, 0], m[:, 0, 1] + m[:, 1, 0], 1 - m[:, 0, 0] + m[:, 1, 1] - m[:, 2, 2], m[:, 1, 2] + m[:, 2, 1]], -1),
        np.stack([m[:, 1, 0] - m[:, 0, 1], m[:, 0, 2] + m[:, 2, 0], m[:, 1, 2] + m[:, 2, 1], 1 - m[:, 0, 0] - m[:, 1, 1] + m[:, 2, 2]], -1),
    ], axis=1)                                                        # (T, 4 candidates, 4)
    best = np.argmax(np.stack([trace, m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]], -1), axis=1)
    q = candidates[np.arange(len(m)), best]
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    for t in range(1, len(q)):
        if np.dot(q[t], q[t - 1]) < 0:
            q[t] = -q[t]
    return q


def _channel_fcurves(obj: bpy.types.Object, action: bpy.types.Action):
    """A function (data_path, index, group) -> new F-curve, for layered (4.4+) or legacy actions."""
    if hasattr(action, "fcurves"):  # Blender 4.2/4.3
        def new(path, index, group):
            return action.fcurves.new(path, index=index, action_group=group)
        return new
    from bpy_extras import anim_utils
    slot = action.slots.new(id_type="OBJECT", name=obj.name)
    obj.animation_data.action_slot = slot
    channelbag = anim_utils.action_ensure_channelbag_for_slot(action, slot)

    def new(path, index, group):
        return channelbag.fcurves.new(path, index=index, group_name=group)
    return new


def write_keyframes(obj: bpy.types.Object, action_name: str, frame_start: int,
                    channels: dict[tuple[str, int, str], np.ndarray]) -> bpy.types.Action:
    """A new action on ``obj`` with one linear F-curve per (data path, index, group): values (T,).

    An action an earlier bake left on ``obj`` (marked ``videopose``) that nothing else uses is
    removed, so baking again leaves no orphan actions behind, and the new one takes its name.
    """
    if obj.animation_data is None:
        obj.animation_data_create()
    earlier = obj.animation_data.action
    action = bpy.data.actions.new(action_name)
    action["videopose"] = True
    obj.animation_data.action = action
    if earlier is not None and earlier.get("videopose") and earlier.users == 0:
        name = earlier.name
        bpy.data.actions.remove(earlier)
        action.name = name
    new_fcurve = _channel_fcurves(obj, action)
    for (path, index, group), values in channels.items():
        frames = frame_start + np.arange(len(values), dtype=np.float64)
        fcurve = new_fcurve(path, index, group)
        fcurve.keyframe_points.add(len(values))
        fcurve.keyframe_points.foreach_set("co", np.column_stack([frames, values]).ravel().astype(np.float32))
        fcurve.keyframe_points.foreach_set("interpolation", np.full(len(values), 1, np.int32))  # LINEAR
        fcurve.update()
    return action


def bake_motion(obj: bpy.types.Object, joints_world: np.ndarray, frame_start: int = 1,
                action_name: str = "VideoPoseMotion") -> bpy.types.Action:
    """Keyframe the armature made by :func:`create_armature` so its joints follow ``joints_world`` (T, J, 3):
    the 17 joints, or with feet ``FOOT_SKELETON``'s 21 (the armature's skeleton)."""
    skeleton = skeleton_of(np.shape(joints_world)[1])
    names = bone_names(skeleton)
    inverse_world = np.linalg.inv(np.array(obj.matrix_world))
    joints = np.asarray(joints_world, dtype=np.float64) @ inverse_world[:3, :3].T + inverse_world[:3, 3]
    bones = obj.data.bones
    missing = [name for name in names if name not in bones]
    if missing:
        raise ValueError(f"{obj.name} lacks the bones {', '.join(missing)} this motion drives")
    rest_heads = np.array([bones[name].head_local for name in names])
    rest_rotations = np.array([np.array(bones[name].matrix_local)[:3, :3] for name in names])
    local = local_rotations(global_rotations(joints, rest_heads, skeleton), skeleton)
    channels: dict[tuple[str, int, str], np.ndarray] = {}
    for joint, name in enumerate(names):
        r = rest_rotations[joint]
        basis = r.T @ local[:, joint] @ r
        quaternions = matrices_to_quaternions(basis)
        path = f'pose.bones["{name}"].rotation_quaternion'
        for index in range(4):
            channels[(path, index, name)] = quaternions[:, index]
    root = names[0]
    location = (joints[:, 0] - rest_heads[0]) @ rest_rotations[0]
    for index in range(3):
        channels[(f'pose.bones["{root}"].location', index, root)] = location[:, index]
    return write_keyframes(obj, action_name, frame_start, channels)


def target_bones(obj: bpy.types.Object) -> list:
    """The rig's bones in parent-first order, as ``core.retarget.TargetBone`` (armature space)."""
    from .core.retarget import TargetBone

    ordered, seen = [], set()

    def visit(bone):
        ordered.append(bone)
        seen.add(bone.name)
        for child in bone.children:
            visit(child)

    for bone in obj.data.bones:
        if bone.parent is None:
            visit(bone)
    index = {bone.name: i for i, bone in enumerate(ordered)}
    return [TargetBone(bone.name, index[bone.parent.name] if bone.parent else -1,
                       np.array(bone.matrix_local)[:3, :3], np.array(bone.head_local), np.array(bone.tail_local))
            for bone in ordered]


def _posed_rotations(obj: bpy.types.Object, names: list[str]) -> np.ndarray:
    """Evaluated armature-space rotations (N, 3, 3) of pose bones, scale removed."""
    bpy.context.view_layer.update()
    rotations = np.array([np.array(obj.pose.bones[name].matrix)[:3, :3] for name in names])
    return rotations / np.linalg.norm(rotations, axis=1, keepdims=True)


def measure_parent_follow(obj: bpy.types.Object, bones: list, resolved: dict[int, str]) -> dict:
    """For every unmapped parent of a mapped bone, which mapped bone it turns with (or none), measured.

    Rigs like a generated Rigify rig hang their controls under helper bones that constraints and
    drivers move, so the hierarchy alone does not say how a control's parent turns. Each mapped
    bone is turned in turn (the rig's own pose and animation are restored afterwards) and the
    helpers' evaluated rotations are compared. Raises MappingError for a helper that follows only
    in part (for example a Rigify follow slider at 0.5).
    """
    from mathutils import Matrix

    from .core.retarget import MappingError, ParentFollow

    helpers = sorted({bones[b].parent for b in resolved if bones[b].parent >= 0 and bones[b].parent not in resolved})
    if not helpers:
        return {}
    mapped = sorted(resolved)
    names = [bones[i].name for i in helpers + mapped]
    pose = obj.pose.bones
    saved = {b: pose[bones[b].name].matrix_basis.copy() for b in mapped}
    animation = obj.animation_data
    saved_action = animation.action if animation else None
    saved_slot = getattr(animation, "action_slot", None) if animation else None
    turn = Matrix.Rotation(0.6, 4, (0.3, 0.5, 0.8))
    try:
        if animation:
            animation.action = None  # so that the probe poses are not overwritten by the animation
        for b in mapped:
            pose[bones[b].name].matrix_basis = Matrix.Identity(4)
        still = _posed_rotations(obj, names)
        candidates: dict[int, list[int]] = {h: [] for h in helpers}
        for b in mapped:
            pose[bones[b].name].matrix_basis = turn
            turned = _posed_rotations(obj, names)
            pose[bones[b].name].matrix_basis = Matrix.Identity(4)
            turns = turned @ np.swapaxes(still, -1, -2)
            turn_of_mapped = turns[len(helpers) + mapped.index(b)]
            for k, h in enumerate(helpers):
                if np.allclose(turns[k], np.eye(3), atol=1e-4):
                    continue
                if not np.allclose(turns[k], turn_of_mapped, atol=1e-4):
                    raise MappingError(f"bone {bones[h].name!r} (the parent of a mapped bone) turns only in part "
                                       f"with {bones[b].name!r}; set the rig's follow/switch sliders to 0 or 1")
                candidates[h].append(b)
    finally:
        for b, matrix in saved.items():
            pose[bones[b].name].matrix_basis = matrix
        if animation:
            animation.action = saved_action
            if saved_slot is not None:
                animation.action_slot = saved_slot
        bpy.context.view_layer.update()
    depth = {b: len(obj.data.bones[bones[b].name].parent_recursive) for b in mapped}
    return {h: ParentFollow(max(followed, key=depth.get) if followed else -1,
                            still[k] @ bones[h].rest_rotation.T)
            for k, (h, followed) in enumerate(candidates.items())}


def apply_switches(obj: bpy.types.Object, switches: dict[str, dict[str, float]]) -> dict:
    """Set a preset's rig switches (custom properties of pose bones); returns the old values to restore."""
    from .core.retarget import MappingError

    missing = [f"{bone}[{key!r}]" for bone, values in switches.items() for key in values
               if bone not in obj.pose.bones or key not in obj.pose.bones[bone]]
    if missing:
        raise MappingError(f"{obj.name} lacks the switches this mapping needs ({', '.join(missing)}); "
                           "is it a rig generated by Rigify?")
    old = {bone: {key: obj.pose.bones[bone][key] for key in values} for bone, values in switches.items()}
    for bone, values in switches.items():
        for key, value in values.items():
            obj.pose.bones[bone][key] = value
    return old


def root_scale(obj: bpy.types.Object, bones: list, resolved: dict[int, str], joints_world: np.ndarray) -> float:
    """The rig's leg over the person's, both in world units: measured from bone heads (never
    tails), through the object's scale (a 0.01-scaled centimetre rig measures the same)."""
    from .core.retarget import leg_length, person_leg_length

    theirs = leg_length(bones, resolved)
    ours = person_leg_length(np.asarray(joints_world, dtype=np.float64))
    if theirs is None or ours < 1e-6:
        return 1.0
    object_scale = float(np.cbrt(abs(np.linalg.det(np.array(obj.matrix_world)[:3, :3]))))
    return theirs * object_scale / ours


def bake_onto_rig(obj: bpy.types.Object, joints_world: np.ndarray, mapping: dict[str, str], frame_start: int = 1,
                  action_name: str = "VideoPoseMotion", switches: dict | None = None,
                  keep_rig_size: bool = True) -> bpy.types.Action:
    """Keyframe the mapped bones of an existing rig (see ``core.retarget``); raises MappingError before changing anything.

    ``switches`` are rig settings the mapping needs (``core.retarget.PRESET_SWITCHES``), set first.
    The rig starts where the person stood; with ``keep_rig_size`` its root motion is scaled by
    its leg length over the person's (feet stay on the floor, strides fit its legs), else the
    person's own distances are kept.
    """
    from .core.retarget import drivable, root_path, resolve_mapping, solve

    bones = target_bones(obj)
    resolved = resolve_mapping(drivable(mapping, np.shape(joints_world)[1]), [b.name for b in bones])
    old_switches = apply_switches(obj, switches or {})
    try:
        parent_follow = measure_parent_follow(obj, bones, resolved)
        joints_world = np.asarray(joints_world, dtype=np.float64)
        scale = root_scale(obj, bones, resolved, joints_world) if keep_rig_size else 1.0
        pelvis_world = root_path(joints_world[:, 0], scale)
        inverse_world = np.linalg.inv(np.array(obj.matrix_world))
        joints = joints_world @ inverse_world[:3, :3].T + inverse_world[:3, 3]
        pelvis = pelvis_world @ inverse_world[:3, :3].T + inverse_world[:3, 3]
        basis, root, location = solve(joints, bones, resolved, parent_follow, pelvis)
    except Exception:
        apply_switches(obj, old_switches)
        raise
    channels: dict[tuple[str, int, str], np.ndarray] = {}
    for b in basis:  # the mapped bones, and the twist bones that share their limbs' twist
        name = bones[b].name
        quaternions = matrices_to_quaternions(basis[b])
        path = f'pose.bones["{name}"].rotation_quaternion'
        for index in range(4):
            channels[(path, index, name)] = quaternions[:, index]
        obj.pose.bones[name].rotation_mode = "QUATERNION"
    for index in range(3):
        channels[(f'pose.bones["{bones[root].name}"].location', index, bones[root].name)] = location[:, index]
    return write_keyframes(obj, action_name, frame_start, channels)
