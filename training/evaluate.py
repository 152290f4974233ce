"""Evaluate a weights file on the held-out test subsets: clean and detector-like 2D, and clean 2D of people leaving the frame.

    python -m training.evaluate --model core/weights/default.npz --data runs/data/mocap.npz --out results/eval.json

Prints P1 (MPJPE), P2 (Procrustes), P3 (scale-aligned), MPJVE and root error in millimetres per
test subset and overall (frame-weighted), and writes the same as JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import time

from core.inference import PoseLifter

from .datasets import load_clips
from .augment import CLEAN, DETECTOR_LIKE
from .evaluation import evaluate_clips, evaluate_views
from .h36m import TEST_SUBJECTS as H36M_TEST, load_h36m

TEST_SUBSETS = ("test_actor", "test_motion")
# 2D input conditions: clean and detector-like 2D from cameras that keep the person in the frame,
# and clean 2D from cameras that let a walking person leave it (robustness to people cut off
# at the image edges; 2.6 % of the test frames then have joints outside the image).
VIEW_CONDITIONS = {"clean": (CLEAN, False), "noisy": (DETECTOR_LIKE, False), "leaving": (CLEAN, True)}


def spread(clips: list, count: int | None) -> list:
    """``count`` clips spread evenly over the subset (all of them for None): quick runs stay representative."""
    if count is None or count >= len(clips):
        return clips
    return [clips[round(i * len(clips) / count)] for i in range(count)]


def evaluate(model_path: str, data_path: str, subsets: tuple[str, ...] = TEST_SUBSETS,
             max_clips: int | None = None, flip_augment: bool = True) -> dict:
    lifter = PoseLifter.from_file(model_path)
    clips_by_subset = {s: spread(load_clips(data_path, (s,)), max_clips) for s in subsets}
    results: dict = {"model": os.path.abspath(model_path), "receptive_field": lifter.receptive_field,
                     "flip_augment": flip_augment}
    for level, (noise, may_leave_frame) in VIEW_CONDITIONS.items():
        per_subset = {s: evaluate_clips(lifter, clips, noise, flip_augment, may_leave_frame)
                      for s, clips in clips_by_subset.items() if clips}
        frames = sum(r["frames"] for r in per_subset.values())
        overall = {key: round(sum(r[key] * r["frames"] for r in per_subset.values()) / frames, 2)
                   for key in next(iter(per_subset.values())) if key != "frames"}
        overall["frames"] = frames
        results[level] = {**per_subset, "overall": overall}
    return results


def print_table(results: dict, levels: tuple[str, ...] = tuple(VIEW_CONDITIONS)) -> None:
    print(f"{'2D input':8} {'subset':12} {'P1':>8} {'P2':>8} {'P3':>8} {'MPJVE':>8} {'root':>8} {'frames':>8}")
    for level in levels:
        for subset, r in results[level].items():
            print(f"{level:8} {subset:12} {r['p1']:8.1f} {r['p2']:8.1f} {r['p3']:8.1f} {r['mpjve']:8.2f} "
                  f"{r.get('root_error', float('nan')):8.1f} {r['frames']:8d}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", help="prepared clips (python -m training.prepare_data)")
    parser.add_argument("--h36m-3d", help="Human3.6M data_3d_h36m.npz: evaluate on S9 and S11 instead")
    parser.add_argument("--h36m-2d", help="Human3.6M data_2d_h36m_<detector>.npz (the 2D input)")
    parser.add_argument("--h36m-cameras", help="Human3.6M cameras JSON (see training/h36m.py)")
    parser.add_argument("--out", default=None, help="JSON file for the results")
    parser.add_argument("--subsets", default=",".join(TEST_SUBSETS))
    parser.add_argument("--max-clips", type=int, default=None, help="N clips of each subset, spread evenly (quick runs)")
    parser.add_argument("--no-flip", action="store_true", help="no test-time flip augmentation")
    args = parser.parse_args(argv)
    started = time.time()
    if args.h36m_3d or args.h36m_2d or args.h36m_cameras:
        if not (args.h36m_3d and args.h36m_2d and args.h36m_cameras):
            parser.error("Human3.6M evaluation needs --h36m-3d, --h36m-2d and --h36m-cameras")
        views = load_h36m(args.h36m_3d, args.h36m_2d, args.h36m_cameras, H36M_TEST)
        results = {"model": os.path.abspath(args.model), "protocol": "Human3.6M S9+S11, 2D from " + args.h36m_2d,
                   "h36m": evaluate_views(PoseLifter.from_file(args.model), views, not args.no_flip)}
        print_table(results, levels=("h36m",))
    elif args.data:
        results = evaluate(args.model, args.data, tuple(args.subsets.split(",")), args.max_clips, not args.no_flip)
        print_table(results)
    else:
        parser.error("give --data or the three --h36m-* files")
    results["seconds"] = round(time.time() - started, 1)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as handle:
            json.dump(results, handle, indent=2)
        print(f"written {args.out}")
    return results


if __name__ == "__main__":
    main()
