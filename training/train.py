"""Supervised training of the lifter and the trajectory network on prepared mocap.

    python -m training.train --data runs/data/mocap.npz --out runs/default
    torchrun --nproc_per_node 2 -m training.train --data ... --out ...   # data parallel, gloo on CPU

Each step draws windows of one receptive field from the training clips, shows each through
a random virtual camera with detector-like 2D noise (augment.py), and trains both networks
in their strided one-output-frame form. Adam with exponential learning-rate decay, and
BatchNorm momentum decaying from 0.1 to 0.001, as in the paper. After each epoch the run
folder gets the weights (``model.npz``, safe format), a checkpoint for ``--resume``,
``log.jsonl`` and ``loss.png``; validation lifts whole clips with the numpy engine.
"""
from __future__ import annotations

import argparse
import json
import os
import time
import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from core.architecture import TemporalModelConfig, parse_filter_widths
from core.inference import NumpyTemporalModel, PoseLifter
from core.losses import bone_length_loss, bone_lengths, mpjpe, reprojection_loss, trajectory_loss
from core.skeleton import H36M_SKELETON
from core.models import TemporalModel, TrajectoryModel, model_from_weights, network_weights
from core.weights import WeightsFile, load_weights, save_weights

from .augment import CLEAN, DETECTOR_LIKE, make_pairs, rotate_limbs, sample_windows, source_weights, swap_limbs
from .checkpoint import load_optimizer_state, optimizer_state_arrays
from .datasets import frames_per_source, load_clips
from .evaluation import evaluate_clips, evaluate_views
from .synth.windows import chunk_indices, load_synth, sample_synth
from .h36m import TEST_SUBJECTS as H36M_TEST, TRAIN_SUBJECTS as H36M_TRAIN, load_h36m, sample_view_windows
from .plots import plot_losses


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="prepared clips (python -m training.prepare_data)")
    parser.add_argument("--h36m-3d", help="Human3.6M data_3d_h36m.npz (VideoPose3D format) instead of --data")
    parser.add_argument("--h36m-2d", help="Human3.6M data_2d_h36m_<detector>.npz")
    parser.add_argument("--h36m-cameras", help="Human3.6M cameras JSON (see training/h36m.py)")
    parser.add_argument("--out", required=True, help="run folder")
    parser.add_argument("--filter-widths", type=parse_filter_widths, default=(3, 3, 3, 3, 3))
    parser.add_argument("--channels", type=int, default=512)
    parser.add_argument("--dropout", type=float, default=0.25)
    parser.add_argument("--causal", action="store_true")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--steps-per-epoch", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=256, help="windows per step (per process)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--lr-decay", type=float, default=0.95, help="learning-rate factor per epoch")
    parser.add_argument("--noise-fraction", type=float, default=0.7, help="share of windows given detector-like 2D noise")
    parser.add_argument("--leave-frame-fraction", type=float, default=0.5,
                        help="share of windows whose camera may let the person leave the frame (the rest keep it inside)")
    parser.add_argument("--synth", default=None, help="a folder of data-engine chunks (python -m training.synth.engine) "
                                                      "whose detector 2D and true 3D join the batches")
    parser.add_argument("--synth-fraction", type=float, default=0.3, help="share of each batch from --synth")
    parser.add_argument("--jitter-joints", action="store_true",
                        help="move the hips, spine, thorax, neck, head and shoulders by random offsets per window "
                             "(sources mark these joints at different places; training.augment.jitter_definitions)")
    parser.add_argument("--source-weighting", type=float, default=1.0,
                        help="each mocap source's share of the windows goes as (its frames) ** this: 1 every frame "
                             "alike, 0 every source alike (training.augment.source_weights)")
    parser.add_argument("--swap-arms", type=float, default=0.0,
                        help="share of mocap windows whose arms move as another window's do "
                             "(training.augment.swap_limbs: arm motion over legs and trunks it never went with)")
    parser.add_argument("--swap-legs", type=float, default=0.0,
                        help="share of mocap windows whose legs move as another window's do (the same for legs)")
    parser.add_argument("--rotate-arms", type=float, default=0.0,
                        help="share of mocap windows whose arms are each turned about the shoulder by a random "
                             "rotation fixed in the body's frame (training.augment.rotate_limbs: arms held where "
                             "no mocap held them)")
    parser.add_argument("--rotate-legs", type=float, default=0.0,
                        help="share of mocap windows whose legs are each turned about the hip (the same for legs)")
    parser.add_argument("--no-trajectory", action="store_true", help="train the pose network only")
    parser.add_argument("--train-subsets", default="train")
    parser.add_argument("--labeled-fraction", type=float, default=1.0,
                        help="keep 3D labels for this share of the training clips (every n-th clip by name)")
    parser.add_argument("--semi-supervised", action="store_true",
                        help="use the other training clips as unlabeled 2D (reprojection + bone-length losses)")
    parser.add_argument("--warmup-epochs", type=int, default=1, help="supervised-only epochs before the unlabeled losses")
    parser.add_argument("--validation-clips", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="processes generating training batches (0: inline)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads per process (0: torch default)")
    parser.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
    parser.add_argument("--init-from", help="start from this weights file (fine-tuning); with --no-trajectory its "
                                            "trajectory network is carried over unchanged into the run's weights")
    return parser.parse_args(argv)


