"""A second look, in square crops, at frames where the whole frame showed nobody.

BlazePose squeezes a whole frame into its square input, so in a wide frame a person under about
40 % of the frame's height is often not found (measured on the data engine's renders: found in
24 % of the frames at 20-30 % of a 16:9 frame's height, 49 % at 30-40 %, 84 % at 40-50 %). Users
who film a whole body from far enough away meet exactly that. A square as tall as the frame shows
the same person about twice as large to the detector.

Only people wholly inside the frame are taken from a crop: one cut by the frame's border is
mostly guessed by the detector (on the bench's renders such crop detections had 24-29 px of
2D error against 7 px elsewhere), and through the lifter's temporal window a few such frames made
their neighbours worse. The search is bounded: when someone was seen in the previous frame (in the
whole frame or in a crop) it looks first in the square centred where they were; a scan of every
square runs when they are not there, and then at most once every ``SCAN_INTERVAL`` frames while
nobody is found: on an empty stretch of a 16:9 clip, two squares of about 40 ms each (both of
BlazePose's models run on a still image) once every 16 frames.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

# One detection: landmarks (people, 33, 3: x, y in the image's pixels, depth in pixels), visibility
# (people, 33) and world landmarks (people, 33, 3, metres).
Landmarks = tuple[np.ndarray, np.ndarray, np.ndarray]
StillDetector = Callable[[np.ndarray], Landmarks]   # RGB image -> Landmarks in that image's pixels

SQUARE_STEP = 0.8   # neighbouring squares of a scan start at most this share of their side apart (they overlap)
CROP_EDGE = 0.02    # a person within this share of a square's side from a cut through the frame is left to its neighbour
SAME_PERSON = 0.2   # two people whose landmarks lie this close (share of their size) are one, seen by two squares
SCAN_INTERVAL = 15  # frames between scans of every square while nobody is found (the first scan after a loss is at once)


def no_landmarks() -> Landmarks:
    return np.zeros((0, 33, 3), np.float32), np.zeros((0, 33), np.float32), np.zeros((0, 33, 3), np.float32)


def square_crops(width: int, height: int) -> list[tuple[int, int, int]]:
    """(x0, y0, side) of square crops as tall (wide) as a landscape (portrait) frame, evenly spaced from one
    end to the other and overlapping, so that every person narrower than about a fifth of the square lies
    wholly inside at least one of them."""
    side, long = min(width, height), max(width, height)
    count = 1 + int(np.ceil((long - side) / (SQUARE_STEP * side)))
    starts = np.linspace(0, long - side, count).round().astype(int)
    return [(int(s), 0, side) if width >= height else (0, int(s), side) for s in starts]


def square_around(centre: np.ndarray, width: int, height: int) -> tuple[int, int, int]:
    """The crop of ``square_crops``' size centred on ``centre`` (x, y pixels) as nearly as the frame allows."""
    side = min(width, height)
    x0 = int(round(np.clip(centre[0] - side / 2, 0, width - side)))
    y0 = int(round(np.clip(centre[1] - side / 2, 0, height - side)))
    return x0, y0, side


def cut_by_crop(points: np.ndarray, x0: int, y0: int, side: int, width: int, height: int) -> bool:
    """Whether a person found in a crop (landmarks (33, 3), frame pixels) reaches a side of the crop that cuts
    through the frame: a part of a person, who lies wholly inside a neighbouring crop."""
    margin = CROP_EDGE * side
    low, high = points[:, :2].min(axis=0), points[:, :2].max(axis=0)
    return bool((x0 > 0 and low[0] < x0 + margin) or (x0 + side < width and high[0] > x0 + side - margin) or
                (y0 > 0 and low[1] < y0 + margin) or (y0 + side < height and high[1] > y0 + side - margin))


def cut_by_frame(points: np.ndarray, width: int, height: int) -> bool:
    """Whether any of a person's 33 landmarks (frame pixels) lies outside the frame: partly out of view."""
    low, high = points[:, :2].min(axis=0), points[:, :2].max(axis=0)
    return bool(low[0] < 0 or low[1] < 0 or high[0] > width - 1 or high[1] > height - 1)


