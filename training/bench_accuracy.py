"""End-to-end accuracy on rendered video with known 3D: our pipeline against mediapipe's own 3D.

    python -m training.bench_accuracy --data runs/data/mocap.npz --quick --out results/accuracy.json

Held-out mocap clips (the unseen actor) drive MakeHuman bodies of the data engine
(``training/synth/render_body.py``; each render its own body, never drawn for training; the
truth is each posed body's canonical joints), or with ``--mannequin`` the older capsule figure
(``training/render_mocap.py``), seen from several camera placements and focal lengths. Each
video goes through the pipeline (the default 2D detector, mediapipe's Tasks API with the full
model; our lifter, root, clean-up, with the known intrinsics). Compared with the truth on the same
frames: P1 and P2 of the root-relative pose (mm), MPJVE, root position error (mm) and foot
sliding, with the pipeline's root and, for comparison, the trajectory network's; the same pose
metrics for mediapipe's own 3D world landmarks (hip-centred, metres, camera-aligned axes); and
the world-grounding figures of ``training/bench_grounding.py``.
``--quick`` renders 2 clips x 2 cameras x 90 frames.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

import numpy as np
import torch

from core.cleanup import detect_foot_contacts, foot_sliding, standing_height
from core.detection import TasksPoseDetector, detect_video
from core.inference import PoseLifter
from core.keypoints import KeypointError, KeypointTrack
from core.losses import mean_velocity_error, mpjpe, p_mpjpe
from core.pipeline import DEFAULT_MODEL, PipelineOptions, lift_track
from core.skeleton import H36M_SKELETON as SK

from . import bench_grounding as grounding
from .datasets import load_clips
from .render_mocap import render_clip

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAMERAS = [  # distance (m), height (m), yaw (degrees), focal length (mm, 36 mm sensor)
    (4.0, 1.2, 0.0, 30.0),
    (5.5, 2.0, 50.0, 45.0),
    (3.5, 0.8, -70.0, 24.0),
    (6.0, 1.5, 160.0, 60.0),
]
CLIP_CONTENTS = ("walk", "run", "wave-both-hands", "raise-up-both-hands")
BODY_SEEDS = 900_000   # the renders' bodies: Macros.random of seeds from here on


def pose_metrics(predicted: np.ndarray, truth: np.ndarray) -> dict:
    """Millimetres; poses (T, 17, 3) root-relative."""
    p, t = torch.from_numpy(np.asarray(predicted, np.float64)), torch.from_numpy(np.asarray(truth, np.float64))
    return {"p1": round(1000 * mpjpe(p, t).item(), 1), "p2": round(1000 * p_mpjpe(p, t).item(), 1),
            "mpjve": round(1000 * mean_velocity_error(p[None], t[None]).item(), 2)}


def joint_errors_mm(predicted: np.ndarray, truth: np.ndarray) -> list[float]:
    """Mean distance per joint (mm) over the frames; poses (T, 17, 3) root-relative."""
    return [round(1000 * float(e), 1) for e in np.linalg.norm(predicted - truth, axis=-1).mean(axis=0)]


def detect_render(video: str, fps: float) -> KeypointTrack:
    """The one person of a render, as the pipeline's default detector sees them (slot 0)."""
    detector = TasksPoseDetector("full", fps)
    try:
        people = detect_video(video, detector)
    finally:
        detector.close()
    return KeypointTrack(people.positions[:, 0], people.confidence[:, 0], people.width, people.height, people.fps,
                         joints_3d=people.joints_3d[:, 0])


