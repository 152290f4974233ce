"""Held-out evaluation: P1 (MPJPE), P2 (P-MPJPE), P3 (N-MPJPE), MPJVE and root error, in millimetres.

Each clip is seen through one fixed virtual camera (seeded by the clip's name, so every
model is judged on the same views) that keeps the whole person inside the frame throughout,
with clean or detector-like 2D, and lifted by the numpy engine that ships, with flip
test-time augmentation.
"""
from __future__ import annotations

import zlib

import numpy as np
import torch

from core.inference import PoseLifter
from core.losses import mean_velocity_error, mpjpe, n_mpjpe, p_mpjpe

from .augment import NoiseSettings, make_pairs
from .datasets import Clip

def clip_view(clip: Clip, noise: NoiseSettings, may_leave_frame: bool = False):
    """The clip's fixed view; with ``may_leave_frame`` the camera does not follow a person who walks out of it."""
    rng = np.random.default_rng(zlib.crc32(clip.name.encode()))
    return make_pairs(clip.positions[None], rng, noise, augment_bones=False, allow_flip=False,
                      may_leave_frame=1.0 if may_leave_frame else 0.0)


class MetricSums:
    """Frame-weighted accumulation of the metrics over many sequences."""

    def __init__(self) -> None:
        self.totals = {"p1": 0.0, "p2": 0.0, "p3": 0.0, "mpjve": 0.0, "root": 0.0}
        self.frames = self.velocity_frames = 0
        self.has_root = False

    def add(self, lifter: PoseLifter, inputs_2d: np.ndarray, poses_3d: np.ndarray, roots: np.ndarray,
            flip_augment: bool = True) -> None:
        """Lift ``inputs_2d`` and accumulate its errors against the true poses and roots."""
        predicted = lifter.lift(inputs_2d, flip_augment=flip_augment)
        root = lifter.trajectory(inputs_2d, flip_augment=flip_augment) if lifter.trajectory_model is not None else None
        self.add_predictions(predicted, root, poses_3d, roots)

    def add_predictions(self, predicted_poses: np.ndarray, predicted_roots: np.ndarray | None,
                        poses_3d: np.ndarray, roots: np.ndarray) -> None:
        """Accumulate errors of poses (T, 17, 3) and, if given, roots (T, 3) already predicted."""
        predicted = torch.from_numpy(np.asarray(predicted_poses, dtype=np.float64))
        target = torch.from_numpy(np.asarray(poses_3d, dtype=np.float64))
        n = len(target)
        self.totals["p1"] += mpjpe(predicted, target).item() * n
        self.totals["p2"] += p_mpjpe(predicted, target).item() * n
        self.totals["p3"] += n_mpjpe(predicted, target).item() * n
        if n > 1:
            self.totals["mpjve"] += mean_velocity_error(predicted[None], target[None]).item() * (n - 1)
            self.velocity_frames += n - 1
        if predicted_roots is not None:
            self.totals["root"] += float(np.linalg.norm(predicted_roots - np.asarray(roots)[:, 0], axis=-1).mean()) * n
            self.has_root = True
        self.frames += n

    def merge(self, other: "MetricSums") -> None:
        for key, value in other.totals.items():
            self.totals[key] += value
        self.frames += other.frames
        self.velocity_frames += other.velocity_frames
        self.has_root = self.has_root or other.has_root

    def result(self) -> dict:
        """Millimetres."""
        if self.frames == 0:
            raise ValueError("no frames to evaluate")
        out = {key: round(1000 * self.totals[key] / self.frames, 2) for key in ("p1", "p2", "p3")}
        out["mpjve"] = round(1000 * self.totals["mpjve"] / max(self.velocity_frames, 1), 2)
        if self.has_root:
            out["root_error"] = round(1000 * self.totals["root"] / self.frames, 2)
        out["frames"] = self.frames
        return out


def evaluate_clips(lifter: PoseLifter, clips: list[Clip], noise: NoiseSettings, flip_augment: bool = True,
                   may_leave_frame: bool = False) -> dict:
    """Mocap clips through their fixed virtual cameras; errors in millimetres."""
    sums = MetricSums()
    for clip in clips:
        pairs = clip_view(clip, noise, may_leave_frame)
        sums.add(lifter, pairs.inputs_2d[0], pairs.poses_3d[0], pairs.roots[0], flip_augment)
    return sums.result()


def evaluate_views(lifter: PoseLifter, views: list, flip_augment: bool = True) -> dict:
    """Real camera views (Human3.6M): per action and overall, millimetres."""
    per_action: dict[str, MetricSums] = {}
    overall = MetricSums()
    for view in views:
        sums = MetricSums()
        sums.add(lifter, view.inputs_2d, view.poses_3d, view.roots, flip_augment)
        per_action.setdefault(view.action.split(" ")[0], MetricSums()).merge(sums)
        overall.merge(sums)
    return {**{action: sums.result() for action, sums in sorted(per_action.items())}, "overall": overall.result()}
