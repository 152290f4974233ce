"""Shared test fixtures: small random networks with non-trivial BatchNorm statistics."""
import numpy as np
import torch

from core.skeleton import H36M_SKELETON

from core.architecture import TemporalModelConfig
from core.models import TemporalModel


def random_model(seed: int = 0, **overrides) -> TemporalModel:
    """A model in eval mode whose BatchNorm layers are not the identity, so folding is exercised."""
    torch.manual_seed(seed)
    values = dict(filter_widths=(3, 3, 3), channels=64, dropout=0.25)
    values.update(overrides)
    model = TemporalModel(TemporalModelConfig(**values))
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm1d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.3, 0.3)
    return model.eval()


def standing_person(frames=30):
    """A rough T-shaped body in world metres (Z up) walking along +x."""
    pose = np.zeros((17, 3))
    for child, parent in enumerate(H36M_SKELETON.parents):
        if parent >= 0:
            name = H36M_SKELETON.names[child]
            step = {"hip": [0, 0.1 if "left" in name else -0.1, 0], "knee": [0, 0, -0.4], "ankle": [0, 0, -0.4],
                    "shoulder": [0, 0.18 if "left" in name else -0.18, 0.0], "elbow": [0, 0, -0.25], "wrist": [0, 0, -0.25]}
            offset = next((v for k, v in step.items() if k in name), [0, 0, 0.2])
            pose[child] = pose[parent] + offset
    pose[:, 2] += 0.9
    walk = np.linspace(0, 1, frames)[:, None, None] * np.array([1.0, 0, 0])
    return (pose[None] + walk).astype(np.float32)


def synthetic_clips_file(path, clips_per_subset: int = 3, frames: int = 60) -> str:
    """A small prepared-data file of walking stick figures in every subset, for trainer tests."""
    from training.datasets import SUBSETS, Clip, save_clips
    rng = np.random.default_rng(0)
    clips = []
    for subset in SUBSETS:
        for i in range(clips_per_subset):
            walk = standing_person(frames)
            sway = 0.05 * np.sin(np.linspace(0, 6, frames) + rng.uniform(0, 6))[:, None, None]
            walk[:, 12:14, 2] += sway[:, :, 0]  # a little arm motion
            clips.append(Clip(f"{subset}-{i}", "synthetic", subset, walk.astype(np.float32), {}))
    save_clips(path, clips)
    return str(path)


LENGTHS = np.array([0.12, 0.42, 0.42, 0.12, 0.42, 0.42, 0.25, 0.25, 0.12, 0.12, 0.15, 0.28, 0.25, 0.15, 0.28, 0.25])


def random_rotations(rng, shape, max_angle=1.2):
    axis = rng.normal(size=shape + (3,))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    angle = rng.uniform(-max_angle, max_angle, shape)
    k = np.zeros(shape + (3, 3))
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -axis[..., 2], axis[..., 1], -axis[..., 0]
    k = k - np.swapaxes(k, -1, -2)
    return np.eye(3) + np.sin(angle)[..., None, None] * k + (1 - np.cos(angle))[..., None, None] * (k @ k)


def rigid_motion(frames=40, seed=0):
    rng = np.random.default_rng(seed)
    from core.rotations import forward_kinematics, rest_pose
    rest = rest_pose(LENGTHS)
    rotations = random_rotations(rng, (frames, 17))
    root = np.cumsum(rng.normal(0, 0.02, (frames, 3)), axis=0) + np.array([0, 0, 0.95])
    return forward_kinematics(root, rotations, rest), rest
