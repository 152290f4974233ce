"""Detection of a whole video on several threads, resumable, without switching between people.

The frames are split into contiguous pieces, one per worker thread, each with its own decoder
and tracking detector (``core.detection``), so both cores work. Every worker saves its
detections in chunks (``core.detection_cache``) as it goes, so a stopped run resumes where it
stopped. Splitting must not change the result: seeks are checked by the frame times (some
variable-rate files seek to wrong frames), and a piece's detector starts on the person before
it. After an earlier run's detections, the piece's first frame is shown only around where that
person was; beside another worker's piece, whose last frames are not known yet, the detector
first runs over a few earlier frames (its lead), the first of them shown only where the first
worker found its person. Where a piece still begins on someone else, the previous piece's
detector, still open, goes on past the seam until both agree again, exactly as one detector
over the whole clip would have done.
"""
from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .detection import Detector, ProgressCallback
from .detection_cache import Chunk, DetectionCache, video_signature
from .keypoints import KeypointTrack
from .skeleton import H36M_SKELETON
from .video import VideoError, VideoInfo, probe, read_frames

J = H36M_SKELETON.index


@dataclass
class DetectionRun:
    """What ``detect_video_cached`` found, and how."""
    track: KeypointTrack
    time_ms: np.ndarray                 # (F,) presentation time of each frame
    frames_detected: int                # detector calls in this run (a piece's lead frames and redone frames too)
    frames_from_cache: int              # taken from chunks of earlier runs
    frames_announced: int               # frames the container announced for the range (0: unknown)
    cache_problems: list[str] = field(default_factory=list)
    preview_segments: list[tuple[int, int, str]] = field(default_factory=list)  # (first frame, count, file)


