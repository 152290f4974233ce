"""Video -> 3D motion: detect 2D, fill gaps, lift (the arms blended with the detector's own 3D), root motion,
world frame, clean-up, export.

    python -m core.pipeline VIDEO --out DIR [--fov 60 | --focal-mm 26 --sensor-mm 36] [--keypoints FILE]

Everyone in the clip is detected and tracked; one person is animated (``--person``: a track id,
``longest`` (default), ``largest`` or ``center``), or with ``--all-people`` every main person.
VIDEO is a video file or a folder of images (one per frame, in name order).

Writes to DIR: ``detections.npz`` (everyone's 2D detections), ``tracks.json`` and ``tracks.png``
(each person's id, frames and size, and a picture of each), ``motion.npz`` (the chosen person's
3D joints in world and camera space, root trajectory, foot contacts, camera pose, and where the
detector gives them, heels and toe tips: ``core.feet``), ``motion.bvh`` (with foot and toe bones),
with ``--all-people`` ``person_<id>.npz`` and ``person_<id>.bvh`` for each main person (one world
for all), ``preview.mp4`` (2D skeleton on the frames beside a 3D view) and ``run.json`` (what made
them). Detection is saved in chunks under ``DIR/.cache/`` as it goes: a run stopped with Ctrl-C,
or killed, continues from there.
"""
from __future__ import annotations

import argparse
import ctypes
import dataclasses
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from .camera import CameraIntrinsics, fit_root_translation, normalize_screen_coordinates
from .cleanup import (ANKLE_HEIGHT, contacts_from, detect_foot_contacts, enforce_bone_lengths, foot_sliding, lock_feet,
                      runs, smooth, standing_height)
from .detection import DETECTORS, DetectorFactory, import_mediapipe_in_background
from .feet import SEEN as FOOT_SEEN, above_floor, follow_ankles, foot_joints, hold_planted_toes, lift_feet
from .parallel_detection import DetectionRun, detect_video_cached
from .detection_cache import frames_kept
from .inference import HEELS, PoseLifter
from .keypoints import (FOOT_POINTS, KeypointTrack, PeopleDetections, fill_gaps, load_coco_json,
                        load_npz_keypoints, load_openpose_folder)
from .options import DEFAULT_FOV, DEFAULT_MODEL, ROOT_METHODS, PipelineOptions, check_frame_range, check_options
from .outputs import OutputFolder
from .people import PeopleSelection, select_people
from .progress import RunProgress
from .root_solve import frame_pixel_errors, joint_pixel_errors, solve_root
from .track_sheet import write_track_sheet
from .skeleton import FOOT_SKELETON, H36M_SKELETON, Skeleton
from .tracking import CHOICES
from .video import VideoInfo, probe
from .world import WorldFrame, camera_angles, world_frame

PREVIEW_HEIGHT = 480
OUTPUT_KEYS = {"detections.npz": "detections", "motion.npz": "motion", "motion.bvh": "bvh", "preview.mp4": "preview",
               "tracks.json": "tracks", "tracks.png": "tracks_image"}
VARIABLE_RATE_SPREAD = 0.2        # frame intervals spreading more than this share of their median


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
    warnings: list[str] = field(default_factory=list)
    detection: DetectionRun | None = None
    world: WorldFrame | None = None
    others: list["MotionResult"] = field(default_factory=list)  # the other people animated (--all-people)
    height_m: float = 0.0                    # the person's standing height: given (--height) or as lifted
    contact_rate: float = 0.0                # share of the feet's frames marked as planted
    first_frame: int = 0                     # where the motion starts in the clip's range (the person's first frame)
    person: int | None = None                # the track id animated
    poorly_fit: list = field(default_factory=list)  # (start, stop) runs of frames whose 2D the pose does not fit
    misfit_dropped: np.ndarray | None = None  # (T, 17) detected joints no pose could reach, dropped and filled in
    feet_world: np.ndarray | None = None     # (T, 4, 3) heels and toe tips (core.keypoints.FOOT_POINTS), metres, Z up
    feet_camera: np.ndarray | None = None    # (T, 4, 3) the same in camera axes
    feet_detected: np.ndarray | None = None  # (T, 4) placed from the detector (else carried from nearby frames)
    contact_points: np.ndarray | None = None  # (T, 4) heels and toes planted (FOOT_POINTS order), where the
                                              # contact network tells them apart

    def skeleton_joints(self) -> tuple[np.ndarray, Skeleton]:
        """The joints to export and bake: with feet, ``FOOT_SKELETON``'s 21 (balls and toe tips added)."""
        if self.feet_world is None:
            return self.joints_world, H36M_SKELETON
        return foot_joints(self.joints_world, self.feet_world, self.contact_points), FOOT_SKELETON


