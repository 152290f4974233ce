"""Evaluate a weights file on the held-out test subsets, with clean and with detector-like 2D.

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
from .evaluation import NOISE_LEVELS, evaluate_clips

TEST_SUBSETS = ("test_actor", "test_motion")


def evaluate(model_path: str, data_path: str, subsets: tuple[str, ...] = TEST_SUBSETS,
             max_clips: int | None = None, flip_augment: bool = True) -> dict:
    lifter = PoseLifter.from_file(model_path)
    clips_by_subset = {s: load_clips(data_path, (s,))[:max_clips] for s in subsets}
    results: dict = {"model": os.path.abspath(model_path), "receptive_field": lifter.receptive_field,
                     "flip_augment": flip_augment}
    for level, noise in NOISE_LEVELS.items():
        per_subset = {s: evaluate_clips(lifter, clips, noise, flip_augment) for s, clips in clips_by_subset.items() if clips}
        frames = sum(r["frames"] for r in per_subset.values())
        overall = {key: round(sum(r[key] * r["frames"] for r in per_subset.values()) / frames, 2)
                   for key in next(iter(per_subset.values())) if key != "frames"}
        overall["frames"] = frames
        results[level] = {**per_subset, "overall": overall}
    return results


def print_table(results: dict) -> None:
    print(f"{'2D input':8} {'subset':12} {'P1':>8} {'P2':>8} {'P3':>8} {'MPJVE':>8} {'root':>8} {'frames':>8}")
    for level in NOISE_LEVELS:
        for subset, r in results[level].items():
            print(f"{level:8} {subset:12} {r['p1']:8.1f} {r['p2']:8.1f} {r['p3']:8.1f} {r['mpjve']:8.2f} "
                  f"{r.get('root_error', float('nan')):8.1f} {r['frames']:8d}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True, help="prepared clips (python -m training.prepare_data)")
    parser.add_argument("--out", default=None, help="JSON file for the results")
    parser.add_argument("--subsets", default=",".join(TEST_SUBSETS))
    parser.add_argument("--max-clips", type=int, default=None, help="first N clips of each subset (quick runs)")
    parser.add_argument("--no-flip", action="store_true", help="no test-time flip augmentation")
    args = parser.parse_args(argv)
    started = time.time()
    results = evaluate(args.model, args.data, tuple(args.subsets.split(",")), args.max_clips, not args.no_flip)
    results["seconds"] = round(time.time() - started, 1)
    print_table(results)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as handle:
            json.dump(results, handle, indent=2)
        print(f"written {args.out}")
    return results


if __name__ == "__main__":
    main()
