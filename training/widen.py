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


def widen_network(network: NetworkWeights, channels: int, rng: np.random.Generator) -> NetworkWeights:
    """``network`` with ``channels`` hidden channels (a whole multiple of its own), computing the same function."""
    old = network.config.channels
    if channels % old or channels < old:
        raise ValueError(f"--channels must be a whole multiple of the network's {old} channels, got {channels}")
    copies = channels // old
    wide = {}
    for key, value in network.parameters.items():
        value = np.asarray(value)
        hidden_conv = key.startswith("layers_conv.") and key.endswith(".weight")     # (C, C, width)
        if key == "expand_conv.weight" or hidden_conv or (key.startswith(("expand_bn.", "layers_bn."))
                                                           and value.ndim == 1):
            value = np.concatenate([value] * copies, axis=0)            # every hidden channel out, copied
        if hidden_conv or key == "shrink.weight":                        # hidden channels in: split among the copies
            shares = rng.dirichlet(np.full(copies, 4.0), size=old).T     # (copies, old), each column sums to one
            value = np.concatenate([value * shares[c][None, :, None] for c in range(copies)], axis=1).astype(value.dtype)
        wide[key] = value.copy()                                         # BatchNorm counters, shrink.bias: as they were
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