def camera_intrinsics(width: int, height: int, options: PipelineOptions) -> CameraIntrinsics:
    if options.focal_mm is not None:
        return CameraIntrinsics.from_focal_mm(width, height, options.focal_mm, options.sensor_mm)
    return CameraIntrinsics.from_fov(width, height, DEFAULT_FOV if options.fov_deg is None else options.fov_deg)


def load_keypoints(options: PipelineOptions, width: int, height: int, fps: float) -> PeopleDetections:
    """Everyone in a keypoint file or folder: OpenPose JSON folder, COCO-style JSON, or an .npz this tool wrote
    (``detections.npz``, everyone; or one person's track)."""
    path = options.keypoints_path
    if os.path.isdir(path):
        return load_openpose_folder(path, width, height, fps)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"keypoint file not found: {path}")
    if path.endswith(".npz"):
        return load_npz_keypoints(path)
    return load_coco_json(path, width, height, fps)


MISFIT_OF_TORSO = 0.6   # a joint whose 2D lies this many 2D torso lengths from the fitted pose's ...
MISFIT_OF_MEDIAN = 4.0  # ... and this many times the clip's median joint error away is not on the body

MISFIT_TYPICAL_OF_TORSO = 0.3   # a clip whose median joint error is this share of the torso fits too poorly to judge
MISFIT_PASSES = 2
PELVIS, THORAX = H36M_SKELETON.index("pelvis"), H36M_SKELETON.index("thorax")


def misfit_joints(poses: np.ndarray, root: np.ndarray, track: KeypointTrack,
                  intrinsics: CameraIntrinsics) -> np.ndarray:
    """(T, J) detected joints that the lifted, placed body cannot reach: far from its projection
    both against the person's size and against how well the rest of the clip fits."""
    error = joint_pixel_errors(poses, root, track.positions, intrinsics)
    seen = ~track.filled
    trunk_seen = seen[:, PELVIS] & seen[:, THORAX]
    if seen.sum() < 10 or not trunk_seen.any():
        return np.zeros_like(seen)
    torso = float(np.median(np.linalg.norm(track.positions[trunk_seen, THORAX] - track.positions[trunk_seen, PELVIS],
                                           axis=-1)))
    typical = float(np.median(error[seen]))
    if typical > MISFIT_TYPICAL_OF_TORSO * torso:   # the lifter fits this clip poorly as a whole: no joint stands out
        return np.zeros_like(seen)
    return seen & (error > max(MISFIT_OF_TORSO * torso, MISFIT_OF_MEDIAN * typical))


ARM_JOINTS = [H36M_SKELETON.index(f"{side}_{part}") for side in ("left", "right")
              for part in ("shoulder", "elbow", "wrist")]
DETECTOR_3D_MAX_STRETCH = 0.2   # a frame of the detector's 3D with a bone this much off its clip median is not a body
DETECTOR_3D_SMOOTHING = 2.0     # frames: the Gaussian's sigma over time for the detector's 3D, which shakes


def _smoothed_where(values: np.ndarray, usable: np.ndarray, sigma: float) -> np.ndarray:
    """``values`` (T, J, 3) averaged over time with a Gaussian of ``sigma`` frames, each joint over the frames where
    ``usable`` (T, J) holds it only (normalised convolution); the others stay as they are."""
    radius = int(3 * sigma)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    weights = np.pad(usable.astype(np.float64), ((radius, radius), (0, 0)))
    padded = np.pad(np.where(usable[..., None], values, 0.0), ((radius, radius), (0, 0), (0, 0)))
    frames = len(values)
    total = sum(k * padded[i:i + frames] for i, k in enumerate(kernel))
    weight = sum(k * weights[i:i + frames] for i, k in enumerate(kernel))
    return np.where(usable[..., None], total / np.maximum(weight, 1e-12)[..., None], values)


