"""Numpy-only inference for the trained lifter and trajectory networks.

Blender ships numpy but not torch, so this is the engine the add-on runs. BatchNorm is
folded into the preceding convolution at load time; every layer is then a sum of a few
(frames x channels) @ (channels x channels) matrix products over time-shifted views of a
time-major activation, which BLAS runs at full speed. Long sequences are processed in
chunks of output frames (each with its receptive-field margin), so memory stays bounded
and the result is identical to processing the whole sequence at once.
"""
from __future__ import annotations

import os

import numpy as np

from .architecture import TemporalModelConfig, pad_sequence_edges
from .skeleton import H36M_SKELETON, Skeleton, flip_horizontal
from .weights import NetworkWeights, load_weights

BN_EPSILON = 1e-5  # torch.nn.BatchNorm1d default


def _fold_batchnorm(conv_weight: np.ndarray, params: dict[str, np.ndarray], prefix: str) -> tuple[list[np.ndarray], np.ndarray]:
    """Conv weight (C_out, C_in, k) followed by BatchNorm -> k matrices (C_in, C_out) and a bias (C_out)."""
    scale = params[f"{prefix}.weight"] / np.sqrt(params[f"{prefix}.running_var"] + BN_EPSILON)
    bias = params[f"{prefix}.bias"] - params[f"{prefix}.running_mean"] * scale
    weight = conv_weight * scale[:, None, None]
    taps = [np.ascontiguousarray(weight[:, :, k].T, dtype=np.float32) for k in range(weight.shape[2])]
    return taps, bias.astype(np.float32)


class _Layer:
    """One folded convolution: taps applied at multiples of ``dilation`` frames."""

    def __init__(self, taps: list[np.ndarray], bias: np.ndarray, dilation: int):
        self.taps, self.bias, self.dilation = taps, bias, dilation

    def __call__(self, x: np.ndarray, relu: bool = True) -> np.ndarray:
        out_len = x.shape[0] - (len(self.taps) - 1) * self.dilation
        out = np.matmul(x[:out_len], self.taps[0])
        if len(self.taps) > 1:
            scratch = np.empty_like(out)
            for k, tap in enumerate(self.taps[1:], start=1):
                start = k * self.dilation
                np.matmul(x[start:start + out_len], tap, out=scratch)
                out += scratch
        out += self.bias
        if relu:
            np.maximum(out, 0, out=out)
        return out


class NumpyTemporalModel:
    """Inference-only twin of :class:`core.models.TemporalModel` (eval mode: no dropout, BN folded)."""

    def __init__(self, weights: NetworkWeights):
        self.config: TemporalModelConfig = weights.config
        cfg, params = self.config, {k: np.asarray(v, dtype=np.float64) for k, v in weights.parameters.items()}
        required = ["expand_conv.weight", "shrink.weight", "shrink.bias"]
        missing = [name for name in required if name not in params]
        if missing:
            raise ValueError(f"weights are missing parameters {missing}")
        self.expand = _Layer(*_fold_batchnorm(params["expand_conv.weight"], params, "expand_bn"), dilation=1)
        self.blocks: list[tuple[_Layer, _Layer]] = []
        for block in range(1, len(cfg.filter_widths)):
            i = 2 * (block - 1)
            dilated = _Layer(*_fold_batchnorm(params[f"layers_conv.{i}.weight"], params, f"layers_bn.{i}"), cfg.dilations[block])
            pointwise = _Layer(*_fold_batchnorm(params[f"layers_conv.{i + 1}.weight"], params, f"layers_bn.{i + 1}"), 1)
            self.blocks.append((dilated, pointwise))
        self.shrink = _Layer([np.ascontiguousarray(params["shrink.weight"][:, :, 0].T, dtype=np.float32)],
                             params["shrink.bias"].astype(np.float32), 1)

    @property
    def receptive_field(self) -> int:
        return self.config.receptive_field

    def forward_valid(self, x: np.ndarray) -> np.ndarray:
        """Padded input (T, J_in, F) -> (T - RF + 1, J_out, out_features): outputs only where the window is full."""
        cfg = self.config
        h = np.ascontiguousarray(x.reshape(x.shape[0], -1), dtype=np.float32)
        h = self.expand(h)
        for block, (dilated, pointwise) in enumerate(self.blocks, start=1):
            pad, offset = cfg.block_padding(block), cfg.residual_offset(block)
            residual = h[offset: h.shape[0] - 2 * pad + offset]
            h = pointwise(dilated(h))
            h += residual
        out = self.shrink(h, relu=False)
        return out.reshape(out.shape[0], cfg.num_joints_out, cfg.out_features)

    def predict(self, sequence: np.ndarray, chunk_frames: int = 4096) -> np.ndarray:
        """One sequence (T, J_in, F) -> (T, J_out, out_features); edges padded by repetition, processed in chunks."""
        cfg = self.config
        sequence = np.asarray(sequence, dtype=np.float32)
        if sequence.ndim != 3 or sequence.shape[1:] != (cfg.num_joints_in, cfg.in_features):
            raise ValueError(f"expected keypoints of shape (frames, {cfg.num_joints_in}, {cfg.in_features}), got {sequence.shape}")
        if sequence.shape[0] == 0:
            raise ValueError("cannot lift an empty sequence")
        if not np.all(np.isfinite(sequence)):
            raise ValueError("keypoints contain NaN or infinite values; fill missing detections first")
        padded = pad_sequence_edges(sequence, cfg)
        frames, margin = sequence.shape[0], cfg.receptive_field - 1
        out = np.empty((frames, cfg.num_joints_out, cfg.out_features), dtype=np.float32)
        for start in range(0, frames, chunk_frames):
            stop = min(start + chunk_frames, frames)
            out[start:stop] = self.forward_valid(padded[start:stop + margin])
        return out


