"""Widen a trained network to more channels without changing what it computes (Net2WiderNet: Chen,
Goodfellow and Shlens, "Net2Net: accelerating learning via knowledge transfer", ICLR 2016).

The shipped lifter has 256 channels where the paper's has 1024, and it fits its own training
sources no better than people it never saw (CMU subject 01, trained on, 60 mm with clean 2D; CMU
subject 03, never seen, 54 mm): a capacity limit more than overfitting. Training a wider network
from scratch takes days on two cores; a widened copy of the trained one starts where it stands.

Every hidden channel ``j`` gets copies ``j + C``, ``j + 2C``, ... (same incoming weights, same
BatchNorm); each layer that reads the hidden channels splits the weight it gave ``j`` among the copies
in random shares summing to one. The copies carry equal values, so the output is unchanged, and the
unequal shares (with dropout) let the copies learn apart.

    python -m training.widen --model core/weights/default.npz --channels 512 --out runs/wide/start.npz
"""
from __future__ import annotations

import argparse
import dataclasses
import os

import numpy as np

from core.weights import NetworkWeights, WeightsFile, load_weights, save_weights

HIDDEN_OUTPUTS = ("expand_conv.weight",)          # (C, in, width): hidden channels out
SPLIT_INPUTS = ("shrink.weight",)                 # (out, C, 1): hidden channels in


def _is_hidden_conv(key: str) -> bool:
    return key.startswith("layers_conv.") and key.endswith(".weight")


def widen_network(network: NetworkWeights, channels: int, rng: np.random.Generator) -> NetworkWeights:
    """``network`` with ``channels`` hidden channels (a whole multiple of its own), computing the same function."""
    old = network.config.channels
    if channels % old or channels < old:
        raise ValueError(f"--channels must be a whole multiple of the network's {old} channels, got {channels}")
    copies = channels // old
    # one set of random shares per hidden channel and per layer that reads the hidden channels
    wide = {}
    for key, value in network.parameters.items():
        value = np.asarray(value)
        if key.endswith("num_batches_tracked"):
            wide[key] = value.copy()
            continue
        if key in HIDDEN_OUTPUTS or (key.startswith(("expand_bn.", "layers_bn.")) and value.ndim == 1):
            wide[key] = np.concatenate([value] * copies, axis=0)
            continue
        if _is_hidden_conv(key) or key in SPLIT_INPUTS:
            out = np.concatenate([value] * copies, axis=0) if _is_hidden_conv(key) else value
            shares = rng.dirichlet(np.full(copies, 4.0), size=old).T.astype(np.float64)   # (copies, old)
            wide[key] = np.concatenate([out * shares[c][None, :, None] for c in range(copies)], axis=1).astype(value.dtype)
            continue
        wide[key] = value.copy()                   # shrink.bias
    return NetworkWeights(dataclasses.replace(network.config, channels=channels), wide)


def widen_file(weights: WeightsFile, channels: int, network: str = "lifter", seed: int = 0) -> WeightsFile:
    """The file with its ``network`` widened; the other networks and the metadata as they were, plus a note."""
    if network not in weights.networks:
        raise ValueError(f"the file has no {network!r} network (it has {sorted(weights.networks)})")
    networks = dict(weights.networks)
    networks[network] = widen_network(weights.networks[network], channels, np.random.default_rng(seed))
    metadata = {**weights.metadata, "widened": f"{network} from {weights.networks[network].config.channels} "
                                                f"to {channels} channels (training.widen, same function)"}
    return WeightsFile(networks, metadata)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="weights file to widen")
    parser.add_argument("--channels", type=int, required=True, help="the new width, a whole multiple of the old")
    parser.add_argument("--network", default="lifter")
    parser.add_argument("--only", action="store_true",
                        help="write the widened network alone (to fine-tune it with training.train --no-trajectory)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if os.path.abspath(args.out) == os.path.abspath(args.model):
        parser.error("--out must not be --model")
    try:
        widened = widen_file(load_weights(args.model), args.channels, args.network, args.seed)
    except ValueError as exc:
        parser.error(str(exc))
    if args.only:
        widened = WeightsFile({args.network: widened.networks[args.network]}, widened.metadata)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_weights(args.out, widened)
    print(args.out)


if __name__ == "__main__":
    main()
