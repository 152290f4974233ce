"""Tracking benchmark: identities on rendered clips of several people, the demo clip, and left/right swaps.

    python -m training.bench_tracking --data runs/data/mocap.npz [--quick] [--json results/tracking.json]

- Rendered clips (MakeHuman bodies of the data engine, ``training.synth.render_body``, each its own
  body and clothes; Bandai Namco walks put on straight crossing paths; truth: each posed body's
  canonical joints): two people crossing with one passing behind the other, and three people
  crossing. Detection and tracking exactly as the pipeline does
  them (two workers, ``core.people.select_people``). Each track is matched per frame to the truth
  person whose projected joints it is nearest; an identity switch is a truth person's track id
  changing; the chosen person (``--person longest``) is missed in a frame where that truth person
  is in view and the chosen track is not on them.
- The demo clip (two people): identity switches of the chosen track, by a hand-made rule of where
  each person is (the man on the box up to frame 175, then right of x = 900 after his jump; the
  woman on the ground), and the number of people ``--all-people`` animates.
- Side views of a walk: the share of frames whose left and right legs or arms are exchanged
  against the truth as detected, after the pipeline's repair (the 2D's proposals the lifter
  confirms, ``core.swap_check``), and after all of the 2D's proposals (``core.tracking.proposed_swaps``).
- The data engine's chunks (``training.synth.engine``; random bodies, motions and cameras, with
  the detector's output stored), where present (``--synth``, default ``runs/synth/train``), but
  not those the shipped lifter was trained on: the frames each repair exchanges rightly and
  wrongly, against the true joints.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import tempfile
import time

import numpy as np

from core.camera import project_to_2d, project_to_2d_linear
from core.detection import DetectorFactory
from core.inference import PoseLifter
from core.keypoints import PeopleDetections
from core.options import DEFAULT_MODEL
from core.parallel_detection import detect_video_cached
from core.people import select_people
from core.swap_check import confirmed_swaps
from core.tracking import (LIMB_PAIRS, SEEN, PersonTrack, apply_swaps, limb_joints, person_size, proposed_swaps,
                           track_people)

from .reports import print_and_save
from .synth.windows import chunk_index, chunk_paths, follow_main_body
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RENDERS = os.path.join(ROOT, "data", "bench", "renders")
DEMO = os.path.join(ROOT, "data", "demo", "demo.mp4")
# (name, [(clip content, start x, depth y, direction in degrees)], camera yaw)
SCENES = [
    ("tracking_cross2", [("walk_normal", -2.2, 0.0, 0.0), ("walk_happy", 2.2, 1.2, 180.0)], 0.0),
    ("tracking_cross3", [("walk_normal", -2.2, 0.0, 0.0), ("walk_sad", 2.2, 1.0, 180.0),
                         ("walk_proud", -1.5, 2.2, 10.0)], 0.0),
]
SIDE_VIEWS = [("tracking_side_walk", "walk_normal", 0.0), ("tracking_side_walk_tired", "walk_tired", 180.0)]


def _clip(clips, content: str, frames: int) -> np.ndarray:
    for clip in clips:
        if content in clip.name and len(clip.positions) >= frames:
            return np.asarray(clip.positions[:frames], np.float64)
    raise ValueError(f"no clip with {content!r} and {frames} frames in the data")


def on_path(positions: np.ndarray, start_x: float, depth: float, direction_deg: float) -> np.ndarray:
    """The clip turned so that it travels along ``direction_deg`` (0: +x), starting at (start_x, depth)."""
    travel = positions[-1, 0, :2] - positions[0, 0, :2]
    turn = math.radians(direction_deg) - math.atan2(travel[1], travel[0])
    c, s = math.cos(turn), math.sin(turn)
    rotation = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    moved = (positions - np.array([*positions[0, 0, :2], 0.0])) @ rotation.T
    return moved + np.array([start_x, depth, 0.0])


BODY_SEEDS = 910_000   # the scenes' bodies: Macros.random of seeds from here on (no training chunk draws them)


def render_scene(name: str, people: np.ndarray, yaw: float, distance: float = 4.5, bodies: bool = True) -> tuple[str, dict]:
    """Render (T, N, 17, 3) once into data/bench/renders/NAME (``body_NAME`` with MakeHuman bodies, whose
    own canonical joints are then the truth); returns the video and the truth."""
    from .render_mocap import camera_setup, render
    folder = os.path.join(RENDERS, f"body_{name}" if bodies else name)
    video, truth_path = os.path.join(folder, "video.mp4"), os.path.join(folder, "truth.npz")
    if not (os.path.isfile(video) and os.path.isfile(truth_path)):
        os.makedirs(folder, exist_ok=True)
        if bodies:
            from .synth.render_body import render_bodies
            seeds = [BODY_SEEDS + sum(map(ord, name)) * 10 + k for k in range(people.shape[1])]
            rendered = render_bodies(people, folder, seeds, distance, 1.4, yaw, 28.0)
            camera, intrinsics = rendered["joints_camera"], rendered["intrinsics"]
            people = rendered["joints_world"]
        else:
            center, rotation, intrinsics = camera_setup(people.reshape(-1, 17, 3), distance, 1.4, yaw, 28.0, 960, 540)
            render(people, 30.0, center, rotation, intrinsics, 28.0, video)
            camera = (people - center) @ rotation
        np.savez(truth_path, joints_world=people, pixels=project_to_2d(camera, intrinsics.pixel_vector()),
                 depth=camera[..., 2], width=960, height=540)
    with np.load(truth_path) as data:
        return video, {k: data[k] for k in data.files}


def detect_and_track(video: str, workers: int = 2):
    with tempfile.TemporaryDirectory() as cache:
        run = detect_video_cached(video, cache, DetectorFactory("tasks-full", 30.0), workers=workers)
    return run.people, select_people(run.people, "longest", all_people=True)


CLEARLY_NEARER = 0.7   # a track is on a truth person when at most this share of the distance to the next one


def truth_labels(track: PersonTrack, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(F,) the truth person each frame of ``track`` is on, and how far (sizes); -1 where it is on nobody, or
    where two people overlap so that it is about as near to both (such frames tell nothing about identity)."""
    labels, distance = np.full(len(track.present), -1), np.full(len(track.present), np.inf)
    for frame in np.flatnonzero(track.present):
        seen = track.confidence[frame] >= SEEN
        size = person_size(track.positions[frame], track.confidence[frame])
        to_each = np.array([np.linalg.norm(track.positions[frame][seen] - truth[seen], axis=-1).mean() / size
                            for truth in pixels[frame]])
        nearest = int(np.argmin(to_each))
        distances = np.sort(to_each)
        clear = len(distances) == 1 or distances[0] <= CLEARLY_NEARER * distances[1]
        if distances[0] < 0.5 and clear:
            labels[frame], distance[frame] = nearest, distances[0]
    return labels, distance


