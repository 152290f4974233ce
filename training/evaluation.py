"""Held-out evaluation: P1 (MPJPE), P2 (P-MPJPE), P3 (N-MPJPE), MPJVE and root error, in millimetres.

Each clip is seen through one fixed virtual camera (seeded by the clip's name, so every
model is judged on the same views), with clean or detector-like 2D, and lifted by the numpy
engine that ships, with flip test-time augmentation.
"""
from __future__ import annotations

import zlib

import numpy as np
import torch

from core.inference import PoseLifter
from core.losses import mean_velocity_error, mpjpe, n_mpjpe, p_mpjpe

from .augment import CLEAN, DETECTOR_LIKE, NoiseSettings, make_pairs
from .datasets import Clip

NOISE_LEVELS = {"clean": CLEAN, "noisy": DETECTOR_LIKE}


def clip_view(clip: Clip, noise: NoiseSettings):
    rng = np.random.default_rng(zlib.crc32(clip.name.encode()))
    return make_pairs(clip.positions[None], rng, noise, augment_bones=False, allow_flip=False)


def evaluate_clips(lifter: PoseLifter, clips: list[Clip], noise: NoiseSettings, flip_augment: bool = True) -> dict:
    """Frame-weighted metrics over ``clips``; errors in millimetres."""
    totals = {"p1": 0.0, "p2": 0.0, "p3": 0.0, "mpjve": 0.0, "root": 0.0}
    frames = velocity_frames = 0
    for clip in clips:
        pairs = clip_view(clip, noise)
        predicted = torch.from_numpy(lifter.lift(pairs.inputs_2d[0], flip_augment=flip_augment)).double()
        target = torch.from_numpy(pairs.poses_3d[0]).double()
        n = len(target)
        totals["p1"] += mpjpe(predicted, target).item() * n
        totals["p2"] += p_mpjpe(predicted, target).item() * n
        totals["p3"] += n_mpjpe(predicted, target).item() * n
        if n > 1:
            totals["mpjve"] += mean_velocity_error(predicted[None], target[None]).item() * (n - 1)
            velocity_frames += n - 1
        if lifter.trajectory_model is not None:
            root = lifter.trajectory(pairs.inputs_2d[0], flip_augment=flip_augment)
            totals["root"] += float(np.linalg.norm(root - pairs.roots[0, :, 0], axis=-1).mean()) * n
        frames += n
    if frames == 0:
        raise ValueError("no frames to evaluate")
    result = {key: 1000 * totals[key] / frames for key in ("p1", "p2", "p3")}
    result["mpjve"] = 1000 * totals["mpjve"] / max(velocity_frames, 1)
    if lifter.trajectory_model is not None:
        result["root_error"] = 1000 * totals["root"] / frames
    result["frames"] = frames
    return {key: round(value, 2) if isinstance(value, float) else value for key, value in result.items()}
