"""Average a fine-tuned lifter with the one it was fine-tuned from (WiSE-FT: Wortsman et al., "Robust
fine-tuning of zero-shot models", CVPR 2022).

Each fine-tune on the data engine's renders so far lifted the renders better but moved the world
grounding (the demo's root wander, the distance travelled) across issue 13's limits; halfway between
the two sets of weights keeps most of the gain on the renders and on held-out mocap and less of the
shift. The networks other than the averaged one (the trajectory and contact networks) come from the
base file unchanged.

    python -m training.average_weights --base core/weights/default.npz --tuned runs/stage13/model.npz \\
        --share 0.5 --stage "stage 13" --out core/weights/default.npz
"""
from __future__ import annotations

import argparse
import os

import numpy as np

from core.weights import NetworkWeights, WeightsFile, load_weights, save_weights


def average_network(base: NetworkWeights, tuned: NetworkWeights, share: float) -> NetworkWeights:
    """``(1 - share) * base + share * tuned`` for every floating-point array (BatchNorm's running statistics
    included); counters such as ``num_batches_tracked`` are the tuned network's."""
    if base.config != tuned.config:
        raise ValueError(f"the networks differ in shape: {base.config} against {tuned.config}")
    if base.parameters.keys() != tuned.parameters.keys():
        raise ValueError("the networks hold different parameters: "
                         f"{sorted(base.parameters.keys() ^ tuned.parameters.keys())[:5]}")
    averaged = {}
    for key, old in base.parameters.items():
        new = tuned.parameters[key]
        if old.shape != new.shape:
            raise ValueError(f"parameter {key}: shape {old.shape} against {new.shape}")
        averaged[key] = ((1 - share) * old.astype(np.float64) + share * new.astype(np.float64)).astype(old.dtype) \
            if np.issubdtype(old.dtype, np.floating) else new.copy()
    return NetworkWeights(base.config, averaged)


def chunk_ranges(indices: list[int]) -> str:
    """``[0, 1, 2, 5, 7, 8]`` -> ``"0-2, 5, 7-8"``."""
    ranges, start = [], None
    for i, index in enumerate(indices):
        start = index if start is None else start
        if i + 1 == len(indices) or indices[i + 1] != index + 1:
            ranges.append(f"{start}" if start == index else f"{start}-{index}")
            start = None
    return ", ".join(ranges)


def average_files(base: WeightsFile, tuned: WeightsFile, share: float, stage: str, command: str,
                  network: str = "lifter", name: str | None = None) -> WeightsFile:
    """``base`` with its ``network`` averaged with ``tuned``'s, and metadata that says how it was made."""
    for label, weights in (("base", base), ("tuned", tuned)):
        if network not in weights.networks:
            raise ValueError(f"the {label} file has no {network!r} network (it has {sorted(weights.networks)})")
    networks = dict(base.networks)
    networks[network] = average_network(base.networks[network], tuned.networks[network], share)
    metadata = dict(base.metadata)
    tuned_command = tuned.metadata.get("training_command", "(not recorded)")
    metadata["training_command"] = f"{metadata.get('training_command', '')} ; {stage}: {tuned_command} ; then {command}"
    seen = sorted(set(base.metadata.get("synth_chunks", [])) | set(tuned.metadata.get("synth_chunks", [])))
    if seen:
        metadata["synth_chunks"] = seen
    metadata["training_data"] = (f"{metadata.get('training_data', '')}; {stage}: the fine-tune's command above"
                                 f" (engine chunks seen so far: {chunk_ranges(seen) or 'none'}), its {network} then"
                                 f" averaged with the previous one's, {share:g} of the fine-tuned weights")
    if "last_epoch" in tuned.metadata:
        metadata["last_epoch"] = tuned.metadata["last_epoch"]
    metadata[f"{network}_average"] = {"stage": stage, "share": share, "command": command}
    if name:
        metadata["name"] = name
    return WeightsFile(networks, metadata)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the weights file the fine-tune started from (kept networks)")
    parser.add_argument("--tuned", required=True, help="the fine-tuned weights file (python -m training.train ... --init-from BASE)")
    parser.add_argument("--share", type=float, default=0.5, help="share of the fine-tuned weights, above 0 and at most 1")
    parser.add_argument("--network", default="lifter", help="the network to average")
    parser.add_argument("--stage", required=True, help='how the model card names this step, e.g. "stage 13"')
    parser.add_argument("--name", default=None, help="the new model's name in its metadata (default: the base's)")
    parser.add_argument("--out", required=True, help="weights file to write (may be --base itself)")
    args = parser.parse_args(argv)
    if not 0 < args.share <= 1:
        parser.error(f"--share must be above 0 and at most 1, got {args.share}")
    for option in ("base", "tuned"):
        if not os.path.isfile(getattr(args, option)):
            parser.error(f"--{option} {getattr(args, option)}: no such file")
    folder = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        parser.error(f"--out {args.out}: its folder does not exist or is not writable")
    return args


def main(argv: list[str] | None = None) -> WeightsFile:
    args = parse_args(argv)
    command = (f"python -m training.average_weights --base {args.base} --tuned {args.tuned} --share {args.share:g}"
               f" --network {args.network} --stage '{args.stage}' --out {args.out}")
    weights = average_files(load_weights(args.base), load_weights(args.tuned), args.share, args.stage, command,
                            args.network, args.name)
    save_weights(args.out, weights)
    print(f"wrote {args.out}: {args.network} = {1 - args.share:g} x {args.base} + {args.share:g} x {args.tuned}")
    return weights


if __name__ == "__main__":
    main()
