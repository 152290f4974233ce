"""Where the detector marks a joint, against the canonical joint's projection: measured on the engine's chunks.

On the data engine's renders mediapipe puts the hips about 4 % of the person's height above the
canonical hip centres, the thorax 4 % below the canonical thorax, the shoulders 2 % above
(``median_offsets``). The lifter sees these offsets only in the share of its windows that come
from the chunks; on projected mocap a lifter that never saw them lifts worse (on validation clips,
clean 2D moved by the full offsets: P1 44 -> 55 mm). ``add_offsets`` puts the same offsets on
projected mocap, so the mocap windows can look like what the detector gives.

Offsets live in the person's image frame: along the torso (from the thorax towards the pelvis) and
across it, in units of the person's extent in the image, so they turn and scale with the person.
"""
from __future__ import annotations

import numpy as np

from core.camera import project_to_2d_linear
from core.skeleton import H36M_JOINT_NAMES

PELVIS, THORAX = H36M_JOINT_NAMES.index("pelvis"), H36M_JOINT_NAMES.index("thorax")


def torso_frame(points_2d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Across and along unit vectors (..., 2) of each frame's torso and the person's extent (...,) in the image."""
    along = points_2d[..., PELVIS, :] - points_2d[..., THORAX, :]
    along = along / np.maximum(np.linalg.norm(along, axis=-1, keepdims=True), 1e-9)
    across = np.stack([-along[..., 1], along[..., 0]], axis=-1)
    extent = np.ptp(points_2d, axis=-2).max(axis=-1)
    return across, along, extent


def median_offsets(synth_clips: list) -> np.ndarray:
    """(17, 2) median offset (across, along the torso) of the detector's joints from the true joints'
    projections, in person extents, over every frame of the chunks (``training.synth.windows.SynthClip``)."""
    if not synth_clips:
        raise ValueError("no chunks to measure the detector's offsets on")
    measured = []
    for clip in synth_clips:
        truth = project_to_2d_linear(clip.poses + clip.roots[:, None], clip.intrinsics)
        across, along, extent = torso_frame(clip.inputs)
        offset = clip.inputs - truth
        measured.append(np.stack([(offset * across[:, None]).sum(-1), (offset * along[:, None]).sum(-1)], -1)
                        / np.maximum(extent, 1e-9)[:, None, None])
    return np.median(np.concatenate(measured), axis=0).astype(np.float32)


def add_offsets(points_2d: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``points_2d`` (..., 17, 2), any image units, moved by ``offsets`` (17, 2) in each frame's torso frame."""
    across, along, extent = torso_frame(points_2d)
    move = offsets[:, 0:1] * across[..., None, :] + offsets[:, 1:2] * along[..., None, :]
    return (points_2d + move * extent[..., None, None]).astype(points_2d.dtype)


__all__ = ["torso_frame", "median_offsets", "add_offsets"]
