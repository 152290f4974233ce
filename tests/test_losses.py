
import numpy as np
import pytest
import torch

from core.losses import (bone_length_loss, bone_lengths, mean_velocity_error, mpjpe, n_mpjpe, p_mpjpe,
                         procrustes_align, reprojection_loss, trajectory_loss, weighted_mpjpe)
from core.skeleton import H36M_SKELETON


def _poses(n=8, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).normal(size=(n, 17, 3)))


def _random_rotation(seed):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))


def test_mpjpe_hand_computed():
    target = torch.zeros(1, 2, 3)
    predicted = torch.tensor([[[3.0, 4.0, 0.0], [0.0, 0.0, 1.0]]])  # distances 5 and 1
    assert mpjpe(predicted, target).item() == pytest.approx(3.0)
    assert weighted_mpjpe(predicted, target, torch.tensor([[1.0, 3.0]])).item() == pytest.approx((5 + 3) / 2)


def test_trajectory_loss_weights_by_inverse_depth():
    target = torch.tensor([[[0.0, 0.0, 2.0]], [[0.0, 0.0, 4.0]]])
    predicted = target + torch.tensor([1.0, 0.0, 0.0])
    assert trajectory_loss(predicted, target).item() == pytest.approx((1 / 2 + 1 / 4) / 2)


def test_velocity_error_hand_computed():
    target = torch.zeros(1, 3, 1, 3)
    predicted = torch.tensor([[[[0.0, 0, 0]], [[1.0, 0, 0]], [[1.0, 0, 0]]]])  # velocities 1 then 0
    assert mean_velocity_error(predicted, target).item() == pytest.approx(0.5)
    # A constant offset has no velocity error.
    assert mean_velocity_error(target + 5, target).item() == 0


def test_p_mpjpe_invariant_to_similarity_transform():
    target = _poses(seed=1)
    predicted = target + 0.05 * _poses(seed=2)
    base = p_mpjpe(predicted, target).item()
    assert base > 0.01
    rotation = torch.from_numpy(_random_rotation(3))
    moved = 2.7 * predicted @ rotation.T + torch.tensor([1.0, -2.0, 0.5])
    assert p_mpjpe(moved, target).item() == pytest.approx(base, rel=1e-6)
    assert mpjpe(moved, target).item() > 10 * base
    # A pure similarity transform of the target aligns perfectly.
    assert p_mpjpe(0.5 * target @ rotation.T + 3.0, target).item() == pytest.approx(0.0, abs=1e-9)


def test_procrustes_never_reflects():
    target = _poses(seed=4)
    mirrored = target * torch.tensor([-1.0, 1.0, 1.0])
    aligned = procrustes_align(mirrored, target)
    # Alignment may rotate and scale but not mirror, so a mirrored pose stays wrong.
    assert mpjpe(aligned, target).item() > 0.1


def test_n_mpjpe_is_scale_invariant():
    target = _poses(seed=5)
    predicted = target + 0.02 * _poses(seed=6)
    assert n_mpjpe(3.0 * predicted, target).item() == pytest.approx(n_mpjpe(predicted, target).item(), rel=1e-9)


def test_bone_length_loss_hand_computed():
    parents = H36M_SKELETON.parents
    pose = torch.zeros(1, 1, 17, 3)
    for child, parent in enumerate(parents):
        if parent >= 0:
            pose[0, 0, child] = pose[0, 0, parent] + torch.tensor([0.0, 0.0, 0.1])
    lengths = bone_lengths(pose, parents)
    assert torch.allclose(lengths, torch.full((1, 1, 16), 0.1))
    reference = torch.full((16,), 0.1)
    assert bone_length_loss(pose, reference, parents).item() == pytest.approx(0.0, abs=1e-7)
    assert bone_length_loss(pose * 2, reference, parents).item() == pytest.approx(0.1, abs=1e-7)


def test_reprojection_loss_zero_for_consistent_prediction():
    from core.camera import project_to_2d
    intrinsics = torch.tensor([[1.2, 1.2, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    pose = 0.3 * _poses(n=4, seed=7).float()[None]
    root = torch.tensor([0.1, -0.2, 4.0]).expand(1, 4, 1, 3)
    target = project_to_2d(pose + root, intrinsics[:, None, None, :])
    assert reprojection_loss(pose, root, intrinsics, target).item() == pytest.approx(0.0, abs=1e-6)
    shifted = target + torch.tensor([0.03, 0.04])
    assert reprojection_loss(pose, root, intrinsics, shifted).item() == pytest.approx(0.05, abs=1e-6)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shape mismatch"):
        mpjpe(torch.zeros(2, 17, 3), torch.zeros(2, 16, 3))
