"""2D detectors behind one small interface, and detection of a whole video with caching.

A detector turns one RGB frame into our 17 joints in pixels with a confidence each. The
default is mediapipe's BlazePose (``mp.solutions.pose``, model complexity 1, whose model ships
inside the package and runs offline). Other detectors plug in by implementing ``Detector``;
keypoints produced elsewhere come in through ``core.keypoints`` importers instead.
"""
from __future__ import annotations

import json
import os
import time
from typing import Callable, Protocol

import numpy as np

from .keypoints import KeypointTrack, map_to_h36m
from .video import VideoInfo, iter_frames, probe

ProgressCallback = Callable[[int, int, float], None]  # (frames done, total frames or 0, frames per second)


class Detector(Protocol):
    name: str

    def detect(self, frame_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(17, 2) pixel positions and (17,) confidences; all-zero confidence when nobody is seen."""

    def close(self) -> None:
        ...


class MediaPipePoseDetector:
    """BlazePose through mediapipe's solutions API, tracking across frames (video mode)."""

    name = "mediapipe-blazepose-1"

    def __init__(self, min_detection_confidence: float = 0.5, keep_world_landmarks: bool = False):
        try:
            import mediapipe as mp
        except ImportError as exc:
            raise RuntimeError("mediapipe is not installed; install it or import keypoints from JSON instead") from exc
        self._pose = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1, smooth_landmarks=True,
                                            min_detection_confidence=min_detection_confidence,
                                            min_tracking_confidence=0.5)
        self.keep_world_landmarks = keep_world_landmarks
        self.world_landmarks: list[np.ndarray] = []

    def detect(self, frame_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        height, width = frame_rgb.shape[:2]
        result = self._pose.process(frame_rgb)
        if result.pose_landmarks is None:
            if self.keep_world_landmarks:
                self.world_landmarks.append(np.full((17, 3), np.nan, np.float32))
            return np.zeros((17, 2), np.float32), np.zeros(17, np.float32)
        landmarks = result.pose_landmarks.landmark
        points = np.array([[lm.x * width, lm.y * height] for lm in landmarks], np.float32)
        visibility = np.array([lm.visibility for lm in landmarks], np.float32)
        joints, confidence = map_to_h36m(points[None], visibility[None], "blazepose")
        if self.keep_world_landmarks:
            world = np.array([[lm.x, lm.y, lm.z] for lm in result.pose_world_landmarks.landmark], np.float32)
            self.world_landmarks.append(map_to_h36m(world[None], visibility[None], "blazepose")[0][0])
        return joints[0], confidence[0]

    def close(self) -> None:
        self._pose.close()


def detect_video(path: str, detector: Detector, progress: ProgressCallback | None = None,
                 should_stop: Callable[[], bool] | None = None, start: int = 0, stop: int | None = None) -> KeypointTrack:
    """Run ``detector`` over frames ``start`` to ``stop``, streaming; only the keypoints are kept in memory."""
    info = probe(path)
    total = max((min(stop, info.frame_count) if stop else info.frame_count) - start, 0)
    positions, confidence = [], []
    started = time.perf_counter()
    for index, frame in enumerate(iter_frames(path, start, stop)):
        if should_stop is not None and should_stop():
            raise InterruptedError("detection cancelled")
        joints, conf = detector.detect(frame)
        positions.append(joints)
        confidence.append(conf)
        if progress is not None:
            progress(index + 1, total, (index + 1) / max(time.perf_counter() - started, 1e-9))
    if not positions:
        raise ValueError(f"{path}: no frames in the range {start}-{stop}")
    return KeypointTrack(np.stack(positions), np.stack(confidence), info.width, info.height, info.fps)


def _video_signature(info: VideoInfo, detector_name: str, start: int, stop: int | None) -> str:
    stat = os.stat(info.path)
    return json.dumps({"video": os.path.abspath(info.path), "size": stat.st_size, "mtime": int(stat.st_mtime),
                       "detector": detector_name, "start": start, "stop": stop})


def detect_video_cached(path: str, cache_path: str, detector_factory: Callable[[], Detector],
                        progress: ProgressCallback | None = None, should_stop: Callable[[], bool] | None = None,
                        start: int = 0, stop: int | None = None) -> tuple[KeypointTrack, bool]:
    """Detections from ``cache_path`` if they belong to this video and detector, else detect and save.

    Returns the track and whether it came from the cache.
    """
    info = probe(path)
    signature_path = cache_path + ".json"
    name = getattr(detector_factory, "name", None) or "detector"
    signature = _video_signature(info, name, start, stop)
    if os.path.isfile(cache_path) and os.path.isfile(signature_path):
        with open(signature_path) as handle:
            if handle.read() == signature:
                return KeypointTrack.load(cache_path), True
    detector = detector_factory()
    try:
        track = detect_video(path, detector, progress, should_stop, start, stop)
    finally:
        detector.close()
    track.save(cache_path)
    with open(signature_path, "w") as handle:
        handle.write(signature)
    return track, False