def blend_detector_3d(poses: np.ndarray, track: KeypointTrack, weight: float) -> np.ndarray:
    """Lifted root-relative poses (T, 17, 3) with ``weight`` of the detector's own 3D mixed into the arms.

    BlazePose makes its own metric 3D of each body (world landmarks) from the whole image, which
    the lifter, seeing only 17 points, cannot. Its arms are about as good as the lifter's, its legs
    and trunk much worse (bench per-joint table), and the two err differently: on renders of
    held-out bodies and motions (8 clips made for tuning only, not the bench's) half of BlazePose's
    arms takes P1 from 67.2 to 62.7 mm (blending every joint: at best 63.4, and the legs get worse
    and move the root). Frames where BlazePose's 3D is not a body (a bone more than
    ``DETECTOR_3D_MAX_STRETCH`` off its median over the clip: it folds legs onto the trunk on a
    backlit man) and joints whose 2D was thrown out (confidence 0) keep the lifted pose alone.
    """
    if track.joints_3d is None or weight <= 0:
        return poses
    detector = track.joints_3d.astype(np.float64)
    usable = np.isfinite(detector).all(axis=-1) & (track.confidence > 0)
    usable &= usable[:, :1]   # the pelvis places the rest: without it no joint of the frame is used
    if not usable.any():
        return poses
    detector = np.where(usable[..., None], detector - np.nan_to_num(detector[:, :1]), 0.0)
    parents = np.array(H36M_SKELETON.parents[1:])
    both = usable[:, 1:] & usable[:, parents]
    bones = H36M_SKELETON.bone_lengths(detector)   # bone b ends at joint b + 1, as in ``both``
    typical = np.array([np.median(bones[both[:, b], b]) if both[:, b].any() else 0.0 for b in range(bones.shape[1])])
    stretch = np.where(both & (typical > 0), np.abs(bones / np.maximum(typical, 1e-9) - 1), 0.0)
    usable &= (stretch <= DETECTOR_3D_MAX_STRETCH).all(axis=1)[:, None]
    detector = _smoothed_where(detector, usable, DETECTOR_3D_SMOOTHING)
    arms = np.zeros(17, bool)
    arms[ARM_JOINTS] = True
    share = np.where(usable & arms, weight, 0.0)[..., None]
    return (1.0 - share) * poses + share * detector


def _lift_and_place(track: KeypointTrack, lifter: PoseLifter, options: PipelineOptions,
                    intrinsics: CameraIntrinsics) -> tuple:
    """Lifted root-relative poses, contact probabilities (heels, and heels and toes) and the root."""
    normalized = normalize_screen_coordinates(track.positions, track.width, track.height)
    poses = lifter.lift(normalized, flip_augment=options.flip_augment).astype(np.float64)
    poses = blend_detector_3d(poses, track, options.detector_3d_weight)
    points_planted = lifter.contact_points(normalized, flip_augment=options.flip_augment)  # heels and toes apart
    planted = points_planted[:, HEELS] if points_planted is not None else \
        lifter.contacts(normalized, flip_augment=options.flip_augment)   # None without a contact network
    if options.smoothing_window:
        poses = smooth(poses, options.smoothing_window, 2)
    if options.constant_bones:
        poses, _ = enforce_bone_lengths(poses)
    confidence = np.where(track.filled, 0.05, track.confidence)
    if options.root_from == "solve":
        root = solve_root(poses, track.positions, confidence, intrinsics, planted, track.fps)
    elif options.root_from == "network":
        root = lifter.trajectory(normalized, flip_augment=options.flip_augment).astype(np.float64)
    elif options.root_from == "fit":
        root = fit_root_translation(poses, track.positions, confidence, intrinsics)
    else:
        raise ValueError(f"root_from must be one of {ROOT_METHODS}")
    if options.smoothing_window and options.root_from != "solve":  # the solve is smooth already
        root = smooth(root, max(options.root_smoothing_window, options.smoothing_window), 2)
    return poses, planted, points_planted, root


