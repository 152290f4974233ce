"""Tuning renders: validation clips on bodies and cameras the bench never uses, to choose settings on.

    python -m training.tuning_renders --data runs/data/mocap.npz --out runs/tuning            # render, detect
    python -m training.tuning_renders --out runs/tuning --evaluate core/weights/default.npz   # P1 against mediapipe
    python -m training.tuning_renders --out runs/tuning --evaluate core/weights/default.npz --pipeline="--detector-3d 0.7"

Choosing a setting (a blend weight, a smoothing window, a model file) by the bench's end-to-end
figure would tune on the test. These renders come from the ``validation`` subset (the bench's
from ``test_actor``), on bodies of seeds from ``TUNING_SEEDS`` (the bench's from
``training.bench_accuracy.BODY_SEEDS``) and from cameras of their own, so a choice made here is
checked on the bench once, afterwards. Each folder holds ``video.mp4`` and ``truth.npz`` (as the
bench's renders) and ``track.npz``: the default detector's person, detected once, so that
evaluating a setting takes seconds. The evaluation is the bench's: P1 and MPJVE of our
root-relative pose on the frames where mediapipe found the person, against mediapipe's world
landmarks on the same frames, and the bench's world grounding figures (``training.bench_grounding``).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import sys
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from core.inference import PoseLifter
    from core.options import PipelineOptions

    from .datasets import Clip

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TUNING_SEEDS = 960_000     # the bodies: Macros.random of seeds from here on (the bench's: 900_000 + a few dozen)
TUNING_CAMERAS = [  # distance (m), height (m), yaw (degrees), focal length (mm, 36 mm sensor)
    (3.6, 0.9, -80.0, 26.0), (4.8, 1.4, 35.0, 40.0), (5.5, 1.8, 140.0, 55.0), (3.2, 1.2, 75.0, 22.0),
    (4.0, 0.7, -20.0, 30.0), (6.5, 2.4, -120.0, 70.0), (4.4, 1.5, 95.0, 35.0), (3.9, 1.1, -55.0, 24.0)]
CLIPS_PER_SOURCE = 4
FRAMES, FIRST_FRAME, MIN_CLIP_FRAMES = 120, 60, 150
PICK_SEED = 40             # which validation clips are drawn


def pick_clips(clips: list[Clip], per_source: int = CLIPS_PER_SOURCE, seed: int = PICK_SEED) -> list[Clip]:
    """Up to ``per_source`` clips of every source, of ``MIN_CLIP_FRAMES`` or more (each render takes ``FRAMES``
    of them, from ``FIRST_FRAME`` where the clip is long enough, else its last ``FRAMES``)."""
    rng = np.random.default_rng(seed)
    picked = []
    for source in sorted({c.source for c in clips}):
        long_enough = [c for c in clips if c.source == source and len(c.positions) >= MIN_CLIP_FRAMES]
        if long_enough:
            picked += [long_enough[i] for i in rng.choice(len(long_enough), size=min(per_source, len(long_enough)),
                                                          replace=False)]
    return picked


def make(data: str, out: str) -> list[str]:
    """Render and detect every picked clip not yet in ``out``; returns the folders."""
    from .bench_accuracy import detect_render
    from .datasets import load_clips
    from .rig_corpus.build import built_addon_bake
    from .synth.render_body import render_body_clip

    clips = pick_clips(load_clips(data, ("validation",)))
    if not clips:
        raise SystemExit(f"{data} has no validation clip of {MIN_CLIP_FRAMES} frames or more")
    bake, folders = None, []
    for number, clip in enumerate(clips):
        distance, height, yaw, focal = TUNING_CAMERAS[number % len(TUNING_CAMERAS)]
        folder = os.path.join(out, f"{clip.name}_{number}")
        if not os.path.isfile(os.path.join(folder, "truth.npz")):
            bake = bake or built_addon_bake()
            start = min(FIRST_FRAME, len(clip.positions) - FRAMES)
            render_body_clip(clip.positions[start:start + FRAMES], folder, TUNING_SEEDS + number, distance, height,
                             yaw, focal, addon_bake=bake, clip_name=clip.name)
        if not os.path.isfile(os.path.join(folder, "track.npz")):
            fps = float(np.load(os.path.join(folder, "truth.npz"))["fps"])
            detect_render(os.path.join(folder, "video.mp4"), fps).save(os.path.join(folder, "track.npz"))
        folders.append(folder)
        print(f"{number + 1}/{len(clips)} {folder}", flush=True)
    return folders


def evaluate_folder(folder: str, lifter: PoseLifter, options: PipelineOptions | None = None) -> dict:
    """P1 and MPJVE (mm) of ours and mediapipe's on the frames where mediapipe found the person, and the
    world grounding figures of the bench (``training.bench_grounding.render_report``)."""
    from core.keypoints import KeypointTrack
    from core.pipeline import PipelineOptions, lift_track
    from .bench_accuracy import pose_metrics
    from .bench_grounding import render_report

    track, truth = KeypointTrack.load(os.path.join(folder, "track.npz")), np.load(os.path.join(folder, "truth.npz"))
    options = dataclasses.replace(options or PipelineOptions(), focal_mm=float(truth["focal_mm"]), sensor_mm=36.0,
                                  preview=False)
    result = lift_track(track, lifter, options)
    true_relative = truth["joints_camera"] - truth["joints_camera"][:, :1]
    seen = np.isfinite(track.joints_3d).all(axis=(1, 2))
    ours = result.joints_camera - result.joints_camera[:, :1]
    return {"clip": os.path.basename(folder), "frames": int(seen.sum()),
            "ours": pose_metrics(ours[seen], true_relative[seen]) if seen.sum() > 1 else None,
            "mediapipe": pose_metrics(track.joints_3d[seen], true_relative[seen]) if seen.sum() > 1 else None,
            "grounding": render_report(result, dict(truth))}


def pipeline_options(arguments: str) -> PipelineOptions:
    """The pipeline's options from its own command-line flags (``core.pipeline``'s parser and checks)."""
    from core.options import check_options
    from core.pipeline import parse_args

    options = parse_args(["tuning.mp4", "--out", "unused", *shlex.split(arguments)])[1]
    check_options(options)
    return options


def evaluate(out: str, model: str, options: PipelineOptions | None = None) -> dict:
    """Every tuning render in ``out`` through the pipeline with ``options`` (its defaults if None), and the
    frame-weighted means."""
    from core.inference import PoseLifter
    from .bench_accuracy import average
    from .bench_grounding import summarize

    folders = sorted(os.path.join(out, name) for name in os.listdir(out)
                     if os.path.isfile(os.path.join(out, name, "track.npz"))) if os.path.isdir(out) else []
    if not folders:
        raise SystemExit(f"no tuning renders in {out} (python -m training.tuning_renders --data DATA --out {out})")
    lifter = PoseLifter.from_file(model)
    rows = [row for row in (evaluate_folder(folder, lifter, options) for folder in folders) if row["ours"]]
    mean = {who: average(rows, who) for who in ("ours", "mediapipe")}
    return {"model": model, "renders": len(rows), "frames": sum(row["frames"] for row in rows), **mean,
            "p1_ratio_to_mediapipe": round(mean["ours"]["p1"] / mean["mediapipe"]["p1"], 3),
            "grounding": summarize([row["grounding"] for row in rows]), "per_render": rows}


def main(argv: list[str] | None = None) -> dict | list[str]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "runs", "tuning"), help="the tuning renders' folder")
    parser.add_argument("--data", help="the prepared mocap (python -m training.prepare_data): render what is missing")
    parser.add_argument("--evaluate", metavar="MODEL", help="a lifter's weights: P1 against mediapipe and the grounding figures on every render")
    parser.add_argument("--pipeline", default="", metavar="FLAGS",
                        help='the pipeline\'s own flags for the evaluation: --pipeline="--detector-3d 0.7 --smooth 13"')
    args = parser.parse_args(argv)
    if not args.data and not args.evaluate:
        parser.error("give --data (to render) and/or --evaluate MODEL")
    for path, what in ((args.data, "--data"), (args.evaluate, "--evaluate")):
        if path and not os.path.isfile(path):
            parser.error(f"{what}: no such file {path}")
    try:
        options = pipeline_options(args.pipeline)
    except SystemExit:   # the pipeline's parser has said what it could not read
        parser.error(f"--pipeline: cannot read {args.pipeline!r}")
    except ValueError as exc:   # OptionError: a value out of range
        parser.error(f"--pipeline: {exc}")
    done = make(args.data, args.out) if args.data else []
    if not args.evaluate:
        return done
    report = evaluate(args.out, args.evaluate, options)
    report["pipeline"] = args.pipeline
    for row in report["per_render"]:
        print(f"{row['clip']:<50} {row['frames']:4d} frames  ours {row['ours']['p1']:6.1f}  "
              f"mediapipe {row['mediapipe']['p1']:6.1f}  travelled {row['grounding']['distance_travelled_m']:5.2f} m "
              f"(truth {row['grounding']['truth_distance_travelled_m']:5.2f})")
    print(json.dumps({k: v for k, v in report.items() if k != "per_render"}))
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
