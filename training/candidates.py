"""Compare candidate lifters off the test, as the model card's trials are compared before one is shipped.

- ``validation``: the validation subset's clips through their fixed views with clean 2D, P1 per mocap
  source and over every source but Bandai (the analogue of the bench's held-out key,
  ``lifting_heldout_source_p1_clean_mm``, which reads the test subsets);
- ``unseen_chunks``: the data engine's chunks that none of the candidates trained on (the
  ``synth_chunks`` of their metadata) through the pipeline: the detector's 2D of rendered bodies,
  P1 on the frames where the detector found the body;
- ``tuning``: the tuning renders (``training.tuning_renders``), when their folder is given: P1, P2 and the
  world grounding figures that issue 13 set limits for (distance travelled, root after alignment).

The bench's renders and test subsets stay out: they measure the shipped model once it is chosen.

    python -m training.candidates --data runs/data/mocap.npz --synth runs/synth/train --tuning runs/tuning \\
        core/weights/default.npz runs/stage19/model.npz
"""
from __future__ import annotations

import argparse
import json
import os
from collections import defaultdict

import numpy as np

from core.inference import PoseLifter
from core.weights import load_weights

from .augment import CLEAN
from .datasets import load_clips
from .evaluation import clip_view
from .synth.windows import chunk_index, chunk_paths, follow_main_body

MIN_FOUND_FRAMES = 30     # a chunk whose body the detector found in fewer frames says little


def validation_p1(lifter: PoseLifter, clips: list) -> dict:
    """P1 (mm) with clean 2D per source and over every source but Bandai, frame-weighted."""
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    for clip in clips:
        view = clip_view(clip, CLEAN)
        errors = np.linalg.norm(lifter.lift(view.inputs_2d[0]) - view.poses_3d[0], axis=-1).mean(axis=1)
        for key in (clip.source, "not_bandai" if clip.source != "bandai" else None):
            if key:
                sums[key][0] += float(errors.sum())
                sums[key][1] += len(errors)
    return {key: round(1000 * total / frames, 2) for key, (total, frames) in sorted(sums.items())}


def unseen_chunk_paths(folder: str, models: list[str]) -> list[str]:
    """The chunks of ``folder`` that no model of ``models`` learnt from."""
    seen = set()
    for model in models:
        seen |= set(load_weights(model).metadata.get("synth_chunks", []))
    return [path for path in chunk_paths(folder) if chunk_index(path) not in seen]


def chunk_p1(lifter: PoseLifter, paths: list[str], min_found: int = MIN_FOUND_FRAMES) -> dict:
    """P1 (mm) of the pipeline on the chunks' main bodies, frames where the detector found the body."""
    from core.keypoints import KeypointError, KeypointTrack
    from core.pipeline import PipelineOptions, lift_track

    errors, used = [], 0
    for path in paths:
        with np.load(path, allow_pickle=False) as chunk:
            positions, confidence = follow_main_body(chunk)
            found = confidence.max(axis=1) > 0
            if found.sum() < min_found:
                continue
            width, height = int(chunk["width"]), int(chunk["height"])
            track = KeypointTrack(positions.astype(np.float64), confidence.astype(np.float64), width, height,
                                  float(chunk["fps"]))
            options = PipelineOptions(focal_mm=float(chunk["intrinsics_px"][0]) * 36.0 / width, sensor_mm=36.0,
                                      preview=False)
            truth = chunk["truth_camera"][:, 0].astype(np.float64)
        try:
            result = lift_track(track, lifter, options)
        except KeypointError:
            continue
        ours = result.joints_camera - result.joints_camera[:, :1]
        errors.append(np.linalg.norm(ours[found] - (truth - truth[:, :1])[found], axis=-1).mean(axis=1))
        used += 1
    if not errors:
        return {"chunks": 0, "frames": 0, "p1": None}
    errors = np.concatenate(errors)
    return {"chunks": used, "frames": len(errors), "p1": round(1000 * float(errors.mean()), 2)}


def compare(models: list[str], data: str, synth: str | None = None, tuning: str | None = None) -> list[dict]:
    """One row per model: ``validation``, ``unseen_chunks`` (with ``synth``) and ``tuning`` (with ``tuning``)."""
    clips = load_clips(data, ("validation",))
    chunks = unseen_chunk_paths(synth, models) if synth else []
    rows = []
    for model in models:
        lifter = PoseLifter.from_file(model)
        row = {"model": model, "validation": validation_p1(lifter, clips)}
        if synth:
            row["unseen_chunks"] = chunk_p1(lifter, chunks)
        if tuning:
            from .tuning_renders import evaluate
            report = evaluate(tuning, model)
            grounding = report["grounding"]
            row["tuning"] = {"p1": report["ours"]["p1"], "p2": report["ours"]["p2"],
                             "p1_ratio_to_mediapipe": report["p1_ratio_to_mediapipe"],
                             "distance_travelled_error_pct": grounding["distance_travelled_error_pct"],
                             "root_error_after_alignment_mm": grounding["root_error_after_alignment_mm"]}
        rows.append(row)
    return rows


def markdown(rows: list[dict]) -> str:
    """The comparison as a table, P1 in mm."""
    lines = ["| model | validation, not Bandai | unseen chunks | tuning renders (P2) | tuning: distance travelled, root |",
             "|---|---|---|---|---|"]
    for row in rows:
        chunks, tuning = row.get("unseen_chunks"), row.get("tuning")
        chunk_text = chunks["p1"] if chunks and chunks["p1"] is not None else "-"
        tuning_text = f"{tuning['p1']} ({tuning['p2']})" if tuning else "-"
        grounding_text = (f"{tuning['distance_travelled_error_pct']} %, {tuning['root_error_after_alignment_mm']}"
                          if tuning else "-")
        lines.append(f"| {row['model']} | {row['validation'].get('not_bandai', '-')} | {chunk_text} | {tuning_text} "
                     f"| {grounding_text} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="weights files to compare")
    parser.add_argument("--data", required=True, help="prepared clips (python -m training.prepare_data)")
    parser.add_argument("--synth", help="the data engine's chunks (runs/synth/train)")
    parser.add_argument("--tuning", help="the tuning renders (python -m training.tuning_renders)")
    args = parser.parse_args(argv)
    missing = [path for path in [*args.models, args.data] if not os.path.isfile(path)]
    missing += [path for path in (args.synth, args.tuning) if path and not os.path.isdir(path)]
    if missing:
        parser.error(f"not found: {', '.join(missing)}")
    rows = compare(args.models, args.data, args.synth, args.tuning)
    for row in rows:
        print(json.dumps(row))
    print(markdown(rows))
    return rows


if __name__ == "__main__":
    main()
