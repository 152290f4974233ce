"""Pinhole camera with optional radial/tangential distortion (the Human3.6M model), and screen-coordinate normalization.

Projection functions use only operators and methods shared by numpy arrays and torch
tensors, so the same code serves the numpy pipeline and the torch reprojection loss.

Conventions: camera space is x right, y down, z forward (OpenCV). A camera's pose in the
world is a rotation ``R`` (columns are the camera axes in world coordinates) and its
centre ``t``; ``X_cam = R^T (X_world - t)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


def normalize_screen_coordinates(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Map pixels to [-1, 1] along x and keep the aspect ratio (y spans [-h/w, h/w]).

    The same scale on both axes keeps the lifter's input free of aspect-ratio distortion.
    """
    points = np.asarray(points, dtype=np.float32)
    return points / width * 2 - np.array([1, height / width], dtype=np.float32)


def image_coordinates(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Inverse of :func:`normalize_screen_coordinates`."""
    points = np.asarray(points, dtype=np.float32)
    return (points + np.array([1, height / width], dtype=np.float32)) * width / 2


@dataclass(frozen=True)
class CameraIntrinsics:
    """Intrinsics in pixels plus distortion: radial (k1, k2, k3) and tangential (p1, p2)."""

    width: int
    height: int
    focal: tuple[float, float]
    center: tuple[float, float]
    radial: tuple[float, float, float] = (0.0, 0.0, 0.0)
    tangential: tuple[float, float] = (0.0, 0.0)

    @classmethod
    def from_fov(cls, width: int, height: int, horizontal_fov_deg: float) -> "CameraIntrinsics":
        """Square pixels, principal point at the image centre, given horizontal field of view."""
        if not 1.0 <= horizontal_fov_deg <= 179.0:
            raise ValueError(f"field of view must be between 1 and 179 degrees, got {horizontal_fov_deg}")
        f = width / 2 / math.tan(math.radians(horizontal_fov_deg) / 2)
        return cls(width, height, (f, f), (width / 2, height / 2))

    @classmethod
    def from_focal_mm(cls, width: int, height: int, focal_mm: float, sensor_width_mm: float = 36.0) -> "CameraIntrinsics":
        """From a lens focal length and the sensor width (36 mm = full frame), as cameras and Blender state them."""
        if focal_mm <= 0 or sensor_width_mm <= 0:
            raise ValueError("focal length and sensor width must be positive")
        f = focal_mm / sensor_width_mm * width
        return cls(width, height, (f, f), (width / 2, height / 2))

    @property
    def horizontal_fov_deg(self) -> float:
        return math.degrees(2 * math.atan(self.width / 2 / self.focal[0]))

    def normalized_vector(self) -> np.ndarray:
        """The 9-vector (f, c, k, p) in normalized screen units, as the reprojection loss uses it.

        Focal and centre are expressed in the units of :func:`normalize_screen_coordinates`,
        so projecting with this vector lands directly in the lifter's input space.
        """
        f = np.array(self.focal, dtype=np.float32) / self.width * 2
        c = normalize_screen_coordinates(np.array(self.center, dtype=np.float32), self.width, self.height)
        return np.concatenate([f, c, np.array(self.radial, np.float32), np.array(self.tangential, np.float32)])

    def pixel_vector(self) -> np.ndarray:
        """The same 9-vector in pixels."""
        return np.array([*self.focal, *self.center, *self.radial, *self.tangential], dtype=np.float32)


def project_to_2d(points_cam, intrinsics):
    """Perspective projection with distortion of camera-space points (..., 3) to (..., 2).

    ``intrinsics`` is a 9-vector (fx, fy, cx, cy, k1, k2, k3, p1, p2), broadcastable against
    the leading dimensions of ``points_cam`` (for example shape (N, 1, 9) for (N, J, 3) points).
    Accepts numpy arrays or torch tensors.
    """
    f = intrinsics[..., 0:2]
    c = intrinsics[..., 2:4]
    k = intrinsics[..., 4:7]
    p = intrinsics[..., 7:9]
    xy = points_cam[..., 0:2] / points_cam[..., 2:3].clip(1e-6, None)
    r2 = (xy[..., 0:1] ** 2 + xy[..., 1:2] ** 2).clip(None, 1.0)
    radial = 1 + k[..., 0:1] * r2 + k[..., 1:2] * r2 ** 2 + k[..., 2:3] * r2 ** 3
    tan = p[..., 0:1] * xy[..., 0:1] + p[..., 1:2] * xy[..., 1:2]
    xy_distorted = xy * (radial + tan) + p * r2
    return f * xy_distorted + c


def project_to_2d_linear(points_cam, intrinsics):
    """Projection without distortion (uses only focal and centre of the 9-vector)."""
    f = intrinsics[..., 0:2]
    c = intrinsics[..., 2:4]
    return f * points_cam[..., 0:2] / points_cam[..., 2:3].clip(1e-6, None) + c


def undistort_points(points_2d: np.ndarray, intrinsics: np.ndarray, iterations: int = 20) -> np.ndarray:
    """Ideal (undistorted) normalized image coordinates x/z, y/z of distorted pixels.

    Fixed-point inversion of the distortion model of :func:`project_to_2d`.
    """
    intrinsics = np.asarray(intrinsics, dtype=np.float64)
    f, c, k, p = intrinsics[..., 0:2], intrinsics[..., 2:4], intrinsics[..., 4:7], intrinsics[..., 7:9]
    distorted = (np.asarray(points_2d, dtype=np.float64) - c) / f
    xy = distorted.copy()
    for _ in range(iterations):
        r2 = np.minimum(np.sum(xy ** 2, axis=-1, keepdims=True), 1.0)
        radial = 1 + k[..., 0:1] * r2 + k[..., 1:2] * r2 ** 2 + k[..., 2:3] * r2 ** 3
        tan = p[..., 0:1] * xy[..., 0:1] + p[..., 1:2] * xy[..., 1:2]
        xy = (distorted - p * r2) / (radial + tan)
    return xy


def unproject(points_2d: np.ndarray, depth: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """Camera-space points (..., 3) from pixels (..., 2) and their depth z (..., 1)."""
    xy = undistort_points(points_2d, intrinsics)
    depth = np.asarray(depth, dtype=np.float64)
    return np.concatenate([xy * depth, depth], axis=-1)


def world_to_camera(points_world: np.ndarray, rotation: np.ndarray, center: np.ndarray) -> np.ndarray:
    """X_cam = R^T (X_world - t) for points (..., 3)."""
    return (np.asarray(points_world) - center) @ np.asarray(rotation)


def camera_to_world(points_cam: np.ndarray, rotation: np.ndarray, center: np.ndarray) -> np.ndarray:
    """X_world = R X_cam + t for points (..., 3)."""
    return np.asarray(points_cam) @ np.asarray(rotation).T + center


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """Rotation matrix of a unit quaternion (w, x, y, z); Human3.6M stores camera orientations this way."""
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def look_at_rotation(camera_center: np.ndarray, target: np.ndarray, world_up: np.ndarray) -> np.ndarray:
    """Camera rotation R (columns = camera x, y, z axes in world) looking from centre at target.

    Camera y points down in the image, so it is the negated up direction projected on the image plane.
    """
    forward = np.asarray(target, float) - np.asarray(camera_center, float)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, np.asarray(world_up, float))
    norm = np.linalg.norm(right)
    if norm < 1e-8:
        raise ValueError("camera looks straight along the up axis; choose another target")
    right /= norm
    down = np.cross(forward, right)
    return np.stack([right, down, forward], axis=1)


@dataclass(frozen=True)
class CameraPose:
    """Camera orientation and centre in the world."""

    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    center: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def to_camera(self, points_world: np.ndarray) -> np.ndarray:
        return world_to_camera(points_world, self.rotation, self.center)

    def to_world(self, points_cam: np.ndarray) -> np.ndarray:
        return camera_to_world(points_cam, self.rotation, self.center)


def fit_root_translation(poses: np.ndarray, keypoints: np.ndarray, confidence: np.ndarray,
                         intrinsics: CameraIntrinsics) -> np.ndarray:
    """Camera-space root positions (T, 3) that best project root-relative poses (T, J, 3, metres)
    onto the keypoints (T, J, 2, pixels), weighted by confidence.

    For a pinhole camera, u = fx (X + tx) / (Z + tz) + cx is linear in t once multiplied out:
    fx tx - (u - cx) tz = (u - cx) Z - fx X (and likewise for y), so each frame is a 3-unknown
    weighted least-squares problem. Distortion is removed from the keypoints first.
    """
    ideal = undistort_points(keypoints, intrinsics.pixel_vector())          # (T, J, 2): x/z, y/z
    x, y = ideal[..., 0], ideal[..., 1]
    X, Y, Z = poses[..., 0], poses[..., 1], poses[..., 2]
    w = np.sqrt(np.clip(confidence, 1e-3, 1.0))
    zeros, ones = np.zeros_like(x), np.ones_like(x)
    rows_x = np.stack([ones, zeros, -x], axis=-1) * w[..., None]            # tx - x tz = x Z - X
    rows_y = np.stack([zeros, ones, -y], axis=-1) * w[..., None]            # ty - y tz = y Z - Y
    a = np.concatenate([rows_x, rows_y], axis=1)                             # (T, 2J, 3)
    b = np.concatenate([(x * Z - X) * w, (y * Z - Y) * w], axis=1)           # (T, 2J)
    ata = np.einsum("tki,tkj->tij", a, a) + 1e-9 * np.eye(3)
    atb = np.einsum("tki,tk->ti", a, b)
    return np.linalg.solve(ata, atb[..., None])[..., 0]
