"""Clean-up of lifted motion: temporal smoothing, constant bone lengths, foot contacts and foot locking.

Numpy only (Blender has no scipy); the Savitzky-Golay filter here equals scipy's
``savgol_filter(..., mode="nearest")``.
"""
from __future__ import annotations

import numpy as np

from .skeleton import ANKLES, H36M_SKELETON, Skeleton

ANKLE_HEIGHT = 0.08  # metres from the floor to the ankle joint when the foot is flat
ON_FLOOR = 0.15      # metres: a planted ankle up to this much higher than flat on the floor stands on the floor


def savgol_coefficients(window: int, polyorder: int) -> np.ndarray:
    """Weights of the least-squares polynomial fit evaluated at the window's centre."""
    if window % 2 == 0 or window < 3:
        raise ValueError("smoothing window must be odd and at least 3")
    if not 0 <= polyorder < window:
        raise ValueError("polynomial order must be below the window length")
    half = window // 2
    vander = np.vander(np.arange(-half, half + 1, dtype=np.float64), polyorder + 1, increasing=True)
    return np.linalg.pinv(vander)[0]


def smooth(signal: np.ndarray, window: int = 9, polyorder: int = 2) -> np.ndarray:
    """Savitzky-Golay along axis 0 with edge repetition; keeps shape and dtype."""
    signal = np.asarray(signal)
    if signal.shape[0] < 2:
        return signal.copy()
    window = min(window, signal.shape[0] if signal.shape[0] % 2 else signal.shape[0] - 1)
    if window < 3 or polyorder >= window:
        return signal.copy()
    coefficients = savgol_coefficients(window, polyorder)
    half = window // 2
    padded = np.pad(signal.astype(np.float64), [(half, half)] + [(0, 0)] * (signal.ndim - 1), mode="edge")
    out = np.zeros(signal.shape, dtype=np.float64)
    for k, weight in enumerate(coefficients):
        out += weight * padded[k:k + signal.shape[0]]
    return out.astype(signal.dtype)


def enforce_bone_lengths(poses: np.ndarray, lengths: np.ndarray | None = None,
                         skeleton: Skeleton = H36M_SKELETON) -> tuple[np.ndarray, np.ndarray]:
    """Rebuild poses (T, J, 3) from the root outward with one length per bone (default: the clip's median)."""
    if lengths is None:
        lengths = np.median(skeleton.bone_lengths(poses), axis=0)
    out = np.array(poses, dtype=np.float64, copy=True)
    for bone, (parent, child) in enumerate(skeleton.bones()):
        direction = poses[:, child] - poses[:, parent]
        norm = np.linalg.norm(direction, axis=-1, keepdims=True)
        out[:, child] = out[:, parent] + direction / np.maximum(norm, 1e-9) * lengths[bone]
    return out.astype(poses.dtype), lengths


def standing_height(poses: np.ndarray, skeleton: Skeleton = H36M_SKELETON) -> float:
    """The person's height standing up straight (m): the clip's median shin, thigh, spine, neck and head
    lengths stacked, plus the ankle's height above the floor."""
    lengths = np.median(skeleton.bone_lengths(poses), axis=0)
    bone = {skeleton.names[child]: lengths[k] for k, (_, child) in enumerate(skeleton.bones())}
    legs = np.mean([bone[f"{side}_knee"] + bone[f"{side}_ankle"] for side in ("left", "right")])
    trunk = bone["spine"] + bone["thorax"] + bone["neck_nose"] + bone["head"]
    return float(legs + trunk + ANKLE_HEIGHT)


def detect_foot_contacts(poses_world: np.ndarray, fps: float, max_height: float = ANKLE_HEIGHT + 0.07,
                         max_speed: float = 0.5, relative_speed: float = 0.7, min_frames: int = 3) -> np.ndarray:
    """(T, 2) booleans for left and right ankles on the floor.

    A foot is planted when it is low and either nearly still (horizontal speed below ``max_speed``
    m/s) or clearly slower than the other foot (below ``relative_speed`` times its speed): lifted
    motion slides, so an absolute speed test alone misses the stance foot of a walk.
    """
    ankles = poses_world[:, list(ANKLES)]
    velocity = np.gradient(smooth(ankles[..., :2], 5, 2), axis=0) * fps if len(ankles) > 1 else np.zeros_like(ankles[..., :2])
    speed = np.linalg.norm(velocity, axis=-1)
    slower = speed < relative_speed * speed[:, ::-1]
    contacts = (ankles[..., 2] < max_height) & ((speed < max_speed) | slower)
    for foot in range(2):
        contacts[:, foot] = _drop_short_runs(contacts[:, foot], min_frames)
    return contacts


