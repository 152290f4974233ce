"""The video pipeline as a user runs it: speed against detection alone, resuming, memory, install size.

    python -m training.bench_runtime --data runs/data/mocap.npz [--quick] [--json FILE]

Every figure comes from processes started fresh, timed from launch to exit, as a user would:

- **Speed.** Detection alone (mediapipe's pose tracker over every frame in the simplest loop:
  decode, convert, detect; one instance) and the whole pipeline (``python -m core.pipeline``
  with its defaults, preview included) on the same clip in the same run, alternately, 3 times
  each (median). On the demo clip (1768x994, two people) and on a 1080p render of one person
  (a held-out mocap clip on the bench's mannequin, ``--data`` needed; it is rendered once).
- **Resuming.** The pipeline on the demo looped to one minute is interrupted (Ctrl-C, SIGINT)
  once half of the frames are detected, then run again: the share of detection work done twice.
  The same after a kill (SIGKILL), which loses the frames not yet saved in a chunk.
- **Memory.** Peak resident memory of the pipeline on the demo looped to 1, 3 and 10 minutes.
- **Add-on.** Blender's Video to Animation on the demo clip (``training.bench_bake --flow-only``).
- **Install.** Size of a fresh environment made from ``requirements-runtime.txt`` as ``make demo`` does.

``--quick`` runs each speed pair once, resumes on 30 s and measures memory on 15 and 30 s clips.
The machine's load average is recorded before each measurement.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from core.detection import DEFAULT_MAX_PEOPLE, task_model_path
from core.detection_cache import frames_kept
from core.video import probe

from .bench_pipeline import looped_video
from .reports import print_and_save

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "data", "demo", "demo.mp4")
RENDER_1080P = os.path.join(ROOT, "data", "bench", "renders", "single_person_1080p")

# The reference: what a user gets from mediapipe alone, with nothing of ours in the loop: the
# pipeline's default detector (the Tasks API's pose landmarker with the bundled full model, looking
# for as many people as the pipeline does).
DETECT_ALONE = """
import sys
import cv2
import mediapipe as mp
from mediapipe.tasks.python import BaseOptions, vision
options = vision.PoseLandmarkerOptions(base_options=BaseOptions(model_asset_path=sys.argv[2]),
                                       running_mode=vision.RunningMode.VIDEO, num_poses=int(sys.argv[3]))
