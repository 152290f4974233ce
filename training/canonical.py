"""Mocap joints of any source -> the canonical 17-joint definition of the data engine's bodies.

Labs mark the trunk's joints at different places. In leg lengths (hip to ankle), Bandai's
shoulders sit 0.13 from the midline, CMU's 0.22, Daz's 0.14 and the MakeHuman joint centres of the
data engine's bodies (``training/synth/body_model.py``, ``CANONICAL``) 0.22; Bandai's neck joint
sits 0.20 above its spine joint, MakeHuman's 0.39; CMU's root 10 cm from the middle of its hips.
The limbs' joints (knees, ankles, elbows, wrists) are joint centres in every source. The legs' stay
where they are, so that the feet keep their floor; each arm moves with its shoulder, so that its
bones keep their lengths as on a real body and on the engine's bodies (a shoulder moved in the
chest's frame alone left the elbow behind: Bandai's upper arms shrank from 0.29 m to 0.17 m as the
arms rose overhead).

Each source's trunk joints are moved by one constant offset per joint: the difference between the
canonical bodies' mean layout and the source's own mean layout, both measured in the frame of the
body part that the joint belongs to, in units of the person's leg length: the hips and the spine in
the pelvis' frame from the middle of the hips, the thorax, shoulders, neck and head in the chest's
frame from the spine joint (so that how much a clip bends at the waist does not enter the layout).
The offset is turned with that part in every frame and scaled to each clip's leg length, and the
chest's joints also follow the spine joint's own move; so a person keeps their own deviation from
their source's average and every source ends with the same anatomy on average. The pelvis becomes
the midpoint of the hip joints, as on the canonical bodies.

A source's layout is measured on its training clips only, so held-out people are converted with
the offsets of the people their source trained with.

    python -m training.canonical --synth runs/synth/train   # re-measure CANONICAL_LAYOUT from engine chunks
"""
from __future__ import annotations

import argparse

import numpy as np

from core.skeleton import H36M_SKELETON

from .synth.windows import chunk_paths

J = {name: i for i, name in enumerate(H36M_SKELETON.names)}
TWIN = H36M_SKELETON.flip_permutation()   # each joint's left/right twin (itself on the midline)
PELVIS_PART = ("left_hip", "right_hip", "spine")
CHEST_PART = ("thorax", "left_shoulder", "right_shoulder", "neck_nose", "head")
TRUNK = PELVIS_PART + CHEST_PART

# The data engine's bodies (83 chunks of runs/synth/train, main person, every frame), measured with
# ``python -m training.canonical --synth runs/synth/train``: x towards the body's left, y forwards,
# z up, in leg lengths from the middle of the hips (pelvis part) or from the spine joint (chest part).
CANONICAL_LAYOUT = {
    "left_hip": (0.1311, 0.0, 0.0),
    "right_hip": (-0.1311, 0.0, 0.0),
    "spine": (0.0, 0.0, 0.2895),
    "thorax": (0.0, 0.0, 0.3930),
    "left_shoulder": (0.2185, 0.0236, 0.2755),
    "right_shoulder": (-0.2185, 0.0236, 0.2755),
    "neck_nose": (0.0, 0.0316, 0.5113),
    "head": (0.0, 0.0313, 0.6932),
}


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-9)


def _frame(lateral: np.ndarray, up: np.ndarray) -> np.ndarray:
    """(F, 3, 3) rotations whose columns are the part's left, forward and up axes (world Z up)."""
    x = _unit(lateral)
    z = _unit(up - (up * x).sum(-1, keepdims=True) * x)
    return np.stack([x, np.cross(x, z), z], axis=-1)


