"""Detection of every person in a whole video on several threads, resumable.

The frames are split into contiguous pieces, one per worker thread, each with its own decoder
and detector (``core.detection``), so both cores work. Every worker saves what it finds (all
people of each frame, up to the detector's ``max_people``) in chunks (``core.detection_cache``)
as it goes, so a stopped run resumes where it stopped. Who is who is decided afterwards, over
the whole clip, by ``core.tracking``.

A fresh detector does not always find everybody a detector that has been tracking them holds
(a person half hidden, against the light). So a piece that follows known detections (an earlier
run's) first sees its first frame shown only around the people of the frame before it (its
priming frame); and after the workers finish, each seam between two pieces is checked: where a
person the earlier piece held at its end is missing from the later piece's first frames, the
later piece is detected again from the seam, primed on those people, until its detections agree
with the first try's. Seeks are checked by the frame times (some variable-rate files seek to
wrong frames).
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

from .detection import Detector, ProgressCallback, padded, padded_feet, padded_joints_3d
from .keypoints import PeopleDetections
from .tracking import MATCH_DISTANCE, MIN_JOINTS, SEEN, person_size, pose_distance
from .detection_cache import Chunk, DetectionCache, video_signature
from .video import VideoError, VideoInfo, probe, read_frames


@dataclass
class DetectionRun:
    """What ``detect_video_cached`` found, and how."""
    people: PeopleDetections
    time_ms: np.ndarray                 # (F,) presentation time of each frame
    frames_detected: int                # detector calls in this run
    frames_from_cache: int              # taken from chunks of earlier runs
    frames_announced: int               # frames the container announced for the range (0: unknown)
    cache_problems: list[str] = field(default_factory=list)
    preview_segments: list[tuple[int, int, str]] = field(default_factory=list)  # (first frame, count, file)


def split_work(ranges: list[tuple[int, int]], workers: int, min_piece: int = 60) -> list[list[tuple[int, int]]]:
    """Cut the frame ranges into at most ``workers`` lists of contiguous pieces of nearly equal total length.

    Each worker runs its pieces in order with one detector per piece; pieces shorter than
    ``min_piece`` are not worth a second detector's start-up, and a range is not cut to leave
    less than that to the next worker.
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
    """Frames ``start``..``stop`` for one fresh detector.

    ``prime_boxes``: boxes (x0, y0, x1, y1) of the people in the frame before ``start``; the
    detector first sees frame ``start`` shown only inside them (not stored), so it starts on
    them. With a ``reference`` (the first try's detections of these frames), the piece ends once
    ``CONVERGED_FRAMES`` frames in a row find the same people as it, and keeps its rest.
    """
    start: int
    stop: int | None
    prime_boxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    reference: Chunk | None = None
    keep_frames: bool = True         # keep its frames for the preview (a redo's frames are already kept)
    continuation: _Continuation | None = None   # the earlier piece's detector and reader, open at ``start``
    keep_open: bool = False          # leave detector and reader open at ``stop`` (another piece starts there)


class _Continuation:
    """A piece's detector, still tracking, and its frame reader, positioned at the frame after the piece.

    A redo that continues the earlier piece takes both: no new detector, no seek back into the video.
    """

    def __init__(self, detector, frames, next_frame):
        self.detector, self._frames, self._next = detector, frames, next_frame

    def frames(self):
        """The frames from the piece's end on (the first one already read)."""
        yield self._next
        yield from self._frames

    def close(self) -> None:
        self._frames.close()
        self.detector.close()


CONVERGED_FRAMES = 5          # frames in a row on which a redone piece finds the same people as the first try
SEAM_FRAMES = 3               # a person held at a seam must be found within this many frames after it


def people_boxes(joints: np.ndarray, confidence: np.ndarray, size: tuple[int, int]) -> list[tuple]:
    """The box around each person of one frame's slots (their seen joints), grown by half its size."""
    boxes = []
    for points, conf in zip(joints, confidence):
        seen = points[conf >= SEEN]
        if len(seen) < MIN_JOINTS:
            continue
        (x0, y0), (x1, y1) = seen.min(axis=0), seen.max(axis=0)
        grow = 0.5 * max(x1 - x0, y1 - y0)
        boxes.append((max(x0 - grow, 0), max(y0 - grow, 0), min(x1 + grow, size[0]), min(y1 + grow, size[1])))
    return boxes


