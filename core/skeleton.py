"""The 17-joint Human3.6M-style body that the lifter predicts, and the same with feet.

Joint order and parents follow the layout used by VideoPose3D for Human3.6M so that
models and data from that ecosystem line up with ours. ``FOOT_SKELETON`` adds each foot's ball
(where the toes bend) and toe tip after the 17 (``core.feet`` places them), for export and baking.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Skeleton:
    """Joint names, parent indices and left/right groups of a kinematic tree."""

    names: tuple[str, ...]
    parents: tuple[int, ...]
    joints_left: tuple[int, ...]
    joints_right: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.names) != len(self.parents):
            raise ValueError("names and parents must have the same length")
        for child, parent in enumerate(self.parents):
            if parent >= child:
                raise ValueError("parents must come before their children (topological order)")
        if len(self.joints_left) != len(self.joints_right):
            raise ValueError("left and right joint lists must pair up")

    @property
    def num_joints(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def bones(self) -> list[tuple[int, int]]:
        """(parent, child) pairs, one per non-root joint."""
        return [(p, c) for c, p in enumerate(self.parents) if p >= 0]

    def children(self, joint: int) -> list[int]:
        return [c for c, p in enumerate(self.parents) if p == joint]

    def flip_permutation(self) -> np.ndarray:
        """Index array that swaps every left joint with its right twin."""
        perm = np.arange(self.num_joints)
        perm[list(self.joints_left)] = self.joints_right
        perm[list(self.joints_right)] = self.joints_left
        return perm

    def bone_lengths(self, positions: np.ndarray) -> np.ndarray:
        """Lengths of every bone, shape (..., J-1), from joint positions (..., J, 3)."""
        positions = np.asarray(positions)
        parent_idx = np.array([p for p in self.parents if p >= 0])
        child_idx = np.array([c for c, p in enumerate(self.parents) if p >= 0])
        return np.linalg.norm(positions[..., child_idx, :] - positions[..., parent_idx, :], axis=-1)


def flip_horizontal(points: np.ndarray, skeleton: Skeleton) -> np.ndarray:
    """Mirror poses left-right: negate x and swap left/right joints (works for 2D and 3D)."""
    flipped = np.array(points, copy=True)
    flipped[..., 0] *= -1
    return flipped[..., skeleton.flip_permutation(), :]


H36M_JOINT_NAMES = (
    "pelvis", "right_hip", "right_knee", "right_ankle",
    "left_hip", "left_knee", "left_ankle",
    "spine", "thorax", "neck_nose", "head",
    "left_shoulder", "left_elbow", "left_wrist",
    "right_shoulder", "right_elbow", "right_wrist",
)

H36M_SKELETON = Skeleton(
    names=H36M_JOINT_NAMES,
    parents=(-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15),
    joints_left=(4, 5, 6, 11, 12, 13),
    joints_right=(1, 2, 3, 14, 15, 16),
)

ANKLES = (H36M_JOINT_NAMES.index("left_ankle"), H36M_JOINT_NAMES.index("right_ankle"))   # left, right

FOOT_JOINT_NAMES = ("left_ball", "left_toe", "right_ball", "right_toe")
FOOT_SKELETON = Skeleton(
    names=H36M_JOINT_NAMES + FOOT_JOINT_NAMES,
    parents=H36M_SKELETON.parents + (H36M_JOINT_NAMES.index("left_ankle"), 17, H36M_JOINT_NAMES.index("right_ankle"), 19),
    joints_left=H36M_SKELETON.joints_left + (17, 18),
    joints_right=H36M_SKELETON.joints_right + (19, 20),
)
