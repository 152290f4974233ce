"""Drive an existing rig from lifted joints through a bone mapping (numpy only; Blender glue in the add-on).

A mapping names, for target bones, what they follow:
- ``"left_hip>left_knee"``: the bone turns (shortest arc from where its parent carries it) to point
  along that segment of our skeleton;
- ``"pelvis_frame"`` / ``"thorax_frame"``: the bone takes the full orientation of our pelvis (spine
  up, hips across) or thorax (neck up, shoulders across); the pelvis-frame bone also carries root
  motion, scaled by the ratio of the rig's leg length to the clip's.
Bones not in the mapping keep their rest pose relative to their parent.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from .rotations import _frame, shortest_arc
from .skeleton import H36M_SKELETON

SK = H36M_SKELETON
FRAMES = {"pelvis_frame": ("pelvis", "spine", "left_hip", "right_hip"),
          "thorax_frame": ("thorax", "neck_nose", "left_shoulder", "right_shoulder")}

MIXAMO = {
    "Hips": "pelvis_frame", "Spine": "pelvis>spine", "Spine1": "spine>thorax", "Neck": "thorax>neck_nose",
    "Head": "neck_nose>head",
    "LeftUpLeg": "left_hip>left_knee", "LeftLeg": "left_knee>left_ankle",
    "RightUpLeg": "right_hip>right_knee", "RightLeg": "right_knee>right_ankle",
    "LeftArm": "left_shoulder>left_elbow", "LeftForeArm": "left_elbow>left_wrist",
    "RightArm": "right_shoulder>right_elbow", "RightForeArm": "right_elbow>right_wrist",
}
RIGIFY_METARIG = {  # Blender's "Human" meta-rig (Rigify)
    "spine": "pelvis_frame", "spine.001": "pelvis>spine", "spine.003": "spine>thorax",
    "spine.004": "thorax>neck_nose", "spine.006": "neck_nose>head",
    "thigh.L": "left_hip>left_knee", "shin.L": "left_knee>left_ankle",
    "thigh.R": "right_hip>right_knee", "shin.R": "right_knee>right_ankle",
    "upper_arm.L": "left_shoulder>left_elbow", "forearm.L": "left_elbow>left_wrist",
    "upper_arm.R": "right_shoulder>right_elbow", "forearm.R": "right_elbow>right_wrist",
}
PRESETS = {"MIXAMO": MIXAMO, "RIGIFY_METARIG": RIGIFY_METARIG}


class MappingError(ValueError):
    """A mapping that does not fit the rig or our skeleton."""


@dataclass
class TargetBone:
    name: str
    parent: int                # index into the bone list, -1 for a root
    rest_rotation: np.ndarray  # (3, 3) bone axes in armature space
    head: np.ndarray           # (3,) armature space
    tail: np.ndarray


def parse_mapping(text: str) -> dict[str, str]:
    """A custom mapping from JSON: {"target bone": "joint>joint" | "pelvis_frame" | "thorax_frame"}."""
    try:
        mapping = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MappingError(f"the custom mapping is not valid JSON: {exc}") from exc
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        raise MappingError('the custom mapping must be a JSON object of "bone": "joint>joint" entries')
    return mapping


def _strip_namespace(name: str) -> str:
    return name.split(":")[-1]


def resolve_mapping(mapping: dict[str, str], bone_names: list[str]) -> dict[int, str]:
    """Bone index -> rule, matching names with or without a namespace ("mixamorig:Hips" ~ "Hips")."""
    by_name = {name: i for i, name in enumerate(bone_names)}
    by_short = {_strip_namespace(name): i for i, name in enumerate(bone_names)}
    resolved, missing = {}, []
    for bone, rule in mapping.items():
        index = by_name.get(bone, by_short.get(_strip_namespace(bone)))
        if index is None:
            missing.append(bone)
            continue
        if rule not in FRAMES:
            parts = rule.split(">")
            if len(parts) != 2 or any(p not in SK.names for p in parts):
                raise MappingError(f"bone {bone!r}: {rule!r} is neither 'joint>joint' of {list(SK.names)} nor a frame")
        resolved[index] = rule
    if missing:
        raise MappingError(f"the mapping names bones this armature lacks: {', '.join(missing)}")
    if "pelvis_frame" not in resolved.values():
        raise MappingError("the mapping needs one bone following 'pelvis_frame' (the hips)")
    return resolved


def _leg_length(bones: list[TargetBone], resolved: dict[int, str]) -> float | None:
    lengths = [np.linalg.norm(bones[i].tail - bones[i].head) for i, rule in resolved.items()
               if rule in ("left_hip>left_knee", "left_knee>left_ankle")]
    return float(sum(lengths)) if len(lengths) == 2 else None


def solve(joints: np.ndarray, bones: list[TargetBone], resolved: dict[int, str]) -> tuple[np.ndarray, int, np.ndarray]:
    """Per-bone basis rotations (T, B, 3, 3) in bone space, the root-motion bone and its location basis (T, 3).

    ``joints`` (T, 17, 3) are in the target's armature space.
    """
    frames = len(joints)
    idx = SK.index
    root = next(i for i, rule in resolved.items() if rule == "pelvis_frame")
    if bones[root].parent >= 0:
        raise MappingError(f"the hips bone {bones[root].name!r} must be a root bone of the armature to carry root motion")
    global_rotation = np.zeros((frames, len(bones), 3, 3))
    basis = np.zeros_like(global_rotation)
    # Rest directions across the hips and shoulders, from the mapped limb bones' heads.
    rest_heads = {rule.split(">")[0]: bones[i].head for i, rule in resolved.items() if ">" in rule}
    for b, bone in enumerate(bones):
        parent_rotation = global_rotation[:, bone.parent] if bone.parent >= 0 else np.broadcast_to(np.eye(3), (frames, 3, 3))
        rule = resolved.get(b)
        if rule in FRAMES:
            origin, up, left, right = FRAMES[rule]
            current = _frame(joints[:, idx(up)] - joints[:, idx(origin)], joints[:, idx(left)] - joints[:, idx(right)])
            rest_up = bone.tail - bone.head
            if left in rest_heads and right in rest_heads:
                rest_left = rest_heads[left] - rest_heads[right]
            else:
                rest_left = bone.rest_rotation[:, 0]
            global_rotation[:, b] = current @ _frame(rest_up, rest_left).T
        elif rule is not None:
            start, end = (idx(n) for n in rule.split(">"))
            carried = np.einsum("tij,j->ti", parent_rotation, bone.tail - bone.head)
            global_rotation[:, b] = shortest_arc(carried, joints[:, end] - joints[:, start]) @ parent_rotation
        else:
            global_rotation[:, b] = parent_rotation
        local = np.swapaxes(parent_rotation, -1, -2) @ global_rotation[:, b]
        basis[:, b] = bone.rest_rotation.T @ local @ bone.rest_rotation
    ours = np.median(np.linalg.norm(joints[:, idx("left_knee")] - joints[:, idx("left_hip")], axis=-1)
                     + np.linalg.norm(joints[:, idx("left_ankle")] - joints[:, idx("left_knee")], axis=-1))
    theirs = _leg_length(bones, resolved)
    scale = theirs / ours if theirs and ours > 1e-6 else 1.0
    pelvis = joints[:, idx("pelvis")] * scale
    location = (pelvis - bones[root].head) @ bones[root].rest_rotation
    return basis, root, location
