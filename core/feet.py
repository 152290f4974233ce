"""Feet in 3D: heels and toe tips from the detector's foot points, and the foot and toe joints they give.

The lifter knows 17 joints, which end at the ankles. BlazePose also finds each heel and toe tip
in 2D, with a depth relative to the hips (``core.keypoints.FOOT_POINTS``: x, y and the depth
relative to the point's own ankle). A foot point is placed on its pixel's ray at the ankle's
depth plus that relative depth, and its distance from the lifted ankle is set to a length in
proportion to the body (``TOE_REACH`` and ``HEEL_REACH`` of the standing height). A detector
without depths (OpenPose's heels and big toes) leaves the depth to the length, on the side that
points the toes forwards. A toe that would point backwards, against the way the hips face, is
turned forwards (a depth read the wrong way round).

Where a foot is not seen (hidden, out of the picture, not detected, its ankle filled in), its
direction is carried from the frames around it in the shin's own frame, so it moves with the
leg; a foot never seen in the clip points forwards, square to the shin. Then every direction is
smoothed in time.

``foot_joints`` turns heels and toe tips into the skeleton ``FOOT_SKELETON`` exports and bakes:
a ball joint (the toes' root, ``BALL_FRACTION`` of the way from the heel to the toe tip) and the
toe tip. While the toes are planted and the heel is up (pushing off: the contact network's heels
and toes, or without them the ball on the floor and the heel up), the toes lie flat instead of
carrying on the line of the foot, so the toe bone bends; ``hold_planted_toes`` keeps the ball in
place meanwhile, the foot turning about the ankle.
"""
from __future__ import annotations

import numpy as np

from .camera import CameraIntrinsics
from .cleanup import runs
from .keypoints import FOOT_ANKLES, FOOT_POINTS, KeypointTrack
from .rotations import shortest_arc
from .skeleton import FOOT_SKELETON, H36M_SKELETON

SK = H36M_SKELETON
TOE_REACH = 0.122     # ankle to toe tip, share of the standing height (foot 0.152 H, ankle 0.045 H up, a quarter in)
HEEL_REACH = 0.059    # ankle to the back of the heel, share of the standing height
BALL_FRACTION = 0.72  # the ball of the foot (where the toes bend) from the heel towards the toe tip
SEEN = 0.5            # foot point and ankle confidence needed to place the point from the detector
FLAT_TOES_HEIGHT = 0.03   # metres: a ball this near the floor, with the heel up, has its toes flat on it
BACKWARDS = -0.3      # a toe (heel) direction whose cosine with the hips' facing (back) is below this is the wrong way
CARRY_FRAMES = 10.0   # an unseen foot's direction eases from the nearest seen one to the default over about this
# Default directions in the shin frame (down the shin, forwards, to the side): a foot standing flat.
DEFAULT_LOCAL = {"toe": np.array([0.35, 0.94, 0.0]) / np.hypot(0.35, 0.94), "heel": np.array([0.8, -0.6, 0.0])}



def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True).clip(1e-9)


def facing(joints: np.ndarray) -> np.ndarray:
    """(T, 3) the way the hips face (camera or world space alike): square to the hips and the spine."""
    across = joints[:, SK.index("left_hip")] - joints[:, SK.index("right_hip")]
    up = joints[:, SK.index("thorax")] - joints[:, SK.index("pelvis")]
    return _unit(np.cross(across, up))


def _shin_frames(joints: np.ndarray, ankle: str) -> np.ndarray:
    """(T, 3, 3) columns: down the shin, forwards (the hips' facing made square to it), to the side."""
    side = "left" if ankle.startswith("left") else "right"
    down = _unit(joints[:, SK.index(ankle)] - joints[:, SK.index(f"{side}_knee")])
    forward = facing(joints)
    forward = _unit(forward - np.sum(forward * down, axis=-1, keepdims=True) * down)
    return np.stack([down, forward, np.cross(down, forward)], axis=-1)


def _backproject(pixels: np.ndarray, depth: np.ndarray, intrinsics: CameraIntrinsics) -> np.ndarray:
    fx, fy, cx, cy = intrinsics.pixel_vector()[:4]
    return np.stack([(pixels[:, 0] - cx) * depth / fx, (pixels[:, 1] - cy) * depth / fy, depth], axis=-1)


