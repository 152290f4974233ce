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


def fake_engine_chunk(path, frames=12, seed=0):
    """A chunk in the engine's format: a standing body 4 m ahead, detected in slot 1 (slot 0: someone else)."""
    from core.camera import CameraIntrinsics, project_to_2d_linear
    from training.synth.engine import FORMAT
    rng = np.random.default_rng(seed)
    body = standing_person(frames).astype(np.float64)
    camera = np.stack([body[..., 0] - 0.5, 0.9 - body[..., 2], body[..., 1] + 4.0], axis=-1)   # x right, y down
    intrinsics = CameraIntrinsics.from_fov(960, 540, 60.0)
    pixels = project_to_2d_linear(camera, intrinsics.pixel_vector())
    keypoints = np.full((frames, 2, 17, 2), np.nan, np.float32)
    keypoints[:, 1] = pixels + rng.normal(0, 2, pixels.shape)
    keypoints[:, 0] = pixels + 300.0
    confidence = np.full((frames, 2, 17), 0.9, np.float32)
    keypoints[3, 1], confidence[3, 1] = np.nan, 0.0          # not found in frame 3
    np.savez(path, format=np.array(FORMAT), landmarks=np.zeros((frames, 2, 33, 4), np.float32), keypoints=keypoints,
             confidence=confidence, truth_world=body[:, None].astype(np.float32),
             truth_camera=camera[:, None].astype(np.float32), contacts=np.ones((frames, 1, 2), bool),
             camera_rotation=np.tile(np.eye(3), (frames, 1, 1)), camera_center=np.zeros(3),
             intrinsics_px=intrinsics.pixel_vector(), width=960, height=540, fps=30.0, seed=seed, plan="{}",
             bodies="[]")
    return pixels
