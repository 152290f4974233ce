"""Video input through OpenCV, one frame at a time, so memory does not grow with the clip's length.

A clip is a video file or a folder of images, one per frame, in the order of their names
(numbers within names in numeric order: frame_2 before frame_10). An image sequence has no
frame rate of its own: 30 frames per second is assumed unless the user gives one.
"""
from __future__ import annotations

import os
import queue
import re
import threading
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np


class VideoError(ValueError):
    """A video that cannot be used: missing, unreadable, empty."""


@dataclass(frozen=True)
class VideoInfo:
    path: str
    width: int
    height: int
    fps: float
    frame_count: int       # as the container states it; may be wrong (truncated files) or 0 (unknown)
    fps_source: str = "container"   # "container", "timestamps" (container had none) or "assumed" (30)

    def range_stop(self, stop: int | None) -> int | None:
        """Where a range asked to end at ``stop`` (None: the end) ends by the announced length; None if unknown."""
        if self.frame_count:
            return min(stop, self.frame_count) if stop is not None else self.frame_count
        return stop


@dataclass(frozen=True)
class DecodedFrame:
    index: int             # frame number in the video
    image: np.ndarray      # (H, W, 3) uint8, RGB or BGR as asked
    time_ms: float         # the decoder's presentation time; NaN when the container gives none


def _cv2():
    try:
        import cv2
    except ImportError as exc:  # pragma: no cover - opencv is a dependency
        raise VideoError("OpenCV (opencv-python-headless) is needed to read videos") from exc
    return cv2


def _rate_from_timestamps(capture, cv2, first_ms: float, frames: int = 8) -> float | None:
    """Frames per second from the first frames' presentation times, for containers that state no rate."""
    times = [first_ms]
    for _ in range(frames):
        if not capture.read()[0]:
            break
        times.append(capture.get(cv2.CAP_PROP_POS_MSEC))
    steps = np.diff(times)
    steps = steps[np.isfinite(steps) & (steps > 0)]
    return 1000.0 / float(np.median(steps)) if len(steps) else None


IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".exr")
SEQUENCE_FPS = 30.0


def image_files(folder: str) -> list[str]:
    """The images of a folder in frame order: names compared with their numbers as numbers."""
    def key(name: str):
        return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]
    names = [n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS) and not n.startswith(".")]
    return [os.path.join(folder, n) for n in sorted(names, key=key)]


def _probe_images(folder: str) -> VideoInfo:
    cv2 = _cv2()
    files = image_files(folder)
    if not files:
        raise VideoError(f"no images in folder {folder} (looked for {', '.join(IMAGE_EXTENSIONS)}): give a video "
                         "file or a folder holding one image per frame")
    first = cv2.imread(files[0], cv2.IMREAD_COLOR)
    if first is None:
        raise VideoError(f"cannot read {files[0]}: not an image OpenCV can decode, or the file is damaged")
    return VideoInfo(folder, first.shape[1], first.shape[0], SEQUENCE_FPS, len(files), "assumed")


def probe(path: str) -> VideoInfo:
    """Open the clip once: size, frame rate and announced frame count, and check that a frame decodes."""
    if os.path.isdir(path):
        return _probe_images(path)
    if not os.path.isfile(path):
        raise VideoError(f"video not found: {path}")
    cv2 = _cv2()
    capture = cv2.VideoCapture(path)
    try:
        if not capture.isOpened():
            raise VideoError(f"cannot open {path}: not a video OpenCV can decode, or the file is damaged")
        width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        count = max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
        ok, _ = capture.read()
        if not ok or width <= 0 or height <= 0:
            raise VideoError(f"{path} has no readable frames (empty or damaged video)")
        source = "container"
        if not (np.isfinite(fps) and 1 <= fps <= 1000):
            measured = _rate_from_timestamps(capture, cv2, capture.get(cv2.CAP_PROP_POS_MSEC))
            fps, source = (measured, "timestamps") if measured and 1 <= measured <= 1000 else (30.0, "assumed")
    finally:
        capture.release()
    return VideoInfo(path, width, height, fps, count, source)


def read_frames(path: str, start: int = 0, stop: int | None = None, rgb: bool = True, prefetch: int = 1,
                stopping: Callable[[], bool] | None = None, exact: bool = False) -> Iterator[DecodedFrame]:
    """Frames ``start`` to ``stop`` (exclusive) with their index and time, streamed; ends early at the video's end.

    A background thread decodes up to ``prefetch`` frames ahead (OpenCV releases the GIL while
    decoding), so decoding overlaps whatever the caller does with each frame; memory stays bounded.
    OpenCV seeks to ``start`` by time, which lands on the wrong frame in some variable-rate files;
    ``exact`` decodes from the first frame instead (slower, always right). The caller checks the
    video first (``probe``); this does not open it twice.
    """
    cv2 = _cv2()
    frames: queue.Queue = queue.Queue(maxsize=max(prefetch, 1))
    quit_event = threading.Event()
    done = object()

    def decode_images() -> None:
        files = image_files(path)
        try:
            size = None
            for index in range(start, min(stop, len(files)) if stop is not None else len(files)):
                if quit_event.is_set():
                    break
                frame = cv2.imread(files[index], cv2.IMREAD_COLOR)
                if frame is None:
                    raise VideoError(f"cannot read {files[index]}: not an image, or the file is damaged")
                size = size or frame.shape
                if frame.shape != size:
                    raise VideoError(f"{files[index]} is {frame.shape[1]}x{frame.shape[0]}, the images before it "
                                     f"{size[1]}x{size[0]}: every image of a sequence must have one size")
                image = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB, dst=frame) if rgb else frame
                frames.put(DecodedFrame(index, image, 1000.0 * index / SEQUENCE_FPS))
        except VideoError as exc:
            frames.put(exc)
        finally:
            frames.put(done)

    def decode() -> None:
        # one decoding thread: each worker has its own decoder already, and FFmpeg's frame threads
        # each hold reference frames (about 6 MB a thread at 1768x994), for speed not needed here
        capture = cv2.VideoCapture(path, cv2.CAP_ANY, [cv2.CAP_PROP_N_THREADS, 1])
        try:
            if start and exact:
                for _ in range(start):
                    if not capture.grab():
                        return
            elif start:
                capture.set(cv2.CAP_PROP_POS_FRAMES, start)
            index = start
            while not quit_event.is_set() and (stop is None or index < stop):
                ok, frame = capture.read()
                if not ok:
                    break
                time_ms = capture.get(cv2.CAP_PROP_POS_MSEC)
                image = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB, dst=frame) if rgb else frame  # in place: one buffer
                frames.put(DecodedFrame(index, image, float(time_ms) if time_ms >= 0 else float("nan")))
                index += 1
        finally:
            capture.release()
            frames.put(done)

    worker = threading.Thread(target=decode_images if os.path.isdir(path) else decode, name="video-decode",
                              daemon=True)
    worker.start()
    try:
        while (item := frames.get()) is not done:
            if isinstance(item, Exception):
                raise item
            yield item
            if stopping is not None and stopping():
                break
    finally:
        quit_event.set()
        while worker.is_alive():  # unblock a decoder waiting on a full queue
            try:
                frames.get(timeout=0.1)
            except queue.Empty:
                pass
        worker.join()
