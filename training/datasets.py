"""Mocap archives and folders -> 17-joint clips at 30 fps, with the fixed train/validation/test split.

Split (fixed, so numbers stay comparable across runs):
- ``test_actor``: Bandai dataset 2, styles feminine and youthful: one actor never seen in training
  (dataset 2's hip-height offset groups its styles into three actors).
- ``test_motion``: Bandai dataset 1 content types absent from dataset 2 and from training:
  dance-short, kick, punch, slash, bow; and CMU Daz 'indian' dances.
- ``validation``: every file of the remaining pool whose numeric id ends in 5.
- ``train``: everything else (Bandai actors 1 and 2, CMU Daz salsa and martial arts, CMU ASF/AMC
  subjects other than 03; subject 03 goes to ``test_actor`` as an unseen body).

Archives are read in place with ``tarfile``; nothing is extracted to disk.
"""
from __future__ import annotations

import os
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from .asfamc import asfamc_joints, parse_amc, parse_asf
from .bvh import BVHError, parse_bvh
from .mocap import bvh_joints, resample

TARGET_FPS = 30.0
SUBSETS = ("train", "validation", "test_actor", "test_motion")
BANDAI_ARCHIVE = "bandai-namco-research-motiondataset.tar.xz"
CMU_ARCHIVE = "cmu-subset.tar.xz"
BANDAI_TEST_STYLES = {"feminine", "youthful"}
BANDAI_TEST_CONTENTS = {"dance-short", "kick", "punch", "slash", "bow"}
CMU_DAZ_TEST = {"indian"}
CMU_DAZ_RATES = {"salsa": 60.0, "martial": 120.0, "indian": 120.0}  # salsa's header wrongly says 120
CMU_TEST_SUBJECTS = {"03"}
RESERVED_CMU_SUBJECTS = {"02", "131"}   # independent evaluation only: never read for training or tuning
GLITCH_SPEED = 6.0   # m/s: a joint moving faster than this relative to the pelvis in one frame is a bad frame
MIN_PIECE_SECONDS = 2.0


@dataclass
class Clip:
    name: str
    source: str
    subset: str
    positions: np.ndarray            # (F, 17, 3) metres, Z up, 30 fps
    labels: dict = field(default_factory=dict)
    toes: np.ndarray | None = None   # (F, 2, 3) left and right toe bases, where the source has them


def _resampled(points: np.ndarray | None, rate: float) -> np.ndarray | None:
    """Points of a file at ``rate`` as float32 at TARGET_FPS (None stays None)."""
    return None if points is None else resample(points, rate, TARGET_FPS).astype(np.float32)


def _pool_subset(identifier: str) -> str:
    return "validation" if identifier.endswith("5") else "train"


def bandai_subset(file_name: str) -> tuple[str, dict]:
    match = re.match(r"dataset-(\d)_(.+?)_(.+?)_(\d+)\.bvh$", os.path.basename(file_name))
    if not match:
        raise ValueError(f"unexpected Bandai file name {file_name}")
    dataset, content, style, identifier = match.groups()
    labels = {"dataset": int(dataset), "content": content, "style": style, "id": identifier}
    if dataset == "2" and style in BANDAI_TEST_STYLES:
        return "test_actor", labels
    if dataset == "1" and content in BANDAI_TEST_CONTENTS:
        return "test_motion", labels
    return _pool_subset(identifier), labels


def read_bandai(archive: str | os.PathLike) -> Iterator[Clip]:
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            if not (member.isfile() and member.name.endswith(".bvh")):
                continue
            text = tar.extractfile(member).read().decode("utf-8", errors="replace")
            bvh = parse_bvh(text, member.name)
            subset, labels = bandai_subset(member.name)
            positions, toes = (_resampled(a, bvh.frame_rate) for a in bvh_joints(bvh, unit_scale=0.01))
            yield Clip(os.path.basename(member.name)[:-4], "bandai", subset, positions, labels, toes)


def read_cmu_daz(archive: str | os.PathLike) -> Iterator[Clip]:
    """CMU Daz-friendly BVH conversions; frame 0 is a synthetic T-pose and is dropped."""
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            parts = Path(member.name).parts
            if not (member.isfile() and member.name.endswith(".bvh") and "daz-bvh" in parts and len(parts) >= 3):
                continue
            style = parts[-2]
            if style not in CMU_DAZ_RATES:
                continue
            bvh = parse_bvh(tar.extractfile(member).read().decode("utf-8", errors="replace"), member.name)
            bvh.motion = bvh.motion[1:]
            positions, toes = (_resampled(a, CMU_DAZ_RATES[style]) for a in bvh_joints(bvh, unit_scale=0.01))
            subset = "test_motion" if style in CMU_DAZ_TEST else _pool_subset(Path(member.name).stem)
            yield Clip(f"cmu-daz-{style}-{Path(member.name).stem}", "cmu-daz", subset, positions,
                       {"content": style}, toes)