def split_work(ranges: list[tuple[int, int]], workers: int, min_piece: int = 60) -> list[list[tuple[int, int]]]:
    """Cut the frame ranges into at most ``workers`` lists of contiguous pieces of nearly equal total length.

    Each worker runs its pieces in order with one tracking detector per piece; pieces shorter
    than ``min_piece`` are not worth a second detector's start-up, and a range is not cut to
    leave less than that to the next worker (a piece cut from a range pays a lead).
    """
    total = sum(b - a for a, b in ranges)
    workers = max(1, min(workers, total // max(min_piece, 1)))
    share = -(-total // workers) if total else 0
    plans: list[list[tuple[int, int]]] = [[] for _ in range(workers)]
    worker, room = 0, share
    for a, b in ranges:
        while a < b:
            last = worker == workers - 1
            whole = last or b - a - room < min_piece
            if not whole and room < min_piece and plans[worker]:  # no sliver of a range for this worker
                worker, room = worker + 1, share
                continue
            take = b - a if whole else room
            plans[worker].append((a, a + take))
            a += take
            room -= take
            if room <= 0 and not last:
                worker, room = worker + 1, share
    return [plan for plan in plans if plan]


class _PreviewSegment:
    """The frames one worker decoded, shrunk to the preview's height, so the preview needs no second decode."""

    def __init__(self, path: str, fps: float, size: tuple[int, int], height: int):
        import cv2
        self.cv2, self.path = cv2, path
        self.size = (int(round(size[0] * height / size[1])) // 2 * 2, height)
        self.writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, self.size)
        if not self.writer.isOpened():
            raise OSError(f"cannot write {path}")
        self.frames = 0

    def add(self, image_rgb: np.ndarray) -> None:
        cv2 = self.cv2
        small = cv2.resize(image_rgb, self.size, interpolation=cv2.INTER_LINEAR)
        self.writer.write(cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
        self.frames += 1

    def close(self) -> None:
        self.writer.release()


class _Counter:
    def __init__(self):
        self.value, self._lock = 0, threading.Lock()

    def add(self, n: int = 1) -> None:
        with self._lock:
            self.value += n


@dataclass
class Piece:
    """Frames ``start``..``stop`` for one tracking detector, which first runs over ``lead`` earlier frames.

    ``prime_box``, when set, hides everything but that box (x0, y0, x1, y1 pixels) in the first
    half of the lead frames, or without a lead in the piece's first frame (if nobody is found
    inside, the whole frame is detected), so a fresh detector starts on the person there. The
    lead frames are not stored; they are compared with the previous piece's detections of the
    same frames, as the first frame of a piece without a lead is with the frame before it
    (``_WorkerRun.follows_previous``). With a ``reference``, the piece ends early once
    ``CONVERGED_FRAMES`` frames in a row agree with it (both detectors now follow the same
    person), and keeps the reference for the rest.
    """
    start: int
    stop: int | None
    lead: int = 0
    prime_box: tuple[float, float, float, float] | None = None
    reference: Chunk | None = None   # earlier detections of these frames: the piece stops once it agrees with them
    detector: object = None          # a detector still tracking from the frame before ``start`` (a continuation)
    keep_open: bool = False          # leave the detector open at ``stop`` (another piece starts there)
    keep_frames: bool = True         # keep its frames for the preview (a redo's frames are already kept)
    publish_first: "FirstPerson | None" = None   # report the first person this piece's detector finds
    prime_from: "FirstPerson | None" = None      # start on that person (``prime_box`` once they are found)


class FirstPerson:
    """Where the first worker found its person: the other workers start looking there.

    Most clips keep their subject in about the same part of the frame; a second detector that
    starts where the first one found its person most likely follows the same one, and the seam
    check catches it when not.
    """

    def __init__(self):
        self.found, self.box = threading.Event(), None

    def publish(self, joints: np.ndarray, confidence: np.ndarray, size: tuple[int, int]) -> None:
        if not self.found.is_set():
            box = person_box(joints, confidence, size)
            if box is not None:
                self.box = box
                self.found.set()

    def wait(self, quit_event: threading.Event, seconds: float = 2.0):
        deadline = time.perf_counter() + seconds
        while not self.found.is_set() and not quit_event.is_set() and time.perf_counter() < deadline:
            self.found.wait(0.02)
        return self.box


def ended_early(piece: Piece, next_index: int, quit_event: threading.Event) -> bool:
    return quit_event.is_set() or piece.stop is None or next_index < piece.stop


def _detect_pieces(info: VideoInfo, detector_factory: Callable[[], Detector], cache: DetectionCache,
                   counter: _Counter, quit_event: threading.Event, chunk_frames: int,
                   preview: tuple[str, int] | None, segments: list, seam_checks: dict, open_detectors: dict,
                   exact: bool, pieces: list[Piece]) -> None:
    """One worker: each piece with a fresh tracking detector, flushing a chunk every ``chunk_frames`` frames."""
    for piece in pieces:
        seeked = piece.start - piece.lead > 0 and not exact
        fresh = piece.detector is None
        if piece.detector is None:
            with _ONE_DETECTOR_STARTS:  # a model's loading peaks in memory: not two at once
                detector = detector_factory()
        else:
            detector = piece.detector
        segment = None
        if preview is not None and piece.keep_frames:
            folder, height = preview
            segment = _PreviewSegment(os.path.join(folder, f"frames_{piece.start:09d}_{len(segments)}.mp4"), info.fps,
                                      (info.width, info.height), height)
        buffer: list[tuple[np.ndarray, np.ndarray, float]] = []
        check: list[tuple[np.ndarray, np.ndarray]] = []   # detections to compare with the frames before the piece
        buffer_start = piece.start

        def flush(ended: bool) -> None:
            nonlocal buffer, buffer_start, seeked
            if buffer or ended:
                joints, conf, times = zip(*buffer) if buffer else ((), (), ())
                cache.write(Chunk(buffer_start, np.array(joints, np.float32).reshape(-1, 17, 2),
                                  np.array(conf, np.float32).reshape(-1, 17), np.array(times, np.float64), ended,
                                  seeked))
                buffer_start += len(buffer)
                buffer, seeked = [], False

        if piece.prime_from is not None:
            piece.prime_box = piece.prime_from.wait(quit_event)
        next_index, agreeing, converged = piece.start - piece.lead, 0, False
        masked_until = piece.start - piece.lead + piece.lead // 2 if piece.prime_box is not None else 0
        try:
            for frame in read_frames(info.path, next_index, piece.stop, stopping=quit_event.is_set, exact=exact):
                if fresh and frame.index == piece.start and piece.lead == 0:
                    joints, conf = _first_detection(detector, frame.image, piece.prime_box, counter)
                    check.append((joints, conf))
                else:
                    shown = _only_inside(frame.image, piece.prime_box) if frame.index < masked_until else frame.image
                    joints, conf = detector.detect(shown)
                    counter.add()
                next_index += 1
                if piece.publish_first is not None:
                    piece.publish_first.publish(joints, conf, (info.width, info.height))
                if frame.index < piece.start:
                    check.append((joints, conf))  # a frame shown only in part still shows where the person is
                    continue
                if segment is not None:
                    segment.add(frame.image)
                buffer.append((joints, conf, frame.time_ms))
                reference = piece.reference
                if reference is not None and frame.index < reference.stop:
                    at = frame.index - reference.start
                    agree = same_person((reference.positions[at:at + 1], reference.confidence[at:at + 1]),
                                        (joints[None], conf[None]))
                    agreeing = agreeing + 1 if agree else 0
                    if agreeing >= CONVERGED_FRAMES:
                        converged = True
                        break
                if len(buffer) >= chunk_frames:
                    flush(False)
                if quit_event.is_set():
                    break
            if converged:  # the rest of the earlier detections stands
                flush(False)
                rest = slice(next_index - piece.reference.start, None)
                cache.write(Chunk(next_index, piece.reference.positions[rest], piece.reference.confidence[rest],
                                  piece.reference.time_ms[rest], piece.reference.video_ended))
                ended = piece.reference.video_ended
            else:
                ended = not quit_event.is_set() and (piece.stop is None or next_index < piece.stop)
                flush(ended and next_index >= piece.start)
        finally:
            if piece.keep_open and not ended_early(piece, next_index, quit_event):
                open_detectors[piece.stop] = detector
            else:
                detector.close()
            if segment is not None:
                segment.close()
                segments.append((piece.start, segment.frames, segment.path))
        if check:  # lead frames are compared with the same frames, a first frame with the one before it
            seam_checks[piece.start] = (piece.start - (piece.lead or 1), np.array([j for j, _ in check]),
                                        np.array([c for _, c in check]))
        if quit_event.is_set() or ended:  # stopped, or the video ended: later pieces have no frames
            return


_ONE_DETECTOR_STARTS = threading.Lock()


def _first_detection(detector, image: np.ndarray, box, counter: _Counter) -> tuple[np.ndarray, np.ndarray]:
    """A fresh detector's first frame, shown only inside ``box`` so it locks on to the person there.

    The box is the person's own region grown by half its size, so what the detector sees of
    them is unchanged; where nobody is found inside, the whole frame is detected instead.
    """
    if box is not None:
        joints, conf = detector.detect(_only_inside(image, box))
        counter.add()
        if (conf > 0.5).sum() >= 6:
            return joints, conf
    counter.add()
    return detector.detect(image)


def _only_inside(image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """A copy of ``image`` that is black outside ``box``."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    out = np.zeros_like(image)
    out[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = image[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)]
    return out


CONVERGED_FRAMES = 5          # frames in a row on which a redone piece agrees with the earlier detections
PRIMED_LEAD = 6                # lead frames of a piece beside another worker's (time to settle on the person)
SAME_PERSON_DISTANCE = 0.5     # mean joint distance, in torso lengths, below which two detections are one person


def same_person(previous: tuple[np.ndarray, np.ndarray], later: tuple[np.ndarray, np.ndarray],
                min_confidence: float = 0.5) -> bool | None:
    """Whether two detections are of one person: two detectors on the same frames, or one frame and the next.

    False also when only the earlier detection shows someone: the later detector has not locked
    on to anybody and may pick anyone after these frames. None when neither shows a person.
    """
    (a, a_conf), (b, b_conf) = previous, later
    both = (a_conf > min_confidence) & (b_conf > min_confidence)
    usable = both.sum(axis=1) >= 6
    if not usable.any():
        return False if ((a_conf > min_confidence).sum(axis=1) >= 6).any() else None
    torso = np.linalg.norm(a[:, J("thorax")] - a[:, J("pelvis")], axis=-1)
    torso = float(np.median(torso[usable])) or 1.0
    distance = np.array([np.linalg.norm(a[t][both[t]] - b[t][both[t]], axis=-1).mean() for t in np.flatnonzero(usable)])
    return bool(np.median(distance) / torso < SAME_PERSON_DISTANCE)


def person_box(joints: np.ndarray, confidence: np.ndarray, size: tuple[int, int],
               min_confidence: float = 0.5) -> tuple[float, float, float, float] | None:
    """The box around a detected person's confident joints, grown by half its size on each side."""
    seen = joints[confidence > min_confidence]
    if len(seen) < 4:
        return None
    (x0, y0), (x1, y1) = seen.min(axis=0), seen.max(axis=0)
    grow = 0.5 * max(x1 - x0, y1 - y0)
    return (max(x0 - grow, 0), max(y0 - grow, 0), min(x1 + grow, size[0]), min(y1 + grow, size[1]))


def _only_the_main_thread_takes_ctrl_c() -> None:
    """Block SIGINT in this worker thread and in the threads the detector starts from it.

    Python handles Ctrl-C in the main thread, but the kernel may deliver the signal to any
    thread; inside mediapipe's own threads it interrupts a wait, which aborts the process
    ("terminate called ...") instead of stopping the run cleanly.
    """
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


class _WorkerRun:
    """Threads that each detect a list of pieces, stopped together on a request, Ctrl-C or an error."""

    def __init__(self, info: VideoInfo, detector_factory, cache: DetectionCache, counter: _Counter,
                 chunk_frames: int, preview: tuple[str, int] | None, segments: list):
        self.args, self.counter = (info, detector_factory, cache, counter), counter
        self.chunk_frames, self.preview, self.segments = chunk_frames, preview, segments
        self.seam_checks: dict[int, tuple] = {}  # piece start -> (first earlier frame to compare with, joints, conf)
        self.stops: dict[int, int | None] = {}                      # piece start -> its stop
        self.open_detectors: dict[int, object] = {}                 # seam -> the detector that tracked up to it

    def run(self, plans: list[list[Piece]], should_stop, report, exact: bool = False) -> None:
        quit_event, errors = threading.Event(), []
        for plan in plans:
            for piece in plan:
                self.seam_checks.pop(piece.start, None)
                self.stops[piece.start] = piece.stop
        for plan in plans:
            for piece in plan:
                piece.keep_open = piece.stop in self.stops and piece.stop != piece.start

        def work(plan):
            _only_the_main_thread_takes_ctrl_c()
            try:
                _detect_pieces(*self.args, quit_event, self.chunk_frames, self.preview, self.segments, self.seam_checks,
                               self.open_detectors, exact, pieces=plan)
            except BaseException as exc:  # handed to the calling thread
                errors.append(exc)
                quit_event.set()

        threads = [threading.Thread(target=work, args=(plan,), name=f"detect-{k}", daemon=True)
                   for k, plan in enumerate(plans)]
        for thread in threads:
            thread.start()
        try:
            while alive := [thread for thread in threads if thread.is_alive()]:
                alive[0].join(timeout=0.05)
                if should_stop is not None and should_stop():
                    quit_event.set()
                report()
        except BaseException:  # Ctrl-C or a cancelled progress callback: finished chunks are saved first
            quit_event.set()
            for thread in threads:
                thread.join()
            raise
        if errors:
            raise errors[0]
        if quit_event.is_set():
            raise InterruptedError("detection cancelled")

    def close(self) -> None:
        for detector in self.open_detectors.values():
            detector.close()
        self.open_detectors.clear()

    def forget_from(self, frame: int) -> None:
        """Drop what pieces starting at or after ``frame`` left (their chunks are dropped by the caller)."""
        for start in [s for s in self.seam_checks if s >= frame]:
            del self.seam_checks[start]
        self.segments[:] = [s for s in self.segments if s[0] < frame]

    def follows_previous(self, cache: DetectionCache, start: int) -> bool | None:
        """Whether the piece at ``start`` began on the person detected before it (None: nothing to compare)."""
        first, joints, confidence = self.seam_checks[start]
        if first < 0 or not cache.covered(first, first + len(joints)).all():
            return None
        return same_person(cache.assemble(first, first + len(joints))[:2], (joints, confidence))

    def repair_for(self, cache: DetectionCache, start: int, size: tuple[int, int], first_frame: int) -> Piece | None:
        """The piece to redo when the piece at ``start`` began on someone else than the one before it.

        It continues the previous piece's detector where that is still open (the same result as
        one detector over both pieces), else (those frames come from an earlier run) it starts
        over with a lead whose first frames show only where that person was. None when it cannot
        be repaired (the caller has found the seam broken: ``follows_previous`` is False).
        """
        if start in self.open_detectors:
            return Piece(start, self.stops.get(start), detector=self.open_detectors.pop(start), keep_frames=False)
        if self.seam_checks[start][0] < start - 1:  # it had a lead already: a second one would find the same
            return None
        lead = min(PRIMED_LEAD, start - first_frame)
        if lead == 0 or not cache.covered(start - lead, start).all():
            return None
        joints, confidence, _ = cache.assemble(start - lead, start - lead + 1)
        box = person_box(joints[0], confidence[0], size)
        return Piece(start, self.stops.get(start), lead, box, keep_frames=False) if box is not None else None


def _lost_person(frame: int) -> str:
    return (f"the person followed up to frame {frame} could not be found again there: the motion may switch "
            f"to another person at frame {frame} (try --workers 1)")


def _detect_and_stitch(workers_run: _WorkerRun, cache: DetectionCache, plans: list[list[Piece]], piece, start: int,
                       end: int | None, total: int, should_stop, report, info: VideoInfo) -> None:
    """Run the planned pieces, then repair what the frame times or the seams show."""
    workers_run.run(plans, should_stop, lambda: report(total))
    exact = False
    misplaced = cache.misplaced_seek(start)
    if misplaced is not None:  # seeking is not frame-accurate in this file: redo from there, decoding in order
        exact = True
        cache.drop_from(misplaced)
        workers_run.forget_from(misplaced)
        cache.problems.append(f"seeking in this video lands on wrong frames (a variable frame rate?); frames from "
                              f"{misplaced} on were detected again, decoded in order")
        total += (end or misplaced) - misplaced
        workers_run.run([[piece(misplaced, end)]], should_stop, lambda: report(total), exact=True)
    for seam in sorted(workers_run.seam_checks):  # in order: a repaired piece changes what the next seam sees
        if workers_run.follows_previous(cache, seam) is not False:  # the same person, or nothing to judge by
            continue
        redo = workers_run.repair_for(cache, seam, (info.width, info.height), start)
        if redo is None:
            cache.problems.append(_lost_person(seam))
            continue
        earlier_stop = redo.stop if redo.stop is not None else max(c.stop for c in cache.chunks)
        positions, confidence, times = cache.assemble(redo.start, earlier_stop)
        ended = cache.video_end() is not None and cache.video_end() <= earlier_stop
        redo.reference = Chunk(redo.start, positions, confidence, times, ended)
        cache.drop_range(redo.start, redo.stop)
        total += (redo.stop or redo.start) - redo.start + redo.lead
        before = workers_run.counter.value
        workers_run.run([[redo]], should_stop, lambda: report(total), exact=exact)
        continued = redo.detector is not None  # the same detector went on: one person by construction
        if continued or workers_run.follows_previous(cache, redo.start):
            cache.problems.append(f"{workers_run.counter.value - before} frames from frame {redo.start} on were "
                                  "detected again to keep following the same person (another person is in view "
                                  "there, or the person is hard to find from scratch)")
        else:
            cache.problems.append(_lost_person(redo.start))


def detect_video_cached(path: str, cache_folder: str, detector_factory: Callable[[], Detector],
                        progress: ProgressCallback | None = None, should_stop: Callable[[], bool] | None = None,
                        start: int = 0, stop: int | None = None, workers: int = 2, info: VideoInfo | None = None,
                        preview_height: int | None = None, chunk_frames: int = 50) -> DetectionRun:
    """Detections of frames ``start`` to ``stop``, resuming from the chunks in ``cache_folder``.

    The frames no chunk holds are split between ``workers`` threads, each with its own detector
    and decoder, so both cores work. Each worker saves a chunk every ``chunk_frames`` frames; when
    the run stops (``should_stop``, Ctrl-C, an error) the finished frames stay for the next run.
    A piece's detector starts on the person of the frame before it where that frame is known
    (from an earlier run) or on the person the first worker finds; where a piece still begins on
    someone else, the previous piece's detector goes on past the seam until both agree, so
    splitting the work never switches between people. With ``preview_height``, the decoded
    frames are also kept, shrunk, for the preview.
    """
    info = info or probe(path)
    name = getattr(detector_factory, "name", None) or "detector"
    cache = DetectionCache(cache_folder, video_signature(info, name)).load()
    announced_stop = info.range_stop(stop)
    end = announced_stop                  # None: the container does not say how long the video is
    if cache.video_end() is not None:
        end = cache.video_end() if end is None else min(end, cache.video_end())
    if end is not None:
        end = max(end, start)
        todo = cache.missing(start, end)
        ranges = split_work(todo, workers)
        total = sum(b - a for a, b in todo)
    else:  # unknown length: what the cache holds from ``start`` on, then one worker reads to the end
        known = start
        while any(c.start <= known < c.stop for c in cache.chunks):
            known = max(c.stop for c in cache.chunks if c.start <= known < c.stop)
        ranges, total = [[(known, None)]], 0

    def piece(a: int, b: int | None) -> Piece:
        """A piece right after known detections (an earlier run's) starts on the person they show."""
        box = None
        if a > 0 and cache.covered(a - 1, a).all():
            joints, confidence, _ = cache.assemble(a - 1, a)
            box = person_box(joints[0], confidence[0], (info.width, info.height))
        return Piece(a, b, prime_box=box)

    plans = [[piece(a, b) for a, b in plan] for plan in ranges]
    if len(plans) > 1:  # the other workers start on the person the first one finds
        first = plans[0][0].publish_first = FirstPerson()
        for plan in plans[1:]:
            if plan[0].prime_box is None:
                plan[0].prime_from, plan[0].lead = first, min(PRIMED_LEAD, plan[0].start - start)
    from_cache = int(cache.covered(start, end).sum()) if end is not None else ranges[0][0][0] - start
    preview_folder = os.path.join(cache_folder, "preview")
    if preview_height:
        shutil.rmtree(preview_folder, ignore_errors=True)  # frames of earlier runs are not this run's
        os.makedirs(preview_folder)
    counter, segments = _Counter(), []
    preview = (preview_folder, preview_height) if preview_height else None
    workers_run = _WorkerRun(info, detector_factory, cache, counter, chunk_frames, preview, segments)
    started = time.perf_counter()

    def report(done_total: int) -> None:
        if progress is not None:
            progress(counter.value, done_total, counter.value / max(time.perf_counter() - started, 1e-9))

    try:
        _detect_and_stitch(workers_run, cache, plans, piece, start, end, total, should_stop, report, info)
    finally:
        workers_run.close()
    if cache.video_end() is not None:
        end = cache.video_end() if end is None else min(end, cache.video_end())
    if end is None or end <= start:
        raise VideoError(f"{path}: no frames in the range {start}-{stop if stop is not None else 'end'}")
    positions, confidence, time_ms = cache.assemble(start, end)
    track = KeypointTrack(positions, confidence, info.width, info.height, info.fps)
    return DetectionRun(track, time_ms, counter.value, min(from_cache, track.num_frames),
                        max(announced_stop - start, 0) if announced_stop is not None else 0, cache.problems,
                        sorted(s for s in segments if s[1] > 0))
