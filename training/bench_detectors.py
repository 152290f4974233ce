"""The 2D detectors side by side: speed, agreement, and error against rendered truth.

- mediapipe's solutions API (model complexity 1, the detector until now),
- the Tasks API with the bundled full model (the same landmark network: its 2D should agree),
- the Tasks API with the bundled heavy model (more accurate, slower).
Each runs alone (one instance, the simplest loop) over the 1080p render of one held-out person
(``data/bench/renders/single_person_1080p``, made by ``training.bench_runtime``) and the demo
clip. The error is in pixels at 1920x1080, over the limb joints (shoulders to wrists, hips to
ankles) the detector is confident about; mocap joint centres and mediapipe's landmarks are not
defined alike, so the figure compares detectors rather than measuring an absolute truth.

    python -m training.bench_detectors [--frames N] [--json out.json]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from core.detection import DetectorFactory, padded  # noqa: E402
from core.skeleton import H36M_SKELETON  # noqa: E402
from core.video import probe, read_frames  # noqa: E402
from training.reports import print_and_save  # noqa: E402

RENDER = os.path.join(ROOT, "data", "bench", "renders", "single_person_1080p")
DEMO = os.path.join(ROOT, "data", "demo", "demo.mp4")
KINDS = ("solutions", "tasks-full", "tasks-heavy")
LIMB_JOINTS = [H36M_SKELETON.index(f"{side}_{joint}") for side in ("left", "right")
               for joint in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")]


def run_detector(kind: str, video: str, frames: int | None) -> dict:
    info = probe(video)
    detector = DetectorFactory(kind, info.fps, max_people=1)()  # the models compared: one person each
    joints, confidence = [], []
    started = time.perf_counter()
    try:
        for frame in read_frames(video, 0, frames):
            j, c = padded(*detector.detect(frame.image), 1)
            joints.append(j[0])
            confidence.append(c[0])
    finally:
        detector.close()
    seconds = time.perf_counter() - started
    return {"joints": np.array(joints), "confidence": np.array(confidence), "fps": len(joints) / seconds}


def truth_pixels(folder: str) -> np.ndarray:
    truth = np.load(os.path.join(folder, "truth.npz"))
    fx, fy, cx, cy = truth["intrinsics_px"][:4]
    camera = truth["joints_camera"]
    return np.stack([fx * camera[..., 0] / camera[..., 2] + cx, fy * camera[..., 1] / camera[..., 2] + cy], -1)


def pixel_error(joints: np.ndarray, confidence: np.ndarray, reference: np.ndarray,
                reference_confidence: np.ndarray | None = None) -> dict:
    """Median and 90th percentile distance (px) over confident limb joints, and how many were compared."""
    seen = confidence[:, LIMB_JOINTS] > 0.5
    if reference_confidence is not None:
        seen &= reference_confidence[:, LIMB_JOINTS] > 0.5
    distance = np.linalg.norm(joints[:, LIMB_JOINTS] - reference[:, LIMB_JOINTS], axis=-1)[seen]
    if not len(distance):
        return {"median_px": None, "p90_px": None, "joints_compared": 0}
    return {"median_px": round(float(np.median(distance)), 2), "p90_px": round(float(np.percentile(distance, 90)), 2),
            "joints_compared": int(len(distance))}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=None, help="only the first N frames of each clip")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if not os.path.isfile(os.path.join(RENDER, "video.mp4")):
        raise SystemExit(f"{RENDER} is missing: python -m training.bench_runtime renders it")
    report: dict = {"render": os.path.relpath(RENDER, ROOT), "demo": os.path.relpath(DEMO, ROOT), "detectors": {}}
    truth = truth_pixels(RENDER)
    runs = {}
    for kind in KINDS:
        render = run_detector(kind, os.path.join(RENDER, "video.mp4"), args.frames)
        demo = run_detector(kind, DEMO, args.frames)
        runs[kind] = (render, demo)
        frames = len(render["joints"])
        report["detectors"][kind] = {
            "fps_1080p": round(render["fps"], 1), "fps_demo": round(demo["fps"], 1),
            "person_found_pct_1080p": round(100 * float(((render["confidence"] > 0.5).sum(1) >= 6).mean()), 1),
            "error_vs_truth_1080p": pixel_error(render["joints"], render["confidence"], truth[:frames]),
        }
        print(kind, report["detectors"][kind], flush=True)
    for kind in ("tasks-full", "tasks-heavy"):
        report["detectors"][kind]["against_solutions"] = {
            clip: pixel_error(runs[kind][k]["joints"], runs[kind][k]["confidence"], runs["solutions"][k]["joints"],
                              runs["solutions"][k]["confidence"]) for k, clip in enumerate(("1080p", "demo"))}
    d = report["detectors"]
    report["keys"] = {
        "detector_tasks_full_fps_1080p": d["tasks-full"]["fps_1080p"],
        "detector_tasks_heavy_fps_1080p": d["tasks-heavy"]["fps_1080p"],
        "detector_solutions_fps_1080p": d["solutions"]["fps_1080p"],
        "detector_tasks_full_2d_error_px": d["tasks-full"]["error_vs_truth_1080p"]["median_px"],
        "detector_tasks_heavy_2d_error_px": d["tasks-heavy"]["error_vs_truth_1080p"]["median_px"],
        "detector_solutions_2d_error_px": d["solutions"]["error_vs_truth_1080p"]["median_px"],
        "detector_tasks_full_vs_solutions_px": d["tasks-full"]["against_solutions"]["1080p"]["median_px"],
    }
    return print_and_save(report, args.json)


if __name__ == "__main__":
    main()
