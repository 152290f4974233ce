"""World grounding against the truth of rendered mocap: contacts, foot sliding, floor, root, trunk lean.

Used by ``training.bench_accuracy`` on each render (the pipeline's own ``lift_track`` result and
the render's ``truth.npz``) and by ``training.bench`` for the keys of issue 13:

- ``contact_f1``: the pipeline's planted-foot frames against the truth's
  (``training.contacts.true_foot_contacts``), both feet, all renders pooled;
- ``foot_sliding_ratio_to_truth``: mean horizontal ankle speed on the *true* contact frames, ours
  over the truth's own (the mocap's feet also move a little while planted);
- ``floor_angle_error_deg``: angle between our up and the true up, both in camera coordinates;
- ``root_error_after_alignment_mm``: pelvis error after one rigid alignment (rotation and
  translation, no scale) of all our joints of the clip onto the truth's;
- ``distance_travelled_error_pct``: horizontal pelvis path length against the truth's, pooled
  over the renders whose person travels at least ``MIN_TRAVEL`` metres;

  both over the frames in which the person is in view (``in_view``: at least 80 % of the true
  joints project inside the image). A runner leaves the frame in 18-25 of the 90 frames of each
  run render; where nobody can be seen, no method can say where they are, so those frames are
  left out. The same figures over all frames are kept as ``..._all_frames``;
- ``trunk_lean_error_deg``: mean absolute difference of the pelvis-to-thorax angle from vertical;
- ``demo_root_wander_m``: on the demo clip, the largest horizontal distance between two root
  positions of the chosen person while the man stands on the box (frames 6-105).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import numpy as np

from core.cleanup import foot_sliding
from core.skeleton import H36M_SKELETON

from .contacts import contact_counts, contact_f1, f1_from_counts, true_foot_contacts

SK = H36M_SKELETON
IN_VIEW_SHARE = 0.8             # a frame is in view when this share of the true joints projects inside the image
MIN_TRAVEL = 1.0                 # metres: renders whose person travels less are left out of the distance error
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "data", "demo", "demo.mp4")
DEMO_ON_THE_BOX = (6, 106)       # frames in which the man stands (and jumps in place) on the box


def rigid_alignment(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation R and translation t minimising |source @ R.T + t - target| over points (N, 3) (Kabsch)."""
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    u, _, vt = np.linalg.svd((source - source_mean).T @ (target - target_mean))
    d = np.sign(np.linalg.det(vt.T @ u.T))
    rotation = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return rotation, target_mean - source_mean @ rotation.T


def trunk_lean_deg(joints_world: np.ndarray) -> np.ndarray:
    """(T,) angle of the pelvis-to-thorax direction from vertical, degrees (Z up)."""
    spine = joints_world[:, SK.index("thorax")] - joints_world[:, SK.index("pelvis")]
    cosine = spine[:, 2] / np.linalg.norm(spine, axis=-1).clip(1e-9)
    return np.degrees(np.arccos(np.clip(cosine, -1, 1)))


def path_length(joints_world: np.ndarray, seen: np.ndarray | None = None) -> float:
    """Horizontal distance the pelvis travels, metres: between consecutive frames that are both in view
    (``seen``, (T,)), or over every frame."""
    steps = np.linalg.norm(np.diff(joints_world[:, 0, :2], axis=0), axis=-1)
    return float(steps.sum() if seen is None else steps[seen[1:] & seen[:-1]].sum())


def in_view(truth: dict, share: float = IN_VIEW_SHARE) -> np.ndarray:
    """(T,) whether at least ``share`` of the person's true joints project inside the rendered image."""
    joints = np.asarray(truth["joints_camera"], np.float64)
    fx, fy, cx, cy = np.asarray(truth["intrinsics_px"], np.float64)[:4]
    depth = joints[..., 2].clip(1e-6)
    u, v = fx * joints[..., 0] / depth + cx, fy * joints[..., 1] / depth + cy
    inside = (joints[..., 2] > 0) & (u >= 0) & (u < int(truth["width"])) & (v >= 0) & (v < int(truth["height"]))
    return inside.mean(axis=1) >= share


def root_error_after_alignment_mm(ours: np.ndarray, true_world: np.ndarray) -> float:
    """Mean pelvis error (mm) after one rigid alignment of all our joints of these frames onto the truth's."""
    rotation, shift = rigid_alignment(ours.reshape(-1, 3), true_world.reshape(-1, 3))
    return round(1000 * float(np.linalg.norm(ours[:, 0] @ rotation.T + shift - true_world[:, 0], axis=-1).mean()), 1)


