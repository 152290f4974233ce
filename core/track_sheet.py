"""A contact sheet of the people in a clip: each track's best early frame, cropped to them, with its id.

It lets a user see who is who before choosing ``--person``: one tile per track, the person's
skeleton and box drawn on their first good frame, labelled with the id, frames and size.
"""
from __future__ import annotations

import numpy as np

from .skeleton import H36M_SKELETON
from .tracking import SEEN, PersonTrack
from .video import read_frames

TILE_HEIGHT = 320
MAX_TILES = 12
CHOSEN, OTHER = (60, 200, 60), (240, 240, 240)  # BGR


def _tile(image_bgr: np.ndarray, track: PersonTrack, frame: int, chosen: bool, scale: float = 1.0) -> np.ndarray:
    """The person of ``track`` in ``frame`` cut out of ``image_bgr`` (``scale`` times the video's size), drawn."""
    import cv2
    height, width = image_bgr.shape[:2]
    x0, y0, x1, y1 = (v * scale for v in track.box(frame))
    grow = 0.25 * max(x1 - x0, y1 - y0) + 10
    x0, y0 = int(max(x0 - grow, 0)), int(max(y0 - grow, 0))
    x1, y1 = int(min(x1 + grow, width)), int(min(y1 + grow, height))
    colour = CHOSEN if chosen else OTHER
    canvas = image_bgr.copy()
    points, confidence = track.positions[frame] * scale, track.confidence[frame]
    for parent, child in H36M_SKELETON.bones():
        if confidence[parent] >= SEEN and confidence[child] >= SEEN:
            cv2.line(canvas, tuple(int(v) for v in points[parent]), tuple(int(v) for v in points[child]), colour, 3)
    crop = canvas[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)]
    scale = TILE_HEIGHT / max(crop.shape[0], 1)
    tile = cv2.resize(crop, (max(int(crop.shape[1] * scale), 1), TILE_HEIGHT), interpolation=cv2.INTER_AREA)
    tile = np.pad(tile, ((40, 0), (0, max(220 - tile.shape[1], 0)), (0, 0)))
    label = f"{track.id}{' (chosen)' if chosen else ''}"
    cv2.putText(tile, label, (6, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, colour, 2, cv2.LINE_AA)
    cv2.putText(tile, f"frame {frame}, {track.frames} frames", (6, TILE_HEIGHT + 30), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def _frame(video: str, index: int, segments: list[tuple[int, int, str]], height: int) -> tuple[np.ndarray | None, float]:
    """Frame ``index`` of the video (BGR) and its scale: from the preview frames detection kept, shrunk
    (``segments``: (first frame, count, file)), where they hold it (quicker), else decoded from the video."""
    import cv2
    for first, count, file in segments:
        if first <= index < first + count:
            capture = cv2.VideoCapture(file)
            try:
                capture.set(cv2.CAP_PROP_POS_FRAMES, index - first)
                ok, image = capture.read()
            finally:
                capture.release()
            if ok:
                return image, image.shape[0] / height
    decoded = next(iter(read_frames(video, index, index + 1, rgb=False)), None)
    return (decoded.image, 1.0) if decoded is not None else (None, 1.0)


def write_track_sheet(video: str, tracks: list[PersonTrack], path: str, start_frame: int = 0,
                      chosen: int | None = None, segments: list[tuple[int, int, str]] = (),
                      height: int = 0) -> None:
    """Write the contact sheet (PNG) of ``tracks`` (frames counted from ``start_frame`` of ``video``, whose
    frames are ``height`` pixels high: needed with ``segments``, the preview frames detection kept)."""
    import cv2
    shown = sorted(tracks, key=lambda t: -t.frames)[:MAX_TILES]
    shown.sort(key=lambda t: t.id)
    tiles = []
    for track in shown:
        frame = track.best_frame()
        image, scale = _frame(video, start_frame + frame, list(segments) if height else [], height)
        if image is None:
            continue
        tiles.append(_tile(image, track, frame, track.id == chosen, scale))
    if not tiles:
        tiles = [np.zeros((TILE_HEIGHT + 40, 220, 3), np.uint8)]
    sheet = np.hstack([np.pad(t, ((0, 0), (0, 8), (0, 0))) for t in tiles])
    if not cv2.imwrite(path, sheet):
        raise OSError(f"cannot write {path}")
