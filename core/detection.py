"""2D detectors behind one small interface, and the simplest detection of a whole video.

A detector turns one RGB frame into our 17 joints in pixels with a confidence each, for every
person it finds (up to its ``max_people``); who is who across frames is ``core.tracking``'s
job. The default is mediapipe's BlazePose through the Tasks API (``TasksPoseDetector``) with a bundled
model (``core/weights/pose_landmarker_{full,heavy}.task``, assembled by ``training.pose_models``);
the older solutions API (``MediaPipePoseDetector``, mediapipe 0.10 only) stays selectable.
``DetectorFactory`` makes either by name. Other detectors plug in by implementing ``Detector``;
keypoints produced elsewhere come in through ``core.keypoints`` importers instead. The
pipeline detects through ``core.parallel_detection`` (two threads, resumable).
"""
from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import threading
import time
import types
from typing import Callable, Protocol

import numpy as np

from .crop_search import Landmarks, SquareCropSearch
from .keypoints import PeopleDetections, map_feet, map_to_h36m
from .video import probe, read_frames

ProgressCallback = Callable[[int, int, float], None]  # (frames done, total frames or 0, frames per second)


class Detector(Protocol):
    name: str

    def detect(self, frame_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(people, 17, 2) pixel positions and (people, 17) confidences of everyone seen (0 people: nobody)."""

    def close(self) -> None:
        ...


@contextlib.contextmanager
def _without_matplotlib():
    """Import mediapipe without matplotlib: about 30 MB of memory and 0.2 s less, and it imports
    where matplotlib is not installed at all (the light runtime, Blender).

    mediapipe's package imports its drawing helpers, which import ``matplotlib.pyplot`` at the
    top, though pose detection never draws. While mediapipe is imported, a stand-in module takes
    matplotlib's place (the drawing helpers keep it, and it says so if anything does try to
    draw); afterwards it is taken out again, so that whoever imports matplotlib later gets the
    real one. Where matplotlib is loaded already, nothing changes.
    """
    if sys.modules.get("matplotlib") is not None:
        yield
        return

    class _Missing(types.ModuleType):
        def __getattr__(self, attribute):
            raise ImportError("mediapipe was imported without matplotlib; its drawing utilities need it")

    package, pyplot = _Missing("matplotlib"), _Missing("matplotlib.pyplot")
    package.__path__ = []
    package.pyplot = pyplot
    stood_in = {"matplotlib": package, "matplotlib.pyplot": pyplot}
    before = {name: sys.modules[name] for name in stood_in if name in sys.modules}  # e.g. None: "never import it"
    sys.modules.update(stood_in)
    try:
        yield
    finally:
        for name, module in stood_in.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]
        sys.modules.update(before)


def import_mediapipe():
    """The mediapipe module, with a clear error where it is missing."""
    try:
        with _without_matplotlib():
            import mediapipe as mp
    except ImportError as exc:
        raise RuntimeError("mediapipe is not installed; install it or import keypoints from JSON instead") from exc
    return mp


def import_mediapipe_in_background() -> threading.Thread:
    """Start importing mediapipe (about 0.3 s) on another thread, so that it overlaps the checks and
    set-up before detection; the detectors' own ``import_mediapipe`` then finds it loaded. Join the
    thread before leaving (an interpreter must not shut down in the middle of an import)."""
    def load() -> None:
        try:
            import_mediapipe()
        except Exception:  # reported, clearly, when a detector is made
            pass
    thread = threading.Thread(target=load, name="import-mediapipe", daemon=True)
    thread.start()
    return thread


def has_solutions_api() -> bool:
    """Whether the installed mediapipe still has the solutions API (0.10 does, 1.x does not)."""
    try:
        return importlib.util.find_spec("mediapipe.python.solutions") is not None
    except ModuleNotFoundError:
        return False


def padded(joints: np.ndarray, confidence: np.ndarray, max_people: int) -> tuple[np.ndarray, np.ndarray]:
    """A detector's (n, 17, 2) and (n, 17) as (max_people, 17, 2) and (max_people, 17); empty slots have confidence 0."""
    joints, confidence = np.asarray(joints, np.float32), np.asarray(confidence, np.float32)
    if joints.ndim != 3 or joints.shape[1:] != (17, 2) or confidence.shape != joints.shape[:2]:
        raise ValueError(f"a detector must return (people, 17, 2) and (people, 17) arrays, got {joints.shape} "
                         f"and {confidence.shape}")
    n = min(len(joints), max_people)
    positions = np.zeros((max_people, 17, 2), np.float32)
    conf = np.zeros((max_people, 17), np.float32)
    positions[:n], conf[:n] = joints[:n], confidence[:n]
    return positions, conf


