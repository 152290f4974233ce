"""A fixed test motion for retargeting: a walk with bent knees and elbows, feet on the floor.

Made from joint angles, so every frame is a plausible human pose (knees bend backwards, elbows
forwards, by known amounts); numpy only. World: Z up, walking towards -Y, floor at z = 0. With
``feet``, each foot rolls heel to toe (toes up at the heel strike, down at the push-off) and the
motion has ``FOOT_SKELETON``'s 21 joints.
"""
from __future__ import annotations

import numpy as np

from core.skeleton import H36M_SKELETON

SK = H36M_SKELETON
ANKLE_HEIGHT = 0.08
THIGH, SHIN, UPPER_ARM, FOREARM = 0.45, 0.43, 0.29, 0.26
HIP_HALF_WIDTH, SHOULDER_HALF_WIDTH = 0.11, 0.18


def _pitched(angle: np.ndarray, sideways: float = 0.0) -> np.ndarray:
    """Unit vectors pointing down, turned forwards (towards -Y) by ``angle`` radians."""
    direction = np.stack([np.full_like(angle, sideways), -np.sin(angle), -np.cos(angle)], axis=-1)
    return direction / np.linalg.norm(direction, axis=-1, keepdims=True)


def walk(frames: int = 120, fps: float = 30.0, speed: float = 1.2, steps_per_second: float = 1.8,
         turn_deg: float = 0.0, feet: bool = False) -> np.ndarray:
    """Joint positions (frames, 17, 3) of a walk, or with ``feet`` (frames, 21, 3); ``turn_deg`` turns
    the whole path about Z."""
    t = np.arange(frames) / fps
    phase = np.pi * steps_per_second * t
    joints = np.zeros((frames, SK.num_joints, 3))
    legs = {}
    for side, offset, sign in (("left", 0.0, 1.0), ("right", np.pi, -1.0)):
        swing = np.radians(25.0) * np.sin(phase + offset)                        # thigh forwards (+) / back
        knee = np.radians(8.0) + np.radians(40.0) * np.clip(np.sin(phase + offset + np.pi / 2), 0, None)
        thigh, shin = _pitched(swing, 0.02 * sign), _pitched(swing - knee, 0.03 * sign)
        legs[side] = (sign, thigh * THIGH, shin * SHIN)
        arm_swing = -np.radians(20.0) * np.sin(phase + offset)
        elbow = np.radians(25.0) + np.radians(15.0) * np.sin(phase + offset + np.pi / 2)
        legs[side] += (_pitched(arm_swing, 0.15 * sign) * UPPER_ARM, _pitched(arm_swing + elbow, 0.1 * sign) * FOREARM)
    lowest = np.max(np.stack([-(thigh + shin)[:, 2] for _, thigh, shin, _, _ in legs.values()]), axis=0)
    pelvis = np.stack([np.zeros(frames), -speed * t, ANKLE_HEIGHT + lowest], axis=-1)
    index = SK.index
    joints[:, index("pelvis")] = pelvis
    up = np.array([0.0, -0.03, 1.0]) / np.linalg.norm([0.0, -0.03, 1.0])
    joints[:, index("spine")] = pelvis + 0.23 * up
    joints[:, index("thorax")] = pelvis + 0.50 * up
    joints[:, index("neck_nose")] = pelvis + 0.62 * up + np.array([0, -0.05, 0])
    joints[:, index("head")] = pelvis + 0.75 * up
    for side, (sign, thigh, shin, upper, fore) in legs.items():
        hip = pelvis + np.array([sign * HIP_HALF_WIDTH, 0, 0])
        joints[:, index(f"{side}_hip")] = hip
        joints[:, index(f"{side}_knee")] = hip + thigh
        joints[:, index(f"{side}_ankle")] = hip + thigh + shin
        shoulder = joints[:, index("thorax")] + np.array([sign * SHOULDER_HALF_WIDTH, 0, 0])
        joints[:, index(f"{side}_shoulder")] = shoulder
        joints[:, index(f"{side}_elbow")] = shoulder + upper
        joints[:, index(f"{side}_wrist")] = shoulder + upper + fore
    if feet:
        joints = _with_rolling_feet(joints, phase)
    if turn_deg:
        a = np.radians(turn_deg)
        turn = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
        joints = joints @ turn.T
    return joints


TOE_REACH, HEEL_REACH = 0.2, 0.1   # metres from the ankle


def _with_rolling_feet(joints: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """The 21 joints: heels and toe tips pitched about each ankle (toes up to 25 degrees, down to 30),
    heels and toes kept above the floor, through ``core.feet.foot_joints``."""
    from core.feet import foot_joints
    feet = np.zeros((len(joints), 4, 3))
    for side, (ankle, offset) in enumerate(((SK.index("left_ankle"), 0.0), (SK.index("right_ankle"), np.pi))):
        pitch = np.radians(27.5) * np.sin(phase + offset + 0.4) - np.radians(2.5)   # + toes up
        toe = np.stack([np.zeros_like(pitch), -np.cos(pitch), np.sin(pitch) - 0.35], axis=-1)
        heel = np.stack([np.zeros_like(pitch), 0.45 * np.cos(pitch), -0.9 - 0.45 * np.sin(pitch)], axis=-1)
        for k, (direction, reach) in enumerate(((heel, HEEL_REACH), (toe, TOE_REACH))):
            point = joints[:, ankle] + reach * direction / np.linalg.norm(direction, axis=-1, keepdims=True)
            point[:, 2] = np.maximum(point[:, 2], 0.0)
            feet[:, 2 * side + k] = point
    return foot_joints(joints, feet)
