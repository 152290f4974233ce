"""The pipeline's options and their checks, made before any long work starts.

Every check says what is wrong and what is allowed, so that a typo costs a second, not a
detection run of several minutes followed by a traceback or, worse, a silently wrong result.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

from .video import VideoInfo

DEFAULT_FOV = 60.0  # degrees, horizontal: a typical phone or action camera
ROOT_METHODS = ("solve", "fit", "network")
DEFAULT_MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights", "default.npz")


class OptionError(ValueError):
    """An option out of its range, or options that contradict each other or the video."""


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
    detector_3d_weight: float = 0.5          # share of the detector's own 3D in the arms (core.pipeline.blend_detector_3d)
    foot_lock: bool = True
    root_from: str = "solve"                 # "solve": reprojection + planted feet + smoothness over the clip;
                                             # "fit": each frame by least squares; "network": trajectory model
    preview: bool = True
    bvh_units: str = "cm"
    start_frame: int = 0
    end_frame: int | None = None             # exclusive; None: to the end
    workers: int = 2                         # detector threads (each with its own decoder)
    fps: float | None = None                 # the clip's frame rate, where the video's own is missing or wrong
    detector: str = "tasks-full"             # core.detection.DETECTORS
    max_people: int = 4                      # people looked for in each frame
    height_m: float | None = None            # the person's height: sets the motion's metric scale (None: as lifted)
    camera_pitch_deg: float | None = None    # a known camera's angle below the horizon (None: from the body)
    camera_height_m: float | None = None     # a known camera's height above the floor (None: from the feet)
    repair_swaps: bool = True                # exchange back left/right limbs the detector swapped (core.swap_check)
    in_place: bool = False                   # no travel across the floor (the root's height is kept)
    person: str = "longest"                  # the person to animate: a track id or core.tracking.CHOICES
    all_people: bool = False                 # also animate every main person (core.tracking.main_people)


def _number(problems: list[str], name: str, value, low: float, high: float, low_open: bool = False,
            high_open: bool = False, unit: str = "") -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        bounds = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        problems.append(f"{name} must be a number in {bounds}{unit}, got {value!r}")


def _window(problems: list[str], name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not (value == 0 or (value >= 5 and value % 2 == 1)):
        problems.append(f"{name} must be 0 (off) or an odd number of frames, 5 or more; got {value!r}")
    elif value > 301:
        problems.append(f"{name} of {value} frames would flatten the motion; use 301 or fewer")


def _detector(problems: list[str], kind) -> None:
    from .detection import DETECTORS, has_solutions_api, task_model_path
    if kind not in DETECTORS:
        problems.append(f"--detector must be one of {', '.join(sorted(DETECTORS))}; got {kind!r}")
    elif kind == "solutions" and not has_solutions_api():
        problems.append("the solutions detector needs mediapipe 0.10 (mediapipe 1.x has only the Tasks API): "
                        "use --detector tasks-full")
    elif kind.startswith("tasks-"):
        try:
            task_model_path(kind.removeprefix("tasks-"))
        except FileNotFoundError as exc:
            problems.append(str(exc))


def check_options(options: PipelineOptions) -> None:
    """Raise ``OptionError`` listing every option out of range; needs no video."""
    problems: list[str] = []
    if options.fov_deg is not None and options.focal_mm is not None:
        problems.append("give the field of view or the focal length, not both")
    if options.fov_deg is not None:
        _number(problems, "the field of view (--fov)", options.fov_deg, 1, 179, unit=" degrees")
    if options.focal_mm is not None:
        _number(problems, "the focal length (--focal-mm)", options.focal_mm, 0, 2000, low_open=True, unit=" mm")
    _number(problems, "the sensor width (--sensor-mm)", options.sensor_mm, 0, 100, low_open=True, unit=" mm")
    _number(problems, "the minimum keypoint confidence (--min-confidence)", options.min_confidence, 0, 1, low_open=True)
    if options.fps is not None:
        _number(problems, "the frame rate (--fps)", options.fps, 1, 1000, unit=" frames per second")
    if options.height_m is not None:
        _number(problems, "the person's height (--height)", options.height_m, 0.5, 2.5, unit=" m")
    if options.camera_pitch_deg is not None:
        _number(problems, "the camera's pitch (--camera-pitch)", options.camera_pitch_deg, -80, 80, unit=" degrees")
    if options.camera_height_m is not None:
        _number(problems, "the camera's height (--camera-height)", options.camera_height_m, 0, 100, low_open=True,
                unit=" m")
    _number(problems, "the detector's 3D share (--detector-3d)", options.detector_3d_weight, 0, 1)
    _window(problems, "the smoothing window (--smooth)", options.smoothing_window)
    _window(problems, "the root smoothing window", options.root_smoothing_window)
    if options.root_from not in ROOT_METHODS:
        problems.append(f"--root must be one of {', '.join(ROOT_METHODS)}, got {options.root_from!r}")
    if options.bvh_units not in ("cm", "m"):
        problems.append(f"--bvh-units must be 'cm' or 'm', got {options.bvh_units!r}")
    if not isinstance(options.workers, int) or not 1 <= options.workers <= 16:
        problems.append(f"--workers must be a whole number from 1 to 16, got {options.workers!r}")
    if not isinstance(options.start_frame, int) or options.start_frame < 0:
        problems.append(f"--start must be a frame number, 0 or more; got {options.start_frame!r}")
    elif options.end_frame is not None and (not isinstance(options.end_frame, int) or options.end_frame <= options.start_frame):
        problems.append(f"--end ({options.end_frame!r}) must be after --start ({options.start_frame})")
    if not os.path.isfile(options.model_path):
        problems.append(f"model file not found: {options.model_path}")
    if options.keypoints_path and not os.path.exists(options.keypoints_path):
        problems.append(f"keypoint file or folder not found: {options.keypoints_path}")
    if not options.keypoints_path:
        _detector(problems, options.detector)
    if not isinstance(options.max_people, int) or isinstance(options.max_people, bool) or \
            not 1 <= options.max_people <= 10:
        problems.append(f"--max-people must be a whole number from 1 to 10, got {options.max_people!r}")
    from .tracking import CHOICES
    person = str(options.person)
    if not (person.isdigit() and int(person) >= 1) and person not in CHOICES:
        problems.append(f"--person must be a track id (1, 2, ...: see tracks.json) or one of {', '.join(CHOICES)}; "
                        f"got {options.person!r}")
    if problems:
        raise OptionError("; ".join(problems))


def check_frame_range(options: PipelineOptions, info: VideoInfo) -> None:
    """The frame range against the video's announced length (when the container gives one)."""
    if info.frame_count and options.start_frame >= info.frame_count:
        raise OptionError(f"--start {options.start_frame} is past the end of the video ({info.frame_count} frames)")
