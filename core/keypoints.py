"""2D keypoint tracks for the lifter's 17 joints: detector mappings, importers, gap filling.

A track holds pixel positions (F, 17, 2), a confidence per joint (F, 17) in [0, 1] (0 means
missing), and the frame size and rate. Detectors and files give other joint sets (BlazePose's
33 landmarks, COCO's 17, OpenPose BODY_25); each is mapped here onto our joints, with the
joints they lack (pelvis, spine, thorax, neck/nose level, head top) built from the ones they
have, the same way the training data defines them.

Where the source has them (BlazePose, OpenPose BODY_25), each person also carries four foot
points (``FOOT_POINTS``: heels and toe tips) beside the 17 joints, with BlazePose's depth of
each point relative to its ankle; ``core.feet`` turns them into 3D feet. Where the detector makes
its own 3D of the body (BlazePose's world landmarks), each person carries it too (``joints_3d``):
the pipeline blends it into the lifted poses (``core.pipeline.blend_detector_3d``).
"""
from __future__ import annotations

import glob
import json
import math
import os
from dataclasses import dataclass, field

import numpy as np

from .skeleton import ANKLES, H36M_SKELETON

J = H36M_SKELETON.index
SPINE_FRACTION = 0.55      # spine joint: this far from pelvis to thorax
HEAD_TOP_EXTENSION = 0.6   # head top: beyond the ears by this share of the shoulders-to-ears distance
# BlazePose puts its hip landmarks lower than the hip joint centres of motion capture (measured on
# rendered mocap with known joints: 0.09-0.16 thigh lengths low), which makes thighs look short;
# raising them by this share of the hips-to-shoulders distance brings them onto the training joints.
HIP_RAISE = {"blazepose": 0.10}


FOOT_POINTS = ("left_heel", "left_toe", "right_heel", "right_toe")   # toe: the tip of the foot
FOOT_ANKLES = ("left_ankle", "left_ankle", "right_ankle", "right_ankle")


