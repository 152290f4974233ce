"""Preview video: each frame with its 2D skeleton, beside a drawn 3D view of the world-space result."""
from __future__ import annotations

import queue
import threading
from typing import Iterator

import numpy as np

from .skeleton import H36M_SKELETON
from .video import read_frames

SK = H36M_SKELETON
LEFT = set(SK.joints_left)
COLOURS = {"left": (255, 140, 0), "right": (0, 160, 255), "centre": (230, 230, 230)}  # BGR


def _bone_colour(child: int) -> tuple[int, int, int]:
    if child in LEFT:
        return COLOURS["left"]
    return COLOURS["right"] if child in SK.joints_right else COLOURS["centre"]


class PreviewWriter:
    """Writes frames (BGR) of ``height`` pixels: the video frame with keypoints | a 3D panel.

    Drawing happens in the caller's thread and encoding in a second one (OpenCV releases the GIL
    in both), so on two cores the preview costs about the encoder's time alone.
    """

    def __init__(self, path: str, fps: float, frame_size: tuple[int, int], poses_world: np.ndarray,
                 height: int = 480, feet_world: np.ndarray | None = None):
        import cv2
        self.cv2 = cv2
        width, frame_height = frame_size
        self.scale = height / frame_height
        self.left_width = int(round(width * self.scale)) // 2 * 2
        self.height = height
        self.panel = height
        self.writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (self.left_width + self.panel, height))
        if not self.writer.isOpened():
            raise OSError(f"cannot write preview video {path}")
        # One fixed camera for the 3D panel: looking at the motion's centre from the front-right, above.
        self.poses, self.feet = poses_world, feet_world   # feet: (T, 4, 3) heels and toe tips, or None
        centre = poses_world[:, 0].mean(axis=0)
        extent = max(np.ptp(poses_world[..., :2].reshape(-1, 2), axis=0).max(), 2.0)
        self.centre, self.zoom = centre, 0.8 * self.panel / (extent + 1.0)
        yaw, pitch = np.radians(-30), np.radians(15)
        self.view = np.array([[np.cos(yaw), np.sin(yaw), 0],
                              [-np.sin(yaw) * np.sin(pitch), np.cos(yaw) * np.sin(pitch), np.cos(pitch)]])
        self.background = self._floor_grid()
        self._queue: queue.Queue = queue.Queue(maxsize=4)
        self._encoder = threading.Thread(target=self._encode, name="preview-encode", daemon=True)
        self._encoder.start()
        self._error: BaseException | None = None

    def _project(self, points: np.ndarray) -> np.ndarray:
        flat = (points - self.centre) @ self.view.T
        return np.column_stack([self.panel / 2 + flat[:, 0] * self.zoom, self.panel * 0.6 - flat[:, 1] * self.zoom])

    def _floor_grid(self) -> np.ndarray:
        """The 3D panel's empty floor, drawn once: the view does not move."""
        cv2 = self.cv2
        image = np.full((self.panel, self.panel, 3), 40, np.uint8)
        for g in np.arange(-3, 3.01, 0.5):
            for a, b in (([g, -3, 0], [g, 3, 0]), ([-3, g, 0], [3, g, 0])):
                p = self._project(np.array([a, b]) + np.array([self.centre[0], self.centre[1], 0]))
                cv2.line(image, tuple(p[0].astype(int)), tuple(p[1].astype(int)), (70, 70, 70), 1, cv2.LINE_AA)
        return image

    def _panel(self, t: int, contacts: np.ndarray | None, image: np.ndarray) -> None:
        cv2 = self.cv2
        image[:] = self.background
        joints = self._project(self.poses[t])
        for parent, child in SK.bones():
            cv2.line(image, tuple(joints[parent].astype(int)), tuple(joints[child].astype(int)),
                     _bone_colour(child), 3, cv2.LINE_AA)
        if self.feet is not None:
            self._draw_feet(image, joints, self._project(self.feet[t]), 3)
        if contacts is not None:
            for foot, name in enumerate(("left_ankle", "right_ankle")):
                if contacts[t, foot]:
                    cv2.circle(image, tuple(joints[SK.index(name)].astype(int)), 6, (0, 255, 0), -1, cv2.LINE_AA)

    def _draw_feet(self, image: np.ndarray, joints: np.ndarray, feet: np.ndarray, thickness: int) -> None:
        """Each ankle to its heel and to its toe tip (``core.keypoints.FOOT_POINTS`` order)."""
        for k, ankle in enumerate(("left_ankle", "left_ankle", "right_ankle", "right_ankle")):
            if np.isfinite(feet[k]).all():
                self.cv2.line(image, tuple(joints[SK.index(ankle)].astype(int)), tuple(feet[k].astype(int)),
                              _bone_colour(SK.index(ankle)), thickness, self.cv2.LINE_AA)

    def _encode(self) -> None:
        while (canvas := self._queue.get()) is not None:
            try:
                self.writer.write(canvas)
            except BaseException as exc:  # reported by the next write or close
                self._error = exc

    def write(self, t: int, frame_bgr: np.ndarray, keypoints: np.ndarray, filled: np.ndarray,
              contacts: np.ndarray | None = None, feet: np.ndarray | None = None) -> None:
        """One frame; ``feet``: the detector's heels and toe tips (4, 2+) in pixels, drawn where seen (None: not)."""
        cv2 = self.cv2
        if self._error is not None:
            raise self._error
        canvas = np.empty((self.height, self.left_width + self.panel, 3), np.uint8)
        frame = canvas[:, :self.left_width]
        if frame_bgr.shape[:2] != (self.height, self.left_width):
            cv2.resize(frame_bgr, (self.left_width, self.height), dst=frame, interpolation=cv2.INTER_LINEAR)
        else:
            frame[:] = frame_bgr
        points = keypoints * self.scale
        for parent, child in SK.bones():
            cv2.line(frame, tuple(points[parent].astype(int)), tuple(points[child].astype(int)),
                     _bone_colour(child), 2, cv2.LINE_AA)
        if feet is not None:
            self._draw_feet(frame, points, np.asarray(feet)[:, :2] * self.scale, 2)
        for j, point in enumerate(points):
            cv2.circle(frame, tuple(point.astype(int)), 3, (0, 0, 255) if filled[j] else (255, 255, 255), -1)
        self._panel(t, contacts, canvas[:, self.left_width:])
        self._queue.put(canvas)

    def close(self) -> None:
        self._queue.put(None)
        self._encoder.join()
        self.writer.release()
        if self._error is not None:
            raise self._error


def preview_frames(video: str, start: int, count: int, segments: list[tuple[int, int, str]]) -> Iterator[np.ndarray]:
    """The clip's frames ``start``..``start + count`` (BGR) for the preview, in order.

    Frames that detection kept, shrunk, in ``segments`` ((first frame, count, file), sorted) are
    read from there; only the others (detections taken from an earlier run's cache) are decoded
    from the video again.
    """
    import cv2
    frame = start
    for first, length, path in [*segments, (start + count, 0, "")]:
        if first > frame:  # a gap no segment covers: decode it from the source
            for decoded in read_frames(video, frame, min(first, start + count), rgb=False):
                yield decoded.image
                frame += 1
            frame = max(frame, first)
        if length == 0 or frame >= start + count:
            continue
        capture = cv2.VideoCapture(path)
        try:
            skip = frame - first
            for index in range(length):
                ok, image = capture.read()
                if not ok:
                    raise OSError(f"cannot read the preview frames kept in {path}")
                if index >= skip and frame < start + count:
                    yield image
                    frame += 1
        finally:
            capture.release()