def render_report(result, truth: dict) -> dict:
    """Per-render grounding figures; ``result`` is ``core.pipeline.lift_track``'s, ``truth`` a render's truth.npz."""
    fps = float(truth["fps"])
    true_world = np.asarray(truth["joints_world"], np.float64)
    ours = np.asarray(result.joints_world, np.float64)
    true_contacts = true_foot_contacts(true_world, fps)
    our_up = result.world.rotation[:, 2]
    true_up = np.asarray(truth["camera_rotation"])[2, :]
    seen = in_view(truth)
    return {
        "frames": len(true_world),
        "frames_in_view": int(seen.sum()),
        "contact_f1": round(contact_f1(result.contacts, true_contacts), 3),
        "contact_counts": list(contact_counts(result.contacts, true_contacts)),   # pooled by ``summarize``
        "contact_rate_ours": round(float(np.mean(result.contacts)), 3),
        "contact_rate_truth": round(float(true_contacts.mean()), 3),
        "sliding_on_true_contacts_mm_per_frame": round(foot_sliding(ours, true_contacts), 2),
        "truth_sliding_mm_per_frame": round(foot_sliding(true_world, true_contacts), 2),
        "floor_angle_error_deg": round(float(np.degrees(np.arccos(np.clip(our_up @ true_up, -1, 1)))), 2),
        "root_error_after_alignment_mm": root_error_after_alignment_mm(ours[seen], true_world[seen]) if seen.any() else None,
        "root_error_after_alignment_all_frames_mm": root_error_after_alignment_mm(ours, true_world),
        "distance_travelled_m": round(path_length(ours, seen), 3),
        "truth_distance_travelled_m": round(path_length(true_world, seen), 3),
        "distance_travelled_all_frames_m": round(path_length(ours), 3),
        "truth_distance_travelled_all_frames_m": round(path_length(true_world), 3),
        "trunk_lean_error_deg": round(float(np.abs(trunk_lean_deg(ours) - trunk_lean_deg(true_world)).mean()), 2),
    }


def distance_error_pct(reports: list[dict], ours: str, truth: str) -> float | None:
    """Pooled |ours - truth| over the truth's path, for the renders whose person travels at least ``MIN_TRAVEL``."""
    travelling = [r for r in reports if r[truth] >= MIN_TRAVEL]
    if not travelling:
        return None
    return round(100 * sum(abs(r[ours] - r[truth]) for r in travelling) / sum(r[truth] for r in travelling), 1)


def summarize(reports: list[dict]) -> dict:
    """The issue's keys over all renders (frame-weighted means; contacts and distances pooled)."""
    frames = np.array([r["frames"] for r in reports], float)
    in_view_frames = np.array([r["frames_in_view"] for r in reports], float)

    def mean(key: str, weights: np.ndarray = frames) -> float:
        return float(np.sum([r[key] or 0.0 for r in reports] * weights) / weights.sum())

    truth_sliding = mean("truth_sliding_mm_per_frame")
    return {
        "contact_f1": round(f1_from_counts(*np.sum([r["contact_counts"] for r in reports], axis=0)), 3),
        "foot_sliding_ratio_to_truth": round(mean("sliding_on_true_contacts_mm_per_frame") / max(truth_sliding, 1e-9), 2),
        "foot_sliding_on_true_contacts_mm_per_frame": round(mean("sliding_on_true_contacts_mm_per_frame"), 2),
        "truth_foot_sliding_mm_per_frame": round(truth_sliding, 2),
        "floor_angle_error_deg": round(mean("floor_angle_error_deg"), 2),
        "root_error_after_alignment_mm": round(mean("root_error_after_alignment_mm", in_view_frames), 1),
        "root_error_after_alignment_all_frames_mm": round(mean("root_error_after_alignment_all_frames_mm"), 1),
        "distance_travelled_error_pct": distance_error_pct(reports, "distance_travelled_m", "truth_distance_travelled_m"),
        "distance_travelled_error_all_frames_pct": distance_error_pct(reports, "distance_travelled_all_frames_m",
                                                                      "truth_distance_travelled_all_frames_m"),
        "renders_travelling": sum(r["truth_distance_travelled_m"] >= MIN_TRAVEL for r in reports),
        "frames_out_of_view_pct": round(100 * (1 - in_view_frames.sum() / frames.sum()), 1),
        "trunk_lean_error_deg": round(mean("trunk_lean_error_deg"), 2),
    }


def demo_root_wander(model: str) -> dict:
    """The chosen person's root on the demo while the man stands on the box, from the pipeline's own command."""
    if not os.path.isfile(DEMO):
        return {}
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([sys.executable, "-m", "core.pipeline", DEMO, "--out", out, "--no-preview", "--model", model],
                       cwd=ROOT,
                       check=True, capture_output=True, text=True)
        with np.load(os.path.join(out, "motion.npz")) as motion:
            first = int(motion["first_frame"])
            start, stop = (f - first for f in DEMO_ON_THE_BOX)
            root = motion["root_world"][max(start, 0):stop, :2]
            depth = motion["root_camera"][max(start, 0):stop, 2]
            planted = float(motion["contacts"][max(start, 0):stop].mean())
    spread = np.linalg.norm(root[:, None] - root[None], axis=-1).max()
    return {"demo_root_wander_m": round(float(spread), 3),
            "demo_root_path_m": round(float(np.linalg.norm(np.diff(root, axis=0), axis=-1).sum()), 3),
            "demo_root_depth_range_m": round(float(np.ptp(depth)), 3),
            "demo_planted_share": round(planted, 3)}
