"""Add-on preferences: the model file and default options."""
from __future__ import annotations

import os

import bpy

BUNDLED_MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "core", "weights", "default.npz")


class VideoPosePreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    model_path: bpy.props.StringProperty(name="Model file", subtype="FILE_PATH", default="",
                                         description="Lifter weights (.npz); empty uses the bundled model")
    default_fov: bpy.props.FloatProperty(name="Default field of view", default=60.0, min=10.0, max=150.0,
                                         description="Horizontal field of view used when the camera is unknown")

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "model_path")
        layout.prop(self, "default_fov")


def preferences(context) -> VideoPosePreferences | None:
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon else None


def model_path(context) -> str:
    prefs = preferences(context)
    chosen = bpy.path.abspath(prefs.model_path) if prefs and prefs.model_path else ""
    return chosen or BUNDLED_MODEL


def user_cache_folder() -> str:
    """Detections and results live under the extension's user folder, not next to the add-on."""
    try:
        return bpy.utils.extension_path_user(__package__, path="cache", create=True)
    except (ValueError, AttributeError):  # loaded as a legacy add-on
        folder = os.path.join(bpy.utils.user_resource("DATAFILES", path="videopose_mocap", create=True), "cache")
        os.makedirs(folder, exist_ok=True)
        return folder


def register() -> None:
    bpy.utils.register_class(VideoPosePreferences)


def unregister() -> None:
    bpy.utils.unregister_class(VideoPosePreferences)