def lift_track(track: KeypointTrack, lifter: PoseLifter, options: PipelineOptions,
               world: WorldFrame | None = None) -> MotionResult:
    """Everything after 2D: gap filling, lifting, foot contacts, clean-up, root, world frame, foot locking.

    Detected joints that the lifted, placed body cannot reach (``misfit_joints``) are dropped, filled
    in from the frames around them and the clip lifted again: a detector's garbage (a leg on the
    sun's glare) would otherwise bend the pose and pull the root towards the camera there.
    ``world``: the world frame to use (another person's in the same clip, so that everyone stands
    on one floor); by default it is estimated from this motion.
    """
    timings = {}
    started = time.perf_counter()
    intrinsics = camera_intrinsics(track.width, track.height, options)
    detected = fill_gaps(track, options.min_confidence)
    track = detected
    poses, planted, points_planted, root = _lift_and_place(track, lifter, options, intrinsics)
    seen = ~detected.filled
    dropped = np.zeros(seen.shape, bool)
    for _ in range(MISFIT_PASSES):   # 2D no body can match (a detector's garbage): dropped, filled, lifted again
        misfit = misfit_joints(poses, root, track, intrinsics)
        misfit[:, ~(seen & ~(dropped | misfit)).any(axis=0)] = False   # a joint is never dropped from every frame
        if not (misfit & ~dropped).any():
            break
        dropped |= misfit
        unseen = dataclasses.replace(detected, confidence=np.where(dropped, 0.0, detected.confidence))
        track = fill_gaps(unseen, options.min_confidence)
        poses, planted, points_planted, root = _lift_and_place(track, lifter, options, intrinsics)
    timings["lift_s"] = time.perf_counter() - started
    joints_camera = poses + root[:, None]
    # judged against what the detector saw: frames whose joints were dropped as garbage are reported too
    poorly_fit = poorly_fit_spans(frame_pixel_errors(poses, root, detected.positions,
                                                     np.where(detected.filled, 0.05, detected.confidence), intrinsics))
    lifted_height = standing_height(poses)
    feet_camera, feet_detected = lift_feet(track, joints_camera, intrinsics, lifted_height,
                                           max(options.smoothing_window, 1))
    if options.height_m:  # the whole scene scaled about the camera: it projects onto the same 2D
        scale = height_scale(lifted_height, options.height_m)
        joints_camera, feet_camera = joints_camera * scale, feet_camera * scale
    contacts = contacts_from(planted)
    contact_points = contacts_from(points_planted)
    frame = world or world_frame(joints_camera, options.camera_pitch_deg, options.camera_height_m, contacts)
    joints_world = frame.apply(joints_camera)
    feet_world = frame.apply(feet_camera)
    if contacts is None:  # a model without a contact network: contacts from the motion itself
        contacts = detect_foot_contacts(joints_world, track.fps)
    sliding = {"before_lock": foot_sliding(joints_world, contacts)}
    if options.foot_lock:
        locked = lock_feet(joints_world, contacts)
        feet_world = follow_ankles(feet_world, joints_world, locked)
        joints_world = locked
    sliding["after_lock"] = foot_sliding(joints_world, contacts)
    if options.foot_lock and contact_points is not None:
        feet_world = hold_planted_toes(feet_world, joints_world, contact_points)
    feet_world = above_floor(feet_world, joints_world)
    if options.in_place:  # the motion stays over its first frame's spot; height above the floor is kept
        travel = joints_world[:, :1, :2] - joints_world[:1, :1, :2]
        joints_world = joints_world.copy()
        joints_world[..., :2] -= travel
        feet_world = feet_world.copy()
        feet_world[..., :2] -= travel
    rotation, center = frame.camera_pose()
    timings["post_s"] = time.perf_counter() - started - timings["lift_s"]
    return MotionResult(joints_world, joints_camera, contacts, rotation, center, intrinsics, track, track.fps,
                        timings, sliding, world=frame, height_m=options.height_m or lifted_height,
                        contact_rate=float(contacts.mean()) if len(contacts) else 0.0, poorly_fit=poorly_fit,
                        misfit_dropped=dropped,
                        feet_world=feet_world, feet_camera=feet_camera, feet_detected=feet_detected,
                        contact_points=contact_points)


POOR_FIT = 3.0         # a frame whose 2D error is this many times the clip's median fits poorly
POOR_FIT_FRAMES = 3    # runs of poorly fitting frames at least this long are reported


