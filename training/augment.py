"""Turn 3D mocap windows into (2D input, 3D target) training pairs as a real video would show them.

- Virtual cameras: field of view 40-80 degrees, landscape/portrait/4:3 frames, the person
  filling 30-90 % of the frame height somewhere in the frame, camera 0.3-2.5 m high, any yaw;
  every joint stays inside the frame in every frame (the camera stands further back for a walk),
  except in a chosen share of training windows where the person may leave it, as in real videos.
- Bone-length augmentation: every bone scaled (left and right alike) and the body scaled
  overall, because the Bandai skeletons all share one set of bone lengths.
- Joint-definition jitter (optional): sources and detectors mark the same joints at different
  places of the body (CMU's hip joints sit about 9 cm below its pelvis joint, Bandai's 2 cm;
  CMU's shoulders 19-25 cm from the midline, Bandai's 11 cm; BlazePose's hips and shoulders are
  its own again), so the hips, spine, thorax, neck, head and shoulders are each moved by a random
  offset, constant over the window, in the body's own frame: the lifter learns to follow where
  the 2D puts them instead of assuming one lab's. The pelvis (the root) stays: moving it shifts
  every root-relative joint at once, and a lifter trained so misplaced the whole trunk.
- Horizontal flip: mirror the world and swap left/right joints.
- Detector-like 2D noise: per-joint jitter, a per-sequence bias per joint, rare large outliers,
  and short dropouts that a pipeline would fill by linear interpolation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.camera import CameraIntrinsics, look_at_rotation, project_to_2d_linear
from core.feet import facing
from core.rotations import axis_angle_matrix
from core.skeleton import H36M_SKELETON, flip_horizontal

FRAME_SIZES = ((1920, 1080), (1280, 720), (1080, 1920), (1440, 1080), (1000, 1000))
PELVIS = 0
MAX_CAMERA_ATTEMPTS = 40


@dataclass
class NoiseSettings:
    jitter: float = 0.008        # standard deviation, fraction of the person's height in the image
    bias: float = 0.006          # per-joint per-sequence offset, same unit
    outlier_rate: float = 0.003  # probability that a joint in a frame is badly wrong
    outlier_scale: float = 0.08
    dropout_rate: float = 0.002  # probability that a dropout (interpolated gap) starts at a joint and frame
    dropout_length: int = 8


CLEAN = NoiseSettings(0.0, 0.0, 0.0, 0.0, 0.0, 0)
DETECTOR_LIKE = NoiseSettings()


def _bone_symmetry_groups() -> list[list[int]]:
    """Bones (by child joint) that must share one scale: a left bone and its right twin."""
    sk = H36M_SKELETON
    groups, seen = [], set()
    for child, parent in enumerate(sk.parents):
        if parent < 0 or child in seen:
            continue
        group = [child]
        if child in sk.joints_left:
            group.append(sk.joints_right[sk.joints_left.index(child)])
        elif child in sk.joints_right:
            group.append(sk.joints_left[sk.joints_right.index(child)])
        seen.update(group)
        groups.append(group)
    return groups


BONE_GROUPS = _bone_symmetry_groups()


def scale_bones(positions: np.ndarray, bone_scale: np.ndarray) -> np.ndarray:
    """Rebuild poses (B, T, 17, 3) with each bone (indexed by child joint) scaled by (B, 17)."""
    out = positions.copy()
    for child, parent in enumerate(H36M_SKELETON.parents):
        if parent >= 0:
            bone = positions[:, :, child] - positions[:, :, parent]
            out[:, :, child] = out[:, :, parent] + bone * bone_scale[:, None, child, None]
    return out


def random_bone_scales(rng: np.random.Generator, batch: int, spread: float = 0.12, overall: tuple = (0.85, 1.15)) -> np.ndarray:
    scales = np.ones((batch, 17))
    for group in BONE_GROUPS:
        scales[:, group] = rng.uniform(1 - spread, 1 + spread, size=(batch, 1))
    return scales * rng.uniform(*overall, size=(batch, 1))


# joint: ranges (metres) of its offset outwards (left and right mirrored; 0 for midline joints), up, forwards
DEFINITION_RANGES = {
    "hip": ((-0.02, 0.06), (-0.05, 0.03), (-0.02, 0.02)),
    "spine": ((0.0, 0.0), (-0.04, 0.04), (-0.03, 0.03)),
    "thorax": ((0.0, 0.0), (-0.03, 0.03), (-0.02, 0.02)),
    "neck_nose": ((0.0, 0.0), (-0.03, 0.03), (-0.03, 0.04)),
    "head": ((0.0, 0.0), (-0.04, 0.04), (-0.04, 0.04)),
    "shoulder": ((-0.02, 0.12), (-0.04, 0.03), (-0.03, 0.02)),
}


def _body_axes(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame unit vectors (B, T, 3): towards the body's left, up the trunk, and forwards (``facing``)."""
    sk = H36M_SKELETON
    joints = windows.reshape(-1, *windows.shape[-2:])
    left = joints[:, sk.index("left_hip")] - joints[:, sk.index("right_hip")]
    left /= np.linalg.norm(left, axis=-1, keepdims=True).clip(1e-9)
    forward = facing(joints)
    return tuple(axis.reshape(windows.shape[:-2] + (3,)) for axis in (left, np.cross(forward, left), forward))