class Distributed:
    """Rank and world size under torchrun; a single process otherwise."""

    def __init__(self) -> None:
        self.enabled = int(os.environ.get("WORLD_SIZE", "1")) > 1
        if self.enabled:
            dist.init_process_group("gloo")
        self.rank = dist.get_rank() if self.enabled else 0
        self.world_size = dist.get_world_size() if self.enabled else 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        return torch.nn.parallel.DistributedDataParallel(model) if self.enabled else model

    def mean(self, value: float) -> float:
        if not self.enabled:
            return value
        tensor = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(tensor)
        return tensor.item() / self.world_size

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        if self.enabled:
            dist.destroy_process_group()


class ViewBatches(torch.utils.data.IterableDataset):
    """Endless batches from real camera views (Human3.6M): given 2D, given cameras, flip augmentation."""

    def __init__(self, views: list, batch_size: int, window: int, target_frame: int, seed: list[int]):
        self.views, self.batch_size, self.window, self.target_frame, self.seed = views, batch_size, window, target_frame, seed

    def __iter__(self):
        worker = torch.utils.data.get_worker_info()
        rng = np.random.default_rng(self.seed + [worker.id if worker else 0])
        while True:
            arrays = sample_view_windows(self.views, self.batch_size, self.window, self.target_frame, rng)
            yield tuple(torch.from_numpy(a) for a in arrays)


class TrainingBatches(torch.utils.data.IterableDataset):
    """Endless batches of (2D input, 3D pose, root, intrinsics) built in a worker process, overlapping the training step."""

    def __init__(self, clips: list[np.ndarray], batch_size: int, window: int, target_frame: int,
                 noise_fraction: float, seed: list[int], leave_frame_fraction: float,
                 synth: list | None = None, synth_fraction: float = 0.0, jitter_joints: bool = False,
                 swap_fractions: dict[str, float] | None = None, rotate_fractions: dict[str, float] | None = None,
                 clip_weights: np.ndarray | None = None):
        self.clips, self.batch_size, self.window, self.clip_weights = clips, batch_size, window, clip_weights
        self.jitter_joints = jitter_joints
        self.swap_fractions = {limb: f for limb, f in (swap_fractions or {}).items() if f > 0}
        self.rotate_fractions = {limb: f for limb, f in (rotate_fractions or {}).items() if f > 0}
        self.target_frame, self.noise_fraction, self.seed = target_frame, noise_fraction, seed
        self.leave_frame_fraction = leave_frame_fraction
        self.synth, self.synth_fraction = synth, synth_fraction if synth else 0.0

    def __iter__(self):
        worker = torch.utils.data.get_worker_info()
        rng = np.random.default_rng(self.seed + [worker.id if worker else 0])
        n_synth = int(round(self.synth_fraction * self.batch_size))
        n_mocap = self.batch_size - n_synth
        n_noisy = int(round(self.noise_fraction * n_mocap))
        frame = slice(self.target_frame, self.target_frame + 1)
        while True:
            windows = sample_windows(self.clips, n_mocap, self.window, rng, self.clip_weights)
            if self.swap_fractions:
                windows = swap_limbs(windows, rng, self.swap_fractions)
            if self.rotate_fractions:
                windows = rotate_limbs(windows, rng, self.rotate_fractions)
            noisy = make_pairs(windows[:n_noisy], rng, DETECTOR_LIKE, may_leave_frame=self.leave_frame_fraction,
                               jitter_joints=self.jitter_joints)
            clean = make_pairs(windows[n_noisy:], rng, CLEAN, may_leave_frame=self.leave_frame_fraction,
                               jitter_joints=self.jitter_joints)
            parts = [(noisy.inputs_2d, noisy.poses_3d[:, frame], noisy.roots[:, frame], noisy.intrinsics),
                     (clean.inputs_2d, clean.poses_3d[:, frame], clean.roots[:, frame], clean.intrinsics)]
            if n_synth:  # the real detector's 2D on rendered bodies, with the bodies' true joints
                parts.append(sample_synth(self.synth, n_synth, self.window, self.target_frame, rng))
            yield tuple(torch.from_numpy(np.concatenate([part[k] for part in parts])) for k in range(4))


