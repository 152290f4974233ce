"""Retargeting onto the rig corpus (``training.rig_corpus``): limb and hinge errors, feet, root scale,
and a contact sheet per rig (Workbench renders at 4 frames) for a person to look at.

Each rig is baked through the add-on as the built extension vendors it, with two motions: the
corpus walk (knees and elbows bent by known amounts, turning 30 degrees) and, with ``--data``, a
held-out mocap clip (the first 300 frames of the first ``test_actor`` clip). Run with the full
environment (bpy): ``python -m training.bench_retarget --data runs/data/mocap.npz --out results/bench/retarget``.
"""
from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from training.reports import print_and_save  # noqa: E402

SHEET_FRAMES = 4
SHEET_SIZE = 360


def held_out_clip(data: str, frames: int = 300) -> np.ndarray:
    """The first frames of the first test-actor clip, standing on the floor (z = 0)."""
    from training.datasets import load_clips
    clip = load_clips(data, ("test_actor",))[0]
    joints = np.asarray(clip.positions[:frames], dtype=np.float64)
    return joints - np.array([0.0, 0.0, joints[..., 2].min() - 0.08])


def _add_markers(bpy, joints: np.ndarray, frames: list[int]) -> None:
    """Small red balls where the lifted joints are, keyed at the rendered frames only."""
    material = bpy.data.materials.new("target")
    material.diffuse_color = (0.9, 0.1, 0.1, 1.0)
    mesh = bpy.data.meshes.new("marker")
    import bmesh
    shape = bmesh.new()
    bmesh.ops.create_icosphere(shape, subdivisions=1, radius=0.03)
    shape.to_mesh(mesh)
    shape.free()
    mesh.materials.append(material)
    for j in range(joints.shape[1]):
        marker = bpy.data.objects.new(f"target_{j}", mesh)
        bpy.context.scene.collection.objects.link(marker)
        for t in frames:
            marker.location = joints[t, j].tolist()
            marker.keyframe_insert("location", frame=1 + t)


def contact_sheet(bpy, rig, joints: np.ndarray, scale: float, path: str) -> None:
    """Renders of the baked rig (grey) with the lifted joints (red, scaled to the rig as its root
    motion is) at SHEET_FRAMES frames, side by side."""
    import cv2
    from mathutils import Matrix

    from core.camera import look_at_rotation
    from training.rig_corpus.build import skin_segments

    scene = bpy.context.scene
    skin = skin_segments(rig.obj, deforming_only=True)
    grey = bpy.data.materials.new("rig")
    grey.diffuse_color = (0.75, 0.75, 0.75, 1.0)
    skin.data.materials.append(grey)
    from core.retarget import root_path
    frames = np.linspace(0, len(joints) - 1, SHEET_FRAMES).round().astype(int).tolist()
    pelvis = joints[:, :1]
    joints = root_path(joints[:, 0], scale)[:, None] + scale * (joints - pelvis)
    _add_markers(bpy, joints, frames)
    scene.world = bpy.data.worlds.new("light")
    scene.world.color = (0.8, 0.8, 0.8)
    camera = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
    scene.collection.objects.link(camera)
    scene.camera = camera
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "STUDIO"
    scene.display.shading.color_type = "MATERIAL"
    scene.render.resolution_x = scene.render.resolution_y = SHEET_SIZE
    scene.render.image_settings.file_format = "PNG"
    images = []
    with tempfile.TemporaryDirectory() as folder:
        for t in frames:
            scene.frame_set(1 + t)
            target = joints[t, 0]
            eye = target + np.array([2.2, -3.0, 0.4])
            rotation = look_at_rotation(eye, target, np.array([0.0, 0.0, 1.0])) @ np.diag([1.0, -1.0, -1.0])
            matrix = np.eye(4)
            matrix[:3, :3], matrix[:3, 3] = rotation, eye
            camera.matrix_world = Matrix(matrix.tolist())
            scene.render.filepath = os.path.join(folder, f"{t}.png")
            bpy.ops.render.render(write_still=True)
            image = cv2.imread(scene.render.filepath)
            cv2.putText(image, f"frame {t}", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (20, 20, 20), 1, cv2.LINE_AA)
            images.append(image)
    sheet = np.concatenate(images, axis=1)
    cv2.putText(sheet, rig.name, (8, SHEET_SIZE - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (20, 20, 20), 1, cv2.LINE_AA)
    cv2.imwrite(path, sheet)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="prepared clips (python -m training.prepare_data), optional")
    parser.add_argument("--out", default=os.path.join(ROOT, "results", "bench", "retarget"),
                        help="where the contact sheets go")
    parser.add_argument("--quick", action="store_true", help="every 8th frame measured, no contact sheets")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    import bpy  # first: it makes Blender's own modules (addon_utils) importable
    import addon_utils

    from training.rig_corpus.build import CORPUS, available, build as build_rig, built_addon_bake
    from training.rig_corpus.measure import measure
    from training.rig_corpus.motion import walk

    started = time.perf_counter()
    folder = tempfile.mkdtemp(prefix="bench_retarget_")
    atexit.register(shutil.rmtree, folder, True)  # the rigs built for measuring: hundreds of MB
    addon = built_addon_bake()
    addon_utils.enable("rigify", default_set=True)
    motions = {"walk": walk(120, turn_deg=30, feet=True)}   # with rolling feet: foot and toe bones measured too
    if args.data:
        motions["held_out_mocap"] = held_out_clip(args.data)
    os.makedirs(args.out, exist_ok=True)
    rows = []
    for motion_name, joints in motions.items():
        step = 8 if args.quick else 2
        for name in [n for n in CORPUS if available(n)]:
            bpy.ops.wm.read_factory_settings(use_empty=True)
            rig = build_rig(name, folder)
            figures = measure(rig, joints, addon, frames=list(range(0, len(joints), step)))
            figures["motion"] = motion_name
            if motion_name == "walk" and not args.quick:
                sheet = os.path.join(args.out, f"{name}.png")
                contact_sheet(bpy, rig, joints, figures["root_scale_intended"], sheet)
                figures["contact_sheet"] = os.path.relpath(sheet, ROOT)
            rows.append(figures)
            print(json.dumps(figures), flush=True)
    hinge = [r["hinge_error_median_deg"] for r in rows if r["hinge_error_median_deg"] is not None]
    report = {
        "rigs": rows, "seconds": round(time.perf_counter() - started, 1),
        "keys": {
            "retarget_max_limb_direction_error_deg": max(r["limb_direction_error_max_deg"] for r in rows),
            "retarget_max_foot_direction_error_deg": max(r["foot_direction_error_max_deg"] for r in rows
                                                         if r["foot_direction_error_max_deg"] is not None),
            "retarget_median_hinge_error_deg": round(float(np.median(hinge)), 3),
            "retarget_max_root_scale_error_pct": max(r["root_scale_error_pct"] for r in rows),
            "retarget_lowest_ankle_m": min(r["lowest_ankle_m"] for r in rows),
            "retarget_rigs": len({r["rig"] for r in rows}),
        },
        "unavailable": [n for n in CORPUS if not available(n)],
    }
    return print_and_save(report, args.json)


if __name__ == "__main__":
    main()
