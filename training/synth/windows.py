"""Training windows from the data engine's chunks: what the detector saw, paired with the true 3D.

Each chunk's main body (person 0) is followed through its frames: per frame, the detected person
whose joints lie nearest the body's projected true joints (and near enough: within half the
body's size) is taken; frames without one, and joints below the confidence threshold, are
filled in as the pipeline fills them (``core.keypoints.fill_gaps``). Inputs are normalized like
the pipeline's (``normalize_screen_coordinates``); targets are the true canonical joints in the
chunk's camera space, root-relative, with the root and the normalized intrinsics, so these
windows mix with ``training.augment.make_pairs``'s in one batch.
"""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass

import numpy as np

from core.camera import CameraIntrinsics, normalize_screen_coordinates, project_to_2d_linear
from core.keypoints import KeypointError, KeypointTrack, fill_gaps

from ..augment import sample_window_frames

MIN_CONFIDENCE = 0.3     # as the pipeline's default --min-confidence
NEAR_ENOUGH = 0.5        # a detection further than this many body sizes from the truth is someone else


@dataclass
class SynthClip:
    inputs: np.ndarray       # (F, 17, 2) normalized detector joints, gaps filled
    poses: np.ndarray        # (F, 17, 3) true joints, camera space, root-relative, metres
    roots: np.ndarray        # (F, 3) true pelvis, camera space
    intrinsics: np.ndarray   # (9,) normalized (``CameraIntrinsics.normalized_vector``)


def follow_main_body(chunk) -> tuple[np.ndarray, np.ndarray]:
    """(F, 17, 2) pixels and (F, 17) confidences of the detections on the chunk's main body (zeros where none)."""
    truth = project_to_2d_linear(chunk["truth_camera"][:, 0], chunk["intrinsics_px"])
    frames = truth.shape[0]
    positions, confidence = np.zeros((frames, 17, 2), np.float32), np.zeros((frames, 17), np.float32)
    for t in range(frames):
        size = np.ptp(truth[t], axis=0).max()
        best, best_distance = None, NEAR_ENOUGH * size
        for p in range(chunk["keypoints"].shape[1]):
            joints, conf = chunk["keypoints"][t, p], chunk["confidence"][t, p]
            seen = conf >= MIN_CONFIDENCE
            if not np.isfinite(joints).all() or seen.sum() < 4:
                continue
            distance = np.linalg.norm(joints[seen] - truth[t][seen], axis=-1).mean()
            if distance < best_distance:
                best, best_distance = p, distance
        if best is not None:
            positions[t], confidence[t] = chunk["keypoints"][t, best], chunk["confidence"][t, best]
    return positions, confidence


def load_chunk(path: str) -> SynthClip | None:
    """One chunk as a training clip; None when the detector never found its main body."""
    with np.load(path, allow_pickle=False) as chunk:
        positions, confidence = follow_main_body(chunk)
        width, height = int(chunk["width"]), int(chunk["height"])
        try:
            track = fill_gaps(KeypointTrack(positions, confidence, width, height, float(chunk["fps"])), MIN_CONFIDENCE)
        except KeypointError:
            return None
        camera = chunk["truth_camera"][:, 0].astype(np.float32)
        fx, fy, cx, cy = (float(v) for v in chunk["intrinsics_px"][:4])
        intrinsics = CameraIntrinsics(width, height, (fx, fy), (cx, cy)).normalized_vector()
    return SynthClip(normalize_screen_coordinates(track.positions, width, height), camera - camera[:, :1],
                     camera[:, 0], intrinsics)


def chunk_paths(folder: str) -> list[str]:
    """The finished chunks of ``folder`` in order: not the ``.partial.npz`` file an engine stopped while
    writing leaves behind (its name also matches ``chunk_*.npz``)."""
    return sorted(path for path in glob.glob(os.path.join(folder, "chunk_*.npz")) if not path.endswith(".partial.npz"))


def chunk_index(path: str) -> int:
    """``.../chunk_00012.npz`` -> 12 (``training.synth.engine.chunk_path``'s inverse)."""
    return int(os.path.basename(path)[len("chunk_"):-len(".npz")])


def chunk_indices(folder: str) -> list[int]:
    """The indices of the chunks in ``folder``: what a model trained on it has seen, so that benchmarks
    on the engine's chunks can leave those out."""
    return [chunk_index(path) for path in chunk_paths(folder)]


def load_synth(folder: str) -> list[SynthClip]:
    """Every chunk of ``folder`` the detector found its body in; a clear error for an empty folder."""
    paths = chunk_paths(folder)
    if not paths:
        raise FileNotFoundError(f"no chunks in {folder} (python -m training.synth.engine --out {folder})")
    clips = [clip for clip in map(load_chunk, paths) if clip is not None]
    if not clips:
        raise ValueError(f"the detector found the main body in none of the {len(paths)} chunks of {folder}")
    return clips


def sample_synth(clips: list[SynthClip], batch: int, window: int, target_frame: int, rng: np.random.Generator):
    """(inputs (B, window, 17, 2), poses (B, 1, 17, 3), roots (B, 1, 1, 3), intrinsics (B, 9)) from random frames,
    edge-repeated at the chunks' ends."""
    inputs = np.empty((batch, window, 17, 2), np.float32)
    poses, roots = np.empty((batch, 1, 17, 3), np.float32), np.empty((batch, 1, 1, 3), np.float32)
    intrinsics = np.empty((batch, 9), np.float32)
    chosen = sample_window_frames([len(c.inputs) for c in clips], batch, window, rng, offset=target_frame)
    for b, (k, centre, frames) in enumerate(chosen):
        clip = clips[k]
        inputs[b], poses[b, 0], roots[b, 0, 0], intrinsics[b] = clip.inputs[frames], clip.poses[centre], \
            clip.roots[centre], clip.intrinsics
    return inputs, poses, roots, intrinsics