class PoseLifter:
    """The shipped networks, from normalized 2D keypoints: root-relative 3D pose, root trajectory and
    (where the file has it) foot contacts."""

    def __init__(self, lifter: NumpyTemporalModel, trajectory: NumpyTemporalModel | None = None,
                 skeleton: Skeleton = H36M_SKELETON, metadata: dict | None = None,
                 contacts: NumpyTemporalModel | None = None):
        self.lifter, self.trajectory_model, self.skeleton = lifter, trajectory, skeleton
        self.contact_model = contacts
        self.metadata = metadata or {}

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "PoseLifter":
        weights = load_weights(path)
        if "lifter" not in weights.networks:
            raise ValueError(f"{os.fspath(path)} has no 'lifter' network (found: {sorted(weights.networks)})")
        trajectory, contacts = weights.networks.get("trajectory"), weights.networks.get("contacts")
        if contacts is not None and (contacts.config.num_joints_out, contacts.config.out_features) not in ((2, 1), (4, 1)):
            raise ValueError(f"{os.fspath(path)}: its 'contacts' network gives neither two feet's logits nor "
                             "each heel's and toe's")
        return cls(NumpyTemporalModel(weights.networks["lifter"]),
                   NumpyTemporalModel(trajectory) if trajectory is not None else None,
                   metadata=weights.metadata, contacts=NumpyTemporalModel(contacts) if contacts is not None else None)

    @property
    def receptive_field(self) -> int:
        return self.lifter.receptive_field

    def lift(self, keypoints: np.ndarray, flip_augment: bool = True) -> np.ndarray:
        """Root-relative 3D joints (T, 17, 3) in metres, camera axes; averaged with the mirrored input if asked."""
        if not flip_augment:
            pose = self.lifter.predict(keypoints)
            pose[:, 0] = 0.0
            return pose
        direct, mirrored = self.lift_both_ways(keypoints)
        return (direct + mirrored) / 2

    def lift_both_ways(self, keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The lift of ``keypoints`` and the mirrored lift of their mirror image (both (T, 17, 3), root at 0):
        where the two disagree, the 2D is not one the lifter can read consistently (``core.swap_check``)."""
        direct = self.lifter.predict(keypoints)
        mirrored = flip_horizontal(self.lifter.predict(flip_horizontal(keypoints, self.skeleton)), self.skeleton)
        direct[:, 0] = mirrored[:, 0] = 0.0
        return direct, mirrored

    def trajectory(self, keypoints: np.ndarray, flip_augment: bool = True) -> np.ndarray:
        """Root position in camera space (T, 3) in metres."""
        if self.trajectory_model is None:
            raise ValueError("this model file has no trajectory network; root motion is unavailable")
        root = self.trajectory_model.predict(keypoints)[:, 0]
        if flip_augment:
            mirrored = self.trajectory_model.predict(flip_horizontal(keypoints, self.skeleton))[:, 0]
            mirrored[:, 0] *= -1
            root = (root + mirrored) / 2
        return root

    def contacts(self, keypoints: np.ndarray, flip_augment: bool = True) -> np.ndarray | None:
        """(T, 2) probabilities of the left and right foot being planted (the heels, where the network tells
        heels from toes); None without a contact network."""
        if self.contact_model is None:
            return None
        probabilities = contact_probabilities(self.contact_model, keypoints, flip_augment, self.skeleton)
        return probabilities[:, HEELS] if probabilities.shape[1] == 4 else probabilities

    def contact_points(self, keypoints: np.ndarray, flip_augment: bool = True) -> np.ndarray | None:
        """(T, 4) probabilities of the left heel, left toe, right heel and right toe being planted
        (``core.keypoints.FOOT_POINTS`` order); None for a network of whole feet, or none."""
        if self.contact_model is None or self.contact_model.config.num_joints_out != 4:
            return None
        return contact_probabilities(self.contact_model, keypoints, flip_augment, self.skeleton)


HEELS = [0, 2]    # of a heel-and-toe contact network's outputs (left heel, left toe, right heel, right toe)
MIRRORED_CONTACTS = {2: [1, 0], 4: [2, 3, 0, 1]}   # a contact network's outputs for the mirrored body


def contact_probabilities(model: NumpyTemporalModel, keypoints: np.ndarray, flip_augment: bool = True,
                          skeleton: Skeleton = H36M_SKELETON) -> np.ndarray:
    """(T, 2) probabilities of the left and right foot being planted, or (T, 4) of each heel and toe
    (left heel, left toe, right heel, right toe), from a contact network's logits."""
    logits = model.predict(keypoints)[:, :, 0]
    if flip_augment:  # the mirrored body's left foot is this one's right
        mirrored = model.predict(flip_horizontal(keypoints, skeleton))[:, :, 0]
        logits = (logits + mirrored[:, MIRRORED_CONTACTS[logits.shape[1]]]) / 2
    return 1 / (1 + np.exp(-logits))
