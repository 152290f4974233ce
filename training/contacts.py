"""Foot contacts: their truth from mocap, and the contact network that predicts them from 2D.

    python -m training.contacts --data runs/data/mocap.npz --model core/weights/default.npz \
        --out core/weights/default.npz          # adds (or replaces) the 'contacts' network
    python -m training.contacts --data runs/data/mocap.npz --quick --out /tmp/contacts.npz

Truth: a foot is planted where its ankle moves slower than ``MAX_SPEED`` and is within
``HEIGHT_MARGIN`` of its own lowest point in the surrounding ``LOCAL_SECONDS`` (not of one floor
level for the clip: people climb, stand on boxes and walk on uneven ground): the heel is down.
The toes are planted by the same rule applied to the toe base (the ball of the foot), where the
mocap has one (Bandai Namco's ``Toes``, CMU's foot bones; the Daz conversions have none and
train the heels only). The network has the lifter's shape (a temporal convolution over
normalized 2D keypoints) with four outputs, the logits of the left heel, left toe, right heel
and right toe being planted; it is trained on the same virtual camera views with detector-like
2D noise as the lifter (``augment.make_pairs``), on the ``train`` subset, and scored by F1 on the
held-out subsets, per source, heels and toes apart.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from core.architecture import TemporalModelConfig, parse_filter_widths
from core.cleanup import smooth
from core.inference import HEELS, MIRRORED_CONTACTS, NumpyTemporalModel, contact_probabilities
from core.models import TemporalModel, network_weights
from core.skeleton import ANKLES, H36M_SKELETON, flip_horizontal
from core.weights import WeightsFile, load_weights, save_weights

from .augment import DETECTOR_LIKE, make_pairs, sample_window_frames
from .datasets import TARGET_FPS, load_clips
from .train import command_line

SK = H36M_SKELETON
TOES = [1, 3]                                                # of the outputs: left heel, left toe, right heel, right toe
HEIGHT_MARGIN = 0.05   # metres above the ankle's lowest point nearby
LOCAL_SECONDS = 1.0    # the span, centred on each frame, that "nearby" means
MAX_SPEED = 0.4        # metres per second, of the ankle (3D)


def true_foot_contacts(positions: np.ndarray, fps: float = TARGET_FPS) -> np.ndarray:
    """(T, 2) booleans, left and right foot planted, from mocap joints (T, 17, 3) in metres, Z up."""
    return planted(np.asarray(positions, np.float64)[:, list(ANKLES)], fps)


def planted(points: np.ndarray, fps: float = TARGET_FPS) -> np.ndarray:
    """(T, K) booleans: each of the points (T, K, 3) slow and near its own lowest point nearby."""
    if len(points) < 2:
        return np.zeros(points.shape[:2], bool)
    speed = np.linalg.norm(np.gradient(smooth(points, 5, 2), axis=0), axis=-1) * fps
    half = max(int(round(LOCAL_SECONDS * fps / 2)), 1)
    heights = np.pad(points[..., 2], ((half, half), (0, 0)), mode="edge")
    lowest = np.lib.stride_tricks.sliding_window_view(heights, 2 * half + 1, axis=0).min(axis=-1)
    return (points[..., 2] < lowest + HEIGHT_MARGIN) & (speed < MAX_SPEED)


def true_contact_points(positions: np.ndarray, toes: np.ndarray | None, fps: float = TARGET_FPS) -> np.ndarray:
    """(T, 4) truth of the left heel, left toe, right heel, right toe being planted (1 or 0; NaN for the
    toes of a source without toe joints)."""
    heels = true_foot_contacts(positions, fps).astype(np.float32)
    toe = planted(np.asarray(toes, np.float64), fps).astype(np.float32) if toes is not None else \
        np.full(heels.shape, np.nan, np.float32)
    return np.stack([heels[:, 0], toe[:, 0], heels[:, 1], toe[:, 1]], axis=1)


def contact_counts(predicted: np.ndarray, truth: np.ndarray) -> tuple[int, int, int]:
    """Frames (both feet counted) planted by both, by ``predicted``, by ``truth``: what F1 pools over clips."""
    predicted, truth = np.asarray(predicted, bool), np.asarray(truth, bool)
    return int((predicted & truth).sum()), int(predicted.sum()), int(truth.sum())


def f1_from_counts(hits: int, predicted: int, true: int) -> float:
    """F1 = 2 precision recall / (precision + recall) = 2 hits / (predicted + true); 1 when neither has any."""
    return 2 * hits / (predicted + true) if predicted + true else 1.0


def contact_f1(predicted: np.ndarray, truth: np.ndarray) -> float:
    """F1 of planted-foot frames (both feet pooled)."""
    return f1_from_counts(*contact_counts(predicted, truth))


def sample_batch(clips: list[np.ndarray], contacts: list[np.ndarray], batch: int, window: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Windows (B, window, 17, 3) of world joints and their contacts (B, window, 4), edge-repeated,
    half of them mirrored (left and right contacts swap with the body)."""
    joints = np.empty((batch, window, 17, 3), np.float32)
    truth = np.empty((batch, window, contacts[0].shape[1]), np.float32)
    for b, (k, _, frames) in enumerate(sample_window_frames([len(c) for c in clips], batch, window, rng)):
        joints[b], truth[b] = clips[k][frames], contacts[k][frames]
    mirror = rng.random(batch) < 0.5
    joints[mirror] = flip_horizontal(joints[mirror], SK)
    truth[mirror] = truth[mirror][..., MIRRORED_CONTACTS[truth.shape[-1]]]
    return joints, truth