def contacts_from(probabilities: np.ndarray | None, threshold: float = 0.5, min_frames: int = 3) -> np.ndarray | None:
    """(T, 2) booleans from the contact network's probabilities: above ``threshold`` for ``min_frames`` or more."""
    if probabilities is None:
        return None
    contacts = np.asarray(probabilities) > threshold
    for foot in range(contacts.shape[1]):
        contacts[:, foot] = _drop_short_runs(contacts[:, foot], min_frames)
    return contacts


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def _drop_short_runs(mask: np.ndarray, min_frames: int) -> np.ndarray:
    out = mask.copy()
    for start, stop in runs(mask):
        if stop - start < min_frames:
            out[start:stop] = False
    return out


def two_bone_ik(root: np.ndarray, middle: np.ndarray, target: np.ndarray, upper: float, lower: float) -> np.ndarray:
    """New middle joint (knee) for a chain root-middle-end reaching ``target``, bending as before.

    Lengths are kept; a target out of reach is approached along the straight line.
    """
    to_target = target - root
    distance = np.clip(np.linalg.norm(to_target, axis=-1, keepdims=True), 1e-6, upper + lower - 1e-6)
    axis = to_target / np.linalg.norm(to_target, axis=-1, keepdims=True).clip(1e-9)
    bend = middle - root
    bend = bend - np.sum(bend * axis, axis=-1, keepdims=True) * axis
    bend_norm = np.linalg.norm(bend, axis=-1, keepdims=True)
    fallback = np.cross(axis, np.array([1.0, 0.0, 0.0]))
    bend = np.where(bend_norm > 1e-6, bend / bend_norm.clip(1e-9), fallback / np.linalg.norm(fallback, axis=-1, keepdims=True).clip(1e-9))
    along = (upper ** 2 - lower ** 2 + distance ** 2) / (2 * distance)
    across = np.sqrt(np.clip(upper ** 2 - along ** 2, 0, None))
    return root + axis * along + bend * across


def lock_feet(poses_world: np.ndarray, contacts: np.ndarray, blend_frames: int = 3) -> np.ndarray:
    """Hold each ankle still during its contacts (at the run's median position), solving the knee by IK.

    Blends in and out over ``blend_frames`` at the ends of each contact, keeps thigh and shin lengths.
    """
    sk = H36M_SKELETON
    out = np.array(poses_world, dtype=np.float64, copy=True)
    legs = [("left_hip", "left_knee", "left_ankle"), ("right_hip", "right_knee", "right_ankle")]
    for foot, names in enumerate(legs):
        hip, knee, ankle = (sk.index(n) for n in names)
        upper = np.median(np.linalg.norm(out[:, knee] - out[:, hip], axis=-1))
        lower = np.median(np.linalg.norm(out[:, ankle] - out[:, knee], axis=-1))
        target = out[:, ankle].copy()
        weight = np.zeros(len(out))
        for start, stop in runs(contacts[:, foot]):
            anchor = np.median(out[start:stop, ankle], axis=0)
            if anchor[2] < ANKLE_HEIGHT + ON_FLOOR:  # on the floor, not on a box or a step: no foot below it
                anchor[2] = min(anchor[2], ANKLE_HEIGHT)
            lo, hi = max(start - blend_frames, 0), min(stop + blend_frames, len(out))
            for t in range(lo, hi):
                w = 1.0 if start <= t < stop else 1.0 - (start - t if t < start else t - stop + 1) / (blend_frames + 1)
                if w > weight[t]:
                    weight[t] = w
                    target[t] = anchor
        moved = weight > 0
        if not moved.any():
            continue
        goal = out[moved, ankle] + weight[moved, None] * (target[moved] - out[moved, ankle])
        new_knee = two_bone_ik(out[moved, hip], out[moved, knee], goal, upper, lower)
        direction = goal - new_knee
        new_ankle = new_knee + direction / np.linalg.norm(direction, axis=-1, keepdims=True).clip(1e-9) * lower
        out[moved, knee], out[moved, ankle] = new_knee, new_ankle
    return out.astype(poses_world.dtype)


def foot_sliding(poses_world: np.ndarray, contacts: np.ndarray) -> float:
    """Mean horizontal ankle speed during contact, millimetres per frame (the benchmark's sliding measure)."""
    ankles = poses_world[:, list(ANKLES), :2]
    step = np.linalg.norm(np.diff(ankles, axis=0), axis=-1)
    both = contacts[1:] & contacts[:-1]
    return float(1000 * step[both].mean()) if both.any() else 0.0