def person_centre(points: np.ndarray) -> np.ndarray:
    """The middle of a person's landmarks' bounding box (x, y pixels)."""
    return (points[:, :2].min(axis=0) + points[:, :2].max(axis=0)) / 2


class SquareCropSearch:
    """Finds people in square crops of a wide (or tall) frame for a detector that found nobody in it.

    Call ``found_in_whole_frame`` with the people whenever the whole frame showed someone, and ``find``
    when it showed nobody, with ``detect_still``, which runs the detector on one image without tracking
    (its landmarks in that image's pixels); ``find`` returns the people in the frame's pixels, most
    visible first. (The search holds no reference to the detector: a detector that owns its search and
    is dropped unclosed is then freed at once, which mediapipe 1.x needs to exit cleanly.)
    """

    def __init__(self, max_people: int, scan_interval: int = SCAN_INTERVAL):
        if scan_interval < 1:
            raise ValueError(f"scan_interval must be at least 1 frame, not {scan_interval}")
        self.max_people = max_people
        self.scan_interval = scan_interval
        self._last_centre: np.ndarray | None = None   # where a crop last showed someone (the previous frame)
        self._frames_since_scan = scan_interval       # a scan may run at once
        self.crops_looked_at = 0                       # how many crops were detected on (cost, for tests and benches)

    def found_in_whole_frame(self, points: np.ndarray) -> None:
        """The whole frame showed these people (landmarks (people, 33, 3), frame pixels): should they be lost
        in the next frame, look first in the square around the first of them."""
        self._last_centre = person_centre(points[0]) if len(points) else None

    def find(self, frame_rgb: np.ndarray, detect_still: StillDetector) -> Landmarks:
        height, width = frame_rgb.shape[:2]
        if width == height:
            return no_landmarks()   # the whole frame was the square
        if self._last_centre is not None:   # someone was seen in the previous frame
            people = self._look(frame_rgb, [square_around(self._last_centre, width, height)], detect_still)
            if people:
                return self._keep(people)
            self._frames_since_scan = self.scan_interval   # lost from there: scan every square now
        self._last_centre = None
        if self._frames_since_scan < self.scan_interval:
            self._frames_since_scan += 1
            return no_landmarks()
        self._frames_since_scan = 0
        return self._keep(self._look(frame_rgb, square_crops(width, height), detect_still))

    def _look(self, frame_rgb: np.ndarray, crops: list[tuple[int, int, int]], detect_still: StillDetector
              ) -> list[tuple[np.ndarray, ...]]:
        """The people wholly inside both a crop and the frame, each seen once (by the crop that saw more of them)."""
        height, width = frame_rgb.shape[:2]
        found = []
        for x0, y0, side in crops:
            self.crops_looked_at += 1
            points, visibility, world = detect_still(np.ascontiguousarray(frame_rgb[y0:y0 + side, x0:x0 + side]))
            points = points + np.array([x0, y0, 0], np.float32)
            found.extend(person for person in zip(points, visibility, world)
                         if not cut_by_crop(person[0], x0, y0, side, width, height)
                         and not cut_by_frame(person[0], width, height))
        kept: list[tuple[np.ndarray, ...]] = []
        for person in sorted(found, key=lambda p: -float(p[1].mean())):
            size = max(float(np.ptp(person[0][:, :2], axis=0).max()), 1.0)
            if all(np.median(np.linalg.norm(person[0][:, :2] - other[0][:, :2], axis=-1)) > SAME_PERSON * size
                   for other in kept):
                kept.append(person)
        return kept[:self.max_people]

    def _keep(self, people: list[tuple[np.ndarray, ...]]) -> Landmarks:
        if not people:
            return no_landmarks()
        self._last_centre = person_centre(people[0][0])
        return tuple(np.stack(part).astype(np.float32) for part in zip(*people))
