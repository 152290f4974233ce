"""Training losses and evaluation metrics (torch), all in the units of their inputs.

Poses are (..., J, 3); sequences put time on axis ``time_axis`` (default 1: (N, T, J, 3)).
"""
from __future__ import annotations

from typing import Sequence

import torch

from .camera import project_to_2d


def mpjpe(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean per-joint position error (protocol 1): mean Euclidean distance."""
    _check_shapes(predicted, target)
    return torch.linalg.norm(predicted - target, dim=-1).mean()


def weighted_mpjpe(predicted: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """MPJPE with a weight per joint, e.g. 1/depth for the trajectory (far roots matter less)."""
    _check_shapes(predicted, target)
    distances = torch.linalg.norm(predicted - target, dim=-1)
    return (weights.expand_as(distances) * distances).mean()


def trajectory_loss(predicted_root: torch.Tensor, target_root: torch.Tensor) -> torch.Tensor:
    """WMPJPE of the method: root error weighted by the inverse of the true depth."""
    return weighted_mpjpe(predicted_root, target_root, 1.0 / target_root[..., 2].clamp(min=0.1))


def procrustes_align(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Best similarity transform (rotation, uniform scale, translation) of each pose onto its target."""
    _check_shapes(predicted, target)
    mu_p, mu_t = predicted.mean(dim=-2, keepdim=True), target.mean(dim=-2, keepdim=True)
    p0, t0 = predicted - mu_p, target - mu_t
    norm_p = torch.linalg.norm(p0, dim=(-2, -1), keepdim=True).clamp(min=1e-12)
    norm_t = torch.linalg.norm(t0, dim=(-2, -1), keepdim=True).clamp(min=1e-12)
    p0, t0 = p0 / norm_p, t0 / norm_t
    h = p0.transpose(-1, -2) @ t0
    u, s, vt = torch.linalg.svd(h)
    # Avoid reflections: flip the last singular direction where det(R) would be -1.
    sign = torch.sign(torch.linalg.det(u @ vt))
    s = torch.cat([s[..., :-1], s[..., -1:] * sign[..., None]], dim=-1)
    vt = torch.cat([vt[..., :-1, :], vt[..., -1:, :] * sign[..., None, None]], dim=-2)
    rotation = u @ vt
    scale = s.sum(dim=-1)[..., None, None] * norm_t / norm_p
    return scale * (p0 * norm_p) @ rotation + mu_t


def p_mpjpe(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MPJPE after Procrustes alignment (protocol 2)."""
    return mpjpe(procrustes_align(predicted, target), target)


def n_mpjpe(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MPJPE after the least-squares scale per pose (protocol 3), for semi-supervised evaluation."""
    _check_shapes(predicted, target)
    dot = (predicted * target).sum(dim=(-2, -1), keepdim=True)
    norm = (predicted * predicted).sum(dim=(-2, -1), keepdim=True).clamp(min=1e-12)
    return mpjpe(dot / norm * predicted, target)


def mean_velocity_error(predicted: torch.Tensor, target: torch.Tensor, time_axis: int = 1) -> torch.Tensor:
    """MPJVE: mean distance between first derivatives along time, per frame."""
    _check_shapes(predicted, target)
    return torch.linalg.norm(torch.diff(predicted, dim=time_axis) - torch.diff(target, dim=time_axis), dim=-1).mean()


def bone_lengths(poses: torch.Tensor, parents: Sequence[int]) -> torch.Tensor:
    """Lengths of every bone (..., J-1) of poses (..., J, 3)."""
    child = [c for c, p in enumerate(parents) if p >= 0]
    parent = [p for p in parents if p >= 0]
    return torch.linalg.norm(poses[..., child, :] - poses[..., parent, :], dim=-1)


def bone_length_loss(predicted_unlabeled: torch.Tensor, reference_lengths: torch.Tensor, parents: Sequence[int]) -> torch.Tensor:
    """Mean absolute gap between the unlabeled predictions' mean bone lengths and the labeled ones'.

    ``reference_lengths`` is (J-1,) or (..., J-1), averaged over all but the last axis.
    """
    lengths = bone_lengths(predicted_unlabeled, parents).reshape(-1, len(parents) - 1).mean(dim=0)
    reference = reference_lengths.reshape(-1, len(parents) - 1).mean(dim=0)
    return (lengths - reference).abs().mean()


def reprojection_loss(predicted_pose: torch.Tensor, predicted_root: torch.Tensor, intrinsics: torch.Tensor,
                      target_2d: torch.Tensor, min_depth: float = 0.1) -> torch.Tensor:
    """2D MPJPE between the input keypoints and the projection of pose + trajectory.

    ``predicted_pose`` (N, T, J, 3) root-relative, ``predicted_root`` (N, T, 1, 3) in camera space,
    ``intrinsics`` (N, 9) in the same units as ``target_2d`` (N, T, J, 2). Depths are clamped to
    ``min_depth`` metres so that an untrained trajectory near the camera cannot blow the loss up.
    """
    camera_points = predicted_pose + predicted_root
    camera_points = torch.cat([camera_points[..., :2], camera_points[..., 2:].clamp(min=min_depth)], dim=-1)
    projected = project_to_2d(camera_points, intrinsics[:, None, None, :])
    return mpjpe(projected, target_2d)


def _check_shapes(predicted: torch.Tensor, target: torch.Tensor) -> None:
    if predicted.shape != target.shape:
        raise ValueError(f"shape mismatch: predicted {tuple(predicted.shape)} vs target {tuple(target.shape)}")