def heel_toe_counts(model: NumpyTemporalModel, clips, rng: np.random.Generator) -> dict[str, dict]:
    """Per source, over whole clips each seen through one random camera with detector-like noise: how
    many clips and frames, and the ``contact_counts`` of the heels (whole feet, for a network of two
    outputs) and, on clips with toe joints and for a network with toes, of the toes (``toe_clips`` of them)."""
    by_source: dict[str, dict] = {}
    for clip in clips:
        pairs = make_pairs(clip.positions[None], rng, DETECTOR_LIKE, augment_bones=False, allow_flip=False)
        predicted = contact_probabilities(model, pairs.inputs_2d[0]) > 0.5
        truth = true_contact_points(clip.positions, clip.toes)
        row = by_source.setdefault(clip.source, {"clips": 0, "frames": 0, "toe_clips": 0,
                                                 "heel": np.zeros(3, int), "toe": np.zeros(3, int)})
        row["clips"] += 1
        row["frames"] += len(predicted)
        row["heel"] += contact_counts(predicted[:, HEELS] if predicted.shape[1] == 4 else predicted,
                                      truth[:, HEELS] > 0.5)
        if predicted.shape[1] == 4 and clip.toes is not None:
            row["toe_clips"] += 1
            row["toe"] += contact_counts(predicted[:, TOES], truth[:, TOES] > 0.5)
    return by_source


def evaluate(model: NumpyTemporalModel, clips, rng: np.random.Generator) -> dict:
    """F1 per source (``heel_toe_counts``): of the heels, and where the source has toe joints, of the toes."""
    scores = {}
    for source, row in sorted(heel_toe_counts(model, clips, rng).items()):
        scores[source] = {"clips": row["clips"], "frames": row["frames"], "f1": round(f1_from_counts(*row["heel"]), 3)}
        if row["toe_clips"]:
            scores[source]["toe_f1"] = round(f1_from_counts(*row["toe"]), 3)
    return scores


