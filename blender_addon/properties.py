"""Per-scene settings shown in the panel."""
from __future__ import annotations

import bpy



def _is_armature(self, obj) -> bool:
    return obj.type == "ARMATURE"


class VideoPoseSettings(bpy.types.PropertyGroup):
    clip: bpy.props.PointerProperty(name="Movie clip", type=bpy.types.MovieClip,
                                    description="A loaded movie clip (or give a file below)")
    video_path: bpy.props.StringProperty(name="Video file", subtype="FILE_PATH")
    camera_mode: bpy.props.EnumProperty(name="Camera", items=[
        ("DEFAULT", "Unknown", "Use the default field of view from the preferences"),
        ("FOV", "Field of view", "Horizontal field of view in degrees"),
        ("FOCAL", "Focal length", "Lens focal length and sensor width in millimetres")], default="DEFAULT")
    fov: bpy.props.FloatProperty(name="Field of view", default=60.0, min=10.0, max=150.0)
    focal_mm: bpy.props.FloatProperty(name="Focal length (mm)", default=26.0, min=1.0, max=1000.0)
    sensor_mm: bpy.props.FloatProperty(name="Sensor width (mm)", default=36.0, min=1.0, max=100.0)
    detector: bpy.props.EnumProperty(name="2D detector", default="tasks-full", items=[
        ("tasks-full", "BlazePose full", "mediapipe's pose landmarker, full model (bundled)"),
        ("tasks-heavy", "BlazePose heavy", "The heavy model: about a third less 2D error, about half the speed"),
        ("solutions", "BlazePose (legacy API)", "mediapipe's older solutions API (mediapipe 0.10 only)")])
    person: bpy.props.EnumProperty(name="Person", default="longest", items=[
        ("longest", "Longest in view", "The person seen in the most frames"),
        ("largest", "Largest", "The person biggest on screen (of those seen for a good while)"),
        ("center", "Nearest the centre", "The person nearest the frame's centre"),
        ("ID", "By id", "The person with the id below (see the people list after Detect 2D)")])
    person_id: bpy.props.IntProperty(name="Person id", default=1, min=1)
    all_people: bpy.props.BoolProperty(name="Animate everyone", default=False,
                                       description="Bake every main person of the clip, one armature each")
    tripod: bpy.props.BoolProperty(name="Known camera placement", default=False,
                                   description="Give the camera's pitch and height instead of estimating them")
    camera_pitch: bpy.props.FloatProperty(name="Pitch (° below the horizon)", default=0.0, min=-80.0, max=80.0)
    camera_height: bpy.props.FloatProperty(name="Height above the floor (m)", default=1.5, min=0.01, max=100.0)
    height_m: bpy.props.FloatProperty(name="Person's height (m)", default=0.0, min=0.0, max=2.5,
                                      description="Sets the motion's metric scale; 0 keeps the lifted size")
    min_confidence: bpy.props.FloatProperty(name="Min. keypoint confidence", default=0.3, min=0.01, max=1.0)
    smoothing: bpy.props.IntProperty(name="Smoothing window", default=9, min=0, max=61,
                                     description="Savitzky-Golay window in frames: odd, 5 or more (0 turns smoothing off)")
    constant_bones: bpy.props.BoolProperty(name="Constant bone lengths", default=True)
    foot_lock: bpy.props.BoolProperty(name="Lock feet on contact", default=True)
    repair_swaps: bpy.props.BoolProperty(name="Repair left/right swaps", default=True,
                                         description="Exchange back left and right limbs where the detector swapped "
                                                     "them (side views) and the lifted 3D agrees")
    in_place: bpy.props.BoolProperty(name="In place", default=False,
                                     description="Keep the person over one spot: no travel across the floor")
    flip_augment: bpy.props.BoolProperty(name="Flip test-time augmentation", default=True)
    detector_3d: bpy.props.FloatProperty(name="Detector's 3D in the arms", default=0.5, min=0.0, max=1.0,
                                         description="Share of the detector's own 3D mixed into the lifted arms "
                                                     "(0: the lifter alone)")
    frame_start: bpy.props.IntProperty(name="First frame", default=0, min=0, description="Of the video, from 0")
    frame_end: bpy.props.IntProperty(name="Last frame", default=0, min=0, description="0 means the end of the video")
    target: bpy.props.PointerProperty(name="Target rig", type=bpy.types.Object, poll=_is_armature,
                                      description="Existing armature to drive; empty creates a new armature")
    mapping: bpy.props.EnumProperty(name="Bone mapping", items=[
        ("RIGIFY_METARIG", "Rigify / Human meta-rig", "Blender's Human meta-rig bone names"),
        ("RIGIFY_GENERATED", "Rigify generated rig", "The FK controls of a rig Rigify generated from the Human "
                                                     "meta-rig (limbs are switched to FK and isolated from the torso)"),
        ("MIXAMO", "Mixamo", "Mixamo bone names (with or without the mixamorig: prefix)"),
        ("MAKEHUMAN", "MakeHuman / MPFB default", "The default MakeHuman rig (with twist bones)"),
        ("GAME_ENGINE", "Game engine (Unreal names)", "pelvis, thigh_l, calf_l, upperarm_l, ... (MPFB game_engine)"),
        ("CMU_MB", "CMU MotionBuilder", "Hips, LeftUpLeg, LeftLeg, LeftArm, ... (MPFB cmu_mb, CMU BVH)"),
        ("CUSTOM", "Custom", "A JSON text you edit: {\"bone\": \"joint>joint\" | \"pelvis_frame\"}")],
        default="RIGIFY_METARIG")
    custom_mapping: bpy.props.PointerProperty(name="Mapping text", type=bpy.types.Text)
    keep_rig_size: bpy.props.BoolProperty(
        name="Keep the rig's size", default=True,
        description="Scale the root motion by the rig's leg length over the person's, so its feet stay on the "
                    "floor; off keeps the person's own distances")
    status: bpy.props.StringProperty(name="Status", default="")


def register() -> None:
    bpy.utils.register_class(VideoPoseSettings)
    bpy.types.Scene.videopose = bpy.props.PointerProperty(type=VideoPoseSettings)


def unregister() -> None:
    del bpy.types.Scene.videopose
    bpy.utils.unregister_class(VideoPoseSettings)
