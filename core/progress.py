"""Progress of a whole run: one bar per stage and one estimate of the time left for all of them.

Each stage's share of the run is its frame count times its cost per frame relative to
detection (``STAGE_COST``); the overall estimate scales those shares by the speed measured so
far, so it is right from the first stage on and corrects itself as stages finish.
"""
from __future__ import annotations

import sys
import time
from typing import Callable

STAGE_COST = {"detecting 2D": 1.0, "lifting to 3D": 0.02, "writing preview": 0.15, "exporting": 0.02}


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


class RunProgress:
    """``stage(name, frames)`` opens a stage and returns ``update(done)``; quiet runs print nothing."""

    def __init__(self, frames: int, stages: list[str], quiet: bool = False, stream=sys.stderr):
        self.stages, self.quiet, self.stream = stages, quiet, stream
        self.frames = max(frames, 1)
        self.weights = {name: STAGE_COST.get(name, 0.05) * self.frames for name in stages}
        self.finished_weight, self.started = 0.0, time.perf_counter()
        self.current: str | None = None
        self.bar = None

    def set_frames(self, frames: int) -> None:
        """The clip's real length, once known (a truncated video has fewer frames than announced)."""
        self.frames = max(frames, 1)
        for name in self.stages:
            if name != self.current and name in self.weights:
                self.weights[name] = STAGE_COST.get(name, 0.05) * self.frames

    def eta_seconds(self, done: int, total: int) -> float | None:
        """Seconds left for the whole run, from the work done so far."""
        weight = self.weights.get(self.current, 0.0)
        done_weight = self.finished_weight + (weight * done / total if total else 0.0)
        elapsed = time.perf_counter() - self.started
        if done_weight <= 0 or elapsed < 0.5:
            return None
        return elapsed / done_weight * (sum(self.weights.values()) - done_weight)

    def stage(self, name: str, total: int) -> Callable[..., None]:
        self.close_stage()
        self.current = name
        if total:
            self.weights[name] = STAGE_COST.get(name, 0.05) * total
        if not self.quiet:
            try:
                from tqdm import tqdm
                self.bar = tqdm(total=total or None, desc=name, unit="frame", file=self.stream, leave=True)
            except ImportError:  # pragma: no cover - tqdm is a dependency
                self.bar = None

        def update(done: int, new_total: int | None = None) -> None:
            nonlocal total
            if new_total is not None and new_total != total:
                total = new_total
                self.weights[name] = STAGE_COST.get(name, 0.05) * total
                if self.bar is not None:
                    self.bar.total = total or None
            if self.bar is not None:
                eta = self.eta_seconds(done, total)
                self.bar.n = done
                self.bar.set_postfix_str(f"all stages left {_clock(eta)}" if eta is not None else "", refresh=False)
                self.bar.refresh()
        return update

    def close_stage(self) -> None:
        if self.current is not None:
            self.finished_weight += self.weights.get(self.current, 0.0)
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self.current = None

    def close(self) -> None:
        self.close_stage()