def _at_reach(pixels: np.ndarray, ankle: np.ndarray, reach: float, forward: np.ndarray, ahead: bool,
              intrinsics: CameraIntrinsics) -> np.ndarray:
    """Offsets (T, 3) from the ankle to the point of each pixel's ray ``reach`` away from it: of the two
    such points, the one ahead of the hips (a toe, ``ahead``) or behind them (a heel); the ray's nearest
    point where it passes further away."""
    ray = _backproject(pixels, np.ones(len(pixels)), intrinsics)                 # (T, 3), z = 1
    a, b, c = np.sum(ray * ray, -1), np.sum(ray * ankle, -1), np.sum(ankle * ankle, -1) - reach ** 2
    root = np.sqrt(np.clip(b * b - a * c, 0.0, None))
    near, far = (b - root) / a, (b + root) / a
    offsets = [ray * depth[:, None] - ankle for depth in (near, far)]
    sign = 1.0 if ahead else -1.0
    pick_far = sign * np.sum(offsets[1] * forward, -1) > sign * np.sum(offsets[0] * forward, -1)
    return np.where(pick_far[:, None], offsets[1], offsets[0])


def _detected_direction(track: KeypointTrack, joints: np.ndarray, k: int, intrinsics: CameraIntrinsics,
                        reach: float, forward: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit ankle-to-point directions (T, 3) of foot point ``k`` where the detector saw it, and that mask."""
    ankle = SK.index(FOOT_ANKLES[k])
    seen = (track.feet_confidence[:, k] >= SEEN) & (track.confidence[:, ankle] >= SEEN) & ~track.filled[:, ankle]
    seen &= np.isfinite(track.feet[:, k, :2]).all(axis=1)
    fx = intrinsics.pixel_vector()[0]
    depth = joints[:, ankle, 2]
    relative = track.feet[:, k, 2]
    known_depth = np.isfinite(relative)
    offset = _backproject(track.feet[:, k, :2], depth + np.where(known_depth, relative, 0.0) * depth / fx,
                          intrinsics) - joints[:, ankle]
    if (~known_depth).any():   # no depth from the detector: the point on its ray at the foot's length
        offset = np.where(known_depth[:, None], offset, _at_reach(track.feet[:, k, :2], joints[:, ankle], reach,
                                                                  forward, FOOT_POINTS[k].endswith("toe"),
                                                                  intrinsics))
    direction = _unit(offset)
    toward = 1.0 if FOOT_POINTS[k].endswith("toe") else -1.0   # toes point forwards, heels backwards
    wrong_way = toward * np.sum(direction * forward, axis=-1) < BACKWARDS
    flipped = _unit(_backproject(track.feet[:, k, :2], depth - np.where(known_depth, relative, 0.0) * depth / fx,
                                 intrinsics) - joints[:, ankle])   # the depth read the other way round
    direction = np.where(wrong_way[:, None], flipped, direction)
    still_wrong = toward * np.sum(direction * forward, axis=-1) < BACKWARDS   # the 2D itself is off: not used
    return direction, seen & ~still_wrong & np.isfinite(direction).all(axis=1)


def _fill_and_smooth(local: np.ndarray, seen: np.ndarray, default: np.ndarray, window: int) -> np.ndarray:
    """Local directions (T, 3): interpolated in time across unseen frames, easing towards ``default`` the
    further they are from a seen frame (``CARRY_FRAMES``), then smoothed (a centred mean)."""
    frames = np.arange(len(local))
    out = np.tile(default, (len(local), 1)).astype(np.float64)
    if seen.any():
        seen_at = frames[seen]
        after = np.clip(np.searchsorted(seen_at, frames), 0, len(seen_at) - 1)
        nearest = np.minimum(np.abs(frames - seen_at[after]), np.abs(frames - seen_at[np.maximum(after - 1, 0)]))
        trust = np.exp(-nearest / CARRY_FRAMES)[:, None]
        for axis in range(3):
            out[:, axis] = np.interp(frames, seen_at, local[seen, axis])
        out = trust * out + (1 - trust) * default
    if window > 1 and len(out) > 1:
        half = window // 2
        padded = np.pad(out, ((half, half), (0, 0)), mode="edge")
        kernel = np.ones(2 * half + 1) / (2 * half + 1)
        out = np.stack([np.convolve(padded[:, axis], kernel, mode="valid") for axis in range(3)], axis=-1)
    return _unit(out)


def lift_feet(track: KeypointTrack, joints_camera: np.ndarray, intrinsics: CameraIntrinsics, height_m: float,
              window: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Heels and toe tips in camera space (T, 4, 3) in ``FOOT_POINTS`` order, and (T, 4) whether each was
    placed from the detector in that frame (else carried from the frames around it)."""
    joints = np.asarray(joints_camera, np.float64)
    frames = len(joints)
    forward = facing(joints)
    points = np.zeros((frames, 4, 3))
    detected = np.zeros((frames, 4), bool)
    for k, name in enumerate(FOOT_POINTS):
        kind = "toe" if name.endswith("toe") else "heel"
        reach = (TOE_REACH if kind == "toe" else HEEL_REACH) * height_m
        shin = _shin_frames(joints, FOOT_ANKLES[k])
        if track.feet is not None:
            direction, seen = _detected_direction(track, joints, k, intrinsics, reach, forward)
        else:
            direction, seen = np.zeros((frames, 3)), np.zeros(frames, bool)
        local = np.einsum("tji,tj->ti", shin, np.nan_to_num(direction))    # into the shin's frame
        local = _fill_and_smooth(local, seen, DEFAULT_LOCAL[kind], window)
        points[:, k] = joints[:, SK.index(FOOT_ANKLES[k])] + reach * np.einsum("tij,tj->ti", shin, local)
        detected[:, k] = seen
    return points, detected


def foot_joints(joints_world: np.ndarray, feet_world: np.ndarray, planted: np.ndarray | None = None) -> np.ndarray:
    """The 21 joints of ``FOOT_SKELETON`` (T, 21, 3) from the 17 joints and the heels and toe tips (world, Z up,
    the floor at z = 0): each foot's ball and toe tip, the toes flat on the floor while pushing off.

    Pushing off: ``planted`` (T, 4; heels and toes planted, ``FOOT_POINTS`` order) with the toe down and
    the heel up; without it, the ball within ``FLAT_TOES_HEIGHT`` of the floor and the heel above the toe."""
    joints_world, feet_world = np.asarray(joints_world, np.float64), np.asarray(feet_world, np.float64)
    out = np.zeros((len(joints_world), FOOT_SKELETON.num_joints, 3))
    out[:, :17] = joints_world
    for side, (heel, toe) in enumerate(((0, 1), (2, 3))):
        along = feet_world[:, toe] - feet_world[:, heel]
        ball = feet_world[:, heel] + BALL_FRACTION * along
        toes_length = (1 - BALL_FRACTION) * np.linalg.norm(along, axis=-1, keepdims=True)
        level = along.copy()
        level[:, 2] = 0.0
        if planted is not None:
            pushing_off = np.asarray(planted[:, toe], bool) & ~np.asarray(planted[:, heel], bool)
        else:
            pushing_off = (ball[:, 2] < FLAT_TOES_HEIGHT) & (feet_world[:, heel, 2] > feet_world[:, toe, 2])
        tip = np.where(pushing_off[:, None], ball + toes_length * _unit(level), feet_world[:, toe])
        out[:, 17 + 2 * side], out[:, 18 + 2 * side] = ball, tip
    return out


def follow_ankles(feet: np.ndarray, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Feet (T, 4, 3) moved with their ankles from the joints ``before`` to ``after`` (foot locking)."""
    ankles = [SK.index(name) for name in FOOT_ANKLES]
    return feet + (after[:, ankles] - before[:, ankles])


def above_floor(feet_world: np.ndarray, joints_world: np.ndarray) -> np.ndarray:
    """Feet (T, 4, 3) with no heel or toe under the floor (z = 0): such a point is turned up about its
    ankle, keeping its distance and its heading, until it touches the floor."""
    out = np.array(feet_world, np.float64, copy=True)
    for k, ankle_name in enumerate(FOOT_ANKLES):
        ankle = joints_world[:, SK.index(ankle_name)]
        offset = out[:, k] - ankle
        below = out[:, k, 2] < 0
        if not below.any():
            continue
        reach = np.linalg.norm(offset[below], axis=-1).clip(1e-9)
        down = np.clip(-ankle[below, 2] / reach, -1.0, 1.0)            # the vertical share that ends at z = 0
        level = offset[below, :2]
        level = level / np.linalg.norm(level, axis=-1, keepdims=True).clip(1e-9)
        horizontal = np.sqrt(1 - down ** 2)[:, None] * reach[:, None]
        out[below, k, :2] = ankle[below, :2] + level * horizontal
        out[below, k, 2] = np.maximum(ankle[below, 2] + down * reach, 0.0)
    return out


def hold_planted_toes(feet_world: np.ndarray, joints_world: np.ndarray, planted: np.ndarray) -> np.ndarray:
    """Feet (T, 4, 3) whose balls stay where they are while only the toes are planted (pushing off, the
    heel rising about them): in each such run the foot turns about its ankle towards the run's first
    ball position, keeping its shape. ``planted``: (T, 4) heels and toes, ``FOOT_POINTS`` order."""
    out = np.array(feet_world, np.float64, copy=True)
    for heel, toe in ((0, 1), (2, 3)):
        ankle = joints_world[:, SK.index(FOOT_ANKLES[heel])]
        for start, stop in runs(np.asarray(planted[:, toe], bool) & ~np.asarray(planted[:, heel], bool)):
            ball = out[start:stop, heel] + BALL_FRACTION * (out[start:stop, toe] - out[start:stop, heel])
            anchor = ball[0]
            turn = shortest_arc(ball - ankle[start:stop], anchor - ankle[start:stop])       # (n, 3, 3)
            for k in (heel, toe):
                out[start:stop, k] = ankle[start:stop] + np.einsum("tij,tj->ti", turn, out[start:stop, k]
                                                                   - ankle[start:stop])
    return out
