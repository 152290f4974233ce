"""Camera space -> a world frame with Z up and the feet on the floor (Blender's convention).

Up is estimated from the body itself: the footprints (planted ankles) over the clip lie on the
floor plane, fitted when the feet cover enough ground, and otherwise the mean pelvis-to-thorax
direction (people mostly stand upright). Where the footprints leave a direction open (a walk
along one line: the floor's slope across it; standing still: all of it), the body's up fills it
in, pulled towards a level camera: the lifted trunk's mean direction strays from gravity by about
10° (a runner's lean seen obliquely comes out partly sideways), while cameras are rarely rolled
by more than a few degrees. World X follows the camera's right,
world Y points away from the camera, the origin is under the first frame's pelvis. Where the user
knows the camera (a tripod), its pitch and its height above the floor replace the estimates.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cleanup import ANKLE_HEIGHT
from .skeleton import ANKLES, H36M_SKELETON

SK = H36M_SKELETON


@dataclass
class WorldFrame:
    rotation: np.ndarray   # (3, 3): world = (camera - origin) @ rotation
    origin: np.ndarray     # (3,) camera-space point that becomes the world origin

    def apply(self, points_camera: np.ndarray) -> np.ndarray:
        return (np.asarray(points_camera) - self.origin) @ self.rotation

    def camera_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """The camera in the world: its rotation (columns = camera axes in world) and centre."""
        return self.rotation.T, self.apply(np.zeros(3))


def _upright_direction(poses_camera: np.ndarray) -> np.ndarray:
    spine = poses_camera[:, SK.index("thorax")] - poses_camera[:, SK.index("pelvis")]
    up = np.mean(spine / np.linalg.norm(spine, axis=-1, keepdims=True).clip(1e-9), axis=0)
    return up / np.linalg.norm(up)


BODY_UP_SIGMA = 10.0   # degrees: how far the lifted trunk's mean direction typically strays from gravity
ROLL_SIGMA = 7.0       # degrees: how far cameras are typically rolled (tripods level, phones held nearly so)


def towards_level_camera(body_up: np.ndarray, along: np.ndarray | None = None) -> np.ndarray:
    """The up direction that best agrees with both the body's up and a camera without roll.

    Minimises |n - body_up|^2 / BODY_UP_SIGMA^2 + n_x^2 / ROLL_SIGMA^2 (n_x, the sideways part of up
    in camera space, is the roll for small angles), with ``n`` square to ``along`` where the footprints
    fix the floor's slope along one direction; then normalised.
    """
    weights = np.array([1 / BODY_UP_SIGMA ** 2 + 1 / ROLL_SIGMA ** 2, 1 / BODY_UP_SIGMA ** 2, 1 / BODY_UP_SIGMA ** 2])
    target = body_up / BODY_UP_SIGMA ** 2
    up = target / weights
    if along is not None:  # Lagrange multiplier of the constraint n . along = 0
        up = up - (along @ up) / (along @ (along / weights)) * along / weights
    return up / np.linalg.norm(up)


LINE_LIKE = 0.2   # feet whose ground positions spread less than this across their main direction walked a line


MIN_FOOTPRINTS = 10      # fewer footprints on one plane than this: the body's up instead
FLOOR_TOLERANCE = 0.05   # metres: footprints this near a plane stand on it
MAX_FLOOR_TILT = 25.0    # degrees between the body's up and a floor taken as real


def _plane_normal(points: np.ndarray, body_up: np.ndarray) -> np.ndarray:
    """The normal (towards ``body_up``) of the plane through ``points``; a line of points (a straight walk)
    gives the slope along it only, and the body's up, pulled towards a level camera, fills in across it."""
    centred = points - points.mean(axis=0)
    _, spread_by_axis, axes = np.linalg.svd(centred, full_matrices=False)
    if spread_by_axis[1] < LINE_LIKE * spread_by_axis[0]:
        normal = towards_level_camera(body_up, along=axes[0])
    else:
        normal = axes[-1]
    normal = normal / np.linalg.norm(normal)
    return normal if normal @ body_up > 0 else -normal


