"""Sidebar panels ("Mocap" tab) in the 3D viewport and in the Movie Clip editor, which share one layout."""
from __future__ import annotations

import bpy


class _MocapPanel:
    bl_label = "VideoPose Mocap"
    bl_region_type = "UI"
    bl_category = "Mocap"

    def draw(self, context):
        s = context.scene.videopose
        layout = self.layout
        box = layout.box()
        box.label(text="Clip")
        box.prop(s, "clip")
        editor_clip = getattr(context.space_data, "clip", None)
        if s.clip is None and editor_clip is not None:
            box.label(text=f"Using this editor's clip: {editor_clip.name}", icon="SEQUENCE")
        elif s.clip is None:
            box.prop(s, "video_path")
        row = box.row(align=True)
        row.prop(s, "frame_start")
        row.prop(s, "frame_end")
        box = layout.box()
        box.label(text="Camera")
        box.prop(s, "camera_mode")
        if s.camera_mode == "FOV":
            box.prop(s, "fov")
        elif s.camera_mode == "FOCAL":
            box.prop(s, "focal_mm")
            box.prop(s, "sensor_mm")
        box.prop(s, "tripod")
        if s.tripod:
            box.prop(s, "camera_pitch")
            box.prop(s, "camera_height")
        box = layout.box()
        box.label(text="Detection and clean-up")
        for name in ("detector", "min_confidence", "flip_augment", "detector_3d", "smoothing", "constant_bones",
                     "foot_lock", "repair_swaps", "in_place"):
            box.prop(s, name)
        box = layout.box()
        box.label(text="People")
        box.prop(s, "person")
        if s.person == "ID":
            box.prop(s, "person_id")
        box.prop(s, "all_people")
        box.prop(s, "height_m")
        from .operators import RESULTS  # the tracks of the last detection, listed to choose from
        stored = RESULTS.get(context.scene.name, {})
        for track in stored.get("tracks", []):
            row = box.row(align=True)
            chosen = track["id"] == stored.get("chosen")
            row.label(text=f"{track['id']}: frames {track['first_frame']}-{track['last_frame']} "
                           f"({track['frames']} seen), {track['mean_size_px']:.0f} px",
                      icon="CHECKMARK" if chosen else "USER")
            row.operator("videopose.pick_person", text="", icon="RESTRICT_SELECT_OFF").person_id = track["id"]
        if stored.get("tracks"):
            box.operator("videopose.show_people", icon="IMAGE_DATA")
        box = layout.box()
        box.label(text="Target")
        box.prop(s, "target")
        if s.target is not None:
            box.prop(s, "mapping")
            if s.mapping == "CUSTOM":
                box.prop(s, "custom_mapping")
            box.prop(s, "keep_rig_size")
            box.operator("videopose.mapping_template")
        layout.operator("videopose.video_to_animation", icon="PLAY")
        row = layout.row(align=True)
        row.operator("videopose.detect")
        row.operator("videopose.lift")
        row.operator("videopose.bake")
        row = layout.row(align=True)
        row.operator("videopose.export_bvh")
        row.operator("videopose.export_fbx")
        if s.status:
            layout.label(text=s.status, icon="INFO")


class VIDEOPOSE_PT_main(_MocapPanel, bpy.types.Panel):
    bl_space_type = "VIEW_3D"


class VIDEOPOSE_PT_clip_editor(_MocapPanel, bpy.types.Panel):
    bl_space_type = "CLIP_EDITOR"


CLASSES = (VIDEOPOSE_PT_main, VIDEOPOSE_PT_clip_editor)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