def evaluate_render(video: str, truth_path: str, lifter: PoseLifter, focal_mm: float) -> dict:
    truth = np.load(truth_path)
    track = detect_render(video, float(truth["fps"]))
    options = PipelineOptions(focal_mm=focal_mm, sensor_mm=36.0, preview=False)
    result = lift_track(track, lifter, options)
    network = lift_track(track, lifter, PipelineOptions(focal_mm=focal_mm, sensor_mm=36.0, preview=False,
                                                        root_from="network"))
    alone = lift_track(track, lifter, dataclasses.replace(options, detector_3d_weight=0.0))   # without the detector's 3D
    true_camera = truth["joints_camera"]
    true_relative = true_camera - true_camera[:, :1]
    true_height = standing_height(true_relative)
    given = lift_track(track, lifter, dataclasses.replace(options, height_m=true_height))   # as with --height
    ours = result.joints_camera - result.joints_camera[:, :1]
    mediapipe = track.joints_3d   # its own 3D (pelvis at the origin; NaN where it found nobody)
    seen = np.isfinite(mediapipe).all(axis=(1, 2))
    contacts = detect_foot_contacts(truth["joints_world"], float(truth["fps"]))
    report = {
        "frames": len(ours),
        "frames_mediapipe_found_person": int(seen.sum()),
        "ours": {**pose_metrics(ours, true_relative),
                 "root_error_mm": round(1000 * float(np.linalg.norm(result.joints_camera[:, 0] - true_camera[:, 0], axis=-1).mean()), 1),
                 "root_error_trajectory_network_mm": round(1000 * float(np.linalg.norm(network.joints_camera[:, 0] - true_camera[:, 0], axis=-1).mean()), 1),
                 "foot_sliding_mm_per_frame": round(foot_sliding(result.joints_world, contacts), 2)},
        "ours_same_frames_as_mediapipe": pose_metrics(ours[seen], true_relative[seen]),
        "lifter_alone_same_frames": pose_metrics((alone.joints_camera - alone.joints_camera[:, :1])[seen],
                                                 true_relative[seen]),
        "ours_height_given_same_frames": pose_metrics((given.joints_camera - given.joints_camera[:, :1])[seen],
                                                      true_relative[seen]),
        "mediapipe_world_landmarks": pose_metrics(mediapipe[seen], true_relative[seen]),
        "height_m": {"truth": round(true_height, 3), "ours": round(result.height_m, 3),
                     "mediapipe": round(standing_height(mediapipe[seen]), 3) if seen.any() else None},
        "per_joint_mm": {"frames": int(seen.sum()), "ours": joint_errors_mm(ours[seen], true_relative[seen]),
                         "mediapipe": joint_errors_mm(mediapipe[seen], true_relative[seen])},
        "truth_foot_sliding_mm_per_frame": round(foot_sliding(truth["joints_world"], contacts), 2),
        "grounding": grounding.render_report(result, truth),
    }
    return report


def average(reports: list[dict], key: str) -> dict:
    frames = np.array([r["frames"] for r in reports], float)
    keys = reports[0][key].keys()
    return {k: round(float(np.sum([r[key][k] for r in reports] * frames) / frames.sum()), 2) for k in keys}


def heights(reports: list[dict]) -> dict:
    """Each render's body height against ours and mediapipe's (standing height, m): the monocular scale. A
    correlation near 0 says the estimate follows no real difference between bodies (a prior, not a measure)."""
    rows = [r["height_m"] for r in reports if r["height_m"]["mediapipe"] is not None]
    truth = np.array([r["truth"] for r in rows])
    out = {"truth_mean": round(float(truth.mean()), 3), "truth_sd": round(float(truth.std()), 3)}
    for who in ("ours", "mediapipe"):
        estimate = np.array([r[who] for r in rows])
        out[f"{who}_mean"] = round(float(estimate.mean()), 3)
        out[f"{who}_mean_abs_error_pct"] = round(100 * float(np.abs(estimate / truth - 1).mean()), 1)
        varied = len(rows) > 2 and estimate.std() > 1e-9 and truth.std() > 1e-9
        out[f"{who}_correlation"] = round(float(np.corrcoef(estimate, truth)[0, 1]), 2) if varied else None
    return out


def per_joint(reports: list[dict]) -> dict:
    """Per joint P1 (mm) of ours and of mediapipe on the frames where mediapipe found the person, pooled over
    the renders by their frames: where each is better, not only on average."""
    frames = np.array([r["per_joint_mm"]["frames"] for r in reports], float)
    pooled = {who: np.sum([np.array(r["per_joint_mm"][who]) * n for r, n in zip(reports, frames)], axis=0)
              / max(frames.sum(), 1.0) for who in ("ours", "mediapipe")}
    return {"joints": list(SK.names), **{who: [round(float(e), 1) for e in errors] for who, errors in pooled.items()}}