def estimate_up(poses_camera: np.ndarray, min_spread: float = 0.6, seed: int = 0,
                contacts: np.ndarray | None = None) -> np.ndarray:
    """Unit up vector in camera space from the floor under the feet, or the spine when the feet barely move.

    The footprints are the planted ankles (``contacts``, (T, 2) left and right), or without contacts
    each frame's lower ankle. The floor is the plane that the most footprints lie on, found by
    sampling planes through three of them (a person who also stands on a box, or jumps, leaves
    footprints off the floor: they do not tilt it), then fitted to the footprints on it.
    """
    body_up = _upright_direction(poses_camera)
    ankles = poses_camera[:, list(ANKLES)]
    if contacts is not None and contacts.sum() >= MIN_FOOTPRINTS:
        footprints = ankles[np.asarray(contacts, bool)]
    else:
        heights = ankles @ body_up
        footprints = ankles[np.arange(len(ankles)), np.argmin(heights, axis=1)]
    spread = np.ptp(footprints - np.outer(footprints @ body_up, body_up), axis=0).max() if len(footprints) else 0.0
    if spread < min_spread:
        return towards_level_camera(body_up)
    rng = np.random.default_rng(seed)
    best, best_count = None, 0
    for _ in range(200):
        sample = footprints[rng.choice(len(footprints), 3, replace=False)]
        normal = np.cross(sample[1] - sample[0], sample[2] - sample[0])
        if np.linalg.norm(normal) < 1e-9:
            continue
        normal /= np.linalg.norm(normal)
        normal = normal if normal @ body_up > 0 else -normal
        if normal @ body_up < np.cos(np.radians(MAX_FLOOR_TILT)):
            continue
        on_plane = np.abs((footprints - sample[0]) @ normal) < FLOOR_TOLERANCE
        if on_plane.sum() > best_count:
            best, best_count = on_plane, int(on_plane.sum())
    if best is None or best_count < MIN_FOOTPRINTS:
        return towards_level_camera(body_up)
    normal = _plane_normal(footprints[best], body_up)
    # A floor tilted far from the body's up means the fit caught noise, not the floor.
    return normal if normal @ body_up > np.cos(np.radians(MAX_FLOOR_TILT)) else towards_level_camera(body_up)


def up_from_pitch(pitch_deg: float) -> np.ndarray:
    """Up in camera space (x right, y down, z forward) for a level camera looking ``pitch_deg`` below the horizon."""
    pitch = np.radians(pitch_deg)
    return np.array([0.0, -np.cos(pitch), -np.sin(pitch)])


def camera_angles(frame: WorldFrame) -> dict:
    """The camera's pitch (degrees below the horizon), roll (degrees, the image's right side up) and height (m)."""
    up = frame.rotation[:, 2]  # world up in camera coordinates
    return {"pitch_deg": float(np.degrees(np.arcsin(np.clip(-up[2], -1, 1)))),
            "roll_deg": float(np.degrees(np.arctan2(up[0], -up[1]))),
            "height_m": float(frame.camera_pose()[1][2])}


def world_frame(poses_camera: np.ndarray, pitch_deg: float | None = None,
                camera_height: float | None = None, contacts: np.ndarray | None = None) -> WorldFrame:
    """Rotation and origin that put the clip on a Z-up floor at z = 0; a known camera pitch and height
    (metres above the floor) replace the estimates from the body; ``contacts`` (T, 2) mark the
    footprints the floor is fitted to."""
    up = up_from_pitch(pitch_deg) if pitch_deg is not None else estimate_up(poses_camera, contacts=contacts)
    right = np.array([1.0, 0.0, 0.0]) - up[0] * up
    if np.linalg.norm(right) < 1e-6:
        right = np.array([0.0, 0.0, 1.0]) - up[2] * up
    right /= np.linalg.norm(right)
    forward = np.cross(up, right)
    rotation = np.stack([right, forward, up], axis=1)
    ankles = poses_camera[:, list(ANKLES)] @ up
    floor = -camera_height if camera_height is not None else np.percentile(ankles.min(axis=1), 5) - ANKLE_HEIGHT
    pelvis = poses_camera[0, SK.index("pelvis")]
    origin = pelvis - (pelvis @ up - floor) * up
    return WorldFrame(rotation, origin)
