"""Lifting demo on the shipped model: a held-out mocap clip, seen through a virtual camera with
detector-like 2D noise, lifted to 3D by the numpy engine (as the Blender add-on runs it).

    python -m training.demo_lifting --out output/demo

Writes the 2D input, the lifted 3D, the root trajectory and the ground truth (``lifted.npz``) and
a figure of a few frames side by side (``lifted.png``), and prints P1/P2/MPJVE and speed.
"""
from __future__ import annotations

import argparse
import os
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from core.inference import PoseLifter  # noqa: E402
from core.skeleton import H36M_SKELETON  # noqa: E402

from .augment import DETECTOR_LIKE  # noqa: E402
from .datasets import BANDAI_ARCHIVE, read_bandai  # noqa: E402
from .evaluation import MetricSums, clip_view  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODEL = os.path.join(ROOT, "core", "weights", "default.npz")
DEFAULT_DATA = os.path.join(ROOT, "..", "shared", "data")


def first_test_clip(data_dir: str, content: str, min_frames: int = 120):
    """The first clip of the held-out actor doing ``content`` (walking by default)."""
    archive = os.path.join(data_dir, BANDAI_ARCHIVE)
    if not os.path.isfile(archive):
        raise FileNotFoundError(f"demo data not found: {archive} (pass --data FOLDER holding {BANDAI_ARCHIVE})")
    for clip in read_bandai(archive):
        if clip.subset == "test_actor" and clip.labels["content"] == content and len(clip.positions) >= min_frames:
            return clip
    raise ValueError(f"no held-out clip of '{content}' with {min_frames}+ frames in {archive}")


def draw(inputs_2d: np.ndarray, predicted: np.ndarray, truth: np.ndarray, path: str, frames: list[int]) -> None:
    figure = plt.figure(figsize=(4 * len(frames), 8))
    for column, frame in enumerate(frames):
        axis = figure.add_subplot(2, len(frames), column + 1)
        for child, parent in H36M_SKELETON.bones():
            axis.plot(*inputs_2d[frame, [parent, child]].T, color="tab:blue")
        axis.invert_yaxis()
        axis.set_aspect("equal")
        axis.set_title(f"2D input, frame {frame}")
        axis3d = figure.add_subplot(2, len(frames), len(frames) + column + 1, projection="3d")
        for pose, colour, label in ((truth, "black", "ground truth"), (predicted, "tab:red", "lifted")):
            for i, (child, parent) in enumerate(H36M_SKELETON.bones()):
                # camera axes: x right, y down, z forward -> plot x, z, -y
                segment = pose[frame, [parent, child]]
                axis3d.plot(segment[:, 0], segment[:, 2], -segment[:, 1], color=colour, label=label if i == 0 else None)
        axis3d.set_box_aspect((1, 1, 1))
        axis3d.set_xlim(-1, 1), axis3d.set_ylim(-1, 1), axis3d.set_zlim(-1, 1)
        axis3d.view_init(elev=10, azim=-80)
        if column == 0:
            axis3d.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--data", default=DEFAULT_DATA, help="folder holding the shared mocap archives")
    parser.add_argument("--content", default="walk", help="motion type of the held-out clip")
    parser.add_argument("--out", default=os.path.join(ROOT, "output", "demo"))
    args = parser.parse_args(argv)

    lifter = PoseLifter.from_file(args.model)
    clip = first_test_clip(args.data, args.content)
    view = clip_view(clip, DETECTOR_LIKE)
    inputs_2d, truth = view.inputs_2d[0], view.poses_3d[0]
    started = time.perf_counter()
    predicted = lifter.lift(inputs_2d)
    root = lifter.trajectory(inputs_2d) if lifter.trajectory_model is not None else None
    seconds = time.perf_counter() - started
    metrics = MetricSums()
    metrics.add_predictions(predicted, root, truth, view.roots[0])
    result = {"clip": clip.name, **metrics.result(), "lift_frames_per_s": round(len(inputs_2d) / seconds, 1)}

    os.makedirs(args.out, exist_ok=True)
    np.savez(os.path.join(args.out, "lifted.npz"), keypoints_2d=inputs_2d, poses_3d=predicted,
             root_trajectory=root if root is not None else np.zeros((0, 3)), ground_truth=truth,
             joint_names=np.array(H36M_SKELETON.names))
    frames = [int(f) for f in np.linspace(0, len(inputs_2d) - 1, 4)]
    draw(inputs_2d, predicted, truth, os.path.join(args.out, "lifted.png"), frames)
    print(f"clip {clip.name} ({len(inputs_2d)} frames, held-out actor, detector-like 2D noise)")
    print(f"P1 {result['p1']:.1f} mm   P2 {result['p2']:.1f} mm   MPJVE {result['mpjve']:.2f} mm"
          + (f"   root error {result['root_error']:.0f} mm" if "root_error" in result else ""))
    print(f"lifting with flip augmentation: {result['lift_frames_per_s']:.0f} frames/s (numpy engine)")
    print(f"written {args.out}/lifted.npz and lifted.png")
    return result


if __name__ == "__main__":
    main()