def split_labeled(items: list, fraction: float) -> tuple[list, list]:
    """Every n-th clip or view by name keeps its 3D labels (n = 1/fraction); the others serve as unlabeled 2D."""
    if not 0 < fraction <= 1:
        raise ValueError("--labeled-fraction must be in (0, 1]")
    ordered = sorted(items, key=lambda item: item.name)
    step = max(int(round(1 / fraction)), 1)
    return ([item for i, item in enumerate(ordered) if i % step == 0],
            [item for i, item in enumerate(ordered) if i % step != 0])


def make_stream(h36m: bool, items: list, args: argparse.Namespace, window: int, target_frame: int, seed: list[int]):
    if h36m:
        return ViewBatches(items, args.batch_size, window, target_frame, seed)
    synth = load_synth(args.synth) if getattr(args, "synth", None) else None
    return TrainingBatches([c.positions for c in items], args.batch_size, window, target_frame, args.noise_fraction, seed,
                           args.leave_frame_fraction, synth, args.synth_fraction, args.jitter_joints,
                           {"arms": args.swap_arms, "legs": args.swap_legs},
                           {"arms": args.rotate_arms, "legs": args.rotate_legs},
                           None if args.source_weighting == 1.0 else   # 1: by length, the same draws as before
                           source_weights([len(c.positions) for c in items], [c.source for c in items],
                                          args.source_weighting))


def bn_momentum(epoch: int, epochs: int, start: float = 0.1, end: float = 0.001) -> float:
    return start * (end / start) ** (epoch / max(epochs - 1, 1))


