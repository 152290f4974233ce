"""Export a baked armature through Blender's own BVH and FBX exporters with settings that keep the motion exact."""
from __future__ import annotations

import math

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


def _y_up_copy(obj: bpy.types.Object) -> bpy.types.Object:
    """A temporary copy of the armature turned from Blender's Z-up into BVH's usual Y-up (X -90 degrees,
    applied to its bones). Pose keys are relative to the bones' rest, so the same action drives it."""
    from mathutils import Matrix

    copy = obj.copy()
    copy.data = obj.data.copy()
    bpy.context.scene.collection.objects.link(copy)
    copy.matrix_world = Matrix.Rotation(-math.pi / 2, 4, "X") @ obj.matrix_world
    _select_only(copy)
    bpy.ops.object.transform_apply(location=False, rotation=True, scale=False)
    return copy


BVH_UNITS = {"cm": 100.0, "m": 1.0}  # the command line's --bvh-units; centimetres by default in both


def export_bvh(obj: bpy.types.Object, path: str, y_up: bool = True, units: str = "cm") -> str:
    """All baked frames, native rotation orders, every bone (not only the root).

    Blender's BVH exporter writes the armature's own space, Z-up. BVH readers (and Blender's own
    importer, by default) expect Y-up, so by default a temporary Y-up copy is exported instead.
    Lengths are written in ``units`` (centimetres, as most BVH files and the command line's
    ``motion.bvh``; import with scale 0.01 to get metres back).
    """
    if obj.type != "ARMATURE":
        raise ValueError(f"{obj.name} is not an armature")
    if units not in BVH_UNITS:
        raise ValueError(f"BVH units must be one of {sorted(BVH_UNITS)}, not {units!r}")
    start, end = _frame_range(obj)
    exported = _y_up_copy(obj) if y_up else obj
    try:
        _select_only(exported)
        result = bpy.ops.export_anim.bvh(filepath=path, check_existing=False, frame_start=start, frame_end=end,
                                         rotate_mode="NATIVE", root_transform_only=False,
                                         global_scale=BVH_UNITS[units])
    finally:
        if exported is not obj:
            armature = exported.data
            bpy.data.objects.remove(exported)
            bpy.data.armatures.remove(armature)
            obj.select_set(True)
            bpy.context.view_layer.objects.active = obj
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