def train(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    clips = [c for c in load_clips(args.data, ("train",)) if len(c.positions) >= 10]
    if not clips:
        raise ValueError(f"no training clips in {args.data}")
    positions = [c.positions for c in clips]
    truth = [true_contact_points(c.positions, c.toes) for c in clips]
    config = TemporalModelConfig(num_joints_out=4, out_features=1, filter_widths=args.filter_widths,
                                 channels=args.channels, dropout=args.dropout)
    model = TemporalModel(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, amsgrad=True)
    window = config.receptive_field + args.frames_per_window - 1
    half = config.receptive_field // 2
    every = np.concatenate(truth)
    planted_share = np.nanmean(every, axis=0)                               # per output
    if not np.isfinite(planted_share).all():
        raise ValueError("no training clip has toe joints: the toes cannot be learnt")
    weight = torch.tensor((1 - planted_share) / np.maximum(planted_share, 1e-3), dtype=torch.float32)  # balance
    started, history = time.time(), []
    for epoch in range(args.epochs):
        model.train()
        model.set_bn_momentum(0.1 * (0.001 / 0.1) ** (epoch / max(args.epochs - 1, 1)))
        losses = []
        for _ in range(args.steps_per_epoch):
            joints, truth_windows = sample_batch(positions, truth, args.batch_size, window, rng)
            pairs = make_pairs(joints, rng, DETECTOR_LIKE, allow_flip=False)
            logits = model(torch.from_numpy(pairs.inputs_2d))[..., 0]
            target = torch.from_numpy(np.ascontiguousarray(truth_windows[:, half:half + logits.shape[1]]))
            known = torch.isfinite(target).float()   # toes of sources without toe joints: no loss
            loss = (F.binary_cross_entropy_with_logits(logits, torch.nan_to_num(target), pos_weight=weight,
                                                       reduction="none") * known).sum() / known.sum().clamp(min=1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        for group in optimizer.param_groups:
            group["lr"] *= args.lr_decay
        history.append(round(float(np.mean(losses)), 4))
        print(f"epoch {epoch + 1}/{args.epochs}: loss {history[-1]} ({time.time() - started:.0f} s)", flush=True)
    model.eval()
    numpy_model = NumpyTemporalModel(network_weights(model))
    held_out = [c for c in load_clips(args.data, ("validation", "test_actor", "test_motion")) if len(c.positions) >= 10]
    scores = {}
    for subset in ("validation", "test_actor", "test_motion"):
        chosen = []   # up to ``evaluation_clips`` of each source: the small sources are the unseen people
        for source in sorted({c.source for c in held_out}):
            chosen += [c for c in held_out if c.subset == subset and c.source == source][:args.evaluation_clips]
        scores[subset] = evaluate(numpy_model, chosen, np.random.default_rng(1))
    return {"model": model, "history": history, "scores": scores, "seconds": round(time.time() - started, 1),
            "planted_share": [round(float(p), 3) for p in planted_share]}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="prepared mocap (python -m training.prepare_data)")
    parser.add_argument("--model", default=None, help="weights file to add the contact network to")
    parser.add_argument("--out", required=True, help="weights file to write")
    parser.add_argument("--filter-widths", type=parse_filter_widths, default=(3, 3, 3))
    parser.add_argument("--channels", type=int, default=128)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--steps-per-epoch", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--frames-per-window", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--lr-decay", type=float, default=0.9)
    parser.add_argument("--evaluation-clips", type=int, default=60, help="held-out clips scored per subset and source")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a few steps (CI)")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.steps_per_epoch, args.batch_size, args.channels, args.evaluation_clips = 2, 5, 16, 32, 3
    for name in ("epochs", "steps_per_epoch", "batch_size", "frames_per_window", "channels", "evaluation_clips"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.model and not os.path.isfile(args.model):
        parser.error(f"--model {args.model}: no such file")
    folder = os.path.dirname(os.path.abspath(args.out))
    try:   # before training, not after it: minutes of work must not end in a failed write
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        parser.error(f"--out {args.out}: cannot make its folder ({exc.strerror})")
    if not os.access(folder, os.W_OK):
        parser.error(f"--out {args.out}: its folder is not writable")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    result = train(args)
    weights = load_weights(args.model) if args.model else WeightsFile({}, {})
    weights.networks["contacts"] = network_weights(result["model"])
    command = command_line("training.contacts", args, leave_out=("model", "out"))
    weights.metadata = {**weights.metadata, "contacts": {
        "training_command": command, "outputs": "left heel, left toe, right heel, right toe",
        "truth": f"heel: the ankle, toe: the toe base, slower than {MAX_SPEED} m/s and within "
        f"{HEIGHT_MARGIN} m of its lowest point in the surrounding {LOCAL_SECONDS:g} s", "training_data": "train subset of the fixed split",
        "f1_by_subset_and_source": result["scores"], "loss_by_epoch": result["history"],
        "seconds": result["seconds"]}}
    save_weights(args.out, weights)
    print(json.dumps({"out": args.out, "f1": result["scores"], "seconds": result["seconds"]}, indent=2))
    return result


if __name__ == "__main__":
    main()