def train(args: argparse.Namespace) -> dict:
    if not 0 <= args.leave_frame_fraction <= 1:
        raise ValueError(f"--leave-frame-fraction must be between 0 and 1, got {args.leave_frame_fraction}")
    if not 0 <= args.source_weighting <= 1:
        raise ValueError(f"--source-weighting must be between 0 and 1, got {args.source_weighting}")
    if not 0 <= args.synth_fraction < 1:
        raise ValueError(f"--synth-fraction must be at least 0 and below 1, got {args.synth_fraction}")
    for name, value in (("--swap-arms", args.swap_arms), ("--swap-legs", args.swap_legs),
                        ("--rotate-arms", args.rotate_arms), ("--rotate-legs", args.rotate_legs)):
        if not 0 <= value <= 1:
            raise ValueError(f"{name} must be between 0 and 1, got {value}")
    if args.synth and not os.path.isdir(args.synth):
        raise FileNotFoundError(f"--synth {args.synth}: no such folder (python -m training.synth.engine --out ...)")
    world = Distributed()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)  # identical initial weights on every rank
    os.makedirs(args.out, exist_ok=True)
    h36m = bool(args.h36m_3d or args.h36m_2d or args.h36m_cameras)
    if h36m:
        if not (args.h36m_3d and args.h36m_2d and args.h36m_cameras):
            raise ValueError("Human3.6M training needs --h36m-3d, --h36m-2d and --h36m-cameras together")
        train_items = load_h36m(args.h36m_3d, args.h36m_2d, args.h36m_cameras, H36M_TRAIN)
        validation = load_h36m(args.h36m_3d, args.h36m_2d, args.h36m_cameras, H36M_TEST)[: args.validation_clips]
    elif args.data:
        train_items = load_clips(args.data, tuple(args.train_subsets.split(",")))
        validation = load_clips(args.data, ("validation",))[: args.validation_clips]
    else:
        raise ValueError("give --data (prepared mocap) or the three --h36m-* files")
    train_clips, unlabeled_clips = split_labeled(train_items, args.labeled_fraction)
    if not train_clips:
        raise ValueError("no training clips found")
    training_frames = None if h36m else frames_per_source(train_items)
    if args.semi_supervised and not unlabeled_clips:
        raise ValueError("--semi-supervised needs --labeled-fraction below 1 to leave unlabeled clips")
    if args.semi_supervised and args.no_trajectory:
        raise ValueError("--semi-supervised needs the trajectory network for the reprojection loss")

    config = TemporalModelConfig(filter_widths=args.filter_widths, channels=args.channels,
                                 dropout=args.dropout, causal=args.causal)
    lifter, trajectory = TemporalModel(config), TrajectoryModel(config)
    parameters = list(lifter.parameters()) + ([] if args.no_trajectory else list(trajectory.parameters()))
    optimizer = torch.optim.Adam(parameters, lr=args.lr, amsgrad=True)
    start_epoch, history = 0, []
    checkpoint = os.path.join(args.out, "checkpoint.npz")
    # With --no-trajectory the trajectory network is exported only when --init-from supplied one.
    carried_trajectory = False
    if args.init_from:
        carried_trajectory = initialise_from(args.init_from, lifter, trajectory, config)
    if args.resume:
        start_epoch, history = resume(checkpoint, lifter, trajectory, optimizer)
    exported_trajectory = trajectory if not args.no_trajectory or carried_trajectory else None
    synth_chunks = seen_chunks(args)   # once: it reads the --init-from file
    lifter_ddp, trajectory_ddp = world.wrap(lifter), world.wrap(trajectory)
    target_frame = config.receptive_field - 1 if config.causal else config.receptive_field // 2
    stream = make_stream(h36m, train_clips, args, config.receptive_field, target_frame, [args.seed, world.rank, start_epoch])
    batches = iter(torch.utils.data.DataLoader(stream, batch_size=None, num_workers=args.workers,
                                               prefetch_factor=4 if args.workers else None))
    unlabeled_batches = None
    if args.semi_supervised:
        unlabeled_stream = make_stream(h36m, unlabeled_clips, args, config.receptive_field, target_frame,
                                       [args.seed, world.rank, start_epoch, 1])
        unlabeled_batches = iter(torch.utils.data.DataLoader(unlabeled_stream, batch_size=None, num_workers=args.workers,
                                                             prefetch_factor=4 if args.workers else None))

    log_path = os.path.join(args.out, "log.jsonl")
    if world.main and not args.resume and os.path.isfile(log_path):
        os.remove(log_path)   # a fresh run in an old run's folder: its log starts empty, not after the old one
    for epoch in range(start_epoch, args.epochs):
        lr = args.lr * args.lr_decay ** epoch
        for group in optimizer.param_groups:
            group["lr"] = lr
        lifter.set_bn_momentum(bn_momentum(epoch, args.epochs))
        trajectory.set_bn_momentum(bn_momentum(epoch, args.epochs))
        lifter_ddp.train(), trajectory_ddp.train()
        sums = {"pose": 0.0, "root": 0.0, "reprojection": 0.0, "bones": 0.0}
        use_unlabeled = unlabeled_batches is not None and epoch >= args.warmup_epochs
        started = time.time()
        bar = tqdm(range(args.steps_per_epoch), desc=f"epoch {epoch + 1}/{args.epochs}", disable=not world.main or None)
        for _ in bar:
            inputs, poses, roots, _ = next(batches)
            labeled = len(inputs)
            if use_unlabeled:
                unlabeled_inputs, _, _, unlabeled_intrinsics = next(unlabeled_batches)
                inputs = torch.cat([inputs, unlabeled_inputs])
            optimizer.zero_grad(set_to_none=True)
            predicted_poses = lifter_ddp(inputs, strided=True)
            losses = {"pose": mpjpe(predicted_poses[:labeled], poses)}
            if not args.no_trajectory:
                predicted_roots = trajectory_ddp(inputs, strided=True)
                losses["root"] = trajectory_loss(predicted_roots[:labeled], roots)
            if use_unlabeled:
                target_2d = inputs[labeled:, target_frame:target_frame + 1]
                losses["reprojection"] = reprojection_loss(predicted_poses[labeled:], predicted_roots[labeled:],
                                                           unlabeled_intrinsics, target_2d)
                losses["bones"] = bone_length_loss(predicted_poses[labeled:],
                                                   bone_lengths(predicted_poses[:labeled], H36M_SKELETON.parents),
                                                   H36M_SKELETON.parents)
            sum(losses.values()).backward()
            optimizer.step()
            for key, value in losses.items():
                sums[key] += value.item()
            bar.set_postfix(mpjpe_mm=f"{1000 * losses['pose'].item():.1f}")
        record = {"epoch": epoch + 1, "lr": lr, "seconds": round(time.time() - started, 1),
                  "train_mpjpe_mm": round(1000 * world.mean(sums["pose"] / args.steps_per_epoch), 2),
                  "train_trajectory_wmpjpe": round(world.mean(sums["root"] / args.steps_per_epoch), 5),
                  "train_reprojection": round(world.mean(sums["reprojection"] / args.steps_per_epoch), 5),
                  "train_bone_length": round(world.mean(sums["bones"] / args.steps_per_epoch), 5),
                  "world_size": world.world_size,
                  "windows_per_s": round(args.steps_per_epoch * args.batch_size * world.world_size / (time.time() - started), 1)}
        if world.main:
            weights = export(lifter, exported_trajectory, args, record, synth_chunks, training_frames)
            save_weights(os.path.join(args.out, "model.npz"), weights)
            if validation:
                record["validation"] = (evaluate_views(pose_lifter(weights), validation)["overall"] if h36m
                                        else evaluate_clips(pose_lifter(weights), validation, CLEAN))
            history.append(record)
            save_checkpoint(checkpoint, weights, optimizer, epoch + 1, history)
            with open(log_path, "a") as log:
                log.write(json.dumps(record) + "\n")
            plot_losses(history, os.path.join(args.out, "loss.png"))
            print(json.dumps(record), flush=True)
        world.barrier()
    world.close()
    return history[-1] if history else {}


