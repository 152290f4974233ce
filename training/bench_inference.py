"""Lifting throughput: the numpy engine against the torch reference, same weights, same sequence.

    python -m training.bench_inference --frames 10000 --channels 1024 --filter-widths 3,3,3,3,3

Random weights (speed does not depend on their values). Prints frames/s for each and
checks that both give the same answer.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from core.architecture import TemporalModelConfig, parse_filter_widths
from core.inference import NumpyTemporalModel
from core.models import TemporalModel, network_weights, predict_sequence


def best_time(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--channels", type=int, default=1024)
    parser.add_argument("--filter-widths", type=parse_filter_widths, default=(3, 3, 3, 3, 3))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    model = TemporalModel(TemporalModelConfig(filter_widths=args.filter_widths, channels=args.channels)).eval()
    engine = NumpyTemporalModel(network_weights(model))
    keypoints = np.random.default_rng(0).uniform(-1, 1, size=(args.frames, 17, 2)).astype(np.float32)

    engine.predict(keypoints[:500])  # warm-up
    predict_sequence(model, keypoints[:500])
    numpy_seconds = best_time(lambda: engine.predict(keypoints), args.repeats)
    torch_seconds = best_time(lambda: predict_sequence(model, keypoints), args.repeats)
    difference = float(np.abs(engine.predict(keypoints) - predict_sequence(model, keypoints)).max())

    result = {
        "frames": args.frames, "channels": args.channels, "filter_widths": list(args.filter_widths),
        "receptive_field": model.receptive_field, "torch_threads": torch.get_num_threads(),
        "numpy_frames_per_s": round(args.frames / numpy_seconds, 1),
        "torch_fp32_frames_per_s": round(args.frames / torch_seconds, 1),
        "numpy_over_torch": round(torch_seconds / numpy_seconds, 3),
        "max_abs_difference": difference,
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