def read_cmu_asfamc(archive: str | os.PathLike) -> Iterator[Clip]:
    """CMU subjects in the original ASF/AMC format (120 fps, each subject its own calibrated skeleton)."""
    skeletons: dict[str, object] = {}
    motions: list[tuple[str, str]] = []
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            path = Path(member.name)
            if not member.isfile() or "asfamc" not in path.parts:
                continue
            text = tar.extractfile(member).read().decode("utf-8", errors="replace")
            if path.suffix == ".asf":
                skeletons[path.stem] = parse_asf(text, member.name)
            elif path.suffix == ".amc":
                motions.append((member.name, text))
    for name, text in sorted(motions):
        stem = Path(name).stem
        subject = stem.split("_")[0]
        if subject not in skeletons:
            raise ValueError(f"{name}: no ASF skeleton for subject {subject}")
        positions, toes = (_resampled(a, 120.0) for a in asfamc_joints(skeletons[subject],
                                                                      parse_amc(text, skeletons[subject], name)))
        subset = "test_actor" if subject in CMU_TEST_SUBJECTS else _pool_subset(stem)
        yield Clip(f"cmu-{stem}", "cmu-asfamc", subset, positions, {"content": f"subject-{subject}"}, toes)


def glitch_free_pieces(positions: np.ndarray, rate: float, min_seconds: float = MIN_PIECE_SECONDS) -> list[slice]:
    """Spans of a clip (F, 17, 3) in metres at ``rate`` between bad frames, those at least ``min_seconds`` long.

    Retargeted mocap flips a knee for a frame or two (CMU subject 05's iClone files: the knee leaps 0.3-0.5 m
    in 1/60 s and back); such frames teach the lifter poses no body takes. A frame is bad where any joint
    moves faster than GLITCH_SPEED relative to the pelvis, to or from it."""
    relative = positions - positions[:, :1]
    speed = np.linalg.norm(np.diff(relative, axis=0), axis=-1).max(axis=-1) * rate
    bad = np.zeros(len(positions), bool)
    bad[1:] |= speed > GLITCH_SPEED
    bad[:-1] |= speed > GLITCH_SPEED
    pieces, start = [], None
    for frame, is_bad in enumerate(np.append(bad, True)):
        if not is_bad and start is None:
            start = frame
        elif is_bad and start is not None:
            if frame - start >= min_seconds * rate:
                pieces.append(slice(start, frame))
            start = None
    return pieces


def read_cmu_iclone(folder: str | os.PathLike) -> Iterator[Clip]:
    """CMU subjects 05, 06 and 07 as exported from iClone (DragonForgedTheArtist/IClone-CMU-Mocap): Character
    Creator joint names (CC_Base_L_Thigh), centimetres, 60 fps, one Character Creator body for every subject.

    The root's position channels are relative to its rest offset (the hips stand at the offset's 105 cm), some
    files begin with a T-pose frame (dropped where the first frame is over 0.3 m from the next), and clips are cut
    at retargeting glitches (``glitch_free_pieces``). Subjects 02 and 131 are reserved for independent evaluation
    and never read."""
    paths = sorted(Path(folder).glob("*.bvh"))
    if not paths:
        raise FileNotFoundError(f"no .bvh files in {folder} (python -m training.fetch_mocap fetches them)")
    subjects = {path: path.stem.split("_")[0].lstrip("0").zfill(2) for path in paths}
    reserved = sorted(str(path) for path, subject in subjects.items() if subject in RESERVED_CMU_SUBJECTS)
    if reserved:   # before reading anything
        raise ValueError(f"CMU subjects {sorted(RESERVED_CMU_SUBJECTS)} are reserved for independent evaluation: "
                         f"{', '.join(reserved)}")
    for path, subject in subjects.items():
        bvh = parse_bvh(path.read_text(encoding="utf-8", errors="replace"), str(path))
        root = [(c, "XYZ".index(name[0].upper())) for c, name in enumerate(bvh.channels[0])
                if name.lower().endswith("position")]
        if len(root) != 3:
            raise ValueError(f"{path}: the root has no XYZ position channels")
        for column, axis in root:
            bvh.motion[:, column] += bvh.offsets[0][axis]
        positions, toes = bvh_joints(bvh, unit_scale=0.01)
        start = 1 if len(positions) > 1 and np.linalg.norm(positions[1] - positions[0], axis=-1).max() > 0.3 else 0
        for number, piece in enumerate(glitch_free_pieces(positions[start:], bvh.frame_rate)):
            yield Clip(f"cmu-iclone-{path.stem}-{number}", "cmu-iclone", _pool_subset(path.stem),
                       _resampled(positions[start:][piece], bvh.frame_rate),
                       {"content": f"subject-{subject}"}, _resampled(toes[start:][piece], bvh.frame_rate))


