"""End-to-end speed and peak memory of the video pipeline.

    python -m training.bench_pipeline                       # the demo clip at its resolution
    python -m training.bench_pipeline --loop-minutes 60     # the demo looped to one hour (memory check)

Runs ``core.pipeline`` from scratch (no detection cache) in this process and prints frames/s
per stage and end to end, and the process's peak resident memory. A looped clip is written
once by a child process (OpenCV re-encoding) into ``data/bench/`` and reused.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile

from core import pipeline
from core.video import probe
from training.reports import print_and_save

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "data", "demo", "demo.mp4")

LOOP_SCRIPT = """
import sys, cv2
source, target, frames_wanted = sys.argv[1], sys.argv[2], int(sys.argv[3])
probe = cv2.VideoCapture(source)
size = (int(probe.get(cv2.CAP_PROP_FRAME_WIDTH)), int(probe.get(cv2.CAP_PROP_FRAME_HEIGHT)))
fps = probe.get(cv2.CAP_PROP_FPS)
probe.release()
writer = cv2.VideoWriter(target, cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
written = 0
while written < frames_wanted:
    capture = cv2.VideoCapture(source)
    while written < frames_wanted:
        ok, frame = capture.read()
        if not ok:
            break
        writer.write(frame)
        written += 1
    capture.release()
writer.release()
"""


def looped_video(source: str, minutes: float) -> str:
    info = probe(source)
    frames = int(round(minutes * 60 * info.fps))
    target = os.path.join(ROOT, "data", "bench", f"{os.path.splitext(os.path.basename(source))[0]}_{minutes:g}min.mp4")
    if os.path.isfile(target) and probe(target).frame_count >= frames:
        return target
    os.makedirs(os.path.dirname(target), exist_ok=True)
    subprocess.run([sys.executable, "-c", LOOP_SCRIPT, source, target + ".partial.mp4", str(frames)], check=True)
    os.replace(target + ".partial.mp4", target)
    return target


def peak_memory_mb() -> float:
    """This process's peak resident memory. Read from /proc (VmHWM), which exec resets; getrusage's
    ru_maxrss would carry over a parent's peak into a child started with subprocess."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", default=DEMO)
    parser.add_argument("--loop-minutes", type=float, default=0, help="loop the clip to this length first")
    parser.add_argument("--no-preview", action="store_true")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if not os.path.isfile(args.video):
        parser.error(f"{args.video} not found (make data/demo/demo.mp4 fetches the demo clip)")
    video = looped_video(args.video, args.loop_minutes) if args.loop_minutes else args.video
    out = tempfile.mkdtemp(prefix="bench_pipeline_")
    try:
        options = pipeline.PipelineOptions(preview=not args.no_preview)
        result, _ = pipeline.run(video, out, options, quiet=True)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    frames, t = result.keypoints.num_frames, result.timings
    info = probe(video)
    report = {
        "video": os.path.relpath(video, ROOT), "frames": frames, "resolution": f"{info.width}x{info.height}",
        "cpu_count": os.cpu_count(),
        "detection_fps": round(frames / t["detect_s"], 1),
        "lifting_and_cleanup_fps": round(frames / (t["lift_s"] + t["post_s"]), 1),
        "preview_fps": round(frames / t["preview_s"], 1) if "preview_s" in t else None,
        "end_to_end_fps": round(frames / t["total_s"], 1),
        "end_to_end_s": round(t["total_s"], 1),
        "peak_rss_mb": round(peak_memory_mb(), 1),
    }
    return print_and_save(report, args.json)


if __name__ == "__main__":
    main()
