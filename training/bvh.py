"""BVH reading and forward kinematics, vectorised over frames (numpy only).

A joint's local transform is its rotation channels applied in the order listed (intrinsic,
so the matrix is the product in that order), and its translation is its position channels
when it has them, else its OFFSET. Global rotation: R_parent @ R_local; global position:
p_parent + R_parent @ t_local. End sites become extra joints named ``<parent>_end``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class BVHError(ValueError):
    """The text is not a readable BVH file."""


@dataclass
class BVHMotion:
    names: list[str]
    parents: list[int]
    offsets: np.ndarray          # (J, 3) rest offsets from the parent
    channels: list[list[str]]    # per joint, e.g. ["Xposition", ..., "Zrotation"]; [] for end sites
    motion: np.ndarray           # (F, total channels)
    frame_time: float

    @property
    def frame_rate(self) -> float:
        return 1.0 / self.frame_time

    @property
    def num_frames(self) -> int:
        return self.motion.shape[0]

    def index(self, name: str) -> int:
        return self.names.index(name)


def parse_bvh(text: str, source: str = "<bvh>") -> BVHMotion:
    tokens = text.split()
    if not tokens or tokens[0] != "HIERARCHY":
        raise BVHError(f"{source}: not a BVH file (it does not start with HIERARCHY)")
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[list[str]] = []
    stack: list[int] = []
    i = 1
    try:
        while tokens[i] != "MOTION":
            token = tokens[i]
            if token in ("ROOT", "JOINT"):
                names.append(tokens[i + 1])
                parents.append(stack[-1] if stack else -1)
                offsets.append([0.0, 0.0, 0.0])
                channels.append([])
                i += 2
            elif token == "End":
                parent = stack[-1]
                names.append(f"{names[parent]}_end")
                parents.append(parent)
                offsets.append([0.0, 0.0, 0.0])
                channels.append([])
                i += 2
            elif token == "{":
                stack.append(len(names) - 1)
                i += 1
            elif token == "}":
                stack.pop()
                i += 1
            elif token == "OFFSET":
                offsets[-1] = [float(v) for v in tokens[i + 1:i + 4]]
                i += 4
            elif token == "CHANNELS":
                count = int(tokens[i + 1])
                channels[-1] = tokens[i + 2:i + 2 + count]
                i += 2 + count
            else:
                raise BVHError(f"{source}: unexpected token {token!r} in the hierarchy")
        if tokens[i + 1] != "Frames:" or tokens[i + 3:i + 5] != ["Frame", "Time:"]:
            raise BVHError(f"{source}: MOTION section lacks 'Frames:' and 'Frame Time:'")
        frames = int(tokens[i + 2])
        frame_time = float(tokens[i + 5])
        values = np.array(tokens[i + 6:], dtype=np.float64)
    except (IndexError, ValueError) as exc:
        if isinstance(exc, BVHError):
            raise
        raise BVHError(f"{source}: truncated or malformed BVH ({exc})") from exc
    if not names:
        raise BVHError(f"{source}: no joints in the hierarchy")
    width = sum(len(c) for c in channels)
    if frame_time <= 0:
        raise BVHError(f"{source}: frame time must be positive")
    if values.size < frames * width:
        raise BVHError(f"{source}: expected {frames} frames of {width} values, found {values.size} values")
    motion = values[: frames * width].reshape(frames, width)
    return BVHMotion(names, parents, np.array(offsets), channels, motion, frame_time)


def read_bvh(path: str) -> BVHMotion:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return parse_bvh(handle.read(), path)


def axis_rotation(axis: str, degrees: np.ndarray) -> np.ndarray:
    """Rotation matrices (F, 3, 3) about one coordinate axis."""
    angle = np.radians(degrees)
    c, s = np.cos(angle), np.sin(angle)
    one, zero = np.ones_like(angle), np.zeros_like(angle)
    if axis == "X":
        rows = [[one, zero, zero], [zero, c, -s], [zero, s, c]]
    elif axis == "Y":
        rows = [[c, zero, s], [zero, one, zero], [-s, zero, c]]
    elif axis == "Z":
        rows = [[c, -s, zero], [s, c, zero], [zero, zero, one]]
    else:
        raise BVHError(f"unknown rotation axis {axis!r}")
    return np.stack([np.stack(row, axis=-1) for row in rows], axis=-2)


def forward_kinematics(bvh: BVHMotion) -> tuple[np.ndarray, np.ndarray]:
    """Global joint positions (F, J, 3) and rotations (F, J, 3, 3) in the file's units and axes."""
    frames, joints = bvh.num_frames, len(bvh.names)
    positions = np.zeros((frames, joints, 3))
    rotations = np.zeros((frames, joints, 3, 3))
    column = 0
    for j, (parent, joint_channels) in enumerate(zip(bvh.parents, bvh.channels)):
        local_rotation = np.broadcast_to(np.eye(3), (frames, 3, 3))
        translation = np.broadcast_to(bvh.offsets[j], (frames, 3)).copy()
        for name in joint_channels:
            values = bvh.motion[:, column]
            column += 1
            axis, kind = name[0].upper(), name[1:].lower()
            if kind == "rotation":
                local_rotation = local_rotation @ axis_rotation(axis, values)
            elif kind == "position":
                translation[:, "XYZ".index(axis)] = values
            else:
                raise BVHError(f"unknown channel {name!r} on joint {bvh.names[j]!r}")
        if parent < 0:
            rotations[:, j] = local_rotation
            positions[:, j] = translation
        else:
            rotations[:, j] = rotations[:, parent] @ local_rotation
            positions[:, j] = positions[:, parent] + np.einsum("fij,fj->fi", rotations[:, parent], translation)
    return positions, rotations