def jitter_definitions(windows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Windows (B, T, 17, 3) with each joint of ``DEFINITION_RANGES`` moved (alone, its children stay)
    by an offset drawn once per window, in the body's frame of each frame."""
    sk = H36M_SKELETON
    left, up, forward = _body_axes(windows)
    out = windows.copy()
    batch = len(windows)
    for name, (outwards, upwards, forwards) in DEFINITION_RANGES.items():
        out_by, up_by, forward_by = (rng.uniform(*r, size=(batch, 1, 1)) for r in (outwards, upwards, forwards))
        sides = {"left_" + name: 1.0, "right_" + name: -1.0} if name not in sk.names else {name: 0.0}
        for joint, side in sides.items():
            out[:, :, sk.index(joint)] += side * out_by * left + up_by * up + forward_by * forward
    return out


def _limb_axes(windows: np.ndarray, left_joint: str, right_joint: str, low: str, high: str) -> np.ndarray:
    """Per frame (B, T, 3, 3) rows of a body frame: towards the body's left (right to left joint), up
    (low to high joint, made square to the first), and forwards."""
    sk = H36M_SKELETON
    left = windows[..., sk.index(left_joint), :] - windows[..., sk.index(right_joint), :]
    left = left / np.linalg.norm(left, axis=-1, keepdims=True).clip(1e-9)
    up = windows[..., sk.index(high), :] - windows[..., sk.index(low), :]
    up = up - (up * left).sum(-1, keepdims=True) * left
    up = up / np.linalg.norm(up, axis=-1, keepdims=True).clip(1e-9)
    return np.stack([left, up, np.cross(left, up)], axis=-2)


def _offsets_in_frame(windows: np.ndarray, axes: np.ndarray, root: int, moving: list[int]) -> np.ndarray:
    """(n, T, k, 3): the moving joints' offsets from the root joint, in the body frame ``axes`` (rows)."""
    return np.einsum("ntij,ntkj->ntki", axes, windows[:, :, moving] - windows[:, :, root:root + 1])


def _place_limb(out: np.ndarray, chosen: np.ndarray, windows: np.ndarray, axes: np.ndarray, root: int,
                moving: list[int], in_frame: np.ndarray) -> None:
    """Set the moving joints of ``out[chosen]`` at the root joint of ``windows`` (the chosen ones) plus
    the offsets ``in_frame``, turned out of the body frame ``axes``."""
    placed = windows[:, :, root:root + 1] + np.einsum("ntij,ntki->ntkj", axes, in_frame)
    for k, joint in enumerate(moving):
        out[chosen, :, joint] = placed[:, :, k]


# limb: (its frame: left and right joints, low and high joints of the up direction), and per side
# the joint it hangs from and the joints that move with it
LIMBS = {
    "arms": (("left_shoulder", "right_shoulder", "spine", "thorax"),
             {side: [H36M_SKELETON.index(f"{side}_{part}") for part in ("shoulder", "elbow", "wrist")]
              for side in ("left", "right")}),
    "legs": (("left_hip", "right_hip", "pelvis", "spine"),
             {side: [H36M_SKELETON.index(f"{side}_{part}") for part in ("hip", "knee", "ankle")]
              for side in ("left", "right")}),
}


def swap_limbs(windows: np.ndarray, rng: np.random.Generator, fractions: dict[str, float]) -> np.ndarray:
    """Windows (B, T, 17, 3) where a share ``fractions[limb]`` ("arms", "legs") has that pair of limbs
    moving as another window's of the batch, frame by frame: each elbow and wrist (knee and ankle)
    keeps the donor's offset from its shoulder (hip) in the donor's shoulder (hip) frame, placed at the
    receiver's in the receiver's frame. Limbs moved over bodies they never went with, so that a
    dance's unseen combination of arms and legs is less unseen."""
    windows = np.asarray(windows, dtype=np.float32)
    out = windows.copy()
    for limb, fraction in fractions.items():
        (left, right, low, high), sides = LIMBS[limb]
        chosen = np.nonzero(rng.random(len(out)) < fraction)[0]
        if len(out) < 2 or chosen.size == 0:
            continue
        donors = (chosen + rng.integers(1, len(out), size=chosen.size)) % len(out)   # never the window itself
        giving, taking = windows[donors], windows[chosen]
        giving_axes = _limb_axes(giving, left, right, low, high)
        taking_axes = _limb_axes(taking, left, right, low, high)
        for root, *moving in sides.values():
            in_frame = _offsets_in_frame(giving, giving_axes, root, moving)             # the donor's frame
            _place_limb(out, chosen, taking, taking_axes, root, moving, in_frame)
    return out


# limb: the largest turn (degrees) about its shoulder (hip) that rotate_limbs draws; arms reach further than legs
ROTATION_LIMITS = {"arms": 45.0, "legs": 20.0}


def random_rotations(rng: np.random.Generator, count: int, limit_deg: float) -> np.ndarray:
    """(count, 3, 3) rotations about uniformly random axes by angles uniform in [0, limit_deg]."""
    axes = rng.normal(size=(count, 3))
    axes /= np.linalg.norm(axes, axis=-1, keepdims=True).clip(1e-9)
    return axis_angle_matrix(axes, np.radians(rng.uniform(0.0, limit_deg, size=count)))


def rotate_limbs(windows: np.ndarray, rng: np.random.Generator, fractions: dict[str, float],
                 limits: dict[str, float] | None = None) -> np.ndarray:
    """Windows (B, T, 17, 3) where a share ``fractions[limb]`` ("arms", "legs") has each limb of that
    pair turned about its shoulder (hip) by its own rotation (random axis, angle up to
    ``limits[limb]`` degrees, ``ROTATION_LIMITS`` by default), drawn once per window and fixed in the
    body's frame. The limb keeps its lengths, its elbow (knee) angle and its motion relative to the
    trunk, but points where no mocap held it: the held-out dances hold arms away from the body and
    knees out, where the lifter draws them in towards the body."""
    limits = {**ROTATION_LIMITS, **(limits or {})}
    windows = np.asarray(windows, dtype=np.float32)
    out = windows.copy()
    for limb, fraction in fractions.items():
        (left, right, low, high), sides = LIMBS[limb]
        chosen = np.nonzero(rng.random(len(out)) < fraction)[0]
        if chosen.size == 0:
            continue
        taking = windows[chosen]
        axes = _limb_axes(taking, left, right, low, high)                                # (n, T, 3, 3)
        for root, *moving in sides.values():
            turns = random_rotations(rng, chosen.size, limits[limb])                     # (n, 3, 3)
            in_frame = _offsets_in_frame(taking, axes, root, moving)                    # the body's frame
            _place_limb(out, chosen, taking, axes, root, moving, np.einsum("nij,ntkj->ntki", turns, in_frame))
    return out


@dataclass
class VirtualCamera:
    intrinsics: CameraIntrinsics
    rotation: np.ndarray
    center: np.ndarray


def random_camera(rng: np.random.Generator, subject_center: np.ndarray, subject_height: float = 1.75,
                  travel: float = 0.0, distance_scale: float = 1.0) -> VirtualCamera:
    """A camera looking roughly at ``subject_center`` (world, Z up) so the person fits the frame.

    ``travel`` is how far (metres, horizontally) the subject moves from that centre during the
    window; the camera stands back far enough that the subject never comes close to it.
    ``distance_scale`` moves it further back still (``make_pairs`` uses it to keep a moving
    person in the frame).
    """
    width, height = FRAME_SIZES[rng.integers(len(FRAME_SIZES))]
    intrinsics = CameraIntrinsics.from_fov(width, height, rng.uniform(40, 80))
    fill = rng.uniform(0.3, 0.9)  # fraction of the frame's shorter side the person spans
    distance = distance_scale * max(intrinsics.focal[0] * subject_height / (fill * min(width, height)), 1.5 * travel + 1.5)
    yaw = rng.uniform(0, 2 * np.pi)
    camera_height = rng.uniform(0.3, 2.5)
    horizontal = np.sqrt(max(distance ** 2 - (camera_height - subject_center[2]) ** 2, 0.25))
    center = subject_center + np.array([horizontal * np.cos(yaw), horizontal * np.sin(yaw), 0.0])
    center[2] = camera_height
    # Aim a little off the subject so it lands anywhere in the frame, not only in the middle.
    slack = (1 - fill) * 0.5 * distance * min(width, height) / intrinsics.focal[0]
    target = subject_center + rng.uniform(-slack, slack, size=3) * np.array([1, 1, 0.5])
    return VirtualCamera(intrinsics, look_at_rotation(center, target, np.array([0, 0, 1.0])), center)


def corrupt_2d(keypoints: np.ndarray, person_height: np.ndarray, rng: np.random.Generator, noise: NoiseSettings) -> np.ndarray:
    """Detector-like errors on (B, T, J, 2) pixels; ``person_height`` (B,) in pixels sets their size."""
    if noise is CLEAN or noise.jitter == noise.bias == noise.outlier_rate == noise.dropout_rate == 0:
        return keypoints
    batch, frames, joints, _ = keypoints.shape
    scale = person_height[:, None, None, None]
    out = keypoints + rng.standard_normal(keypoints.shape, dtype=np.float32) * (noise.jitter * scale)
    out += rng.normal(0, noise.bias, (batch, 1, joints, 2)) * scale
    outliers = np.argwhere(rng.random((batch, frames, joints)) < noise.outlier_rate)
    out[tuple(outliers.T)] += rng.normal(0, noise.outlier_scale, (len(outliers), 2)) * scale[outliers[:, 0], 0, 0]
    if noise.dropout_rate > 0 and noise.dropout_length > 1:
        # A dropout replaces a joint's track over a short gap by the straight line between the gap's ends.
        b, t, j = np.argwhere(rng.random((batch, frames, joints)) < noise.dropout_rate).T
        stop = np.minimum(t + rng.integers(2, noise.dropout_length + 1, size=len(t)), frames - 1)
        keep = stop > t + 1
        b, t, j, stop = b[keep], t[keep], j[keep], stop[keep]
        offsets = np.arange(noise.dropout_length + 1)
        inside = offsets[None] <= (stop - t)[:, None]
        weight = (offsets[None] / (stop - t)[:, None])[..., None]
        values = (1 - weight) * out[b, t, j][:, None] + weight * out[b, stop, j][:, None]
        rows, cols = np.nonzero(inside)
        out[b[rows], t[rows] + cols, j[rows]] = values[rows, cols]
    return out


@dataclass
class TrainingPairs:
    inputs_2d: np.ndarray      # (B, T, 17, 2) normalized screen coordinates
    poses_3d: np.ndarray       # (B, T, 17, 3) camera space, root-relative (pelvis = 0), metres
    roots: np.ndarray          # (B, T, 1, 3) pelvis in camera space, metres
    intrinsics: np.ndarray     # (B, 9) normalized intrinsics for the reprojection loss


def make_pairs(windows: np.ndarray, rng: np.random.Generator, noise: NoiseSettings = DETECTOR_LIKE,
               augment_bones: bool = True, allow_flip: bool = True, may_leave_frame: float = 0.0,
               jitter_joints: bool = False) -> TrainingPairs:
    """From world-space windows (B, T, 17, 3) to one random camera view each (vectorised over B).

    The person stays inside the frame, except in a share ``may_leave_frame`` of the windows whose
    first camera is kept even where a limb or the whole person leaves the image: real videos cut
    people off at the edges, and a lifter that never saw it answers such input with nonsense.
    """
    windows = np.array(windows, dtype=np.float32)
    batch = windows.shape[0]
    if augment_bones:
        windows = scale_bones(windows, random_bone_scales(rng, batch))
    if jitter_joints:
        windows = jitter_definitions(windows, rng)
    if allow_flip:
        flip = rng.random(batch) < 0.5
        windows[flip] = flip_horizontal(windows[flip], H36M_SKELETON)
    subjects = windows[:, :, PELVIS].mean(axis=1)
    travel = np.linalg.norm(windows[:, :, PELVIS, :2] - subjects[:, None, :2], axis=-1).max(axis=1)
    rotations, centers = np.empty((batch, 3, 3), np.float32), np.empty((batch, 3), np.float32)
    pixel_intrinsics, intrinsics = np.empty((batch, 9), np.float32), np.empty((batch, 9), np.float32)
    sizes = np.empty((batch, 2), np.float32)
    cam_points, pixels = np.empty_like(windows), np.empty(windows.shape[:-1] + (2,), np.float32)
    # No draw when no window may leave the frame, so such views stay those of in-frame-only code.
    free = rng.random(batch) < may_leave_frame if may_leave_frame > 0 else np.zeros(batch, bool)
    todo = np.arange(batch)
    # A detector only sees a person inside the frame: a view that puts a joint outside it in any
    # frame (unless the window is ``free``), or the person too close to the camera, is drawn
    # again, each time from further back, so a long walk is filmed from far enough.
    for attempt in range(MAX_CAMERA_ATTEMPTS):
        for b in todo:
            camera = random_camera(rng, subjects[b], travel=travel[b], distance_scale=1.25 ** attempt)
            rotations[b], centers[b] = camera.rotation, camera.center
            pixel_intrinsics[b], intrinsics[b] = camera.intrinsics.pixel_vector(), camera.intrinsics.normalized_vector()
            sizes[b] = camera.intrinsics.width, camera.intrinsics.height
        shape = (len(todo),) + windows.shape[1:]
        points = np.matmul((windows[todo] - centers[todo, None, None]).reshape(len(todo), -1, 3), rotations[todo]).reshape(shape)
        # Virtual cameras have no lens distortion: the linear projection is exact.
        projected = project_to_2d_linear(points, pixel_intrinsics[todo, None, None, :])
        cam_points[todo], pixels[todo] = points, projected
        too_close = points[..., 2].min(axis=(1, 2)) <= 0.5
        outside = ((projected < 0) | (projected > sizes[todo, None, None])).any(axis=(1, 2, 3))
        todo = todo[too_close | (outside & ~free[todo])]
        if todo.size == 0:
            break
    else:
        raise RuntimeError("could not place a camera that keeps the subject in front of it and inside the frame")
    heights = np.ptp(pixels[..., 1], axis=-1).mean(axis=1)
    noisy = corrupt_2d(pixels, heights, rng, noise)
    inputs = (noisy / sizes[:, None, None, 0:1] * 2 - np.stack([np.ones(batch), sizes[:, 1] / sizes[:, 0]], -1)[:, None, None])
    roots = cam_points[:, :, PELVIS:PELVIS + 1].copy()
    return TrainingPairs(inputs.astype(np.float32), (cam_points - roots).astype(np.float32),
                         roots.astype(np.float32), intrinsics)


def source_weights(lengths: list[int], sources: list[str], exponent: float) -> np.ndarray:
    """Each clip's chance of giving a window when every source's share goes as (its frames) ** ``exponent``
    (1: every frame alike, as the data come; 0: every source alike), clips within a source by length.
    Bandai's 87 % of the training frames would otherwise leave the other labs' people 13 % of the windows."""
    if not 0.0 <= exponent <= 1.0:
        raise ValueError(f"the source weighting exponent must be between 0 and 1, got {exponent}")
    lengths, sources = np.asarray(lengths, dtype=np.float64), np.asarray(sources)
    weights = np.empty_like(lengths)
    for source in set(sources.tolist()):
        own = sources == source
        weights[own] = lengths[own] / lengths[own].sum() * lengths[own].sum() ** exponent
    return weights / weights.sum()


def sample_window_frames(lengths: list[int], batch: int, window: int, rng: np.random.Generator,
                         offset: int | None = None, clip_weights: np.ndarray | None = None
                         ) -> list[tuple[int, int, np.ndarray]]:
    """(clip, centre frame, frame indices) of ``batch`` random windows: clips drawn in proportion to their
    length (or to ``clip_weights``), a uniform centre frame, which sits ``offset`` frames into the window
    (default: its middle); indices edge-repeated at the clip's ends."""
    lengths = np.asarray(lengths)
    offset = window // 2 if offset is None else offset
    clip_ids = rng.choice(len(lengths), size=batch, p=lengths / lengths.sum() if clip_weights is None else clip_weights)
    out = []
    for clip_id in clip_ids:
        centre = int(rng.integers(lengths[clip_id]))
        out.append((int(clip_id), centre,
                    np.clip(np.arange(centre - offset, centre - offset + window), 0, lengths[clip_id] - 1)))
    return out


def sample_windows(clips: list[np.ndarray], batch: int, window: int, rng: np.random.Generator,
                   clip_weights: np.ndarray | None = None) -> np.ndarray:
    """Random windows (B, window, 17, 3) centred on uniformly drawn frames (of clips drawn by length or by
    ``clip_weights``), edge-repeated at clip ends."""
    out = np.empty((batch, window) + clips[0].shape[1:], dtype=np.float32)
    for b, (clip_id, _, frames) in enumerate(sample_window_frames([len(c) for c in clips], batch, window, rng,
                                                                  clip_weights=clip_weights)):
        out[b] = clips[clip_id][frames]
    return out
