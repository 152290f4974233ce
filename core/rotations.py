"""Joint positions -> joint rotations of a rest skeleton, for BVH export and baking onto armatures.

Every bone keeps its rest length and is turned so that it points along the lifted joints:
- pelvis and thorax get a full frame from two directions (up the spine, and across the hips
  or shoulders), relative to the same frame in the rest pose;
- every other joint with a child turns by the shortest arc from where its parent carried the
  bone to where the bone points now ("swing" only), which keeps twist stable and continuous,
  since positions alone carry no twist;
- end joints (ankles, wrists, head top) follow their parent.
World axes: Z up, a character facing -Y (Blender's front view), its left towards +X.
"""
from __future__ import annotations

import numpy as np

from .skeleton import H36M_SKELETON, Skeleton

SK = H36M_SKELETON
REST_DIRECTIONS = {  # direction of the bone from the parent to each joint in the rest (T) pose
    "right_hip": (-1, 0, 0), "right_knee": (0, 0, -1), "right_ankle": (0, 0, -1),
    "left_hip": (1, 0, 0), "left_knee": (0, 0, -1), "left_ankle": (0, 0, -1),
    "spine": (0, 0, 1), "thorax": (0, 0, 1), "neck_nose": (0, 0, 1), "head": (0, 0, 1),
    "left_shoulder": (1, 0, 0), "left_elbow": (1, 0, 0), "left_wrist": (1, 0, 0),
    "right_shoulder": (-1, 0, 0), "right_elbow": (-1, 0, 0), "right_wrist": (-1, 0, 0),
    # the feet of ``core.skeleton.FOOT_SKELETON`` (the character faces -Y): ankle to ball forwards and
    # down to the floor, the toes flat on it
    "left_ball": (0, -0.876, -0.482), "left_toe": (0, -1, 0), "right_ball": (0, -0.876, -0.482), "right_toe": (0, -1, 0),
}
FRAME_JOINTS = {  # joint -> (child along the spine, left child, right child)
    "pelvis": ("spine", "left_hip", "right_hip"),
    "thorax": ("neck_nose", "left_shoulder", "right_shoulder"),
}


def rest_pose(bone_lengths: np.ndarray, skeleton: Skeleton = SK) -> np.ndarray:
    """T-pose joint positions (J, 3) with the pelvis at the origin."""
    pose = np.zeros((skeleton.num_joints, 3))
    for bone, (parent, child) in enumerate(skeleton.bones()):
        pose[child] = pose[parent] + np.array(REST_DIRECTIONS[skeleton.names[child]], float) * bone_lengths[bone]
    return pose


def _normalise(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True).clip(1e-12)


def _frame(up: np.ndarray, left: np.ndarray) -> np.ndarray:
    """Orthonormal frames (..., 3, 3) with columns (left-ish x, forward y, up z)."""
    z = _normalise(up)
    x = _normalise(left - np.sum(left * z, axis=-1, keepdims=True) * z)
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=-1)


def shortest_arc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) turning unit vectors a onto b by the smallest angle."""
    a, b = _normalise(a), _normalise(b)
    axis = np.cross(a, b)
    sin = np.linalg.norm(axis, axis=-1)
    cos = np.sum(a * b, axis=-1)
    # Opposite vectors: any perpendicular axis will do.
    helper = np.where(np.abs(a[..., :1]) < 0.9, np.array([1.0, 0, 0]), np.array([0, 1.0, 0]))
    axis = np.where((sin < 1e-9)[..., None] & (cos < 0)[..., None], np.cross(a, helper), axis)
    return axis_angle_matrix(_normalise(axis), np.arctan2(sin, cos))


def axis_angle_matrix(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) about unit axes (..., 3) by angles (...) in radians (Rodrigues' formula)."""
    k = np.zeros(axis.shape[:-1] + (3, 3))
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -axis[..., 2], axis[..., 1], -axis[..., 0]
    k = k - np.swapaxes(k, -1, -2)
    eye = np.broadcast_to(np.eye(3), k.shape)
    return eye + np.sin(angle)[..., None, None] * k + (1 - np.cos(angle))[..., None, None] * (k @ k)


def global_rotations(positions: np.ndarray, rest: np.ndarray, skeleton: Skeleton = SK) -> np.ndarray:
    """World rotation of every joint (T, J, 3, 3) carrying the rest pose onto ``positions`` (T, J, 3)."""
    frames, joints = positions.shape[:2]
    rotations = np.zeros((frames, joints, 3, 3))
    idx = skeleton.index
    for j, name in enumerate(skeleton.names):
        parent = skeleton.parents[j]
        parent_rotation = rotations[:, parent] if parent >= 0 else np.broadcast_to(np.eye(3), (frames, 3, 3))
        children = skeleton.children(j)
        if name in FRAME_JOINTS:
            up, left, right = (idx(n) for n in FRAME_JOINTS[name])
            current = _frame(positions[:, up] - positions[:, j], positions[:, left] - positions[:, right])
            resting = _frame(rest[up] - rest[j], rest[left] - rest[right])
            rotations[:, j] = current @ resting.T
        elif len(children) == 1:
            child = children[0]
            carried = np.einsum("tij,j->ti", parent_rotation, rest[child] - rest[j])
            rotations[:, j] = shortest_arc(carried, positions[:, child] - positions[:, j]) @ parent_rotation
        else:
            rotations[:, j] = parent_rotation
    return rotations


def local_rotations(global_rotation: np.ndarray, skeleton: Skeleton = SK) -> np.ndarray:
    """Each joint's rotation relative to its parent (the root's is its global one)."""
    local = np.empty_like(global_rotation)
    for j, parent in enumerate(skeleton.parents):
        local[:, j] = global_rotation[:, j] if parent < 0 else np.swapaxes(global_rotation[:, parent], -1, -2) @ global_rotation[:, j]
    return local


def forward_kinematics(root_positions: np.ndarray, global_rotation: np.ndarray, rest: np.ndarray,
                       skeleton: Skeleton = SK) -> np.ndarray:
    """Joint positions of the rest skeleton posed by ``global_rotation``, root at ``root_positions``."""
    out = np.zeros(global_rotation.shape[:2] + (3,))
    out[:, 0] = root_positions
    for j, parent in enumerate(skeleton.parents):
        if parent >= 0:
            out[:, j] = out[:, parent] + np.einsum("tij,j->ti", global_rotation[:, parent], rest[j] - rest[parent])
    return out


def euler_zxy(matrices: np.ndarray) -> np.ndarray:
    """Angles (..., 3) in degrees as (z, x, y) with R = Rz @ Rx @ Ry, unwrapped along axis 0."""
    x = np.arcsin(np.clip(matrices[..., 2, 1], -1, 1))
    z = np.arctan2(-matrices[..., 0, 1], matrices[..., 1, 1])
    y = np.arctan2(-matrices[..., 2, 0], matrices[..., 2, 2])
    angles = np.stack([z, x, y], axis=-1)
    return np.degrees(np.unwrap(angles, axis=0) if angles.ndim > 1 and angles.shape[0] > 1 else angles)
