"""Mocap skeletons of any source -> the lifter's 17 joints, in metres, Z up, at a fixed frame rate.

A 17-joint position is taken from the origin of a named source joint (the hip joint is
where the thigh bone starts, the knee where the shin starts, and so on). Sources name their
joints differently, so each target joint lists the names known from Bandai Namco, Daz /
cgspeed CMU conversions, Mixamo, Character Creator / iClone and Blender-style rigs; names are
matched ignoring case, spaces, '_', '-', '.', ':' prefixes and Character Creator's 'CC_Base_'.

No source has a joint at the top of the head, so it is synthesised: HEAD_TOP_LENGTH above
the head joint along the head's own up direction (the direction of the neck->head bone,
turned by the head's rotation), and the nose-level joint part way there.
"""
from __future__ import annotations

import re

import numpy as np

from core.skeleton import H36M_SKELETON

from .bvh import BVHMotion, forward_kinematics

HEAD_TOP_LENGTH = 0.18   # metres from the skull base (head joint) to the top of the head
NOSE_FRACTION = 0.3      # the nose-level joint sits this far from head joint to head top

SOURCE_NAMES: dict[str, list[str]] = {
    "pelvis": ["hips", "hip", "pelvis", "root"],
    "right_hip": ["upperlegr", "rthigh", "rightupleg", "thighr", "rfemur", "rightthigh", "upperlegright", "righthip"],
    "right_knee": ["lowerlegr", "rshin", "rightleg", "shinr", "rtibia", "rightshin", "calfr", "rcalf", "lowerlegright",
                   "rightknee"],
    "right_ankle": ["footr", "rfoot", "rightfoot", "footright", "rightankle"],
    "left_hip": ["upperlegl", "lthigh", "leftupleg", "thighl", "lfemur", "leftthigh", "upperlegleft", "lefthip"],
    "left_knee": ["lowerlegl", "lshin", "leftleg", "shinl", "ltibia", "leftshin", "calfl", "lcalf", "lowerlegleft", "leftknee"],
    "left_ankle": ["footl", "lfoot", "leftfoot", "footleft", "leftankle"],
    "spine": ["chest", "spine1", "spine2", "spine01", "upperback", "spine.002"],
    "thorax": ["neck", "neck1", "lowerneck", "neck01", "necktwist01"],
    "head_base": ["head", "upperneck"],
    # "LeftShoulder" last: in Mixamo-style files it is the collarbone (the shoulder joint is "LeftArm");
    # in CMU's own exports (LeftShoulder, LeftElbow, LeftWrist) it is the shoulder joint.
    "left_shoulder": ["upperarml", "lshldr", "leftarm", "upperarml", "lhumerus", "shoulderl", "upperarmleft", "lupperarm",
                      "leftshoulder"],
    "left_elbow": ["lowerarml", "lforearm", "leftforearm", "forearml", "lradius", "lowerarmleft", "leftelbow"],
    "left_wrist": ["handl", "lhand", "lefthand", "lwrist", "handleft", "leftwrist"],
    "right_shoulder": ["upperarmr", "rshldr", "rightarm", "rhumerus", "shoulderr", "upperarmright", "rupperarm", "rightshoulder"],
    "right_elbow": ["lowerarmr", "rforearm", "rightforearm", "forearmr", "rradius", "lowerarmright", "rightelbow"],
    "right_wrist": ["handr", "rhand", "righthand", "rwrist", "handright", "rightwrist"],
}


class SkeletonMappingError(ValueError):
    """The source skeleton lacks joints the lifter needs."""


def _normalise(name: str) -> str:
    name = name.split(":")[-1]
    name = re.sub(r"[\s_\-\.]", "", name).lower()
    return name.removeprefix("ccbase")   # Character Creator / iClone: CC_Base_L_Thigh


def find_source_joints(names: list[str]) -> dict[str, int]:
    """Source joint index for each entry of SOURCE_NAMES, or a clear error naming what is missing."""
    lookup: dict[str, int] = {}
    for index, name in enumerate(names):
        lookup.setdefault(_normalise(name), index)
    found, missing = {}, []
    for target, candidates in SOURCE_NAMES.items():
        index = next((lookup[_normalise(c)] for c in candidates if _normalise(c) in lookup), None)
        if index is None:
            missing.append(target)
        else:
            found[target] = index
    if missing:
        raise SkeletonMappingError(
            f"cannot map the skeleton to the lifter's joints: nothing found for {missing} "
            f"(source joints: {', '.join(names)})")
    return found


