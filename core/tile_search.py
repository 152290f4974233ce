"""Finding people too small for the detector: the frame looked at again in overlapping tiles.

BlazePose's person detector sees the whole frame shrunk to 224 pixels, so a person far from the
camera (about 140 pixels tall in a 960x540 frame: a runner 6-7 m away at 30 mm) is a few dozen
pixels there and is not found at all. The same detector on a tile of 60 % of the frame's width
and height sees such a person 1.7 times as large and finds them. ``TILES_PER_AXIS`` x
``TILES_PER_AXIS`` tiles of ``TILE_SHARE`` overlap, so a person near the middle is in several; the
copies are merged, keeping the one most inside its tile (one cut by a tile's edge has guessed
joints beyond it). The detector does this only for frames in which it finds nobody, and after a
search that finds nobody it waits ``SEARCH_EVERY - 1`` frames before the next, so a clip with no
one in it costs little more.
"""
from __future__ import annotations

import numpy as np

TILE_SHARE = 0.6          # a tile's width and height as a share of the frame's
TILES_PER_AXIS = 2
SEARCH_EVERY = 5          # frames between searches while they find nobody
SAME_PERSON_OF_TORSO = 0.5   # two finds whose trunk centres lie closer than this many torso lengths are one person
# BlazePose's 33 landmarks: shoulders and hips
SHOULDERS, HIPS = (11, 12), (23, 24)


def tiles(width: int, height: int, share: float = TILE_SHARE, per_axis: int = TILES_PER_AXIS) -> list[tuple[int, int, int, int]]:
    """(x0, y0, x1, y1) of ``per_axis`` x ``per_axis`` overlapping tiles covering the frame, corners included."""
    tile_width, tile_height = int(round(width * share)), int(round(height * share))
    xs = np.linspace(0, width - tile_width, per_axis).round().astype(int)
    ys = np.linspace(0, height - tile_height, per_axis).round().astype(int)
    return [(int(x), int(y), int(x) + tile_width, int(y) + tile_height) for y in ys for x in xs]


def _inside_margin(points: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """How far (pixels) the person's landmarks stay from the nearest edge of their tile (negative: beyond it)."""
    x0, y0, x1, y1 = box
    return float(min(points[:, 0].min() - x0, x1 - points[:, 0].max(), points[:, 1].min() - y0, y1 - points[:, 1].max()))


def merge_people(found: list[tuple[np.ndarray, tuple[int, int, int, int]]], max_people: int) -> list[int]:
    """Indices into ``found`` ((33, 2+) landmarks in frame pixels, tile box) of distinct people: one per
    person, the copy most inside its tile, at most ``max_people``, those most inside first."""
    order = sorted(range(len(found)), key=lambda i: -_inside_margin(found[i][0][:, :2], found[i][1]))
    kept: list[int] = []
    for i in order:
        points = found[i][0][:, :2]
        centre = points[list(SHOULDERS + HIPS)].mean(axis=0)
        torso = np.linalg.norm(points[list(SHOULDERS)].mean(axis=0) - points[list(HIPS)].mean(axis=0))
        if all(np.linalg.norm(centre - found[k][0][list(SHOULDERS + HIPS), :2].mean(axis=0))
               > SAME_PERSON_OF_TORSO * max(torso, 1.0) for k in kept):
            kept.append(i)
    return kept[:max_people]
