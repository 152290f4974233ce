"""Write lifted motion as BVH (Y up, as BVH readers and Blender's importer expect).

The skeleton is our 17 joints (or, with feet, ``core.skeleton.FOOT_SKELETON``'s 21: toe bases and toe
tips added) in a T-pose with the clip's (constant) bone lengths; rotations
come from ``core.rotations``; the root carries position channels. Units: centimetres by default.
"""
from __future__ import annotations

import numpy as np

from .rotations import euler_zxy, global_rotations, local_rotations, rest_pose
from .skeleton import H36M_SKELETON, Skeleton

Z_UP_TO_Y_UP = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])  # (x, y, z) -> (x, z, -y)
BVH_NAMES = {
    "pelvis": "Hips", "right_hip": "RightUpLeg", "right_knee": "RightLeg", "right_ankle": "RightFoot",
    "left_hip": "LeftUpLeg", "left_knee": "LeftLeg", "left_ankle": "LeftFoot", "spine": "Spine1",
    "thorax": "Neck", "neck_nose": "Head", "head": "HeadTop", "left_shoulder": "LeftArm",
    "left_elbow": "LeftForeArm", "left_wrist": "LeftHand", "right_shoulder": "RightArm",
    "right_elbow": "RightForeArm", "right_wrist": "RightHand",
    "left_ball": "LeftToeBase", "left_toe": "LeftToe_End", "right_ball": "RightToeBase", "right_toe": "RightToe_End",
}
UNITS = {"m": 1.0, "cm": 100.0}


def write_bvh(path: str, positions: np.ndarray, fps: float, bone_lengths: np.ndarray | None = None,
              units: str = "cm", skeleton: Skeleton = H36M_SKELETON) -> None:
    """Positions (T, J, 3) of ``skeleton``'s joints, world metres with Z up, to a BVH file."""
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 3 or positions.shape[1:] != (skeleton.num_joints, 3) or len(positions) == 0:
        raise ValueError(f"expected positions of shape (frames, {skeleton.num_joints}, 3), got {positions.shape}")
    if units not in UNITS:
        raise ValueError(f"units must be one of {sorted(UNITS)}")
    if bone_lengths is None:
        bone_lengths = np.median(skeleton.bone_lengths(positions), axis=0)
    rest = rest_pose(bone_lengths, skeleton)
    local = local_rotations(global_rotations(positions, rest, skeleton), skeleton)
    local_y_up = Z_UP_TO_Y_UP @ local @ Z_UP_TO_Y_UP.T
    angles = euler_zxy(local_y_up)                                   # (T, J, 3)
    scale = UNITS[units]
    offsets = np.zeros((skeleton.num_joints, 3))
    for j, parent in enumerate(skeleton.parents):
        if parent >= 0:
            offsets[j] = (rest[j] - rest[parent]) @ Z_UP_TO_Y_UP.T * scale
    root = positions[:, 0] @ Z_UP_TO_Y_UP.T * scale

    lines = ["HIERARCHY"]

    def emit(joint: int, depth: int) -> None:
        pad = "  " * depth
        keyword = "ROOT" if skeleton.parents[joint] < 0 else "JOINT"
        lines.append(f"{pad}{keyword} {BVH_NAMES.get(skeleton.names[joint], skeleton.names[joint])}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {offsets[joint][0]:.6f} {offsets[joint][1]:.6f} {offsets[joint][2]:.6f}")
        channels = "Xposition Yposition Zposition Zrotation Xrotation Yrotation" if keyword == "ROOT" \
            else "Zrotation Xrotation Yrotation"
        lines.append(f"{pad}  CHANNELS {6 if keyword == 'ROOT' else 3} {channels}")
        children = skeleton.children(joint)
        for child in children:
            emit(child, depth + 1)
        if not children:
            parent = skeleton.parents[joint]
            tip = offsets[joint] / max(np.linalg.norm(offsets[joint]), 1e-9) * 0.05 * scale if parent >= 0 else np.zeros(3)
            lines.append(f"{pad}  End Site")
            lines.append(f"{pad}  {{")
            lines.append(f"{pad}    OFFSET {tip[0]:.6f} {tip[1]:.6f} {tip[2]:.6f}")
            lines.append(f"{pad}  }}")
        lines.append(f"{pad}}}")

    emit(0, 0)
    lines += ["MOTION", f"Frames: {len(positions)}", f"Frame Time: {1.0 / fps:.8f}"]
    order = _depth_first(skeleton)
    for t in range(len(positions)):
        values = list(root[t]) + [v for j in order for v in angles[t, j]]
        lines.append(" ".join(f"{v:.6f}" for v in values))
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")


def _depth_first(skeleton: Skeleton) -> list[int]:
    order: list[int] = []

    def visit(joint: int) -> None:
        order.append(joint)
        for child in skeleton.children(joint):
            visit(child)

    visit(0)
    return order
