"""Blender-side speed: baking 10,000 frames, and the whole Video to Animation flow on the demo clip.

    python -m training.bench_bake --data runs/data/mocap.npz

Runs in the bpy module with the built extension installed into a throwaway user folder:
bakes 10,000 frames of held-out mocap onto a new armature, onto Blender's Human (Rigify)
meta-rig and onto the rig Rigify generates from it, then runs the add-on's Video to Animation operator on the demo clip (detection not
cached). Prints seconds for each.
"""
from __future__ import annotations

import argparse
import atexit
import os
import shutil
import sys
import tempfile
import time

if "BLENDER_USER_RESOURCES" not in os.environ:  # Blender's user folder: a throwaway one, removed at exit
    os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="videopose_bench_user_")
    atexit.register(shutil.rmtree, os.environ["BLENDER_USER_RESOURCES"], True)

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from training.reports import print_and_save  # noqa: E402

DEMO = os.path.join(ROOT, "data", "demo", "demo.mp4")


def ten_thousand_frames(data: str, frames: int) -> np.ndarray:
    from training.datasets import load_clips
    clips = load_clips(data, ("test_actor",))
    joined = np.concatenate([c.positions for c in clips])
    if len(joined) < frames:
        joined = np.concatenate([joined] * (frames // len(joined) + 1))
    return joined[:frames].astype(np.float64)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="prepared clips (python -m training.prepare_data)")
    parser.add_argument("--flow-only", action="store_true", help="only Video to Animation on the demo clip")
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--flow-frames", type=int, default=0, help="demo frames for the flow (0: all)")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if not args.flow_only and not args.data:
        parser.error("--data is needed for the bakes (or give --flow-only)")

    import bpy  # first: it makes Blender's own modules (addon_utils) importable
    import addon_utils

    import build
    from core.retarget import PRESET_SWITCHES, RIGIFY_GENERATED, RIGIFY_METARIG
    from core.skeleton import H36M_SKELETON

    bpy.ops.wm.read_factory_settings(use_empty=True)
    with tempfile.TemporaryDirectory(prefix="videopose_dist_") as dist:
        archive = build.build(dist)
        bpy.ops.extensions.package_install_files(filepath=str(archive), repo="user_default", enable_on_install=True)
    package = next(name for name in sys.modules if name.endswith("videopose_mocap.bake"))
    bake = sys.modules[package]

    scene = bpy.context.scene
    report = {"frames": args.frames}
    if args.flow_only:
        return video_to_animation(bpy, scene, args, report)
    motion = ten_thousand_frames(args.data, args.frames)
    started = time.perf_counter()
    lengths = np.median(H36M_SKELETON.bone_lengths(motion), axis=0)
    obj = bake.create_armature("Bench", lengths, scene.collection)
    bake.bake_motion(obj, motion)
    report["bake_new_armature_s"] = round(time.perf_counter() - started, 3)

    addon_utils.enable("rigify", default_set=True)
    bpy.ops.object.armature_human_metarig_add()
    bpy.ops.object.mode_set(mode="OBJECT")
    metarig = bpy.context.object
    started = time.perf_counter()
    bake.bake_onto_rig(metarig, motion, RIGIFY_METARIG)
    report["bake_rigify_metarig_s"] = round(time.perf_counter() - started, 3)

    bpy.ops.pose.rigify_generate()
    generated = bpy.context.object
    started = time.perf_counter()
    bake.bake_onto_rig(generated, motion, RIGIFY_GENERATED, switches=PRESET_SWITCHES["RIGIFY_GENERATED"])
    report["bake_rigify_generated_s"] = round(time.perf_counter() - started, 3)

    return video_to_animation(bpy, scene, args, report)


def video_to_animation(bpy, scene, args, report: dict) -> dict:
    """The add-on's Video to Animation on the demo clip (detection, lifting and bake), timed; then the report."""
    if os.path.isfile(DEMO):
        for o in list(bpy.data.objects):
            bpy.data.objects.remove(o)
        settings = scene.videopose
        settings.video_path = DEMO
        settings.frame_start, settings.frame_end = 0, args.flow_frames
        started = time.perf_counter()
        result = bpy.ops.videopose.video_to_animation()
        report["video_to_animation_s"] = round(time.perf_counter() - started, 2)
        report["video_to_animation_result"] = sorted(result)
        action = next(o for o in bpy.data.objects if o.type == "ARMATURE").animation_data.action
        report["demo_frames_baked"] = int(action.frame_range[1] - action.frame_range[0] + 1)
    return print_and_save(report, args.json)


if __name__ == "__main__":
    main()