def poorly_fit_spans(errors: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) runs of at least ``POOR_FIT_FRAMES`` frames whose pixel error exceeds ``POOR_FIT`` times
    the median (and 3 px); short gaps of one good frame inside a run do not split it."""
    bad = errors > POOR_FIT * max(float(np.median(errors)), 3.0)
    bad[1:-1] |= bad[:-2] & bad[2:]                 # one good frame between two bad ones
    return [(int(a), int(b)) for a, b in runs(bad) if b - a >= POOR_FIT_FRAMES]


def save_motion(result: MotionResult, motion_path: str, bvh_path: str, options: PipelineOptions) -> None:
    from .bvh_export import write_bvh

    np.savez(motion_path, joints_world=result.joints_world.astype(np.float32),
             joints_camera=result.joints_camera.astype(np.float32),
             root_world=result.joints_world[:, 0].astype(np.float32),
             root_camera=result.joints_camera[:, 0].astype(np.float32), contacts=result.contacts,
             camera_rotation=result.camera_rotation, camera_center=result.camera_center,
             intrinsics_px=result.intrinsics.pixel_vector(), fps=result.fps,
             keypoints_2d=result.keypoints.positions, keypoints_filled=result.keypoints.filled,
             joint_names=np.array(H36M_SKELETON.names), first_frame=result.first_frame,
             person=result.person if result.person is not None else -1, height_m=result.height_m,
             **({} if result.feet_world is None else {
                 "feet_world": result.feet_world.astype(np.float32), "feet_camera": result.feet_camera.astype(np.float32),
                 "feet_detected": result.feet_detected, "foot_point_names": np.array(FOOT_POINTS)}),
             **({} if result.contact_points is None else {"contact_points": result.contact_points}))
    joints, skeleton = result.skeleton_joints()
    write_bvh(bvh_path, joints, result.fps, units=options.bvh_units, skeleton=skeleton)


def write_preview(video: str, result: MotionResult, path: str, start_frame: int = 0,
                  segments: list[tuple[int, int, str]] = (), progress=None) -> None:
    """The preview from the frames detection kept (``segments``); frames it did not keep are decoded again."""
    from .preview import PreviewWriter, preview_frames

    track = result.keypoints
    writer = PreviewWriter(path, result.fps, (track.width, track.height), result.joints_world, height=PREVIEW_HEIGHT,
                           feet_world=result.feet_world)
    seen_feet = None if track.feet is None else np.where((track.feet_confidence >= FOOT_SEEN)[..., None], track.feet,
                                                         np.nan)
    try:
        for t, frame in enumerate(preview_frames(video, start_frame, track.num_frames, list(segments))):
            writer.write(t, frame, track.positions[t], track.filled[t], result.contacts,
                         None if seen_feet is None else seen_feet[t])
            if progress is not None and (t % 10 == 9 or t + 1 == track.num_frames):
                progress(t + 1)
    finally:
        writer.close()


def frame_rate_from_times(time_ms: np.ndarray) -> tuple[float | None, float]:
    """The mean rate the frame times give, and how far the intervals spread (share of their median)."""
    steps = np.diff(time_ms[np.isfinite(time_ms)])
    if len(steps) < 2 or np.median(steps) <= 0:
        return None, 0.0
    low, high = np.percentile(steps, [5, 95])
    return 1000.0 * len(steps) / float(np.sum(steps)), float((high - low) / np.median(steps))


def input_warnings(info: VideoInfo, detection: DetectionRun | None, frames: int,
                   options: PipelineOptions) -> tuple[list[str], float | None]:
    """What the user should know about the input (truncation, frame rate), and the frame rate the frame
    times give where they show a variable rate (None: keep the container's)."""
    warnings, rate_from_times = [], None
    if detection is not None:
        warnings += detection.cache_problems
        if detection.frames_announced and frames < detection.frames_announced:
            warnings.append(f"the video announces {detection.frames_announced} frames in this range but only "
                            f"{frames} could be read: the file is truncated or damaged; the motion covers "
                            f"the {frames} frames read")
        if options.fps is None:
            rate, spread = frame_rate_from_times(detection.time_ms)
            if rate is not None and spread > VARIABLE_RATE_SPREAD:
                warnings.append(f"variable frame rate: frame intervals vary by {100 * spread:.0f} % of their median; "
                                f"the motion is timed by the frame times' mean rate, {rate:.2f} fps "
                                f"(the container says {info.fps:.2f})")
                rate_from_times = rate
    if options.fps is None and info.fps_source != "container" and not options.keypoints_path:
        fps = rate_from_times or info.fps
        warnings.append(f"the video states no frame rate; {fps:.2f} fps "
                        f"{'measured from its frame times' if info.fps_source == 'timestamps' else 'assumed'}"
                        " (set the right one with --fps)")
    return warnings, rate_from_times


def height_scale(lifted_height: float, height: float) -> float:
    """The scale that makes a skeleton ``lifted_height`` tall (``standing_height``: bones and the ankle's
    height above the floor, which stays) ``height`` tall."""
    return (height - ANKLE_HEIGHT) / max(lifted_height - ANKLE_HEIGHT, 1e-6)


def animate_people(selection: PeopleSelection, lifter: PoseLifter, options: PipelineOptions) -> list[MotionResult]:
    """Lift each person of ``selection``; the others stand in the chosen person's world frame.

    ``options.height_m`` is the chosen person's height; the others keep their lifted size.
    """
    results = []
    for clip in selection.animated:
        person_options = options if not results else dataclasses.replace(options, height_m=None)
        result = lift_track(clip.keypoints, lifter, person_options, results[0].world if results else None)
        result.first_frame, result.person = clip.first_frame, clip.id
        results.append(result)
    return results


def motion_warnings(results: list[MotionResult]) -> list[str]:
    """What to tell the user about each person's motion: joints never seen in the clip (placed from
    their other side), and stretches whose 2D the posed motion does not match (an unusual pose the
    lifter gets wrong, or 2D the detector got wrong)."""
    warnings = []
    for r in results:
        if r.keypoints.guessed:
            warnings.append(f"person {r.person}: {', '.join(n.replace('_', ' ') for n in r.keypoints.guessed)} never "
                            "seen in the clip; placed as the other side's, mirrored, and likely wrong")
        if r.misfit_dropped is not None and r.misfit_dropped.any():
            spans = ", ".join(f"{r.first_frame + a}-{r.first_frame + b - 1}" for a, b in runs(r.misfit_dropped.any(axis=1)))
            warnings.append(f"person {r.person}: {int(r.misfit_dropped.sum())} joint positions in frames {spans} lay "
                            "where no body pose reaches them (the detector's mistakes); they were dropped and filled "
                            "in from the frames around them")
        if r.poorly_fit:
            spans = ", ".join(f"{r.first_frame + a}-{r.first_frame + b - 1}" for a, b in r.poorly_fit)
            warnings.append(f"person {r.person}: in frames {spans} the 3D motion matches the 2D keypoints poorly (an "
                            "unusual pose, or the detector lost the body there); check those frames in the preview")
    return warnings


def run(video: str, out_dir: str, options: PipelineOptions, quiet: bool = False,
        should_stop=None) -> tuple[MotionResult, dict]:
    """The whole pipeline; every option and the output folder are checked before any long work starts.

    Returns the chosen person's motion (``result.others``: the other people animated) and the output paths.
    """
    started = time.perf_counter()
    check_options(options)
    importing = import_mediapipe_in_background() if not options.keypoints_path else None
    try:
        return _run(video, out_dir, options, quiet, should_stop, started)
    finally:
        if importing is not None:
            importing.join()


def _run(video: str, out_dir: str, options: PipelineOptions, quiet: bool, should_stop,
         started: float) -> tuple[MotionResult, dict]:
    """``run`` once the options are checked (and mediapipe is being imported meanwhile)."""
    info = probe(video)
    check_frame_range(options, info)
    lifter = PoseLifter.from_file(options.model_path)
    end = info.range_stop(options.end_frame)
    announced = max(end - options.start_frame, 0) if end is not None else 0   # 0: the video does not say
    stages = (["detecting 2D"] if not options.keypoints_path else []) + ["lifting to 3D", "exporting"] + \
        (["writing preview"] if options.preview else [])
    progress = RunProgress(announced, stages, quiet)
    with OutputFolder(out_dir) as folder:
        try:
            detection = None
            fps = options.fps or info.fps
            if options.keypoints_path:
                people = load_keypoints(options, info.width, info.height, fps)
            else:
                update = progress.stage("detecting 2D", announced)
                detection = detect_video_cached(
                    video, os.path.join(folder.cache, "detections"),
                    DetectorFactory(options.detector, info.fps, options.max_people),
                    lambda done, total, rate: update(done, total), should_stop, options.start_frame,
                    options.end_frame, options.workers, info, PREVIEW_HEIGHT if options.preview else None)
                people = detection.people
            detect_seconds = time.perf_counter() - started
            warnings, rate_from_times = input_warnings(info, detection, people.num_frames, options)
            people.fps = options.fps or rate_from_times or people.fps
            selection = select_people(people, options.person, options.all_people, options.repair_swaps, lifter,
                                      options.min_confidence)
            warnings += selection.warnings
            progress.set_frames(people.num_frames)
            progress.stage("lifting to 3D", people.num_frames)(0)
            results = animate_people(selection, lifter, options)
            warnings += motion_warnings(results)
            result = results[0]
            result.warnings, result.detection, result.others = warnings, detection, results[1:]
            result.timings["detect_s"] = detect_seconds
            result.timings["clip_frames"] = people.num_frames
            result.timings["frames_detected"] = detection.frames_detected if detection else 0
            result.timings["frames_from_cache"] = detection.frames_from_cache if detection else 0
            update = progress.stage("exporting", people.num_frames)
            export_started = time.perf_counter()
            people.save(folder.staged("detections.npz"))
            with open(folder.staged("tracks.json"), "w") as handle:
                json.dump(selection.tracks_json(people.fps), handle, indent=2)
            write_track_sheet(video, selection.tracks, folder.staged("tracks.png"), options.start_frame,
                              selection.chosen.id, detection.preview_segments if detection else (), info.height)
            save_motion(result, folder.staged("motion.npz"), folder.staged("motion.bvh"), options)
            if options.all_people:
                for person in results:
                    save_motion(person, folder.staged(f"person_{person.person}.npz"),
                                folder.staged(f"person_{person.person}.bvh"), options)
            update(people.num_frames)
            result.timings["export_s"] = time.perf_counter() - export_started
            if options.preview:
                preview_started = time.perf_counter()
                write_preview(video, result, folder.staged("preview.mp4"),
                              (options.start_frame if not options.keypoints_path else 0) + result.first_frame,
                              detection.preview_segments if detection else (),
                              progress.stage("writing preview", result.keypoints.num_frames))
                result.timings["preview_s"] = time.perf_counter() - preview_started
            if detection is not None:  # the kept frames served the preview; the detections stay for re-runs
                shutil.rmtree(os.path.join(folder.cache, "detections", "preview"), ignore_errors=True)
            paths = folder.commit({"video": os.path.abspath(video), "frames": people.num_frames,
                                   "start_frame": options.start_frame, "fps": result.fps, "warnings": warnings,
                                   "camera": {k: round(v, 3) for k, v in camera_angles(result.world).items()},
                                   "height_m": round(result.height_m, 3),
                                   "person": result.person, "first_frame": result.first_frame,
                                   "people": {str(r.person): {"first_frame": r.first_frame,
                                                              "frames": len(r.joints_world)} for r in results},
                                   "frames_detected": result.timings["frames_detected"],
                                   "frames_from_cache": result.timings["frames_from_cache"]})
        finally:
            progress.close()
    result.timings["total_s"] = time.perf_counter() - started
    return result, {OUTPUT_KEYS.get(name, name): path for name, path in paths.items()}


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
    parser.add_argument("--min-confidence", type=float, default=0.3, help="keypoints below it are filled in (0-1]")
    parser.add_argument("--no-flip", action="store_true", help="no test-time flip augmentation")
    parser.add_argument("--smooth", type=int, default=9, help="Savitzky-Golay window in frames: odd, 5 or more (0: off)")
    parser.add_argument("--no-bone-lengths", action="store_true", help="keep the lifted bone lengths per frame")
    parser.add_argument("--detector-3d", type=float, default=PipelineOptions.detector_3d_weight,
                        help="share of the detector's own 3D mixed into the lifted arms, 0-1 (0: the lifter "
                             f"alone; default {PipelineOptions.detector_3d_weight})")
    parser.add_argument("--no-foot-lock", action="store_true")
    parser.add_argument("--root", choices=ROOT_METHODS, default="solve",
                        help="root motion: solve (default: the 2D, the planted feet and smooth motion over the whole "
                             "clip), fit (each frame alone to the 2D), or network (the trajectory network)")
    parser.add_argument("--no-preview", action="store_true")
    parser.add_argument("--bvh-units", choices=("cm", "m"), default="cm")
    parser.add_argument("--start", type=int, default=0, help="first frame to process")
    parser.add_argument("--end", type=int, default=None, help="frame after the last one to process")
    parser.add_argument("--fps", type=float, default=None, help="the clip's frame rate, where the file's is missing or wrong")
    parser.add_argument("--workers", type=int, default=2, help="detector threads (default 2: one per core here)")
    parser.add_argument("--detector", default="tasks-full", help="; ".join(f"{k}: {v}" for k, v in DETECTORS.items()))
    parser.add_argument("--max-people", type=int, default=4, help="people looked for in each frame (1-10; default 4)")
    parser.add_argument("--height", type=float, default=None,
                        help="the person's height in metres: sets the motion's scale (default: as lifted)")
    parser.add_argument("--repair-swaps", action=argparse.BooleanOptionalAction, default=True,
                        help="exchange back left and right limbs where the detector swapped them (side views) and "
                             "the lifted 3D agrees (default on; --no-repair-swaps leaves the 2D as detected)")
    parser.add_argument("--in-place", action="store_true",
                        help="keep the person over one spot (no travel across the floor; up and down kept)")
    parser.add_argument("--camera-pitch", type=float, default=None,
                        help="a known camera's angle below the horizon, degrees (default: estimated from the body)")
    parser.add_argument("--camera-height", type=float, default=None,
                        help="a known camera's height above the floor, metres (default: estimated from the feet)")
    parser.add_argument("--person", default="longest",
                        help=f"who to animate: a track id from tracks.json, or {', '.join(CHOICES)} (default longest)")
    parser.add_argument("--all-people", action="store_true",
                        help="also animate every main person: person_<id>.bvh and .npz each, in one world")
    args = parser.parse_args(argv)
    options = PipelineOptions(
        model_path=args.model, fov_deg=args.fov, focal_mm=args.focal_mm, sensor_mm=args.sensor_mm,
        keypoints_path=args.keypoints, min_confidence=args.min_confidence, flip_augment=not args.no_flip,
        smoothing_window=args.smooth, constant_bones=not args.no_bone_lengths, foot_lock=not args.no_foot_lock,
        detector_3d_weight=args.detector_3d,
        root_from=args.root, preview=not args.no_preview, bvh_units=args.bvh_units,
        start_frame=args.start, end_frame=args.end, workers=args.workers, fps=args.fps, detector=args.detector,
        max_people=args.max_people, person=args.person, all_people=args.all_people, height_m=args.height,
        camera_pitch_deg=args.camera_pitch, camera_height_m=args.camera_height, in_place=args.in_place,
        repair_swaps=args.repair_swaps)
    return args, options


def fewer_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's per-thread malloc arenas (command line only, before any thread starts).

    Each detector and decoder thread otherwise gets an arena of its own that keeps freed frame
    buffers: about 130 MB more peak memory on the demo clip, for no speed.
    """
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").mallopt(-8, arenas)  # M_ARENA_MAX
        except (OSError, AttributeError):  # not glibc
            pass


def main(argv: list[str] | None = None) -> int:
    args, options = parse_args(argv)
    fewer_malloc_arenas()
    try:
        result, paths = run(args.video, args.out, options)
    except KeyboardInterrupt:
        kept = frames_kept(os.path.join(args.out, ".cache", "detections"))
        print(f"\ninterrupted: {kept} frames of detections are kept in {os.path.join(args.out, '.cache')}; "
              "run the same command again to continue from there", file=sys.stderr)
        return 130
    except (FileNotFoundError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    t = result.timings
    for warning in result.warnings:
        print(f"warning: {warning}")
    for motion in [result, *result.others]:
        print(f"person {motion.person}: {len(motion.joints_world)} frames from frame {motion.first_frame} at "
              f"{motion.fps:.1f} fps; {int(motion.keypoints.filled.any(axis=1).sum())} frames had gaps filled; "
              f"{motion.height_m:.2f} m tall ({'--height' if options.height_m else 'as lifted; set it with --height'})")
    cache_note = f" ({t['frames_from_cache']} frames from the cache)" if t.get("frames_from_cache") else ""
    print(f"detection {t['detect_s']:.1f} s{cache_note}, lifting {t['lift_s']:.2f} s, clean-up {t['post_s']:.2f} s, "
          f"export {t['export_s']:.2f} s, preview {t.get('preview_s', 0):.1f} s; "
          f"end to end {t['clip_frames'] / t['total_s']:.1f} frames/s")
    camera = camera_angles(result.world)
    given = [name for name, value in (("pitch", options.camera_pitch_deg), ("height", options.camera_height_m))
             if value is not None]
    print(f"camera: {camera['pitch_deg']:.1f}° below the horizon, roll {camera['roll_deg']:.1f}°, "
          f"{camera['height_m']:.2f} m above the floor ("
          + (f"{' and '.join(given)} given, the rest estimated" if given else
             "estimated from the body; give --camera-pitch and --camera-height if you know them") + ")")
    toes = "" if result.contact_points is None else \
        f" (toes down in {100 * result.contact_points[:, [1, 3]].mean():.0f} %)"
    print(f"feet marked as planted in {100 * result.contact_rate:.0f} % of their frames{toes}; sliding while planted "
          f"{result.sliding_mm_per_frame['before_lock']:.1f} -> {result.sliding_mm_per_frame['after_lock']:.1f} "
          "mm/frame (by these contacts themselves, not against a truth)")
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
