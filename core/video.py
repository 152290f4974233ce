"""Video input through OpenCV, one frame at a time, so memory does not grow with the clip's length."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator

import numpy as np


class VideoError(ValueError):
    """A video that cannot be used: missing, unreadable, empty."""


@dataclass(frozen=True)
class VideoInfo:
    path: str
    width: int
    height: int
    fps: float
    frame_count: int   # as the container states it; may be approximate


def _cv2():
    try:
        import cv2
    except ImportError as exc:  # pragma: no cover - opencv is a dependency
        raise VideoError("OpenCV (opencv-python-headless) is needed to read videos") from exc
    return cv2


def probe(path: str) -> VideoInfo:
    if not os.path.isfile(path):
        raise VideoError(f"video not found: {path}")
    cv2 = _cv2()
    capture = cv2.VideoCapture(path)
    try:
        if not capture.isOpened():
            raise VideoError(f"cannot open {path}: not a video OpenCV can decode, or the file is damaged")
        width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(capture.get(cv2.CAP_PROP_FPS)) or 30.0
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        ok, _ = capture.read()
        if not ok or width <= 0 or height <= 0:
            raise VideoError(f"{path} has no readable frames (empty or damaged video)")
    finally:
        capture.release()
    return VideoInfo(path, width, height, fps if 1 <= fps <= 1000 else 30.0, count)


def iter_frames(path: str, start: int = 0, stop: int | None = None, rgb: bool = True) -> Iterator[np.ndarray]:
    """Frames ``start`` to ``stop`` (exclusive) as (H, W, 3) uint8 arrays, streamed."""
    probe(path)
    cv2 = _cv2()
    capture = cv2.VideoCapture(path)
    try:
        if start:
            capture.set(cv2.CAP_PROP_POS_FRAMES, start)
        index = start
        while stop is None or index < stop:
            ok, frame = capture.read()
            if not ok:
                break
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if rgb else frame
            index += 1
    finally:
        capture.release()