def _nobody() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((0, 17, 2), np.float32), np.zeros((0, 17), np.float32)


NO_FEET = (np.zeros((0, 4, 3), np.float32), np.zeros((0, 4), np.float32))


def padded_feet(feet: tuple[np.ndarray, np.ndarray] | None, max_people: int) -> tuple[np.ndarray, np.ndarray]:
    """A detector's foot points ((n, 4, 3), (n, 4); None: it has none) in ``max_people`` slots (confidence 0 empty)."""
    points = np.zeros((max_people, 4, 3), np.float32)
    conf = np.zeros((max_people, 4), np.float32)
    if feet is not None:
        n = min(len(feet[0]), max_people)
        points[:n], conf[:n] = feet[0][:n], feet[1][:n]
    return points, conf


NO_JOINTS_3D = np.zeros((0, 17, 3), np.float32)


def padded_joints_3d(joints_3d: np.ndarray | None, max_people: int) -> np.ndarray:
    """A detector's own 3D of our joints ((n, 17, 3); None: it makes none) in ``max_people`` slots (NaN empty)."""
    out = np.full((max_people, 17, 3), np.nan, np.float32)
    if joints_3d is not None:
        n = min(len(joints_3d), max_people)
        out[:n] = joints_3d[:n]
    return out


def _joints_3d(world: np.ndarray, visibility: np.ndarray) -> np.ndarray:
    """mediapipe's world landmarks of each person ((people, 33, 3): x, y, z in metres, hips at the origin, axes of
    the camera's image) as our 17 joints, pelvis at the origin."""
    joints = map_to_h36m(world, visibility, "blazepose")[0].astype(np.float32)
    return joints - joints[:, :1]


class MediaPipePoseDetector:
    """BlazePose through mediapipe's solutions API, tracking one person across frames (video mode)."""

    name = "mediapipe-blazepose-1"
    max_people = 1

    def __init__(self, min_detection_confidence: float = 0.5):
        mp = import_mediapipe()
        self._pose = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1, smooth_landmarks=True,
                                            min_detection_confidence=min_detection_confidence,
                                            min_tracking_confidence=0.5)
        self.last_feet = NO_FEET   # the foot points of the people of the last ``detect`` call
        self.last_joints_3d = NO_JOINTS_3D   # mediapipe's own 3D of their joints

    def detect(self, frame_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        height, width = frame_rgb.shape[:2]
        result = self._pose.process(frame_rgb)
        if result.pose_landmarks is None:
            self.last_feet, self.last_joints_3d = NO_FEET, NO_JOINTS_3D
            return _nobody()
        landmarks = result.pose_landmarks.landmark
        points = np.array([[lm.x * width, lm.y * height, lm.z * width] for lm in landmarks], np.float32)
        visibility = np.array([lm.visibility for lm in landmarks], np.float32)
        self.last_feet = map_feet(points[None], visibility[None], "blazepose")
        joints, confidence = map_to_h36m(points[None, :, :2], visibility[None], "blazepose")
        world = np.array([[lm.x, lm.y, lm.z] for lm in result.pose_world_landmarks.landmark], np.float32)
        self.last_joints_3d = _joints_3d(world[None], visibility[None])
        return joints, confidence

    def close(self) -> None:
        self._pose.close()


WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")
TASK_VARIANTS = ("full", "heavy")


def task_model_path(variant: str) -> str:
    """The bundled PoseLandmarker model of ``variant`` (assembled by ``training.pose_models``)."""
    if variant not in TASK_VARIANTS:
        raise ValueError(f"pose model must be one of {TASK_VARIANTS}, not {variant!r}")
    path = os.path.join(WEIGHTS, f"pose_landmarker_{variant}.task")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} is missing: python -m training.pose_models assembles it "
                                "(make setup-runtime does)")
    return path