def y_up_to_z_up(points: np.ndarray) -> np.ndarray:
    """(x, y, z) with Y up -> (x, -z, y) with Z up; a right-handed rotation about X."""
    return np.stack([points[..., 0], -points[..., 2], points[..., 1]], axis=-1)


# Units mocap files use, in metres: metres, CMU's own BVH exports (1/0.45 inch), inches, centimetres, millimetres.
UNIT_SCALES = (1.0, 0.0254 / 0.45, 0.0254, 0.01, 0.001)
ADULT_LEG = 0.85   # metres from hip to ankle joint


def guess_unit_scale(leg_length: float) -> float:
    """Metres per file unit: the unit that makes the hip-knee-ankle length nearest an adult's."""
    if not leg_length > 0:
        raise ValueError(f"cannot tell the file's unit from a leg of length {leg_length}")
    return min(UNIT_SCALES, key=lambda scale: abs(np.log(leg_length * scale / ADULT_LEG)))


# The toe base (the ball of the foot, where the toes bend), where a source has it; for toe contacts.
TOE_NAMES: dict[str, list[str]] = {
    "left_toe_base": ["toesl", "lefttoebase", "ltoe", "lefttoe", "toel", "toeleft", "ltoebase"],
    "right_toe_base": ["toesr", "righttoebase", "rtoe", "righttoe", "toer", "toeright", "rtoebase"],
}


def find_toe_joints(names: list[str]) -> list[int] | None:
    """Source indices of the left and right toe bases, or None where the skeleton lacks either."""
    lookup: dict[str, int] = {}
    for index, name in enumerate(names):
        lookup.setdefault(_normalise(name), index)
    found = [next((lookup[_normalise(c)] for c in candidates if _normalise(c) in lookup), None)
             for candidates in TOE_NAMES.values()]
    return None if None in found else found


def bvh_to_h36m(bvh: BVHMotion, unit_scale: float | None = None, y_up: bool = True) -> np.ndarray:
    """17-joint positions (F, 17, 3) in metres with Z up, from any BVH whose joints can be mapped."""
    return bvh_joints(bvh, unit_scale, y_up)[0]


def bvh_joints(bvh: BVHMotion, unit_scale: float | None = None,
               y_up: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """The 17 joints (F, 17, 3) and the left and right toe bases (F, 2, 3; None where the skeleton has
    none), in metres with Z up."""
    joints = find_source_joints(bvh.names)
    positions, rotations = forward_kinematics(bvh)
    if unit_scale is None:
        p = positions[0]
        leg = (np.linalg.norm(p[joints["left_hip"]] - p[joints["left_knee"]])
               + np.linalg.norm(p[joints["left_knee"]] - p[joints["left_ankle"]]))
        unit_scale = guess_unit_scale(leg)
    head = joints["head_base"]
    rest_direction = bvh.offsets[head] / max(np.linalg.norm(bvh.offsets[head]), 1e-9)
    head_up = np.einsum("fij,j->fi", rotations[:, head], rest_direction)
    order = [joints.get(name) for name in H36M_SKELETON.names]
    out = np.empty((bvh.num_frames, 17, 3))
    for target, source in enumerate(order):
        if source is not None:
            out[:, target] = positions[:, source]
    head_base = positions[:, head]
    head_top = head_base * unit_scale + HEAD_TOP_LENGTH * head_up
    out *= unit_scale
    out[:, H36M_SKELETON.index("head")] = head_top
    out[:, H36M_SKELETON.index("neck_nose")] = head_base * unit_scale + NOSE_FRACTION * HEAD_TOP_LENGTH * head_up
    toe_joints = find_toe_joints(bvh.names)
    toes = None if toe_joints is None else positions[:, toe_joints] * unit_scale
    if y_up:
        return y_up_to_z_up(out), None if toes is None else y_up_to_z_up(toes)
    return out, toes


def resample(positions: np.ndarray, source_rate: float, target_rate: float = 30.0) -> np.ndarray:
    """Linear interpolation in time from the file's real rate to ``target_rate``."""
    if positions.shape[0] < 2 or abs(source_rate - target_rate) < 1e-3:
        return positions
    duration = (positions.shape[0] - 1) / source_rate
    new_times = np.arange(0, duration + 1e-9, 1 / target_rate)
    old_times = np.arange(positions.shape[0]) / source_rate
    flat = positions.reshape(positions.shape[0], -1)
    out = np.empty((len(new_times), flat.shape[1]))
    for k in range(flat.shape[1]):
        out[:, k] = np.interp(new_times, old_times, flat[:, k])
    return out.reshape((len(new_times),) + positions.shape[1:])