def run_end_to_end(data: str, model: str = DEFAULT_MODEL, quick: bool = False, frames: int = 120,
                   renders: str = os.path.join(ROOT, "data", "bench", "renders"), bodies: bool = True) -> dict:
    """Render (or reuse) the held-out clips from every camera, run the pipeline, average the metrics.

    ``bodies``: MakeHuman bodies of the data engine (``training.synth``), each render its own body
    (seeds no training chunk draws from); else the older capsule mannequin."""
    frames = 90 if quick else frames
    contents = CLIP_CONTENTS[:2] if quick else CLIP_CONTENTS
    cameras = CAMERAS[:2] if quick else CAMERAS
    clips = load_clips(data, ("test_actor",))
    lifter = PoseLifter.from_file(model)
    started = time.time()
    reports, missed = [], []
    addon_bake = None
    for content in contents:
        clip = next((c for c in clips if c.labels.get("content") == content and len(c.positions) >= 60), None)
        if clip is None:
            continue
        for number, (distance, height, yaw, focal) in enumerate(cameras):
            name = f"{'body_' if bodies else ''}{clip.name}_d{distance:g}_h{height:g}_y{yaw:g}_f{focal:g}_{frames}"
            folder = os.path.join(renders, name)
            if not os.path.isfile(os.path.join(folder, "truth.npz")) and bodies:
                from .rig_corpus.build import built_addon_bake
                from .synth.render_body import render_body_clip
                addon_bake = addon_bake or built_addon_bake()
                render_body_clip(clip.positions[:frames], folder, BODY_SEEDS + CLIP_CONTENTS.index(content) * 10 + number,
                                 distance, height, yaw, focal, addon_bake=addon_bake, clip_name=clip.name)
            elif not os.path.isfile(os.path.join(folder, "truth.npz")):
                render_clip(clip.positions[:frames], 30.0, folder, distance, height, yaw, focal)
            camera = {"distance_m": distance, "height_m": height, "yaw_deg": yaw, "focal_mm": focal}
            try:
                report = evaluate_render(os.path.join(folder, "video.mp4"), os.path.join(folder, "truth.npz"), lifter, focal)
            except KeypointError as exc:  # the detector found nobody: a failure to count, not a crash
                missed.append({"render": name, "camera": camera, "error": str(exc)})
                print(json.dumps(missed[-1]), flush=True)
                continue
            report["render"], report["camera"] = name, camera
            reports.append(report)
            print(json.dumps(report), flush=True)
    if not reports:
        raise SystemExit("no held-out clips found to render, or the person was found in none of the renders")
    return {"model": os.path.relpath(os.path.abspath(model), ROOT), "renders": len(reports),
            "bodies": "MakeHuman bodies (training.synth)" if bodies else "capsule mannequin",
            "renders_without_person": missed,
            "seconds": round(time.time() - started, 1),
            "ours": average(reports, "ours"),
            "ours_same_frames_as_mediapipe": average(reports, "ours_same_frames_as_mediapipe"),
            "lifter_alone_same_frames": average(reports, "lifter_alone_same_frames"),
            "ours_height_given_same_frames": average(reports, "ours_height_given_same_frames"),
            "height_m": heights(reports),
            "mediapipe_world_landmarks": average(reports, "mediapipe_world_landmarks"),
            "per_joint": per_joint(reports),
            "truth_foot_sliding_mm_per_frame": round(float(np.mean([r["truth_foot_sliding_mm_per_frame"] for r in reports])), 2),
            "grounding": {**grounding.summarize([r["grounding"] for r in reports]), **grounding.demo_root_wander(model)},
            "per_render": reports}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="prepared clips (python -m training.prepare_data)")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--quick", action="store_true", help="2 clips x 2 cameras x 90 frames")
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--renders", default=os.path.join(ROOT, "data", "bench", "renders"))
    parser.add_argument("--mannequin", action="store_true", help="the older capsule mannequin instead of bodies")
    parser.add_argument("--out", default=None, help="JSON file for the results")
    args = parser.parse_args(argv)
    summary = run_end_to_end(args.data, args.model, args.quick, args.frames, args.renders, bodies=not args.mannequin)
    print(json.dumps({k: v for k, v in summary.items() if k != "per_render"}, indent=2))
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as handle:
            json.dump(summary, handle, indent=2)
    return summary


if __name__ == "__main__":
    main()
