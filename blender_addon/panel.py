"""Sidebar panel in the 3D viewport (N panel, "Mocap" tab)."""
from __future__ import annotations

import bpy


class VIDEOPOSE_PT_main(bpy.types.Panel):
    bl_label = "VideoPose Mocap"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Mocap"

    def draw(self, context):
        s = context.scene.videopose
        layout = self.layout
        box = layout.box()
        box.label(text="Clip")
        box.prop(s, "clip")
        if s.clip is None:
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
        box = layout.box()
        box.label(text="Detection and clean-up")
        box.prop(s, "min_confidence")
        box.prop(s, "flip_augment")
        box.prop(s, "smoothing")
        box.prop(s, "constant_bones")
        box.prop(s, "foot_lock")
        box = layout.box()
        box.label(text="Target")
        box.prop(s, "target")
        if s.target is not None:
            box.prop(s, "mapping")
            if s.mapping == "CUSTOM":
                box.prop(s, "custom_mapping")
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


def register() -> None:
    bpy.utils.register_class(VIDEOPOSE_PT_main)


def unregister() -> None:
    bpy.utils.unregister_class(VIDEOPOSE_PT_main)
