"""Run long work (detection, lifting) off Blender's main thread, with progress and cancellation.

No ``bpy`` here: the worker must never touch Blender data. The modal operator polls ``Job``
from a timer on the main thread, shows its progress and applies its result there.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable


class Cancelled(Exception):
    """The user pressed Esc."""


class Job:
    """``work(job)`` runs in a thread; it reports with ``job.progress(done, total)`` and checks ``job.cancelled``."""

    def __init__(self, label: str, work: Callable[["Job"], Any]):
        self.label, self._work = label, work
        self.done_units, self.total_units = 0, 0
        self.result: Any = None
        self.error: BaseException | None = None
        self.started = time.perf_counter()
        self._cancel = threading.Event()
        self._finished = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"videopose-{label}", daemon=True)

    def start(self) -> "Job":
        self._thread.start()
        return self

    def run_here(self) -> Any:
        """The synchronous path (background mode and tests): run in the calling thread."""
        self._run()
        if self.error is not None:
            raise self.error
        return self.result

    def _run(self) -> None:
        try:
            self.result = self._work(self)
        except BaseException as exc:  # handed to the main thread, which reports it
            self.error = exc
        finally:
            self._finished.set()

    def progress(self, done: int, total: int = 0) -> None:
        self.done_units, self.total_units = done, total
        if self._cancel.is_set():
            raise Cancelled()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._finished.wait(timeout)

    @property
    def fraction(self) -> float:
        return min(self.done_units / self.total_units, 1.0) if self.total_units else 0.0

    def status(self) -> str:
        seconds = max(time.perf_counter() - self.started, 1e-9)
        rate = self.done_units / seconds
        total = f"/{self.total_units}" if self.total_units else ""
        return f"{self.label}: {self.done_units}{total} frames, {rate:.0f} frames/s (Esc to cancel)"