class TasksPoseDetector:
    """BlazePose through mediapipe's Tasks API (``PoseLandmarker``, video mode) with a bundled model.

    The same landmark network as the solutions API for ``full``, a larger one for ``heavy``;
    it runs on mediapipe 0.10.21 and on the 1.x wheels (Python 3.11 to 3.13, where the solutions
    API is gone). It finds up to ``max_people`` people in each frame. Frame times are the
    frame's index over ``fps`` (the landmark smoothing needs increasing times). Each person's world
    landmarks become ``last_joints_3d`` beside the 2D. A frame in which it finds nobody is looked at
    again in square crops (``core.crop_search``), which find people too small in a wide frame for the
    squeezed whole; ``crop_search=False`` leaves that out.
    """

    def __init__(self, variant: str = "full", fps: float = 30.0, min_detection_confidence: float = 0.5,
                 max_people: int = 1, keep_landmarks: bool = False, crop_search: bool = True):
        mp = import_mediapipe()
        from mediapipe.tasks.python import BaseOptions, vision
        self.name = self.name_of(variant, crop_search)
        self._mp = mp
        def landmarker(mode):
            return vision.PoseLandmarker.create_from_options(vision.PoseLandmarkerOptions(
                base_options=BaseOptions(model_asset_path=task_model_path(variant)), running_mode=mode,
                num_poses=max_people, min_pose_detection_confidence=min_detection_confidence,
                min_pose_presence_confidence=0.5, min_tracking_confidence=0.5))
        self._make_landmarker, self._modes = landmarker, vision.RunningMode
        self._landmarker = landmarker(vision.RunningMode.VIDEO)
        self._still_landmarker = None   # the same model on still images, made when a crop is first looked at
        # (the search is handed ``_detect_still`` per call and holds no reference back to this detector)
        self._crops = SquareCropSearch(max_people) if crop_search else None
        self.max_people = max_people
        self._step_ms, self._frames = 1000.0 / max(fps, 1e-3), 0
        self.keep_landmarks = keep_landmarks
        self.landmarks: list[np.ndarray] = []  # per frame (people, 33, 4): x, y (pixels), z, visibility (training data)
        self.last_feet = NO_FEET   # the foot points of the people of the last ``detect`` call
        self.last_joints_3d = NO_JOINTS_3D   # mediapipe's own 3D of their joints

    @staticmethod
    def name_of(variant: str, crop_search: bool = True) -> str:
        # "-crops": frames without anyone are looked at again in squares (a cache made without them is redone)
        return f"mediapipe-tasks-{variant}" + ("-crops" if crop_search else "")

    def detect(self, frame_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        height, width = frame_rgb.shape[:2]
        frame_rgb = np.ascontiguousarray(frame_rgb)
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=frame_rgb)
        result = self._landmarker.detect_for_video(image, int(round(self._frames * self._step_ms)))
        self._frames += 1
        points, visibility, world = landmark_arrays(result, width, height)
        if self._crops is not None:
            if len(points):
                self._crops.found_in_whole_frame(points)
            else:
                points, visibility, world = self._crops.find(frame_rgb, self._detect_still)
        if self.keep_landmarks:
            self.landmarks.append(np.concatenate([points, visibility[..., None]], axis=-1).reshape(-1, 33, 4))
        if not len(points):
            self.last_feet, self.last_joints_3d = NO_FEET, NO_JOINTS_3D
            return _nobody()
        self.last_feet = map_feet(points, visibility, "blazepose")
        joints, confidence = map_to_h36m(points[..., :2], visibility, "blazepose")
        self.last_joints_3d = _joints_3d(world, visibility)
        return joints, confidence

    def _detect_still(self, image_rgb: np.ndarray) -> Landmarks:
        if self._still_landmarker is None:
            self._still_landmarker = self._make_landmarker(self._modes.IMAGE)
        result = self._still_landmarker.detect(self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=image_rgb))
        return landmark_arrays(result, image_rgb.shape[1], image_rgb.shape[0])

    def close(self) -> None:
        self._landmarker.close()
        if self._still_landmarker is not None:
            self._still_landmarker.close()