def identity_report(selection, truth: dict) -> dict:
    pixels = truth["pixels"]                       # (F, N, 17, 2)
    frames, people = pixels.shape[:2]
    inside = ((pixels[..., 0] > 0) & (pixels[..., 0] < truth["width"]) & (pixels[..., 1] > 0) &
              (pixels[..., 1] < truth["height"])).mean(axis=-1) > 0.8       # (F, N) the person is in view
    owner = np.full((frames, people), -1)          # which track is on each truth person (the nearest)
    nearest = np.full((frames, people), np.inf)
    labels = {}
    for track in selection.tracks:
        track_labels, distance = truth_labels(track, pixels)
        labels[track.id] = track_labels
        for frame in np.flatnonzero(track_labels >= 0):
            if distance[frame] < nearest[frame, track_labels[frame]]:
                owner[frame, track_labels[frame]], nearest[frame, track_labels[frame]] = track.id, distance[frame]
    switches = 0
    for person in range(people):  # a person passing from one track to another
        ids = owner[:, person][owner[:, person] >= 0]
        switches += int((np.diff(ids) != 0).sum())
    for track_labels in labels.values():  # a track passing from one person to another
        on = track_labels[track_labels >= 0]
        switches += int((np.diff(on) != 0).sum())
    chosen = labels[selection.chosen.id]
    chosen_person = int(np.bincount(chosen[chosen >= 0]).argmax()) if (chosen >= 0).any() else 0
    visible = inside[:, chosen_person]
    missed = visible & (chosen != chosen_person)
    person_frames = int(inside.sum())
    return {"frames": frames, "people": people, "tracks": len(selection.tracks), "person_frames": person_frames,
            "identity_switches": switches, "chosen_missed_frames": int(missed.sum()),
            "chosen_visible_frames": int(visible.sum())}


