"""Small test videos whose frames carry their own index, and a detector that reads it back.

With them a test can check that every detection landed on the right frame, whatever the
workers, seeks, resumes or truncation did.
"""
import struct
import time

import numpy as np

cv2 = __import__("cv2")


def index_colour(i: int) -> tuple[int, int, int]:
    """BGR of frame ``i``: one decimal digit per channel in coarse steps that survive lossy compression (i < 1,000)."""
    return (30 + 20 * (i % 10), 30 + 20 * (i // 10 % 10), 30 + 20 * (i // 100 % 10))


def index_video(path, frames: int = 60, size=(1024, 32), fps: float = 25.0, fourcc: str = "MJPG") -> str:
    """Frames of one colour each that ``read_index`` reads back; wide, so that every place
    ``IndexDetector`` reports (x = the index) is inside the frame."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), index_colour(i), np.uint8))
    writer.release()
    return str(path)


def read_index(frame_rgb: np.ndarray) -> int:
    """The index a frame of ``index_video`` (or some of its pixels) carries (the detector sees RGB)."""
    red, green, blue = (frame_rgb[..., c].mean() for c in range(3))
    return sum(int(round((value - 30) / 20)) * scale for value, scale in ((blue, 1), (green, 10), (red, 100)))


def nobody():
    return np.zeros((0, 17, 2), np.float32), np.zeros((0, 17), np.float32)


class IndexDetector:
    """A 'person' at x = the frame's own index (a vertical line of joints); optionally slow, to be
    stopped or killed mid-run. It reads the index from the frame's visible (not blacked out) part."""
    name = "index"
    delay = 0.0
    constructed = 0

    def __init__(self):
        type(self).constructed += 1

    def detect(self, frame):
        if self.delay:
            time.sleep(self.delay)
        visible = frame.max(axis=2) >= 20  # parts blacked out (outside a priming box) show nothing
        if not visible.any():
            return nobody()
        positions = np.zeros((1, 17, 2), np.float32)
        positions[0, :, 0] = read_index(frame[visible])
        positions[0, :, 1] = 2 + np.arange(17)
        return positions, np.ones((1, 17), np.float32)

    def close(self):
        pass


def variable_rate_mp4(path, frames: int = 80, size=(96, 64)) -> str:
    """An MP4 whose first half runs at twice the rate of its second (same total length), made by
    rewriting the sample durations (``stts`` box) of a constant-rate file."""
    index_video(path, frames, size, 25.0, "mp4v")
    data = open(path, "rb").read()
    containers = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}

    def find(start, end, parents):
        pos = start
        while pos < end:
            size_, kind = struct.unpack(">I4s", data[pos:pos + 8])
            if kind == b"stts":
                return parents, pos, size_
            if kind in containers:
                found = find(pos + 8, pos + size_, parents + [pos])
                if found:
                    return found
            pos += size_
        return None

    parents, pos, size_ = find(0, len(data), [])
    flags, count = struct.unpack(">II", data[pos + 8:pos + 16])
    total, delta = struct.unpack(">II", data[pos + 16:pos + 24])
    assert count == 1 and delta % 2 == 0
    half = total // 2
    entries = [(half, delta // 2), (total - half, (total * delta - half * (delta // 2)) // (total - half))]
    body = struct.pack(">II", flags, len(entries)) + b"".join(struct.pack(">II", *e) for e in entries)
    box = struct.pack(">I4s", 8 + len(body), b"stts") + body
    out = bytearray(data[:pos] + box + data[pos + size_:])
    for parent in parents:
        struct.pack_into(">I", out, parent, struct.unpack(">I", data[parent:parent + 4])[0] + len(box) - size_)
    open(path, "wb").write(bytes(out))
    return str(path)


def two_people_video(path, frames: int = 200, second_from: int = 20, size=(96, 64)) -> str:
    """A dim 'person' on the left throughout, a brighter one on the right from ``second_from`` on."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, size)
    for i in range(frames):
        image = np.zeros((size[1], size[0], 3), np.uint8)
        image[10:54, 10:30] = 120
        if i >= second_from:
            image[10:54, 60:80] = 250
        writer.write(image)
    writer.release()
    return str(path)


class FollowingDetector:
    """Behaves like a tracking pose detector: it starts on the brightest person it sees and then
    keeps following the one nearest to where it last was, as mediapipe's pose tracker does."""
    name = "following"

    def __init__(self):
        self.last_x = None

    def detect(self, frame):
        columns = frame.mean(axis=(0, 2))
        bright = columns > 20
        edges = np.flatnonzero(np.diff(np.concatenate([[0], bright.astype(np.int8), [0]])))
        blobs = [((a + b - 1) / 2, columns[a:b].mean()) for a, b in zip(edges[::2], edges[1::2])]
        if not blobs:
            return nobody()
        if self.last_x is None:
            x = max(blobs, key=lambda blob: blob[1])[0]
        else:
            x = min(blobs, key=lambda blob: abs(blob[0] - self.last_x))[0]
        self.last_x = x
        joints = np.column_stack([np.full(17, x), 10 + 2.5 * np.arange(17)]).astype(np.float32)
        return joints[None], np.ones((1, 17), np.float32)

    def close(self):
        pass


def fading_person_video(path, frames: int = 200, bright_frames: int = 5, size=(96, 64)) -> str:
    """One person, bright in the first frames and dim afterwards."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, size)
    for i in range(frames):
        image = np.zeros((size[1], size[0], 3), np.uint8)
        image[10:54, 10:30] = 250 if i < bright_frames else 120
        writer.write(image)
    writer.release()
    return str(path)


class HardToFindDetector(FollowingDetector):
    """Finds a person from scratch only when they are bright, but keeps tracking them when dim,
    like a pose tracker that holds a person its detector would miss."""
    name = "hard-to-find"

    def detect(self, frame):
        if self.last_x is None and frame.max() < 200:
            return nobody()
        return super().detect(frame)