def boxes_before(cache: DetectionCache, frame: int, size: tuple[int, int]) -> list[tuple]:
    """The people's boxes in the frame before ``frame``, where the cache holds it (else none)."""
    if frame <= 0 or not cache.covered(frame - 1, frame).all():
        return []
    joints, confidence, _ = cache.assemble(frame - 1, frame)
    return people_boxes(joints[0], confidence[0], size)


def _only_inside(image: np.ndarray, boxes: list[tuple]) -> np.ndarray:
    """A copy of ``image`` that is black outside ``boxes``."""
    out = np.zeros_like(image)
    for box in boxes:
        x0, y0, x1, y1 = (max(int(round(v)), 0) for v in box)
        out[y0:y1, x0:x1] = image[y0:y1, x0:x1]
    return out


def _people(joints: np.ndarray, confidence: np.ndarray) -> list[int]:
    return [p for p in range(len(joints)) if (confidence[p] >= SEEN).sum() >= MIN_JOINTS]


def all_found(earlier: tuple[np.ndarray, np.ndarray], later: list[tuple[np.ndarray, np.ndarray]]) -> bool:
    """Whether everyone in the ``earlier`` frame's slots is found again in one of the ``later`` frames."""
    joints, confidence = earlier
    for p in _people(joints, confidence):
        size = person_size(joints[p], confidence[p])
        if not any(pose_distance(joints[p], confidence[p], other[q], other_conf[q], size) <= MATCH_DISTANCE
                   for other, other_conf in later for q in _people(other, other_conf)):
            return False
    return True