def swapped_frames(track: PersonTrack, pixels: np.ndarray) -> tuple[set[int], int]:
    """Frames whose legs or arms are exchanged against the truth, and how many frames could be told."""
    swapped, judged = set(), 0
    for frame in np.flatnonzero(track.present):
        size = person_size(track.positions[frame], track.confidence[frame])
        verdicts = []
        for limb in LIMB_PAIRS:
            left, right = limb_joints(limb)
            truth_l, truth_r = pixels[frame, left], pixels[frame, right]
            if np.linalg.norm(truth_l - truth_r, axis=-1).mean() < 0.08 * size:
                continue  # left and right overlap in the image: nothing to tell them apart by
            l, r = track.positions[frame, left], track.positions[frame, right]
            as_is = np.linalg.norm(l - truth_l, axis=-1).sum() + np.linalg.norm(r - truth_r, axis=-1).sum()
            exchanged = np.linalg.norm(l - truth_r, axis=-1).sum() + np.linalg.norm(r - truth_l, axis=-1).sum()
            verdicts.append(exchanged < as_is)
        if verdicts:
            judged += 1
            if any(verdicts):
                swapped.add(int(frame))
    return swapped, judged


def repair_report(track: PersonTrack, pixels: np.ndarray, lifter: PoseLifter, width: int, height: int) -> dict:
    """Frames swapped against the truth as detected, and what each repair fixes and breaks."""
    before, judged = swapped_frames(track, pixels)
    proposed = proposed_swaps(track)
    report = {"judged_frames": judged, "swapped": len(before)}
    for name, swaps in (("confirmed", confirmed_swaps(track, proposed, lifter, width, height)), ("2d", proposed)):
        repaired = copy.deepcopy(track)
        apply_swaps(repaired, swaps)
        after, _ = swapped_frames(repaired, pixels)
        report[f"swapped_after_{name}"] = len(after)
        report[f"fixed_{name}"], report[f"broken_{name}"] = len(before - after), len(after - before)
    return report


def engine_chunks_report(folder: str, lifter: PoseLifter) -> dict:
    """``repair_report`` summed over the data engine's chunks in ``folder`` (each chunk's main body), leaving
    out the chunks the lifter was trained on (its metadata's ``synth_chunks``): it has learnt their very 2D."""
    totals: dict = {}
    chunks, trained_on = 0, set(lifter.metadata.get("synth_chunks", []))
    for path in chunk_paths(folder):
        if chunk_index(path) in trained_on:
            continue
        with np.load(path) as chunk:
            positions, confidence = follow_main_body(chunk)
            pixels = project_to_2d_linear(chunk["truth_camera"][:, 0], chunk["intrinsics_px"])
            width, height, fps = int(chunk["width"]), int(chunk["height"]), float(chunk["fps"])
        tracks = track_people(PeopleDetections(positions[:, None], confidence[:, None], width, height, fps))
        if not tracks:
            continue
        chunks += 1
        report = repair_report(max(tracks, key=lambda t: t.frames), pixels, lifter, width, height)
        for key, value in report.items():
            totals[key] = totals.get(key, 0) + value
    return {"chunks": chunks, "left_out_trained_on": len(trained_on), **totals}


def engine_section(folder: str, lifter: PoseLifter) -> dict:
    """``{"engine_chunks": report}``, or where the lifter was trained on every chunk with its body found,
    ``{"engine_chunks_missing": why}``: a figure on 2D the lifter learnt would flatter it."""
    engine = engine_chunks_report(folder, lifter)
    if engine["chunks"]:
        return {"engine_chunks": engine}
    return {"engine_chunks_missing": f"the shipped lifter was trained on every chunk in {folder} with its main body "
                                     "found; make more (python -m training.synth.engine --chunks N)"}