def export(lifter: TemporalModel, trajectory: TemporalModel | None, args: argparse.Namespace, record: dict,
           synth_chunks: list[int], training_frames: str | None = None) -> WeightsFile:
    networks = {"lifter": network_weights(lifter)}
    if trajectory is not None:
        networks["trajectory"] = network_weights(trajectory)
    metadata = {"training_command": command_line("training.train", args, leave_out=("resume",)), "last_epoch": record}
    if synth_chunks:
        metadata["synth_chunks"] = synth_chunks
    if training_frames:
        metadata["training_frames"] = training_frames
    return WeightsFile(networks, metadata)


def seen_chunks(args: argparse.Namespace) -> list[int]:
    """The engine chunks the model has learnt from: those of ``--synth`` and, when fine-tuning, those its
    ``--init-from`` model had (benchmarks on the engine's chunks leave them all out)."""
    seen = set(chunk_indices(args.synth)) if getattr(args, "synth", None) else set()
    if getattr(args, "init_from", None):
        seen |= set(load_weights(args.init_from).metadata.get("synth_chunks", []))
    return sorted(seen)


def command_line(module: str, args: argparse.Namespace, leave_out: tuple[str, ...] = ()) -> str:
    """The command that gives back ``args`` (stored with the weights): every option set, zeros included."""
    return ("python -m " + module + " " + " ".join(
        f"--{k.replace('_', '-')} {','.join(map(str, v)) if isinstance(v, tuple) else v}"
        for k, v in vars(args).items() if v is not None and v is not False and k not in leave_out)).replace(" True", "")


def pose_lifter(weights: WeightsFile) -> PoseLifter:
    trajectory = weights.networks.get("trajectory")
    return PoseLifter(NumpyTemporalModel(weights.networks["lifter"]),
                      NumpyTemporalModel(trajectory) if trajectory else None)


def save_checkpoint(path: str, weights: WeightsFile, optimizer: torch.optim.Optimizer, epoch: int, history: list) -> None:
    weights.metadata = {**weights.metadata, "epoch": epoch, "history": history}
    save_weights(path, weights)
    np.savez(path.replace(".npz", "_optimizer.npz"), **optimizer_state_arrays(optimizer))


def load_networks(weights: WeightsFile, lifter: TemporalModel, trajectory: TemporalModel) -> bool:
    """Copy a weights file's networks into the models; True when it held a trajectory network."""
    lifter.load_state_dict(model_from_weights(weights.networks["lifter"]).state_dict())
    if "trajectory" not in weights.networks:
        return False
    trajectory.load_state_dict(model_from_weights(weights.networks["trajectory"]).state_dict())
    return True


def initialise_from(path: str, lifter: TemporalModel, trajectory: TemporalModel, config: TemporalModelConfig) -> bool:
    """Load both networks from a weights file whose shape matches the run's (fine-tuning a shipped model);
    True when the file held a trajectory network."""
    weights = load_weights(path)
    lifter_config = weights.networks["lifter"].config
    if (lifter_config.filter_widths, lifter_config.channels, lifter_config.causal) != (
            config.filter_widths, config.channels, config.causal):
        raise ValueError(f"--init-from {path} has filter widths {lifter_config.filter_widths}, "
                         f"{lifter_config.channels} channels, causal={lifter_config.causal}; "
                         "give the same --filter-widths, --channels and --causal")
    return load_networks(weights, lifter, trajectory)


def resume(path: str, lifter: TemporalModel, trajectory: TemporalModel, optimizer: torch.optim.Optimizer):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--resume given but no checkpoint at {path}")
    weights = load_weights(path)
    load_networks(weights, lifter, trajectory)
    load_optimizer_state(optimizer, path.replace(".npz", "_optimizer.npz"))
    return int(weights.metadata["epoch"]), list(weights.metadata["history"])


def main(argv: list[str] | None = None) -> None:
    train(parse_args(argv))


if __name__ == "__main__":
    main()
