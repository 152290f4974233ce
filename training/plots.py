"""Loss curves of a run, written as a PNG next to its log."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_losses(history: list[dict], path: str) -> None:
    epochs = [r["epoch"] for r in history]
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot(epochs, [r["train_mpjpe_mm"] for r in history], label="train MPJPE (mm)")
    if all("validation" in r for r in history):
        axis.plot(epochs, [r["validation"]["p1"] for r in history], label="validation P1, clean 2D (mm)")
    axis.set_xlabel("epoch")
    axis.set_ylabel("mm")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
