"""Export a baked armature through Blender's own BVH and FBX exporters with settings that keep the motion exact."""
from __future__ import annotations

import bpy


def _select_only(obj: bpy.types.Object) -> None:
    for other in bpy.context.view_layer.objects:
        other.select_set(False)
    obj.select_set(True)
    bpy.context.view_layer.objects.active = obj


def _frame_range(obj: bpy.types.Object) -> tuple[int, int]:
    action = obj.animation_data.action if obj.animation_data else None
    if action is None:
        raise ValueError(f"{obj.name} has no animation to export; bake first")
    start, end = action.frame_range
    return int(round(start)), int(round(end))


def export_bvh(obj: bpy.types.Object, path: str) -> str:
    """All baked frames, native rotation orders, every bone (not only the root)."""
    if obj.type != "ARMATURE":
        raise ValueError(f"{obj.name} is not an armature")
    start, end = _frame_range(obj)
    _select_only(obj)
    result = bpy.ops.export_anim.bvh(filepath=path, check_existing=False, frame_start=start, frame_end=end,
                                     rotate_mode="NATIVE", root_transform_only=False)
    if "FINISHED" not in result:
        raise RuntimeError(f"BVH export failed: {result}")
    return path


def export_fbx(obj: bpy.types.Object, path: str) -> str:
    """The armature alone, animation baked on every frame, no leaf bones, no key reduction."""
    if obj.type != "ARMATURE":
        raise ValueError(f"{obj.name} is not an armature")
    start, end = _frame_range(obj)
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = start, end
    _select_only(obj)
    result = bpy.ops.export_scene.fbx(filepath=path, check_existing=False, use_selection=True,
                                      object_types={"ARMATURE"}, add_leaf_bones=False, bake_anim=True,
                                      bake_anim_use_all_bones=True, bake_anim_use_nla_strips=False,
                                      bake_anim_use_all_actions=False, bake_anim_force_startend_keying=True,
                                      bake_anim_step=1.0, bake_anim_simplify_factor=0.0)
    if "FINISHED" not in result:
        raise RuntimeError(f"FBX export failed: {result}")
    return path
