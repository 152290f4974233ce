"""Video input through OpenCV, one frame at a time, so memory does not grow with the clip's length."""
from __future__ import annotations

import os
import queue
import threading
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


def iter_frames(path: str, start: int = 0, stop: int | None = None, rgb: bool = True,
                prefetch: int = 4) -> Iterator[np.ndarray]:
    """Frames ``start`` to ``stop`` (exclusive) as (H, W, 3) uint8 arrays, streamed.

    A background thread decodes up to ``prefetch`` frames ahead (OpenCV releases the GIL while
    decoding), so decoding overlaps whatever the caller does with each frame; memory stays bounded.
    """
    probe(path)
    cv2 = _cv2()
    frames: queue.Queue = queue.Queue(maxsize=max(prefetch, 1))
    stopping = threading.Event()
    done = object()

    def decode() -> None:
        capture = cv2.VideoCapture(path)
        try:
            if start:
                capture.set(cv2.CAP_PROP_POS_FRAMES, start)
            index = start
            while not stopping.is_set() and (stop is None or index < stop):
                ok, frame = capture.read()
                if not ok:
                    break
                frames.put(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if rgb else frame)
                index += 1
        finally:
            capture.release()
            frames.put(done)

    worker = threading.Thread(target=decode, name="video-decode", daemon=True)
    worker.start()
    try:
        while (frame := frames.get()) is not done:
            yield frame
    finally:
        stopping.set()
        while worker.is_alive():  # unblock a decoder waiting on a full queue
            try:
                frames.get(timeout=0.1)
            except queue.Empty:
                pass
        worker.join()