def demo_report() -> dict:
    """Identity switches of the chosen track on the demo, by where the man and the woman are."""
    if not os.path.isfile(DEMO):
        return {}
    people, selection = detect_and_track(DEMO)  # (with all_people: its animated are --all-people's)

    def who(frame: int, x: float, y: float) -> int:  # 0 the man, 1 the woman, -1 cannot tell
        if frame <= 175:
            return 0 if y < 450 else (1 if y > 550 else -1)
        if frame >= 190:
            return 0 if x > 900 else (1 if x < 450 else -1)
        return -1

    chosen = selection.chosen.track
    names = []
    for frame in np.flatnonzero(chosen.present):
        x, y = chosen.positions[frame][chosen.confidence[frame] >= SEEN].mean(axis=0)
        names.append(who(int(frame), float(x), float(y)))
    known = [n for n in names if n >= 0]
    return {"demo_identity_switches": int((np.diff(known) != 0).sum()) if known else 0,
            "demo_chosen_is_the_man": bool(known) and bool(np.bincount(known).argmax() == 0),
            "demo_people_animated_all": len(selection.animated),
            "demo_tracks": [t.summary(people.fps) for t in selection.tracks]}


def run(data: str, quick: bool = False, synth: str | None = None) -> dict:
    from .datasets import load_clips
    frames = 120 if quick else 180
    clips = load_clips(data)
    started = time.time()
    report = {"scenes": {}, "side_views": {}}
    for name, walkers, yaw in (SCENES[:1] if quick else SCENES):
        people = np.stack([on_path(_clip(clips, content, frames), x, y, direction)
                           for content, x, y, direction in walkers], axis=1)
        video, truth = render_scene(f"{name}_{frames}", people, yaw)
        _, selection = detect_and_track(video)
        report["scenes"][name] = identity_report(selection, truth)
    lifter = PoseLifter.from_file(DEFAULT_MODEL)
    for name, content, direction in (SIDE_VIEWS[:1] if quick else SIDE_VIEWS):
        person = on_path(_clip(clips, content, frames), -1.5 if direction == 0 else 1.5, 0.0, direction)
        video, truth = render_scene(f"{name}_{frames}", person[:, None], 0.0, distance=4.0)
        people, selection = detect_and_track(video)
        report["side_views"][name] = repair_report(selection.tracks[0], truth["pixels"][:, 0], lifter,
                                                   people.width, people.height)
    if synth and chunk_paths(synth):
        report.update(engine_section(synth, lifter))
    report["demo"] = demo_report()
    scenes = report["scenes"].values()
    person_frames = sum(s["person_frames"] for s in scenes)
    side = report["side_views"].values()
    judged = max(sum(s["judged_frames"] for s in side), 1)
    report["summary"] = {
        "tracking_identity_switches_per_1000_frames": round(1000 * sum(s["identity_switches"] for s in scenes)
                                                            / max(person_frames, 1), 2),
        "tracking_missed_frames_pct": round(100 * sum(s["chosen_missed_frames"] for s in scenes)
                                            / max(sum(s["chosen_visible_frames"] for s in scenes), 1), 2),
        "lr_swap_frames_pct_before": round(100 * sum(s["swapped"] for s in side) / judged, 2),
        "lr_swap_frames_pct_after": round(100 * sum(s["swapped_after_confirmed"] for s in side) / judged, 2),
        "lr_swap_frames_pct_after_2d_only": round(100 * sum(s["swapped_after_2d"] for s in side) / judged, 2),
        "tracking_demo_identity_switches": report["demo"].get("demo_identity_switches", -1),
        "tracking_demo_people_all": report["demo"].get("demo_people_animated_all", 0),
    }
    if "engine_chunks" in report:
        for key in ("fixed_confirmed", "broken_confirmed", "fixed_2d", "broken_2d"):
            report["summary"][f"lr_repair_engine_{key}_frames"] = report["engine_chunks"][key]
    report["seconds"] = round(time.time() - started, 1)
    return report


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--quick", action="store_true", help="one crossing scene and one side view, 120 frames")
    parser.add_argument("--json", default=None, help="also write the report here")
    parser.add_argument("--synth", default=os.path.join(ROOT, "runs", "synth", "train"),
                        help="the data engine's chunks, for the left/right repair (skipped where there are none)")
    args = parser.parse_args(argv)
    report = run(args.data, args.quick, args.synth)
    report["keys"] = report.pop("summary")
    return print_and_save(json.loads(json.dumps(report, default=float)), args.json)


if __name__ == "__main__":
    main()