def _check_feet(feet, feet_confidence, lead: tuple[int, ...]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Feet (*lead, 4, 3) and their confidences (*lead, 4) as float32, or (None, None) where there are none."""
    if feet is None:
        return None, None
    feet, feet_confidence = np.asarray(feet, np.float32), np.asarray(feet_confidence, np.float32)
    if feet.shape != (*lead, 4, 3) or feet_confidence.shape != (*lead, 4):
        raise KeypointError(f"foot points must have shape {(*lead, 4, 3)} with confidences {(*lead, 4)}, "
                            f"got {feet.shape} and {feet_confidence.shape}")
    return feet, feet_confidence


def _check_joints_3d(joints_3d, lead: tuple[int, ...]) -> np.ndarray | None:
    """A detector's own 3D joints (*lead, 17, 3) as float32, or None where it made none."""
    if joints_3d is None:
        return None
    joints_3d = np.asarray(joints_3d, np.float32)
    if joints_3d.shape != (*lead, 17, 3):
        raise KeypointError(f"the detector's 3D joints must have shape {(*lead, 17, 3)}, got {joints_3d.shape}")
    return joints_3d


def _extra_fields(feet: np.ndarray | None, feet_confidence: np.ndarray | None,
                 joints_3d: np.ndarray | None = None) -> dict:
    """The foot arrays and the detector's 3D to save beside the joints (none where there are none)."""
    fields = {} if feet is None else {"feet": feet, "feet_confidence": feet_confidence}
    return fields if joints_3d is None else {**fields, "joints_3d": joints_3d}


def _extras_from(data) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """The foot arrays and the detector's 3D of a saved keypoint file, each None where absent (older files)."""
    feet = (data["feet"], data["feet_confidence"]) if "feet" in data else (None, None)
    return (*feet, data["joints_3d"] if "joints_3d" in data else None)


class KeypointError(ValueError):
    """Keypoints that cannot be used: unreadable file, wrong format, no person."""


@dataclass
class KeypointTrack:
    positions: np.ndarray            # (F, 17, 2) pixels
    confidence: np.ndarray           # (F, 17) in [0, 1]
    width: int
    height: int
    fps: float
    filled: np.ndarray = field(default=None)  # (F, 17) True where a value was interpolated
    guessed: tuple[str, ...] = ()             # joints never seen in the clip, placed from their other side
    feet: np.ndarray | None = None            # (F, 4, 3) FOOT_POINTS: x, y pixels, depth to the ankle (pixels; NaN: unknown)
    feet_confidence: np.ndarray | None = None  # (F, 4)
    # the detector's own 3D of the 17 joints (F, 17, 3): metres, pelvis at the origin, the camera's axes
    # (x right, y down, z away); NaN in frames it gave none (in a person's track, frames without the person
    # have confidence 0 and their 3D means nothing); None: the source has none (keypoint files)
    joints_3d: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.positions = np.asarray(self.positions, dtype=np.float32)
        self.confidence = np.asarray(self.confidence, dtype=np.float32)
        if self.positions.ndim != 3 or self.positions.shape[1:] != (17, 2):
            raise KeypointError(f"keypoints must have shape (frames, 17, 2), got {self.positions.shape}")
        if self.confidence.shape != self.positions.shape[:2]:
            raise KeypointError("confidence must have one value per joint and frame")
        if self.filled is None:
            self.filled = np.zeros(self.confidence.shape, dtype=bool)
        self.feet, self.feet_confidence = _check_feet(self.feet, self.feet_confidence, (len(self.positions),))
        self.joints_3d = _check_joints_3d(self.joints_3d, (len(self.positions),))

    @property
    def num_frames(self) -> int:
        return self.positions.shape[0]

    def save(self, path: str) -> None:
        np.savez(path, positions=self.positions, confidence=self.confidence, filled=self.filled,
                 width=self.width, height=self.height, fps=self.fps,
                 **_extra_fields(self.feet, self.feet_confidence, self.joints_3d))

    @classmethod
    def load(cls, path: str) -> "KeypointTrack":
        try:
            with np.load(path, allow_pickle=False) as data:
                feet, feet_confidence, joints_3d = _extras_from(data)
                return cls(data["positions"], data["confidence"], int(data["width"]), int(data["height"]),
                           float(data["fps"]), data["filled"], feet=feet, feet_confidence=feet_confidence,
                           joints_3d=joints_3d)
        except (OSError, KeyError, ValueError) as exc:
            raise KeypointError(f"{path} is not a keypoint file written by this tool ({exc})") from exc


@dataclass
class PeopleDetections:
    """Everyone a detector found in each frame, before anyone is told apart (``core.tracking`` does that).

    Each frame has the same number of slots; slots without a person have confidence 0. The
    order of people within a frame means nothing.
    """
    positions: np.ndarray            # (F, P, 17, 2) pixels
    confidence: np.ndarray           # (F, P, 17) in [0, 1]
    width: int
    height: int
    fps: float
    feet: np.ndarray | None = None             # (F, P, 4, 3) FOOT_POINTS of each slot (see ``KeypointTrack``)
    feet_confidence: np.ndarray | None = None  # (F, P, 4)
    joints_3d: np.ndarray | None = None        # (F, P, 17, 3) the detector's own 3D of each slot (see ``KeypointTrack``)

    def __post_init__(self) -> None:
        self.positions = np.asarray(self.positions, dtype=np.float32)
        self.confidence = np.asarray(self.confidence, dtype=np.float32)
        if self.positions.ndim != 4 or self.positions.shape[2:] != (17, 2):
            raise KeypointError(f"detections must have shape (frames, people, 17, 2), got {self.positions.shape}")
        if self.confidence.shape != self.positions.shape[:3]:
            raise KeypointError("confidence must have one value per joint, person and frame")
        self.feet, self.feet_confidence = _check_feet(self.feet, self.feet_confidence, self.positions.shape[:2])
        self.joints_3d = _check_joints_3d(self.joints_3d, self.positions.shape[:2])

    @property
    def num_frames(self) -> int:
        return self.positions.shape[0]

    @classmethod
    def of_one_person(cls, track: KeypointTrack) -> "PeopleDetections":
        feet = (None, None) if track.feet is None else (track.feet[:, None], track.feet_confidence[:, None])
        joints_3d = None if track.joints_3d is None else track.joints_3d[:, None]
        return cls(track.positions[:, None], track.confidence[:, None], track.width, track.height, track.fps, *feet,
                   joints_3d)

    def save(self, path: str) -> None:
        np.savez(path, positions=self.positions, confidence=self.confidence, width=self.width, height=self.height,
                 fps=self.fps, **_extra_fields(self.feet, self.feet_confidence, self.joints_3d))


def load_npz_keypoints(path: str) -> PeopleDetections:
    """A ``detections.npz`` (everyone) or a one-person track this tool wrote."""
    try:
        with np.load(path, allow_pickle=False) as data:
            positions = data["positions"]
            if positions.ndim == 4:
                return PeopleDetections(positions, data["confidence"], int(data["width"]), int(data["height"]),
                                        float(data["fps"]), *_extras_from(data))
    except (OSError, KeyError, ValueError) as exc:
        raise KeypointError(f"{path} is not a keypoint file written by this tool ({exc})") from exc
    return PeopleDetections.of_one_person(KeypointTrack.load(path))


def _complete_torso_and_head(out: np.ndarray, conf: np.ndarray, ears: np.ndarray, ears_conf: np.ndarray) -> None:
    """Fill pelvis, spine, thorax, neck/nose level and head top from hips, shoulders and ears (in place)."""
    hips = out[:, [J("left_hip"), J("right_hip")]]
    shoulders = out[:, [J("left_shoulder"), J("right_shoulder")]]
    out[:, J("pelvis")] = hips.mean(axis=1)
    out[:, J("thorax")] = shoulders.mean(axis=1)
    out[:, J("spine")] = out[:, J("pelvis")] + SPINE_FRACTION * (out[:, J("thorax")] - out[:, J("pelvis")])
    mid_ears = ears.mean(axis=1)
    out[:, J("neck_nose")] = mid_ears
    out[:, J("head")] = mid_ears + HEAD_TOP_EXTENSION * (mid_ears - out[:, J("thorax")])
    hip_conf = conf[:, [J("left_hip"), J("right_hip")]].min(axis=1)
    shoulder_conf = conf[:, [J("left_shoulder"), J("right_shoulder")]].min(axis=1)
    conf[:, J("pelvis")] = hip_conf
    conf[:, J("thorax")] = shoulder_conf
    conf[:, J("spine")] = np.minimum(hip_conf, shoulder_conf)
    head_conf = np.minimum(ears_conf.min(axis=1), shoulder_conf)
    conf[:, J("neck_nose")] = head_conf
    conf[:, J("head")] = head_conf


# Source index of each limb joint, per layout; ears last.
LIMB_JOINTS = ("right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
               "left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist")
LAYOUTS = {
    # BlazePose: 33 landmarks (mediapipe pose)
    "blazepose": {"limbs": (24, 26, 28, 23, 25, 27, 11, 13, 15, 12, 14, 16), "ears": (7, 8), "count": 33},
    # COCO 17 keypoints
    "coco": {"limbs": (12, 14, 16, 11, 13, 15, 5, 7, 9, 6, 8, 10), "ears": (3, 4), "count": 17},
    # OpenPose BODY_25
    "body25": {"limbs": (9, 10, 11, 12, 13, 14, 5, 6, 7, 2, 3, 4), "ears": (18, 17), "count": 25},
    # OpenPose COCO 18
    "openpose18": {"limbs": (8, 9, 10, 11, 12, 13, 5, 6, 7, 2, 3, 4), "ears": (17, 16), "count": 18},
}


def map_to_h36m(points: np.ndarray, confidence: np.ndarray, layout: str) -> tuple[np.ndarray, np.ndarray]:
    """Source keypoints (F, K, D) and confidences (F, K) -> our 17 joints and their confidences.

    Works for 2D pixels and for 3D points (mediapipe's world landmarks) alike.
    """
    spec = LAYOUTS[layout]
    points, confidence = np.asarray(points, np.float32), np.asarray(confidence, np.float32)
    if points.ndim != 3 or points.shape[1] != spec["count"]:
        raise KeypointError(f"{layout} keypoints have {spec['count']} joints, got shape {points.shape}")
    out = np.zeros((points.shape[0], 17, points.shape[2]), np.float32)
    conf = np.zeros((points.shape[0], 17), np.float32)
    targets = [J(name) for name in LIMB_JOINTS]
    out[:, targets] = points[:, list(spec["limbs"])]
    conf[:, targets] = confidence[:, list(spec["limbs"])]
    raise_by = HIP_RAISE.get(layout, 0.0)
    if raise_by:
        hips = [J("left_hip"), J("right_hip")]
        shoulders = [J("left_shoulder"), J("right_shoulder")]
        lift = raise_by * (out[:, shoulders].mean(axis=1) - out[:, hips].mean(axis=1))
        out[:, hips] += lift[:, None]
    ears = list(spec["ears"])
    _complete_torso_and_head(out, conf, points[:, ears], confidence[:, ears])
    return out, conf


# Source index of each foot point (FOOT_POINTS order) and of its ankle, per layout that has feet.
FOOT_LAYOUTS = {
    "blazepose": {"feet": (29, 31, 30, 32), "ankles": (27, 27, 28, 28)},
    "body25": {"feet": (21, 19, 24, 22), "ankles": (14, 14, 11, 11)},   # heels and big toes
}


def map_feet(points: np.ndarray, confidence: np.ndarray, layout: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Source keypoints (F, K, 2 or 3) -> foot points (F, 4, 3) and confidences (F, 4), or None for a
    layout without feet. With a third coordinate (BlazePose's depth, pixels), each point's third value
    is its depth relative to its own ankle; without, NaN."""
    if layout not in FOOT_LAYOUTS:
        return None
    spec = FOOT_LAYOUTS[layout]
    points, confidence = np.asarray(points, np.float32), np.asarray(confidence, np.float32)
    feet = np.full((points.shape[0], 4, 3), np.nan, np.float32)
    feet[..., :2] = points[:, list(spec["feet"]), :2]
    if points.shape[2] >= 3:
        feet[..., 2] = points[:, list(spec["feet"]), 2] - points[:, list(spec["ankles"]), 2]
    return feet, confidence[:, list(spec["feet"])].copy()


def fill_gaps(track: KeypointTrack, min_confidence: float = 0.3) -> KeypointTrack:
    """Fill joints below ``min_confidence`` by linear interpolation in time (edges hold the nearest value).

    A joint's offset from its parent joint is interpolated, not its place in the image, so a limb the
    detector lost for some frames moves with the body (the sun's flare on a jumping man's legs:
    legs held where they were last seen would stay on the ground while his hips rise). Ankles are
    the exception, interpolated in the image: a hidden ankle is most often a planted foot, which
    stays put while the body moves over it. So are the root and a joint whose parent is never seen.

    Interpolated values are flagged in ``track.filled``. A limb joint never seen in the whole clip
    (an arm always hidden behind the body) is guessed from its twin on the other side, mirrored
    across the body (or, with the twin unseen too, placed on its parent); its name is listed in the
    result's ``guessed``. A clip in which no frame has a usable person is an error: there is
    nothing to animate.
    """
    good = track.confidence >= min_confidence
    if not good.any():
        raise KeypointError("no person was detected in any frame of this clip")
    positions = track.positions.copy()
    frames = np.arange(track.num_frames)
    never = [joint for joint in range(17) if not good[:, joint].any()]
    for joint in range(17):   # the skeleton's order: a parent is filled before its children
        ok = good[:, joint]
        if ok.all() or not ok.any():
            continue
        parent = H36M_SKELETON.parents[joint]
        follows_parent = parent >= 0 and parent not in never and joint not in ANKLES
        base = positions[:, parent] if follows_parent else np.zeros_like(positions[:, joint])
        offset = positions[:, joint] - base
        for axis in range(2):
            positions[~ok, joint, axis] = base[~ok, axis] + np.interp(frames[~ok], frames[ok], offset[ok, axis])
    twin = H36M_SKELETON.flip_permutation()
    for joint in never:   # the skeleton's order: a parent is placed before its children
        parent = H36M_SKELETON.parents[joint]
        if parent < 0 or twin[joint] == joint:
            raise KeypointError(f"joint {H36M_SKELETON.names[joint]} was never detected with confidence "
                                f">= {min_confidence}; cannot reconstruct it")
        if twin[joint] in never:
            positions[:, joint] = positions[:, parent]
            continue
        bone = positions[:, twin[joint]] - positions[:, twin[parent]]
        trunk = positions[:, H36M_SKELETON.index("thorax")] - positions[:, 0]
        across = np.stack([trunk[:, 1], -trunk[:, 0]], axis=1) / np.maximum(np.linalg.norm(trunk, axis=1), 1e-6)[:, None]
        mirrored = bone - 2 * np.sum(bone * across, axis=1, keepdims=True) * across   # reflected across the trunk
        positions[:, joint] = positions[:, parent] + mirrored
    return KeypointTrack(positions, track.confidence, track.width, track.height, track.fps, ~good,
                         guessed=tuple(H36M_SKELETON.names[j] for j in never), feet=track.feet,
                         feet_confidence=track.feet_confidence, joints_3d=track.joints_3d)


def _read_json(path: str):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KeypointError(f"cannot read keypoint JSON {path}: {exc}") from exc


def _people_points(people: list[dict], key: str, count: int, source: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each person of a frame as (count, 2) points and (count,) confidences."""
    found = []
    for person in people:
        flat = person.get(key) if isinstance(person, dict) else None
        if not isinstance(flat, list) or len(flat) != 3 * count:
            raise KeypointError(f"{source}: '{key}' must hold {3 * count} numbers (x, y, confidence per joint)")
        values = np.asarray(flat, dtype=np.float32).reshape(count, 3)
        found.append((values[:, :2], values[:, 2]))
    return found


def _everyone(frames: list[list[tuple[np.ndarray, np.ndarray]]], count: int, layout: str, width: int, height: int,
              fps: float) -> PeopleDetections:
    """Per-frame lists of people in a source layout -> ``PeopleDetections`` of our joints (slots padded)."""
    slots = max(1, max(len(people) for people in frames))
    points = np.zeros((len(frames), slots, count, 2), np.float32)
    confidence = np.zeros((len(frames), slots, count), np.float32)
    for f, people in enumerate(frames):
        for p, (xy, conf) in enumerate(people):
            points[f, p], confidence[f, p] = xy, conf
    joints, conf = map_to_h36m(points.reshape(-1, count, 2), confidence.reshape(-1, count), layout)
    empty = confidence.reshape(-1, count).max(axis=1) <= 0
    conf[empty] = 0.0
    feet = map_feet(points.reshape(-1, count, 2), confidence.reshape(-1, count), layout)
    if feet is not None:
        feet[1][empty] = 0.0
        feet = (feet[0].reshape(len(frames), slots, 4, 3), feet[1].reshape(len(frames), slots, 4))
    return PeopleDetections(joints.reshape(len(frames), slots, 17, 2), conf.reshape(len(frames), slots, 17),
                            int(width), int(height), float(fps), *(feet or (None, None)))


def load_openpose_folder(folder: str, width: int, height: int, fps: float) -> PeopleDetections:
    """An OpenPose ``--write_json`` folder: one ``*_keypoints.json`` per frame, BODY_25 or COCO-18 layout; everyone in it."""
    paths = sorted(glob.glob(os.path.join(folder, "*.json")))
    if not paths:
        raise KeypointError(f"no OpenPose JSON files in {folder}")
    frames = []
    for path in paths:
        data = _read_json(path)
        if not isinstance(data, dict) or not isinstance(data.get("people"), list):
            raise KeypointError(f"{path}: not an OpenPose keypoint file (no 'people' list)")
        frames.append((path, data["people"]))
    sizes = {len(p.get("pose_keypoints_2d", [])) for _, people in frames for p in people}
    if len(sizes) > 1:
        raise KeypointError(f"{folder}: files mix keypoint layouts ({sorted(s // 3 for s in sizes)} joints)")
    layout = {75: "body25", 54: "openpose18"}.get(sizes.pop() if sizes else 75)
    if layout is None:
        raise KeypointError(f"{folder}: unknown OpenPose layout (expected BODY_25 or COCO-18)")
    count = LAYOUTS[layout]["count"]
    return _everyone([_people_points(people, "pose_keypoints_2d", count, path) for path, people in frames], count,
                     layout, width, height, fps)


MAX_FRAME_INDEX = 1_000_000  # over nine hours at 30 fps: anything larger is a broken file, not a video


def _frame_index(value, path: str, entry: int) -> int:
    """A frame number from a keypoint file: a whole number from 0 to ``MAX_FRAME_INDEX``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value != int(value):
        raise KeypointError(f"{path}: entry {entry}: frame index must be a whole number, got {json.dumps(value)}")
    if not 0 <= value < MAX_FRAME_INDEX:
        raise KeypointError(f"{path}: entry {entry}: frame index {value:g} is out of range "
                            f"(0 to {MAX_FRAME_INDEX - 1:,})")
    return int(value)


def load_coco_json(path: str, width: int | None = None, height: int | None = None,
                   fps: float = 30.0) -> PeopleDetections:
    """COCO-style keypoints of everyone, one entry per frame.

    Accepts a list of frames, or ``{"frames": [...], "width": W, "height": H, "fps": f}``; each frame
    is ``{"frame": index, "people": [{"keypoints": [x, y, score] * 17}]}`` or a COCO results list of
    ``{"image_id": frame, "keypoints": [...], "score": s}``.
    """
    data = _read_json(path)
    if isinstance(data, dict):
        width, height = data.get("width", width), data.get("height", height)
        fps = data.get("fps", fps)
        data = data.get("frames")
    if not isinstance(data, list) or not data:
        raise KeypointError(f"{path}: expected a non-empty list of frames")
    if width is None or height is None:
        raise KeypointError(f"{path}: frame size unknown; give width and height")
    by_frame: dict[int, list[dict]] = {}
    for index, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise KeypointError(f"{path}: frame {index} is not an object")
        if "people" in entry:
            if not isinstance(entry["people"], list):
                raise KeypointError(f"{path}: entry {index}: 'people' must be a list of people (empty when nobody "
                                    f"is seen), got {json.dumps(entry['people'])}")
            by_frame.setdefault(_frame_index(entry.get("frame", index), path, index), []).extend(entry["people"])
        elif "keypoints" in entry:
            by_frame.setdefault(_frame_index(entry.get("image_id", index), path, index), []).append(entry)
        else:
            raise KeypointError(f"{path}: frame {index} has neither 'people' nor 'keypoints'")
    frames = [_people_points(by_frame.get(frame, []), "keypoints", 17, f"{path} frame {frame}")
              for frame in range(max(by_frame) + 1)]
    return _everyone(frames, 17, "coco", width, height, fps)