landmarker = vision.PoseLandmarker.create_from_options(options)
capture, frames = cv2.VideoCapture(sys.argv[1]), 0
while True:
    ok, frame = capture.read()
    if not ok:
        break
    image = mp.Image(image_format=mp.ImageFormat.SRGB, data=cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    landmarker.detect_for_video(image, int(frames * 1000 / 30))
    frames += 1
print(frames)
"""


def load_average() -> float:
    with open("/proc/loadavg") as handle:
        return float(handle.read().split()[0])


def timed(command: list[str]) -> tuple[float, float, str, str]:
    """Wall seconds from launch to exit, peak resident MB (of that process alone), stdout, stderr."""
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = [], []
    readers = [threading.Thread(target=lambda s=stream, b=buffer: b.append(s.read()))
               for stream, buffer in ((child.stdout, out), (child.stderr, err))]
    for reader in readers:
        reader.start()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    for reader in readers:
        reader.join()
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({child.returncode}): {''.join(err)[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, "".join(out), "".join(err)


def pipeline_command(video: str, out: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "core.pipeline", video, "--out", out, *extra]


def speed_pair(video: str, repeats: int) -> dict:
    """Detection alone and the whole pipeline, alternately, on one clip; medians of wall time."""
    info = probe(video)
    frames = info.frame_count
    alone, whole, loads = [], [], []
    for _ in range(repeats):
        loads.append(load_average())
        alone.append(timed([sys.executable, "-c", DETECT_ALONE, video, task_model_path("full"),
                            str(DEFAULT_MAX_PEOPLE)])[0])
        out = tempfile.mkdtemp(prefix="bench_runtime_")
        try:
            whole.append(timed(pipeline_command(video, out))[0])
        finally:
            shutil.rmtree(out, ignore_errors=True)
    alone_s, whole_s = statistics.median(alone), statistics.median(whole)
    return {"video": os.path.relpath(video, ROOT), "frames": frames, "resolution": f"{info.width}x{info.height}",
            "detection_alone_fps": round(frames / alone_s, 1), "pipeline_fps": round(frames / whole_s, 1),
            "pipeline_over_detection": round(alone_s / whole_s, 3),
            "detection_alone_s": [round(s, 2) for s in alone], "pipeline_s": [round(s, 2) for s in whole],
            "load_average_before": loads}


def single_person_1080p(data: str | None) -> str | None:
    """A 1080p render of the held-out actor's longest clip, 300 frames (rendered once, then reused)."""
    video = os.path.join(RENDER_1080P, "video.mp4")
    if os.path.isfile(video):
        return video
    if not data or not os.path.isfile(data):
        return None
    from .datasets import load_clips
    clip = max(load_clips(data, ("test_actor",)), key=lambda c: len(c.positions))  # the held-out actor's longest
    subprocess.run([sys.executable, "-c", RENDER_SCRIPT, data, clip.name, RENDER_1080P], check=True, cwd=ROOT)
    return video


RENDER_SCRIPT = """
import sys
from training.datasets import load_clips
from training.render_mocap import render_clip
data, name, folder = sys.argv[1:]
clip = next(c for c in load_clips(data, ("test_actor",)) if c.name == name)
render_clip(clip.positions[:300], 30.0, folder, distance=7.0, height=1.5, yaw_deg=20.0, focal_mm=30.0, size=(1920, 1080))
"""


def interrupted_then_resumed(video: str, how: signal.Signals) -> dict:
    """Stop the pipeline once half of the frames are saved in its cache, run it again, count the work done twice.

    The stop is triggered by the cache on disk, not by the progress bar (whose output a pipe may
    hold back); the frames detected before the stop are read from the run's last progress count.
    """
    frames = probe(video).frame_count
    out = tempfile.mkdtemp(prefix="bench_resume_")
    cache = os.path.join(out, ".cache", "detections")
    try:
        # Ctrl-C's default action restored in the child: a bench started in the background (a
        # non-interactive shell's "&") passes SIGINT on ignored, and the run would not stop.
        child = subprocess.Popen(pipeline_command(video, out, "--no-preview"), cwd=ROOT, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        output: list[bytes] = []
        reader = threading.Thread(target=lambda: output.extend(iter(lambda: child.stderr.read(4096), b"")), daemon=True)
        reader.start()
        while child.poll() is None:
            if os.path.isdir(cache) and frames_kept(cache) >= frames // 2:
                child.send_signal(how)
                break
            time.sleep(0.02)
        child.wait()
        reader.join()
        counts = re.findall(r"detecting 2D:.*?\|\s*(\d+)/(\d+)", b"".join(output).decode(errors="replace"))
        done = max([int(c[0]) for c in counts] + [0])
        kept = frames_kept(cache)
        done = max(done, kept)  # a killed run's last progress line may not have reached the pipe
        seconds, _, _, _ = timed(pipeline_command(video, out, "--no-preview"))
        with open(os.path.join(out, "run.json")) as handle:
            rerun = json.load(handle)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    redone = done + rerun["frames_detected"] - frames
    return {"signal": how.name, "frames": frames, "detected_before_stop": done, "kept_after_stop": kept,
            "detected_by_rerun": rerun["frames_detected"], "from_cache_in_rerun": rerun["frames_from_cache"],
            "redone_pct": round(100.0 * redone / frames, 2), "rerun_s": round(seconds, 1)}


def peak_memory(minutes: list[float]) -> list[dict]:
    rows = []
    for length in minutes:
        video = looped_video(DEMO, length)
        out = tempfile.mkdtemp(prefix="bench_memory_")
        try:
            load = load_average()
            seconds, peak_mb, _, _ = timed(pipeline_command(video, out))
        finally:
            shutil.rmtree(out, ignore_errors=True)
        frames = probe(video).frame_count
        rows.append({"minutes": length, "frames": frames, "peak_rss_mb": round(peak_mb, 1), "seconds": round(seconds, 1),
                     "pipeline_fps": round(frames / seconds, 1), "load_average_before": load})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def runtime_environment_mb() -> dict:
    """A fresh environment from requirements-runtime.txt, made as ``make demo`` makes it, measured, removed."""
    folder = tempfile.mkdtemp(prefix="bench_env_")
    env = os.path.join(folder, "venv")
    try:
        python = os.path.join(env, "bin", "python")
        subprocess.run([sys.executable, "-m", "venv", env], check=True)
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "check": True, "cwd": ROOT}
        subprocess.run([python, "-m", "pip", "install", "-q", "--upgrade", "pip"], **quiet)
        subprocess.run([python, "-m", "pip", "install", "-q", "-r", "requirements-runtime.txt"], **quiet)
        subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "mediapipe==0.10.21"], **quiet)
        total = sum(os.path.getsize(os.path.join(path, name)) for path, _, names in os.walk(env) for name in names
                    if not os.path.islink(os.path.join(path, name)))
        check = subprocess.run([python, "-c", "import core.pipeline, core.detection; core.detection.import_mediapipe()"],
                               cwd=ROOT, capture_output=True, text=True)
        return {"demo_env_mb": round(total / 2 ** 20, 1), "imports_the_pipeline": check.returncode == 0}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def addon_flow() -> dict:
    """Blender's Video to Animation on the demo clip, in a fresh Blender user folder (no cached detections)."""
    with tempfile.TemporaryDirectory(prefix="bench_blender_user_") as user, \
            tempfile.NamedTemporaryFile(suffix=".json") as report:
        subprocess.run([sys.executable, "-m", "training.bench_bake", "--flow-only", "--json", report.name], check=True,
                       cwd=ROOT, stdout=subprocess.DEVNULL, env={**os.environ, "BLENDER_USER_RESOURCES": user})
        flow = json.load(open(report.name))
    flow["addon_video_to_animation_fps"] = round(flow["demo_frames_baked"] / flow["video_to_animation_s"], 1)
    return flow


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="prepared clips, for the 1080p single-person render")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if not os.path.isfile(DEMO):
        parser.error(f"{DEMO} not found (make data/demo/demo.mp4 fetches the demo clip)")
    repeats = 1 if args.quick else 3
    report = {"cpu_count": os.cpu_count(), "quick": args.quick}
    report["demo"] = speed_pair(DEMO, repeats)
    print(json.dumps(report["demo"]), flush=True)
    render = single_person_1080p(args.data)
    if render is not None:
        report["single_person_1080p"] = speed_pair(render, repeats)
        print(json.dumps(report["single_person_1080p"]), flush=True)
    resume_clip = looped_video(DEMO, 0.5 if args.quick else 1.0)
    report["resume"] = [interrupted_then_resumed(resume_clip, how) for how in (signal.SIGINT, signal.SIGKILL)]
    print(json.dumps(report["resume"]), flush=True)
    report["memory"] = peak_memory([0.25, 0.5] if args.quick else [1.0, 3.0, 10.0])
    report["addon"] = addon_flow()
    report["environment"] = runtime_environment_mb()
    keys = {
        "pipeline_over_detection": report["demo"]["pipeline_over_detection"],
        "pipeline_fps_demo": report["demo"]["pipeline_fps"],
        "detection_alone_fps_demo": report["demo"]["detection_alone_fps"],
        "addon_video_to_animation_fps": report["addon"]["addon_video_to_animation_fps"],
        "resume_redone_pct": report["resume"][0]["redone_pct"],
        "resume_redone_pct_after_kill": report["resume"][1]["redone_pct"],
        "demo_env_mb": report["environment"]["demo_env_mb"],
    }
    if "single_person_1080p" in report:
        keys["pipeline_fps_1080p"] = report["single_person_1080p"]["pipeline_fps"]
        keys["pipeline_over_detection_1080p"] = report["single_person_1080p"]["pipeline_over_detection"]
    longest = max(report["memory"], key=lambda row: row["minutes"])
    keys["peak_rss_mb_10min" if longest["minutes"] >= 10 else f"peak_rss_mb_{longest['minutes']:g}min"] = longest["peak_rss_mb"]
    report["keys"] = keys
    return print_and_save(report, args.json)


if __name__ == "__main__":
    main()