def same_people(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> bool:
    """Whether two detections of one frame found the same people."""
    return len(_people(*a)) == len(_people(*b)) and all_found(a, [b]) and all_found(b, [a])


def _detect_pieces(info: VideoInfo, detector_factory: Callable[[], Detector], max_people: int,
                   cache: DetectionCache, counter: _Counter, quit_event: threading.Event, chunk_frames: int,
                   preview: tuple[str, int] | None, segments: list, open_detectors: dict, exact: bool,
                   pieces: list[Piece]) -> None:
    """One worker: each piece with a fresh detector, flushing a chunk every ``chunk_frames`` frames."""
    for piece in pieces:
        start, stop = piece.start, piece.stop
        seeked = start > 0 and not exact and piece.continuation is None
        if piece.continuation is not None:
            detector, reader = piece.continuation.detector, piece.continuation.frames()
        else:
            with _ONE_DETECTOR_STARTS:  # a model's loading peaks in memory: not two at once
                detector = detector_factory()
            # a piece kept open reads on past its stop, so a continuation needs no seek
            reader = read_frames(info.path, start, None if piece.keep_open else stop, stopping=quit_event.is_set,
                                 exact=exact)
        past_stop = None   # the first frame after ``stop``, read by a piece kept open
        segment = None
        if preview is not None and piece.keep_frames:
            folder, height = preview
            segment = _PreviewSegment(os.path.join(folder, f"frames_{start:09d}_{len(segments)}.mp4"), info.fps,
                                      (info.width, info.height), height)
        buffer: list[tuple[np.ndarray, np.ndarray, float, np.ndarray, np.ndarray, np.ndarray]] = []
        buffer_start = start

        def flush(ended: bool) -> None:
            nonlocal buffer, buffer_start, seeked
            if buffer or ended:
                joints, conf, times, feet, feet_conf, joints_3d = zip(*buffer) if buffer else ((),) * 6
                cache.write(Chunk(buffer_start, np.array(joints, np.float32).reshape(-1, max_people, 17, 2),
                                  np.array(conf, np.float32).reshape(-1, max_people, 17),
                                  np.array(times, np.float64), ended, seeked,
                                  np.array(feet, np.float32).reshape(-1, max_people, 4, 3),
                                  np.array(feet_conf, np.float32).reshape(-1, max_people, 4),
                                  np.array(joints_3d, np.float32).reshape(-1, max_people, 17, 3)))
                buffer_start += len(buffer)
                buffer, seeked = [], False

        next_index, agreeing, converged = start, 0, False
        reference = piece.reference
        try:
            for frame in reader:
                if stop is not None and frame.index >= stop:
                    past_stop = frame
                    break
                if piece.prime_boxes and frame.index == start:
                    detector.detect(_only_inside(frame.image, piece.prime_boxes))  # start on these people
                    counter.add()
                joints, conf = padded(*detector.detect(frame.image), max_people)
                counter.add()
                next_index += 1
                if segment is not None:
                    segment.add(frame.image)
                buffer.append((joints, conf, frame.time_ms, *padded_feet(getattr(detector, "last_feet", None),
                                                                         max_people),
                               padded_joints_3d(getattr(detector, "last_joints_3d", None), max_people)))
                if reference is not None and frame.index < reference.stop:
                    at = frame.index - reference.start
                    agreeing = agreeing + 1 if same_people((reference.positions[at], reference.confidence[at]),
                                                           (joints, conf)) else 0
                    if agreeing >= CONVERGED_FRAMES:
                        converged = True
                        break
                if len(buffer) >= chunk_frames:
                    flush(False)
                if quit_event.is_set():
                    break
            if converged:  # the rest of the first try stands
                flush(False)
                rest = slice(next_index - reference.start, None)
                if next_index < reference.stop:
                    cache.write(Chunk(next_index, reference.positions[rest], reference.confidence[rest],
                                      reference.time_ms[rest], reference.video_ended, False, reference.feet[rest],
                                      reference.feet_confidence[rest], reference.joints_3d[rest]))
                ended = reference.video_ended
            elif reference is not None and next_index >= reference.stop:  # redone to the first try's end
                ended = reference.video_ended
                flush(ended)
            else:
                ended = not quit_event.is_set() and (stop is None or next_index < stop)
                flush(ended)
        finally:
            if piece.keep_open and not quit_event.is_set() and past_stop is not None:
                open_detectors[stop] = _Continuation(detector, reader, past_stop)
            else:
                reader.close()
                if piece.continuation is not None:
                    piece.continuation.close()   # its reader too, were this piece's not started
                else:
                    detector.close()
            if segment is not None:
                segment.close()
                segments.append((start, segment.frames, segment.path))
        if quit_event.is_set() or ended:  # stopped, or the video ended: later pieces have no frames
            return


_ONE_DETECTOR_STARTS = threading.Lock()


def _only_the_main_thread_takes_ctrl_c() -> None:
    """Block SIGINT in this worker thread and in the threads the detector starts from it.

    Python handles Ctrl-C in the main thread, but the kernel may deliver the signal to any
    thread; inside mediapipe's own threads it interrupts a wait, which aborts the process
    ("terminate called ...") instead of stopping the run cleanly.
    """
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def _run_workers(plans: list[list[Piece]], args: tuple, should_stop, report,
                 exact: bool = False) -> None:
    """One thread per plan, stopped together on a request, Ctrl-C or an error.

    The calling thread waits on events the workers set when they end, not on ``Thread.join``: a
    join that Ctrl-C interrupts leaves the thread marked as ended (CPython 3.11), and a later join
    would then return while the worker, and the detector it is closing, still run.
    """
    quit_event, errors = threading.Event(), []
    info, detector_factory, max_people, cache, counter, chunk_frames, preview, segments, open_detectors = args
    finished = [threading.Event() for _ in plans]

    def work(plan, done: threading.Event):
        _only_the_main_thread_takes_ctrl_c()
        try:
            _detect_pieces(info, detector_factory, max_people, cache, counter, quit_event, chunk_frames, preview,
                           segments, open_detectors, exact, pieces=plan)
        except BaseException as exc:  # handed to the calling thread
            errors.append(exc)
            quit_event.set()
        finally:
            done.set()

    threads = [threading.Thread(target=work, args=(plan, done), name=f"detect-{k}", daemon=True)
               for k, (plan, done) in enumerate(zip(plans, finished))]
    for thread in threads:
        thread.start()
    try:
        while waiting := [done for done in finished if not done.is_set()]:
            waiting[0].wait(timeout=0.05)
            if should_stop is not None and should_stop():
                quit_event.set()
            report()
    except BaseException:  # Ctrl-C or a cancelled progress callback: finished chunks are saved first
        quit_event.set()
        for done in finished:
            done.wait()
        raise
    if errors:
        raise errors[0]
    if quit_event.is_set():
        raise InterruptedError("detection cancelled")


def _found_across(cache: DetectionCache, seam: int) -> bool:
    """Whether everyone held in the frame before ``seam`` is found in one of the few frames after it."""
    stop = min(seam + SEAM_FRAMES, max(c.stop for c in cache.chunks))
    if seam >= stop or not cache.covered(seam - 1, stop).all():
        return True
    joints, confidence, _ = cache.assemble(seam - 1, stop)
    return all_found((joints[0], confidence[0]), list(zip(joints[1:], confidence[1:])))


def _seam_repair(cache: DetectionCache, seam: int, size: tuple[int, int],
                 continuation: _Continuation | None = None) -> Piece | None:
    """The piece to detect again from ``seam`` when someone held just before it is missing just after it.

    It continues the earlier piece's detector where that is still open (``continuation``: the same
    result as one detector over both pieces); else a fresh detector starts primed on the people
    before the seam.
    """
    end = cache.video_end()
    stop = max(c.stop for c in cache.chunks)
    if end is not None:
        stop = min(stop, end)
    if _found_across(cache, seam) or seam >= stop:
        if continuation is not None:
            continuation.close()
        return None
    gaps = cache.missing(seam, stop)
    known = gaps[0][0] if gaps else stop   # the first try's frames from the seam on
    boxes = boxes_before(cache, seam, size) if continuation is None else []
    positions, conf, times = cache.assemble(seam, known)
    reference = Chunk(seam, positions, conf, times, end is not None and known >= end, False,
                      *cache.assemble_feet(seam, known), cache.assemble_joints_3d(seam, known))
    cache.drop_range(seam, known)
    return Piece(seam, known, boxes, reference, keep_frames=False, continuation=continuation)


def detect_video_cached(path: str, cache_folder: str, detector_factory: Callable[[], Detector],
                        progress: ProgressCallback | None = None, should_stop: Callable[[], bool] | None = None,
                        start: int = 0, stop: int | None = None, workers: int = 2, info: VideoInfo | None = None,
                        preview_height: int | None = None, chunk_frames: int = 50) -> DetectionRun:
    """Every person's detections in frames ``start`` to ``stop``, resuming from the chunks in ``cache_folder``.

    The frames no chunk holds are split between ``workers`` threads, each with its own detector
    and decoder, so both cores work. Each worker saves a chunk every ``chunk_frames`` frames; when
    the run stops (``should_stop``, Ctrl-C, an error) the finished frames stay for the next run.
    With ``preview_height``, the decoded frames are also kept, shrunk, for the preview.
    ``detector_factory.max_people`` (default 1) is how many people a frame can hold.
    """
    info = info or probe(path)
    name = getattr(detector_factory, "name", None) or "detector"
    max_people = int(getattr(detector_factory, "max_people", 1))
    cache = DetectionCache(cache_folder, video_signature(info, f"{name} x{max_people}"), max_people).load()
    announced_stop = info.range_stop(stop)
    end = announced_stop                  # None: the container does not say how long the video is
    if cache.video_end() is not None:
        end = cache.video_end() if end is None else min(end, cache.video_end())
    size = (info.width, info.height)

    def piece(a: int, b: int | None) -> Piece:
        """A piece right after known detections (an earlier run's) starts on the people they show."""
        return Piece(a, b, boxes_before(cache, a, size))

    if end is not None:
        end = max(end, start)
        todo = cache.missing(start, end)
        plans = [[piece(a, b) for a, b in plan] for plan in split_work(todo, workers)]
        total = sum(b - a for a, b in todo)
    else:  # unknown length: what the cache holds from ``start`` on, then one worker reads to the end
        known = start
        while any(c.start <= known < c.stop for c in cache.chunks):
            known = max(c.stop for c in cache.chunks if c.start <= known < c.stop)
        plans, total = [[piece(known, None)]], 0
    seams = sorted(p.start for plan in plans for p in plan if p.start > start)
    for plan in plans:
        for p in plan:
            p.keep_open = p.stop in seams
    from_cache = int(cache.covered(start, end).sum()) if end is not None else plans[0][0].start - start
    preview_folder = os.path.join(cache_folder, "preview")
    if preview_height:
        shutil.rmtree(preview_folder, ignore_errors=True)  # frames of earlier runs are not this run's
        os.makedirs(preview_folder)
    counter, segments = _Counter(), []
    preview = (preview_folder, preview_height) if preview_height else None
    open_detectors: dict[int, _Continuation] = {}   # seam -> the detector and reader that reached it
    args = (info, detector_factory, max_people, cache, counter, chunk_frames, preview, segments, open_detectors)
    started = time.perf_counter()

    totals = [total]   # frames to detect, growing when some are redone

    def report() -> None:
        if progress is not None:
            progress(counter.value, totals[0], counter.value / max(time.perf_counter() - started, 1e-9))

    try:
        _detect_and_repair(plans, seams, args, cache, start, end, totals, should_stop, report)
    finally:
        for continuation in open_detectors.values():
            continuation.close()
    if cache.video_end() is not None:
        end = cache.video_end() if end is None else min(end, cache.video_end())
    if end is None or end <= start:
        raise VideoError(f"{path}: no frames in the range {start}-{stop if stop is not None else 'end'}")
    positions, confidence, time_ms = cache.assemble(start, end)
    feet, feet_confidence = cache.assemble_feet(start, end)
    people = PeopleDetections(positions, confidence, info.width, info.height, info.fps, feet, feet_confidence,
                              cache.assemble_joints_3d(start, end))
    return DetectionRun(people, time_ms, counter.value, min(from_cache, people.num_frames),
                        max(announced_stop - start, 0) if announced_stop is not None else 0, cache.problems,
                        sorted(s for s in segments if s[1] > 0))


def _detect_and_repair(plans: list[list[Piece]], seams: list[int], args: tuple, cache: DetectionCache, start: int,
                       end: int | None, totals: list[int], should_stop, report) -> None:
    """Run the planned pieces, then redo what the frame times or the seams show to be wrong."""
    info, counter, segments, open_detectors = args[0], args[4], args[7], args[8]
    _run_workers(plans, args, should_stop, report)
    misplaced = cache.misplaced_seek(start)
    if misplaced is not None:  # seeking is not frame-accurate in this file: redo from there, decoding in order
        cache.drop_from(misplaced)
        segments[:] = [s for s in segments if s[0] < misplaced]
        cache.problems.append(f"seeking in this video lands on wrong frames (a variable frame rate?); frames from "
                              f"{misplaced} on were detected again, decoded in order")
        totals[0] += (end or misplaced) - misplaced
        _run_workers([[Piece(misplaced, end)]], args, should_stop, report, exact=True)
        seams = [seam for seam in seams if seam < misplaced]
    for seam in seams:
        redo = _seam_repair(cache, seam, (info.width, info.height), open_detectors.pop(seam, None))
        if redo is not None:
            before = counter.value
            totals[0] += redo.reference.stop - seam
            _run_workers([[redo]], args, should_stop, report, exact=misplaced is not None)
            cache.problems.append(f"{counter.value - before} frames from frame {seam} on were detected again: "
                                  "someone tracked up to there was not found by a fresh detector")
            if not _found_across(cache, seam):
                cache.problems.append(f"someone tracked up to frame {seam} could not be found again at frame {seam}: "
                                      "their track may break there (try --workers 1)")
