"""The root trajectory as one least-squares problem: 2D reprojection, planted feet and smooth motion.

A root fitted frame by frame to the 2D keypoints (``camera.fit_root_translation``) takes every
error of the lifted pose's size as a change of depth: the person wanders towards and away from
the camera while standing still. Here the camera-space root positions ``t`` of a window of frames
are found together, minimising (each term divided by its expected error, in metres)

- reprojection: for every joint, ``(X + tx) - x (Z + tz)`` and ``(Y + ty) - y (Z + tz)`` (the
  pinhole equation multiplied out, linear in ``t``; ``x, y`` the undistorted normalized keypoint),
  weighted by confidence; across the image, the joints' spread about their mean counts less (below);
- planted feet: a foot planted in two consecutive frames stays where it is, so
  ``t[f+1] - t[f] = -(P[f+1] - P[f])`` for that ankle, weighted by the contact probability;
- smoothness: the root's acceleration ``t[f-1] - 2 t[f] + t[f+1]``, and weakly its speed
  ``t[f+1] - t[f]`` (without it, a run of bad frames may move the person at any constant speed).

The depth comes from the pose's size in the image, and its width is the less sure: limbs spread
sideways or turned towards the camera (a jumping jack, arms raised to the side) are where the
lifter errs, while an upright body's height is steady. On the data engine's chunks 0-74 a depth
fitted per frame from the horizontal rows alone jitters 4.7 % about its clip's median, from the
vertical rows alone 2.1 % (held-out chunks 75-82: 4.9 and 2.3 %). So the horizontal rows are
split exactly into their weighted mean (where the body is across the image: ``tx``, at
``REPROJECTION_SIGMA``) and the joints' spread about it (how wide the body is: depth only, at
``HORIZONTAL_SIGMA``). The two axes are biased opposite ways (the horizontal rows read the person
3.4 % nearer, the vertical 3.1 % farther), so the clip's overall distance is then set back to that
of one solve with both axes weighted alike (the root moved along its rays from the camera).

The camera is static. Frames whose 2D the solved pose cannot match (a detector's garbage: legs
found above the hips in a backlit frame) would drag their neighbours along through the
smoothness term, so the solve is repeated with such frames' reprojection weighted down
(iteratively reweighted least squares, a Cauchy weight on each frame's mean pixel error against
the clip's median). Long clips are solved in overlapping windows, blended across the overlap.
Numpy only: the add-on runs it inside Blender.
"""
from __future__ import annotations

import numpy as np

from .camera import CameraIntrinsics, project_to_2d, undistort_points
from .skeleton import ANKLES

REPROJECTION_SIGMA = 0.03   # metres: a joint's reprojection error times its depth, at full confidence
HORIZONTAL_SIGMA = 0.2      # metres: the same for the joints' spread across the image (engine chunks 0-74:
                            # least depth jitter, flat from 0.15 to 1)
ACCELERATION = 6.0          # metres per second squared: the root's typical largest acceleration
SPEED = 2.0                 # metres per second: the root's typical largest speed (a weak pull towards standing)
PLANTED_SIGMA = 0.01        # metres per frame: how far a planted ankle may move between two frames
WINDOW, OVERLAP = 240, 40   # frames per solve and shared between neighbouring solves
OUTLIER_SCALE = 3.0         # a frame's pixel error this many times the median's halves its weight
REWEIGHTS = 3               # solves after the first, each with weights from the one before
TYPICAL_PIXELS = 3.0        # the median pixel error is taken as at least this (exact 2D would weigh every frame down)


def _solve_window(poses: np.ndarray, ideal: np.ndarray, weights: np.ndarray, planted: np.ndarray,
                  fps: float, horizontal_sigma: float) -> np.ndarray:
    """Root positions (W, 3) of one window: normal equations of the three terms, solved densely."""
    frames = len(poses)
    x, y = ideal[..., 0], ideal[..., 1]
    X, Y, Z = poses[..., 0], poses[..., 1], poses[..., 2]
    zeros, ones = np.zeros_like(x), np.ones_like(x)
    # across the image: the weighted mean of the joints' residuals (where the body is) at full
    # weight, their spread about it (how wide it is: depth only) at ``horizontal_sigma``
    share = weights ** 2 / (weights ** 2).sum(axis=1, keepdims=True)
    x_mean, target_x = (share * x).sum(axis=1), x * Z - X
    target_x_mean = (share * target_x).sum(axis=1)
    w_mean = np.sqrt((weights ** 2).sum(axis=1)) / REPROJECTION_SIGMA
    mean_rows = np.stack([np.ones(frames), np.zeros(frames), -x_mean], -1)[:, None] * w_mean[:, None, None]
    spread_rows = np.stack([zeros, zeros, -(x - x_mean[:, None])], -1) * (weights / horizontal_sigma)[..., None]
    vertical_rows = np.stack([zeros, ones, -y], -1) * (weights / REPROJECTION_SIGMA)[..., None]
    rows = np.concatenate([mean_rows, spread_rows, vertical_rows], axis=1)      # (W, 1 + 2J, 3)
    target = np.concatenate([(target_x_mean * w_mean)[:, None],
                             (target_x - target_x_mean[:, None]) * weights / horizontal_sigma,
                             (y * Z - Y) * weights / REPROJECTION_SIGMA], axis=1)   # (W, 1 + 2J)
    normal = np.zeros((frames, 3, frames, 3))
    at = np.arange(frames)
    normal[at, :, at, :] = np.einsum("fki,fkj->fij", rows, rows)
    rhs = np.einsum("fki,fk->fi", rows, target)
    normal, rhs = normal.reshape(3 * frames, 3 * frames), rhs.reshape(-1)
    eye = np.eye(3)

    def add_difference(coefficients: dict[int, float], weight: float, value: np.ndarray) -> None:
        """Add weight * |sum_k c_k t[k] - value|^2 to the normal equations."""
        for a, ca in coefficients.items():
            rhs[3 * a:3 * a + 3] += weight * ca * value
            for b, cb in coefficients.items():
                normal[3 * a:3 * a + 3, 3 * b:3 * b + 3] += weight * ca * cb * eye

    if frames >= 2:
        first = np.zeros((frames - 1, frames))
        first[at[:-1], at[:-1]], first[at[:-1], at[1:]] = -1.0, 1.0
        normal += np.kron(first.T @ first, eye) / (SPEED / fps) ** 2
    if frames >= 3:
        second = np.zeros((frames - 2, frames))
        second[at[:-2], at[:-2]], second[at[:-2], at[1:-1]], second[at[:-2], at[2:]] = 1.0, -2.0, 1.0
        normal += np.kron(second.T @ second, eye) / (ACCELERATION / fps ** 2) ** 2
    both = planted[1:] * planted[:-1]                                             # (W-1, 2)
    for f, foot in zip(*np.nonzero(both > 0.05)):
        step = poses[f + 1, ANKLES[foot]] - poses[f, ANKLES[foot]]
        add_difference({f: -1.0, f + 1: 1.0}, both[f, foot] / PLANTED_SIGMA ** 2, -step)
    normal += 1e-9 * np.eye(3 * frames)
    return np.linalg.solve(normal, rhs).reshape(frames, 3)


