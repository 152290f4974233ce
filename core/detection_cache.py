"""A resumable, crash-safe store of per-frame 2D detections: one small file per chunk of frames.

Each chunk is written to a temporary name and renamed into place, so a chunk on disk is either
whole or absent; each carries the signature of the video and detector it belongs to, so a chunk
can never be mistaken for another clip's. A run that stops (Ctrl-C, a crash, a power cut) keeps
every chunk it finished, and the next run detects only the frames no chunk covers. A chunk that
cannot be read, or that belongs to another video, is reported and discarded.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
from dataclasses import dataclass

import numpy as np

from .video import VideoInfo

CHUNK_PATTERN = "chunk_*.npz"


def video_signature(info: VideoInfo, detector_name: str) -> str:
    """What a chunk must match to be reused: the video file (path, size, time), or every image of an image
    sequence, and the detector."""
    if os.path.isdir(info.path):
        from .video import image_files
        stats = [(os.path.basename(f), stat.st_size, stat.st_mtime_ns)
                 for f, stat in ((f, os.stat(f)) for f in image_files(info.path))]
        size, mtime = len(stats), hashlib.sha1(json.dumps(stats).encode()).hexdigest()
    else:
        stat = os.stat(info.path)
        size, mtime = stat.st_size, stat.st_mtime_ns
    return json.dumps({"video": os.path.abspath(info.path), "size": size, "mtime_ns": mtime,
                       "detector": detector_name}, sort_keys=True)


def frames_kept(folder: str) -> int:
    """How many frames the chunks in ``folder`` hold (from their names; for messages)."""
    total = 0
    for path in glob.glob(os.path.join(folder, CHUNK_PATTERN)):
        parts = os.path.basename(path)[len("chunk_"):-len(".npz")].split("_")
        if len(parts) == 2 and all(part.isdigit() for part in parts):
            total += int(parts[1]) - int(parts[0])
    return total


@dataclass
class Chunk:
    start: int
    positions: np.ndarray     # (n, people, 17, 2) pixels: every person found in each frame
    confidence: np.ndarray    # (n, people, 17); 0 in the slots of people not there
    time_ms: np.ndarray       # (n,) presentation times
    video_ended: bool         # the video had no frame after this chunk's last one
    seeked: bool = False      # its first frame was reached by seeking, which can land on a wrong frame
    feet: np.ndarray | None = None             # (n, people, 4, 3) foot points (``core.keypoints.FOOT_POINTS``)
    feet_confidence: np.ndarray | None = None  # (n, people, 4); all 0 for a detector without feet
    joints_3d: np.ndarray | None = None        # (n, people, 17, 3) the detector's own 3D; NaN where it made none

    def __post_init__(self) -> None:
        if self.feet is None:
            self.feet = np.zeros(self.positions.shape[:2] + (4, 3), np.float32)
            self.feet_confidence = np.zeros(self.positions.shape[:2] + (4,), np.float32)
        if self.joints_3d is None:
            self.joints_3d = np.full(self.positions.shape[:2] + (17, 3), np.nan, np.float32)

    @property
    def stop(self) -> int:
        return self.start + len(self.positions)


class DetectionCache:
    """Chunks of detections of one video by one detector, in ``folder``, each frame with ``max_people`` slots."""

    def __init__(self, folder: str, signature: str, max_people: int = 1):
        self.folder, self.signature, self.max_people = folder, signature, max_people
        self.chunks: list[Chunk] = []
        self.problems: list[str] = []

    def load(self) -> "DetectionCache":
        """Read every chunk; unusable ones are deleted and described in ``problems``."""
        os.makedirs(self.folder, exist_ok=True)
        for leftover in glob.glob(os.path.join(self.folder, ".chunk_*.partial.npz")):
            os.remove(leftover)  # a write that a crash cut short; its frames were never counted as done
        self.chunks, self.problems = [], []
        other_video = 0
        for path in sorted(glob.glob(os.path.join(self.folder, CHUNK_PATTERN))):
            try:
                with np.load(path, allow_pickle=False) as data:
                    if str(data["signature"]) != self.signature:
                        other_video += 1
                        os.remove(path)
                        continue
                    if "feet" not in data or "joints_3d" not in data:
                        raise ValueError("written by an older version, without foot points or the detector's 3D")
                    chunk = Chunk(int(data["start"]), data["positions"], data["confidence"], data["time_ms"],
                                  bool(data["video_ended"]), bool(data["seeked"]), data["feet"],
                                  data["feet_confidence"], data["joints_3d"])
                frames, people = len(chunk.time_ms), self.max_people
                if chunk.positions.shape != (frames, people, 17, 2) or chunk.confidence.shape != (frames, people, 17) \
                        or chunk.feet.shape != (frames, people, 4, 3) or chunk.feet_confidence.shape != (frames, people, 4) \
                        or chunk.joints_3d.shape != (frames, people, 17, 3):
                    raise ValueError("arrays of mismatched shapes")
            except Exception as exc:  # noqa: BLE001 - any unreadable chunk is rebuilt, whatever broke it
                self.problems.append(f"damaged detection cache file {os.path.basename(path)} ({type(exc).__name__}: "
                                     f"{exc}); its frames are detected again")
                os.remove(path)
                continue
            self.chunks.append(chunk)
        if other_video:
            self.problems.append(f"{other_video} cached chunk(s) belonged to another video or detector and were discarded")
        self.chunks.sort(key=lambda c: c.start)
        return self

    def write(self, chunk: Chunk) -> None:
        """Atomically add a chunk: written under a temporary name, then renamed."""
        name = f"chunk_{chunk.start:09d}_{chunk.stop:09d}.npz"
        final = os.path.join(self.folder, name)
        partial = os.path.join(self.folder, f".{name}.partial.npz")
        with open(partial, "wb") as handle:
            np.savez(handle, signature=np.array(self.signature), start=chunk.start,
                     positions=np.asarray(chunk.positions, np.float32), confidence=np.asarray(chunk.confidence, np.float32),
                     time_ms=np.asarray(chunk.time_ms, np.float64), video_ended=chunk.video_ended,
                     seeked=chunk.seeked, feet=np.asarray(chunk.feet, np.float32),
                     feet_confidence=np.asarray(chunk.feet_confidence, np.float32),
                     joints_3d=np.asarray(chunk.joints_3d, np.float32))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, final)
        self.chunks.append(chunk)
        self.chunks.sort(key=lambda c: c.start)

    def drop_from(self, frame: int) -> None:
        """Forget (and delete) every chunk that starts at or after ``frame``."""
        self.drop_range(frame, None)

    def drop_range(self, start: int, stop: int | None) -> None:
        """Forget (and delete) every chunk that starts in ``start``..``stop`` (None: to the end)."""
        for chunk in [c for c in self.chunks if c.start >= start and (stop is None or c.start < stop)]:
            path = os.path.join(self.folder, f"chunk_{chunk.start:09d}_{chunk.stop:09d}.npz")
            if os.path.exists(path):
                os.remove(path)
            self.chunks.remove(chunk)

    def misplaced_seek(self, start: int) -> int | None:
        """The first chunk after ``start`` whose seek visibly landed on a wrong frame, by the frame times.

        A seek that lands right continues the previous chunk's times by one frame interval; one
        that lands elsewhere leaves a gap or an overlap. Chunks with no previous chunk, or without
        times, are taken as they are.
        """
        times = np.concatenate([c.time_ms for c in self.chunks]) if self.chunks else np.zeros(0)
        steps = np.diff(times[np.isfinite(times)])
        steps = steps[steps > 0]
        if not len(steps):
            return None
        interval = float(np.median(steps))
        ends = {c.stop: c for c in self.chunks if len(c.time_ms)}
        for chunk in self.chunks:
            previous = ends.get(chunk.start)
            if not chunk.seeked or chunk.start <= start or previous is None or not len(chunk.time_ms):
                continue
            gap = chunk.time_ms[0] - previous.time_ms[-1]
            if np.isfinite(gap) and not 0.5 * interval <= gap <= 1.5 * interval:
                return chunk.start
        return None

    def video_end(self) -> int | None:
        """The first frame index past the video's real end, where a run has found it."""
        ends = [c.stop for c in self.chunks if c.video_ended]
        return min(ends) if ends else None

    def covered(self, start: int, stop: int) -> np.ndarray:
        """Per frame of ``start``..``stop``: True where a chunk holds it."""
        mask = np.zeros(max(stop - start, 0), bool)
        for chunk in self.chunks:
            lo, hi = max(chunk.start, start), min(chunk.stop, stop)
            if hi > lo:
                mask[lo - start:hi - start] = True
        return mask

    def missing(self, start: int, stop: int) -> list[tuple[int, int]]:
        """The ranges of ``start``..``stop`` that no chunk holds."""
        mask = self.covered(start, stop)
        edges = np.flatnonzero(np.diff(np.concatenate([[1], mask.astype(np.int8), [1]])))
        return [(start + int(a), start + int(b)) for a, b in zip(edges[::2], edges[1::2])]

    def _gather(self, start: int, stop: int, fields: dict[str, tuple[tuple[int, ...], float]]) -> list[np.ndarray]:
        """Each chunk field of ``fields`` (name -> (shape per frame, value where no chunk holds the frame))
        for frames ``start``..``stop``."""
        count = stop - start
        out = [np.full((count, *shape), fill, np.float64 if name == "time_ms" else np.float32)
               for name, (shape, fill) in fields.items()]
        for chunk in self.chunks:
            lo, hi = max(chunk.start, start), min(chunk.stop, stop)
            if hi > lo:
                for array, name in zip(out, fields):
                    array[lo - start:hi - start] = getattr(chunk, name)[lo - chunk.start:hi - chunk.start]
        return out

    def assemble(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Positions, confidences and times of frames ``start``..``stop``, which must all be held."""
        people = self.max_people
        positions, confidence, time_ms = self._gather(start, stop, {
            "positions": ((people, 17, 2), 0.0), "confidence": ((people, 17), 0.0), "time_ms": ((), np.nan)})
        if not self.covered(start, stop).all():
            raise RuntimeError(f"detections of frames {self.missing(start, stop)} are missing from {self.folder}")
        return positions, confidence, time_ms

    def assemble_feet(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Foot points and their confidences of frames ``start``..``stop`` (held, as for ``assemble``)."""
        feet, confidence = self._gather(start, stop, {"feet": ((self.max_people, 4, 3), 0.0),
                                                      "feet_confidence": ((self.max_people, 4), 0.0)})
        return feet, confidence

    def assemble_joints_3d(self, start: int, stop: int) -> np.ndarray:
        """The detector's own 3D joints of frames ``start``..``stop`` (held, as for ``assemble``)."""
        return self._gather(start, stop, {"joints_3d": ((self.max_people, 17, 3), np.nan)})[0]
