"""Video -> 3D motion: detect 2D, fill gaps, lift, root motion, world frame, clean-up, export.

    python -m core.pipeline VIDEO --out DIR [--fov 60 | --focal-mm 26 --sensor-mm 36] [--keypoints FILE]

Writes to DIR: ``detections.npz`` (2D cache, reused when re-lifting), ``motion.npz`` (3D joints in
world and camera space, root trajectory, foot contacts, camera pose), ``motion.bvh`` and
``preview.mp4`` (2D skeleton on the frames beside a 3D view).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from .camera import CameraIntrinsics, fit_root_translation, normalize_screen_coordinates
from .cleanup import detect_foot_contacts, enforce_bone_lengths, foot_sliding, lock_feet, smooth
from .detection import MediaPipePoseDetector, detect_video_cached
from .inference import PoseLifter
from .keypoints import KeypointTrack, fill_gaps, load_coco_json, load_openpose_folder
from .skeleton import H36M_SKELETON
from .video import iter_frames, probe
from .world import world_frame

DEFAULT_MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights", "default.npz")
DEFAULT_FOV = 60.0  # degrees, horizontal: a typical phone or action camera


@dataclass
class PipelineOptions:
    model_path: str = DEFAULT_MODEL
    fov_deg: float | None = None
    focal_mm: float | None = None
    sensor_mm: float = 36.0
    keypoints_path: str | None = None        # COCO-style JSON file or OpenPose JSON folder, instead of detecting
    min_confidence: float = 0.3
    flip_augment: bool = True
    smoothing_window: int = 9                # Savitzky-Golay window in frames for the pose; 0 turns smoothing off
    root_smoothing_window: int = 21          # the same for the root: its depth is noisier and changes slowly
    constant_bones: bool = True
    foot_lock: bool = True
    root_from: str = "fit"                   # "fit": least squares with the intrinsics; "network": trajectory model
    preview: bool = True
    bvh_units: str = "cm"
    start_frame: int = 0
    end_frame: int | None = None             # exclusive; None: to the end


@dataclass
class MotionResult:
    joints_world: np.ndarray                 # (T, 17, 3) metres, Z up
    joints_camera: np.ndarray                # (T, 17, 3) metres, camera axes (x right, y down, z forward)
    contacts: np.ndarray                     # (T, 2) left, right ankle on the floor
    camera_rotation: np.ndarray              # (3, 3) camera axes in world
    camera_center: np.ndarray                # (3,)
    intrinsics: CameraIntrinsics
    keypoints: KeypointTrack
    fps: float
    timings: dict = field(default_factory=dict)
    sliding_mm_per_frame: dict = field(default_factory=dict)


def camera_intrinsics(width: int, height: int, options: PipelineOptions) -> CameraIntrinsics:
    if options.focal_mm is not None:
        return CameraIntrinsics.from_focal_mm(width, height, options.focal_mm, options.sensor_mm)
    return CameraIntrinsics.from_fov(width, height, options.fov_deg or DEFAULT_FOV)


def load_keypoints(options: PipelineOptions, width: int, height: int, fps: float) -> KeypointTrack:
    path = options.keypoints_path
    if os.path.isdir(path):
        return load_openpose_folder(path, width, height, fps)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"keypoint file not found: {path}")
    if path.endswith(".npz"):
        return KeypointTrack.load(path)
    return load_coco_json(path, width, height, fps)


def lift_track(track: KeypointTrack, lifter: PoseLifter, options: PipelineOptions) -> MotionResult:
    """Everything after 2D: gap filling, lifting, root, clean-up, world frame, foot locking."""
    timings = {}
    started = time.perf_counter()
    track = fill_gaps(track, options.min_confidence)
    intrinsics = camera_intrinsics(track.width, track.height, options)
    normalized = normalize_screen_coordinates(track.positions, track.width, track.height)
    poses = lifter.lift(normalized, flip_augment=options.flip_augment).astype(np.float64)
    timings["lift_s"] = time.perf_counter() - started
    if options.root_from == "network":
        root = lifter.trajectory(normalized, flip_augment=options.flip_augment).astype(np.float64)
    elif options.root_from == "fit":
        root = fit_root_translation(poses, track.positions, np.where(track.filled, 0.05, track.confidence), intrinsics)
    else:
        raise ValueError("root_from must be 'fit' or 'network'")
    if options.smoothing_window:
        poses = smooth(poses, options.smoothing_window, 2)
        root = smooth(root, max(options.root_smoothing_window, options.smoothing_window), 2)
    if options.constant_bones:
        poses, _ = enforce_bone_lengths(poses)
    joints_camera = poses + root[:, None]
    frame = world_frame(joints_camera)
    joints_world = frame.apply(joints_camera)
    contacts = detect_foot_contacts(joints_world, track.fps)
    sliding = {"before_lock": foot_sliding(joints_world, contacts)}
    if options.foot_lock:
        joints_world = lock_feet(joints_world, contacts)
    sliding["after_lock"] = foot_sliding(joints_world, contacts)
    rotation, center = frame.camera_pose()
    timings["post_s"] = time.perf_counter() - started - timings["lift_s"]
    return MotionResult(joints_world, joints_camera, contacts, rotation, center, intrinsics, track, track.fps,
                        timings, sliding)


def save_motion(result: MotionResult, out_dir: str, options: PipelineOptions) -> dict[str, str]:
    from .bvh_export import write_bvh

    paths = {"motion": os.path.join(out_dir, "motion.npz"), "bvh": os.path.join(out_dir, "motion.bvh")}
    np.savez(paths["motion"], joints_world=result.joints_world.astype(np.float32),
             joints_camera=result.joints_camera.astype(np.float32),
             root_world=result.joints_world[:, 0].astype(np.float32),
             root_camera=result.joints_camera[:, 0].astype(np.float32), contacts=result.contacts,
             camera_rotation=result.camera_rotation, camera_center=result.camera_center,
             intrinsics_px=result.intrinsics.pixel_vector(), fps=result.fps,
             keypoints_2d=result.keypoints.positions, keypoints_filled=result.keypoints.filled,
             joint_names=np.array(H36M_SKELETON.names))
    write_bvh(paths["bvh"], result.joints_world, result.fps, units=options.bvh_units)
    return paths


def write_preview(video: str, result: MotionResult, path: str, start_frame: int = 0) -> None:
    from .preview import PreviewWriter

    track = result.keypoints
    writer = PreviewWriter(path, result.fps, (track.width, track.height), result.joints_world)
    try:
        for t, frame in enumerate(iter_frames(video, start_frame, rgb=False)):
            if t >= track.num_frames:
                break
            writer.write(t, frame, track.positions[t], track.filled[t], result.contacts)
    finally:
        writer.close()


class _Progress:
    """A terminal progress bar with frames per second (tqdm when available)."""

    def __init__(self, label: str, total: int):
        try:
            from tqdm import tqdm
            self.bar = tqdm(total=total or None, desc=label, unit="frame", file=sys.stderr)
        except ImportError:  # pragma: no cover
            self.bar = None

    def __call__(self, done: int, total: int, fps: float) -> None:
        if self.bar is not None:
            self.bar.n = done
            self.bar.set_postfix(fps=f"{fps:.1f}", refresh=False)
            self.bar.update(0)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run(video: str, out_dir: str, options: PipelineOptions, quiet: bool = False) -> tuple[MotionResult, dict]:
    started = time.perf_counter()
    info = probe(video)
    lifter = PoseLifter.from_file(options.model_path)
    os.makedirs(out_dir, exist_ok=True)
    detect_started = time.perf_counter()
    if options.keypoints_path:
        track, cached = load_keypoints(options, info.width, info.height, info.fps), False
    else:
        progress = None if quiet else _Progress("detecting 2D", info.frame_count)
        try:
            track, cached = detect_video_cached(video, os.path.join(out_dir, "detections.npz"),
                                                MediaPipePoseDetector, progress, None,
                                                options.start_frame, options.end_frame)
        finally:
            if progress is not None:
                progress.close()
    detect_seconds = time.perf_counter() - detect_started
    result = lift_track(track, lifter, options)
    result.timings["detect_s"] = detect_seconds
    result.timings["detections_cached"] = cached
    paths = save_motion(result, out_dir, options)
    if options.preview:
        preview_started = time.perf_counter()
        paths["preview"] = os.path.join(out_dir, "preview.mp4")
        write_preview(video, result, paths["preview"], options.start_frame if not options.keypoints_path else 0)
        result.timings["preview_s"] = time.perf_counter() - preview_started
    result.timings["total_s"] = time.perf_counter() - started
    return result, paths


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, PipelineOptions]:
    parser = argparse.ArgumentParser(prog="python -m core.pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    camera = parser.add_mutually_exclusive_group()
    camera.add_argument("--fov", type=float, help=f"horizontal field of view in degrees (default {DEFAULT_FOV})")
    camera.add_argument("--focal-mm", type=float, help="lens focal length in mm (with --sensor-mm)")
    parser.add_argument("--sensor-mm", type=float, default=36.0, help="sensor width in mm (default 36, full frame)")
    parser.add_argument("--keypoints", help="COCO-style JSON file or OpenPose JSON folder instead of detecting")
    parser.add_argument("--min-confidence", type=float, default=0.3)
    parser.add_argument("--no-flip", action="store_true", help="no test-time flip augmentation")
    parser.add_argument("--smooth", type=int, default=9, help="Savitzky-Golay window in frames (0: off)")
    parser.add_argument("--no-bone-lengths", action="store_true", help="keep the lifted bone lengths per frame")
    parser.add_argument("--no-foot-lock", action="store_true")
    parser.add_argument("--root", choices=("fit", "network"), default="fit",
                        help="root motion by least squares with the intrinsics, or by the trajectory network")
    parser.add_argument("--no-preview", action="store_true")
    parser.add_argument("--bvh-units", choices=("cm", "m"), default="cm")
    parser.add_argument("--start", type=int, default=0, help="first frame to process")
    parser.add_argument("--end", type=int, default=None, help="frame after the last one to process")
    args = parser.parse_args(argv)
    options = PipelineOptions(
        model_path=args.model, fov_deg=args.fov, focal_mm=args.focal_mm, sensor_mm=args.sensor_mm,
        keypoints_path=args.keypoints, min_confidence=args.min_confidence, flip_augment=not args.no_flip,
        smoothing_window=args.smooth, constant_bones=not args.no_bone_lengths, foot_lock=not args.no_foot_lock,
        root_from=args.root, preview=not args.no_preview, bvh_units=args.bvh_units,
        start_frame=args.start, end_frame=args.end)
    return args, options


def main(argv: list[str] | None = None) -> int:
    args, options = parse_args(argv)
    try:
        result, paths = run(args.video, args.out, options)
    except (FileNotFoundError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    frames = result.keypoints.num_frames
    t = result.timings
    print(f"{frames} frames at {result.fps:.1f} fps, {result.keypoints.width}x{result.keypoints.height}; "
          f"{int(result.keypoints.filled.any(axis=1).sum())} frames had gaps filled")
    print(f"detection {t['detect_s']:.1f} s{' (cached)' if t['detections_cached'] else ''}, lifting {t['lift_s']:.2f} s, "
          f"clean-up {t['post_s']:.2f} s, preview {t.get('preview_s', 0):.1f} s; "
          f"end to end {frames / t['total_s']:.1f} frames/s")
    print(f"foot sliding during contact: {result.sliding_mm_per_frame['before_lock']:.1f} -> "
          f"{result.sliding_mm_per_frame['after_lock']:.1f} mm/frame")
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