def solve_root(poses: np.ndarray, keypoints: np.ndarray, confidence: np.ndarray, intrinsics: CameraIntrinsics,
               planted: np.ndarray | None, fps: float) -> np.ndarray:
    """Camera-space root positions (T, 3) for root-relative poses (T, J, 3, metres) seen as keypoints
    (T, J, 2, pixels) with ``confidence`` (T, J); ``planted``: (T, 2) probabilities of the left and
    right foot being planted (None: no contacts, reprojection and smoothness only)."""
    poses = np.asarray(poses, np.float64)
    frames = len(poses)
    if planted is None:
        planted = np.zeros((frames, 2))
    ideal = undistort_points(keypoints, intrinsics.pixel_vector())
    confidence = np.clip(confidence, 1e-3, 1.0)
    weights = np.sqrt(confidence)
    planted = np.asarray(planted, float)
    reweighted = weights
    root = _solve_windows(poses, ideal, reweighted, planted, fps, HORIZONTAL_SIGMA)
    for _ in range(REWEIGHTS):
        error = frame_pixel_errors(poses, root, keypoints, confidence, intrinsics)
        scale = OUTLIER_SCALE * max(float(np.median(error)), TYPICAL_PIXELS)
        reweighted = weights / np.sqrt(1 + (error / scale) ** 2)[:, None]
        root = _solve_windows(poses, ideal, reweighted, planted, fps, HORIZONTAL_SIGMA)
    alike = _solve_windows(poses, ideal, reweighted, planted, fps, REPROJECTION_SIGMA)
    return root * (np.median(alike[:, 2]) / np.median(root[:, 2]))


def joint_pixel_errors(poses: np.ndarray, root: np.ndarray, keypoints: np.ndarray,
                       intrinsics: CameraIntrinsics) -> np.ndarray:
    """(T, J) distance in pixels between each posed joint's projection and its keypoint."""
    projected = project_to_2d(poses + root[:, None], intrinsics.pixel_vector())
    return np.linalg.norm(projected - keypoints, axis=-1)


def frame_pixel_errors(poses: np.ndarray, root: np.ndarray, keypoints: np.ndarray, confidence: np.ndarray,
                       intrinsics: CameraIntrinsics) -> np.ndarray:
    """(T,) confidence-weighted mean distance in pixels between the posed joints' projections and the keypoints."""
    distance = joint_pixel_errors(poses, root, keypoints, intrinsics)
    return (distance * confidence).sum(axis=1) / confidence.sum(axis=1)


def _solve_windows(poses: np.ndarray, ideal: np.ndarray, weights: np.ndarray, planted: np.ndarray,
                   fps: float, horizontal_sigma: float) -> np.ndarray:
    """The whole clip: one window, or overlapping windows blended."""
    frames = len(poses)
    if frames <= WINDOW:
        return _solve_window(poses, ideal, weights, planted, fps, horizontal_sigma)
    out, total = np.zeros((frames, 3)), np.zeros(frames)
    step = WINDOW - OVERLAP
    starts = list(range(0, frames - WINDOW, step)) + [frames - WINDOW]
    for start in starts:
        part = slice(start, start + WINDOW)
        root = _solve_window(poses[part], ideal[part], weights[part], planted[part], fps, horizontal_sigma)
        # weights rise over the overlap at each inner edge, so neighbouring solves blend smoothly
        blend = np.ones(WINDOW)
        ramp = (np.arange(OVERLAP) + 0.5) / OVERLAP
        if start > 0:
            blend[:OVERLAP] = ramp
        if start + WINDOW < frames:
            blend[-OVERLAP:] = ramp[::-1]
        out[part] += root * blend[:, None]
        total[part] += blend
    return out / total[:, None]