def landmark_arrays(result, width: int, height: int) -> Landmarks:
    """A PoseLandmarker result on an image as arrays: landmarks (people, 33, 3: x, y in the image's pixels,
    depth in pixels), visibility (people, 33) and world landmarks (people, 33, 3, metres)."""
    people = len(result.pose_landmarks)
    points = np.array([[[lm.x * width, lm.y * height, lm.z * width] for lm in person]
                       for person in result.pose_landmarks], np.float32).reshape(people, 33, 3)
    visibility = np.array([[lm.visibility for lm in person] for person in result.pose_landmarks],
                          np.float32).reshape(people, 33)
    world = np.array([[[lm.x, lm.y, lm.z] for lm in person] for person in result.pose_world_landmarks],
                     np.float32).reshape(people, 33, 3)
    return points, visibility, world


DEFAULT_MAX_PEOPLE = 4   # people looked for in each frame; more costs speed on crowded clips only


class DetectorFactory:
    """Makes detectors of one kind for ``core.parallel_detection`` (its ``name`` and ``max_people`` sign the cache)."""

    def __init__(self, kind: str = "tasks-full", fps: float = 30.0, max_people: int = DEFAULT_MAX_PEOPLE):
        if kind not in DETECTORS:
            raise ValueError(f"detector must be one of {sorted(DETECTORS)}, not {kind!r}")
        self.kind, self.fps = kind, fps
        self.variant = kind.removeprefix("tasks-")  # the bundled model, for the Tasks detectors
        self.name = MediaPipePoseDetector.name if kind == "solutions" else TasksPoseDetector.name_of(self.variant)
        self.max_people = 1 if kind == "solutions" else max_people

    def __call__(self) -> Detector:
        if self.kind == "solutions":
            return MediaPipePoseDetector()
        return TasksPoseDetector(self.variant, self.fps, max_people=self.max_people)


DETECTORS = {"tasks-full": "mediapipe Tasks API, full model (bundled)",
             "tasks-heavy": "mediapipe Tasks API, heavy model (bundled; more accurate, slower)",
             "solutions": "mediapipe solutions API, model complexity 1, one person only (mediapipe 0.10 only)"}


def detect_video(path: str, detector: Detector, progress: ProgressCallback | None = None,
                 should_stop: Callable[[], bool] | None = None, start: int = 0,
                 stop: int | None = None) -> PeopleDetections:
    """Run one ``detector`` over frames ``start`` to ``stop``, streaming, without a cache (benchmarks, tests)."""
    max_people = int(getattr(detector, "max_people", 1))
    info = probe(path)
    total = max((min(stop, info.frame_count) if stop else info.frame_count) - start, 0)
    positions, confidence, feet, feet_confidence, joints_3d = [], [], [], [], []
    started = time.perf_counter()
    for frame in read_frames(path, start, stop):
        if should_stop is not None and should_stop():
            raise InterruptedError("detection cancelled")
        joints, conf = padded(*detector.detect(frame.image), max_people)
        positions.append(joints)
        confidence.append(conf)
        points, points_conf = padded_feet(getattr(detector, "last_feet", None), max_people)
        feet.append(points)
        feet_confidence.append(points_conf)
        joints_3d.append(padded_joints_3d(getattr(detector, "last_joints_3d", None), max_people))
        if progress is not None:
            progress(len(positions), total, len(positions) / max(time.perf_counter() - started, 1e-9))
    if not positions:
        raise ValueError(f"{path}: no frames in the range {start}-{stop}")
    has_feet, has_3d = hasattr(detector, "last_feet"), hasattr(detector, "last_joints_3d")
    return PeopleDetections(np.stack(positions), np.stack(confidence), info.width, info.height, info.fps,
                            np.stack(feet) if has_feet else None, np.stack(feet_confidence) if has_feet else None,
                            np.stack(joints_3d) if has_3d else None)
