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
            toes = walk[:, [6, 3]] + np.array([0.0, -0.12, -0.06])   # toe bases ahead of and below the ankles
            clips.append(Clip(f"{subset}-{i}", "synthetic", subset, walk.astype(np.float32), {},
                              toes.astype(np.float32)))
    save_clips(path, clips)
    return str(path)