def part_frames(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The middle of the hips (F, 3) and the pelvis' and chest's frames (F, 3, 3) of a clip (F, 17, 3)."""
    p = positions
    middle = 0.5 * (p[:, J["left_hip"]] + p[:, J["right_hip"]])
    pelvis = _frame(p[:, J["left_hip"]] - p[:, J["right_hip"]], p[:, J["spine"]] - middle)
    chest = _frame(p[:, J["left_shoulder"]] - p[:, J["right_shoulder"]], p[:, J["thorax"]] - p[:, J["spine"]])
    return middle, pelvis, chest


def leg_length(positions: np.ndarray) -> float:
    """The clip's mean hip-to-ankle length (thigh plus shin, both sides averaged), metres."""
    lengths = H36M_SKELETON.bone_lengths(positions).mean(axis=0)
    bone = {H36M_SKELETON.names[child]: lengths[k] for k, (_, child) in enumerate(H36M_SKELETON.bones())}
    return float(np.mean([bone[f"{side}_knee"] + bone[f"{side}_ankle"] for side in ("left", "right")]))


def clip_layout(positions: np.ndarray) -> dict[str, np.ndarray]:
    """The trunk joints' mean place in their part's frame, in leg lengths from the middle of the hips
    (pelvis part) or from the spine joint (chest part)."""
    middle, pelvis, chest = part_frames(positions)
    scale = leg_length(positions)
    layout = {}
    for name in TRUNK:
        frame, origin = (pelvis, middle) if name in PELVIS_PART else (chest, positions[:, J["spine"]])
        local = np.einsum("fij,fi->fj", frame, positions[:, J[name]] - origin) / scale
        layout[name] = local.mean(axis=0)
    return layout


def symmetric(layout: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The layout mirrored and averaged with itself: a motion that leans one way more than the other
    (a clip's mean) must not put a left/right bias into the offsets."""
    out = {}
    for name, place in layout.items():
        twin = np.array(layout[H36M_SKELETON.names[TWIN[J[name]]]], dtype=np.float64)
        out[name] = np.array([(place[0] - twin[0]) / 2, (place[1] + twin[1]) / 2, (place[2] + twin[2]) / 2])
    return out


def mean_layout(clips: list[np.ndarray]) -> dict[str, np.ndarray]:
    """The frame-weighted mean layout of several clips (each (F, 17, 3)), made left/right symmetric."""
    if not clips:
        raise ValueError("no clips to measure a layout on")
    sums, frames = {name: np.zeros(3) for name in TRUNK}, 0
    for positions in clips:
        layout = clip_layout(positions)
        for name in TRUNK:
            sums[name] += layout[name] * len(positions)
        frames += len(positions)
    return symmetric({name: sums[name] / frames for name in TRUNK})


def to_canonical(positions: np.ndarray, source_layout: dict[str, np.ndarray],
                 canonical_layout: dict[str, tuple] = CANONICAL_LAYOUT) -> np.ndarray:
    """One clip (F, 17, 3) in its source's definition -> the canonical definition: every trunk joint
    moved by (canonical - source) layout, turned with its part and scaled by the clip's leg length (the
    chest's joints also by the spine's move); the pelvis to the middle of the hips. Each elbow and
    wrist moves with its shoulder; the legs are untouched."""
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 3 or positions.shape[1:] != (17, 3):
        raise ValueError(f"expected (frames, 17, 3) joints, got {positions.shape}")
    _, pelvis, chest = part_frames(positions)
    scale = leg_length(positions)
    moves = {}
    for name in TRUNK:
        frame = pelvis if name in PELVIS_PART else chest
        offset = (np.asarray(canonical_layout[name]) - source_layout[name]) * scale
        moves[name] = np.einsum("fij,j->fi", frame, offset)
    out = positions.copy()
    for name in TRUNK:
        out[:, J[name]] += moves[name] + (moves["spine"] if name in CHEST_PART else 0.0)
    out[:, J["pelvis"]] = 0.5 * (out[:, J["left_hip"]] + out[:, J["right_hip"]])
    for side in ("left", "right"):
        shoulder = J[f"{side}_shoulder"]
        for joint in (f"{side}_elbow", f"{side}_wrist"):
            out[:, J[joint]] += out[:, shoulder] - positions[:, shoulder]
    return out


def convert_clips(clips: list, reference_subset: str = "train") -> dict[str, dict[str, np.ndarray]]:
    """Convert ``Clip`` objects in place, source by source, each with its own layout measured on its
    ``reference_subset`` clips (all of its clips where it has none: a folder of the user's own BVH).
    Returns each source's layout, for the record."""
    layouts = {}
    for source in sorted({clip.source for clip in clips}):
        own = [clip for clip in clips if clip.source == source]
        reference = [clip for clip in own if clip.subset == reference_subset] or own
        layouts[source] = mean_layout([clip.positions for clip in reference])
        for clip in own:
            clip.positions = to_canonical(clip.positions, layouts[source]).astype(np.float32)
    return layouts


def format_layout(layout: dict) -> str:
    return "\n".join(f'    "{name}": ({", ".join(f"{v:.4f}" for v in layout[name])}),' for name in TRUNK)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synth", required=True, help="a folder of data-engine chunks (chunk_*.npz)")
    args = parser.parse_args(argv)
    paths = chunk_paths(args.synth)
    if not paths:
        parser.error(f"no chunk_*.npz in {args.synth}")
    clips = []
    for path in paths:
        with np.load(path, allow_pickle=False) as chunk:
            clips.append(chunk["truth_world"][:, 0].astype(np.float64))
    layout = mean_layout(clips)
    print(f"{len(clips)} chunks, {sum(len(c) for c in clips)} frames:\n{format_layout(layout)}")


if __name__ == "__main__":
    main()
