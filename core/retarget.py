"""Drive an existing rig from lifted joints through a bone mapping (numpy only; Blender glue in the add-on).

A mapping names, for target bones, what they follow:
- ``"left_hip>left_knee"``: the bone turns (shortest arc from where its parent carries it) to point
  along that segment of our skeleton;
- ``"pelvis_frame"`` / ``"thorax_frame"``: the bone takes the full orientation of our pelvis (spine
  up, hips across) or thorax (neck up, shoulders across); the pelvis-frame bone also carries root
  motion, scaled by the ratio of the rig's leg length to the clip's.
Bones not in the mapping keep their rest pose relative to their parent. Rigs whose controls sit
under constraint-driven helper bones (a generated Rigify rig) are handled through ``ParentFollow``:
the add-on measures, for each such helper, which mapped bone it follows (or that it stays put),
and :func:`solve` uses that instead of the plain hierarchy.
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
RIGIFY_GENERATED = {  # the rig Rigify generates from the Human meta-rig: its FK controls
    "torso": "pelvis_frame", "chest": "thorax_frame", "neck": "thorax>neck_nose", "head": "neck_nose>head",
    "thigh_fk.L": "left_hip>left_knee", "shin_fk.L": "left_knee>left_ankle",
    "thigh_fk.R": "right_hip>right_knee", "shin_fk.R": "right_knee>right_ankle",
    "upper_arm_fk.L": "left_shoulder>left_elbow", "forearm_fk.L": "left_elbow>left_wrist",
    "upper_arm_fk.R": "right_shoulder>right_elbow", "forearm_fk.R": "right_elbow>right_wrist",
}
# Rig switches a preset needs (pose bone -> custom property -> value): the generated Rigify limbs
# switched to FK (IK_FK 1) with their rotation isolated from the torso (FK_limb_follow 1), and the
# neck following the chest and the head following the neck fully.
RIGIFY_GENERATED_SWITCHES = {
    **{f"{limb}_parent.{side}": {"IK_FK": 1.0, "FK_limb_follow": 1.0} for limb in ("thigh", "upper_arm") for side in "LR"},
    "torso": {"neck_follow": 1.0, "head_follow": 1.0},
}
PRESETS = {"MIXAMO": MIXAMO, "RIGIFY_METARIG": RIGIFY_METARIG, "RIGIFY_GENERATED": RIGIFY_GENERATED}
PRESET_SWITCHES = {"RIGIFY_GENERATED": RIGIFY_GENERATED_SWITCHES}


class MappingError(ValueError):
    """A mapping that does not fit the rig or our skeleton."""


@dataclass
class TargetBone:
    name: str
    parent: int                # index into the bone list, -1 for a root
    rest_rotation: np.ndarray  # (3, 3) bone axes in armature space
    head: np.ndarray           # (3,) armature space
    tail: np.ndarray


@dataclass
class ParentFollow:
    """How an unmapped, constraint-driven parent of a mapped bone moves: it turns exactly as the
    mapped bone ``follows`` does (-1: it does not turn at all), times a constant ``offset``
    (its measured rotation over its rest rotation, armature space)."""
    follows: int
    offset: np.ndarray  # (3, 3)


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


def solve(joints: np.ndarray, bones: list[TargetBone], resolved: dict[int, str],
          parent_follow: dict[int, ParentFollow] | None = None) -> tuple[dict[int, np.ndarray], int, np.ndarray]:
    """Basis rotations (T, 3, 3) in bone space of each mapped bone, the root-motion bone and its location basis (T, 3).

    ``joints`` (T, 17, 3) are in the target's armature space. ``parent_follow`` overrides the
    hierarchy for measured constraint-driven bones (see :class:`ParentFollow`).
    """
    frames = len(joints)
    idx = SK.index
    parent_follow = parent_follow or {}
    identity = np.broadcast_to(np.eye(3), (frames, 3, 3))
    root = next(i for i, rule in resolved.items() if rule == "pelvis_frame")
    root_parent = bones[root].parent
    if root_parent >= 0 and not (root_parent in parent_follow and parent_follow[root_parent].follows < 0
                                 and np.allclose(parent_follow[root_parent].offset, np.eye(3), atol=1e-4)):
        raise MappingError(f"the hips bone {bones[root].name!r} must be a root bone of the armature (or under "
                           "a still helper bone) to carry root motion")
    # Rest directions across the hips and shoulders, from the mapped limb bones' heads.
    rest_heads = {rule.split(">")[0]: bones[i].head for i, rule in resolved.items() if ">" in rule}
    rotations: dict[int, np.ndarray] = {}  # bone -> (T, 3, 3) posed rotation over rest, armature space

    def rotation(b: int) -> np.ndarray:
        if b < 0:
            return identity
        if b in rotations:
            return rotations[b]
        if b in parent_follow and b not in resolved:
            follow = parent_follow[b]
            rotations[b] = rotation(follow.follows) @ follow.offset
            return rotations[b]
        bone, rule = bones[b], resolved.get(b)
        parent_rotation = rotation(bone.parent)
        if rule in FRAMES:
            origin, up, left, right = FRAMES[rule]
            current = _frame(joints[:, idx(up)] - joints[:, idx(origin)], joints[:, idx(left)] - joints[:, idx(right)])
            rest_left = (rest_heads[left] - rest_heads[right] if left in rest_heads and right in rest_heads
                         else bone.rest_rotation[:, 0])
            rotations[b] = current @ _frame(bone.tail - bone.head, rest_left).T
        elif rule is not None:
            start, end = (idx(n) for n in rule.split(">"))
            carried = np.einsum("tij,j->ti", parent_rotation, bone.tail - bone.head)
            rotations[b] = shortest_arc(carried, joints[:, end] - joints[:, start]) @ parent_rotation
        else:
            rotations[b] = parent_rotation
        return rotations[b]

    basis = {}
    for b in sorted(resolved):
        bone = bones[b]
        local = np.swapaxes(rotation(bone.parent), -1, -2) @ rotation(b)
        basis[b] = bone.rest_rotation.T @ local @ bone.rest_rotation
    ours = np.median(np.linalg.norm(joints[:, idx("left_knee")] - joints[:, idx("left_hip")], axis=-1)
                     + np.linalg.norm(joints[:, idx("left_ankle")] - joints[:, idx("left_knee")], axis=-1))
    theirs = _leg_length(bones, resolved)
    scale = theirs / ours if theirs and ours > 1e-6 else 1.0
    pelvis = joints[:, idx("pelvis")] * scale
    location = (pelvis - bones[root].head) @ bones[root].rest_rotation
    return basis, root, location