def read_bvh_folder(folder: str | os.PathLike, frame_rate: float | None = None) -> Iterator[Clip]:
    """A user's own BVH files (any rig the name mapping knows); units and rate from each file."""
    paths = sorted(Path(folder).rglob("*.bvh"))
    if not paths:
        raise FileNotFoundError(f"no .bvh files under {folder}")
    for path in paths:
        bvh = parse_bvh(path.read_text(encoding="utf-8", errors="replace"), str(path))
        positions, toes = (_resampled(a, frame_rate or bvh.frame_rate) for a in bvh_joints(bvh))
        yield Clip(path.stem, "user", _pool_subset(path.stem), positions, {}, toes)


def frames_per_source(clips: list[Clip]) -> str:
    """``"bandai 283960, cmu-asfamc 9120, ..."``: each source's frames among ``clips``. Stored with a trained model
    (``training_frames``), so that the bench compares only models that learnt from the data it measures with."""
    counts: dict[str, int] = {}
    for clip in clips:
        counts[clip.source] = counts.get(clip.source, 0) + len(clip.positions)
    return ", ".join(f"{source} {frames}" for source, frames in sorted(counts.items()))


JOINT_DEFINITIONS = ("canonical", "source")   # training.canonical's joints, or each source's own


def save_clips(path: str | os.PathLike, clips: list[Clip], definition: str = "canonical") -> None:
    """One .npz of plain arrays (no pickle): all frames concatenated plus per-clip fields, and which
    joint definition the positions follow."""
    if not clips:
        raise ValueError("no clips to save")
    if definition not in JOINT_DEFINITIONS:
        raise ValueError(f"definition must be one of {JOINT_DEFINITIONS}, got {definition!r}")
    lengths = np.array([len(c.positions) for c in clips])
    np.savez(path, definition=np.array(definition),
             positions=np.concatenate([c.positions for c in clips]).astype(np.float32),
             lengths=lengths,
             names=np.array([c.name for c in clips]),
             sources=np.array([c.source for c in clips]),
             subsets=np.array([c.subset for c in clips]),
             contents=np.array([str(c.labels.get("content", "")) for c in clips]),
             styles=np.array([str(c.labels.get("style", "")) for c in clips]),
             toes=np.concatenate([c.toes if c.toes is not None else np.full((len(c.positions), 2, 3), np.nan)
                                  for c in clips]).astype(np.float32))   # NaN: a source without toes


def load_clips(path: str | os.PathLike, subsets: tuple[str, ...] | None = None) -> list[Clip]:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"prepared data not found: {path} (run python -m training.prepare_data first)")
    with np.load(path, allow_pickle=False) as data:
        if "definition" not in data:
            raise ValueError(f"{path} was prepared before the mocap sources were converted to the canonical "
                             "joints (training/canonical.py): run python -m training.prepare_data again")
        ends = np.cumsum(data["lengths"])
        positions = data["positions"]
        toes = data["toes"] if "toes" in data else None   # files prepared before toes were kept have none
        clips = []
        for i, end in enumerate(ends):
            subset = str(data["subsets"][i])
            if subsets is not None and subset not in subsets:
                continue
            span = slice(end - data["lengths"][i], end)
            clip_toes = None if toes is None or not np.isfinite(toes[span]).all() else toes[span]
            clips.append(Clip(str(data["names"][i]), str(data["sources"][i]), subset, positions[span],
                              {"content": str(data["contents"][i]), "style": str(data["styles"][i])}, clip_toes))
    return clips


__all__ = ["Clip", "SUBSETS", "JOINT_DEFINITIONS", "read_bandai", "read_cmu_daz", "read_cmu_asfamc", "read_cmu_iclone", "read_bvh_folder", "frames_per_source", "save_clips", "load_clips", "BVHError"]
