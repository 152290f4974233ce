"""Who is who: everyone the detector found, linked into one track per person over the whole clip.

Detections of one frame are matched to the tracks alive so far by how far their joints are
from where each track's joints are expected (the last position moved on by the track's recent
speed), in units of the person's own size, cheapest pair first; a track that finds no match
waits up to ``MAX_GAP_SECONDS`` (an occlusion, a missed frame) before it ends. Afterwards, short
pieces of one person separated by a longer occlusion are joined where the later one starts
near where the earlier one ended. A track never takes a frame from another, so filling a
person's gaps (``core.keypoints.fill_gaps``) interpolates only between frames of that person.

Also here: choosing the person to animate (``choose``), dropping joints whose bones are
implausibly long or legs drawn above the hips, and the left/right swaps of the 2D limbs the motion
suggests (``proposed_swaps``; the pipeline repairs those the lifter confirms, ``core.swap_check``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .keypoints import KeypointTrack, PeopleDetections
from .skeleton import H36M_SKELETON

J = H36M_SKELETON.index
MIRROR = np.arange(17)   # each joint's left/right counterpart (itself on the midline)
MIRROR[list(H36M_SKELETON.joints_left)] = list(H36M_SKELETON.joints_right)
MIRROR[list(H36M_SKELETON.joints_right)] = list(H36M_SKELETON.joints_left)
SEEN = 0.5                 # a joint's confidence at or above which it counts as seen
MIN_JOINTS = 6             # seen joints for a detection to count as a person
MATCH_DISTANCE = 0.6       # mean joint distance (in person sizes) up to which a detection continues a track
MATCH_GROWTH = 0.02        # ... plus this much per frame the track has been unseen
MATCH_MAX = 1.0            # ... but never more than this
MATCH_SIZE_RATIO = 3.0     # nor when one is more than this many times the other's size
DUPLICATE_DISTANCE = 0.3   # two detections of one frame closer than this are one person found twice
MAX_GAP_SECONDS = 1.0      # a track unseen this long has ended
JOIN_GAP_SECONDS = 4.0     # tracks this far apart in time may still be one person (a long occlusion)
JOIN_DISTANCE = 1.0        # ... when the later starts within this many sizes of where the earlier was heading
JOIN_SPEED = 0.1           # ... plus this many sizes per frame of the gap (a person's run: about 3 heights a second)
JOIN_OVERLAP = 10          # a track may start up to this many frames before the other ends, on the same person
SAME_PERSON = 0.5          # ... where their poses in those frames are this near (in sizes)
MIN_TRACK_FRAMES = 5       # shorter tracks are detector noise, not people
MIN_HITS = 3               # a track starts (and ends) with this many detections in a row; fewer, cut off by a gap, are flicker
GHOST_SECONDS = 1.0        # a track this short that is always beside another person ...
GHOST_DISTANCE = 0.5       # ... (this near, in sizes) is the detector seeing one person out of two close ones
CHOICE_SHARE = 0.25        # to be chosen as ``largest`` or ``center``, a track needs this share of the longest one's frames
MAIN_PERSON_SHARE = 0.25   # ``--all-people`` animates the tracks seen in at least this share of the clip's frames
CHOICES = ("largest", "longest", "center")


@dataclass
class PersonTrack:
    """One person over the clip: positions and confidences in every frame (confidence 0 where unseen)."""
    id: int
    positions: np.ndarray      # (F, 17, 2) pixels
    confidence: np.ndarray     # (F, 17)
    swaps_repaired: int = 0    # frames whose left/right limbs were swapped back
    feet: np.ndarray | None = None             # (F, 4, 3) foot points of the same detections (None: the source has none)
    feet_confidence: np.ndarray | None = None  # (F, 4)
    joints_3d: np.ndarray | None = None        # (F, 17, 3) the detector's own 3D (None: it has none)

    @property
    def present(self) -> np.ndarray:
        return (self.confidence >= SEEN).sum(axis=1) >= MIN_JOINTS

    @property
    def frames(self) -> int:
        return int(self.present.sum())

    @property
    def first_frame(self) -> int:
        return int(np.argmax(self.present))

    @property
    def last_frame(self) -> int:
        return len(self.present) - 1 - int(np.argmax(self.present[::-1]))

    def sizes(self) -> np.ndarray:
        """(F,) the person's size in pixels per frame (NaN where unseen)."""
        return np.array([person_size(p, c) if ok else np.nan
                         for p, c, ok in zip(self.positions, self.confidence, self.present)])

    @property
    def mean_size(self) -> float:
        sizes = self.sizes()
        return float(np.nanmean(sizes)) if np.isfinite(sizes).any() else 0.0

    @property
    def mean_confidence(self) -> float:
        present = self.present
        return float(self.confidence[present].mean()) if present.any() else 0.0

    def best_frame(self) -> int:
        """The track's first good frame: the first whose seen-joint count and size are near its best."""
        seen = (self.confidence >= SEEN).sum(axis=1)
        sizes = np.nan_to_num(self.sizes())
        good = (seen >= 0.9 * seen.max()) & (sizes >= 0.8 * np.nanmax(sizes))
        return int(np.argmax(good)) if good.any() else self.first_frame

    def box(self, frame: int) -> tuple[float, float, float, float]:
        seen = self.positions[frame][self.confidence[frame] >= SEEN]
        (x0, y0), (x1, y1) = seen.min(axis=0), seen.max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)

    def keypoint_track(self, width: int, height: int, fps: float, first: int = 0,
                       last: int | None = None) -> KeypointTrack:
        """Frames ``first``..``last`` (inclusive; default all) as a ``KeypointTrack`` (copies)."""
        span = slice(first, None if last is None else last + 1)
        feet = (None, None) if self.feet is None else (self.feet[span].copy(), self.feet_confidence[span].copy())
        return KeypointTrack(self.positions[span].copy(), self.confidence[span].copy(), width, height, fps,
                             feet=feet[0], feet_confidence=feet[1],
                             joints_3d=None if self.joints_3d is None else self.joints_3d[span].copy())

    def summary(self, fps: float) -> dict:
        return {"id": self.id, "frames": self.frames, "first_frame": self.first_frame, "last_frame": self.last_frame,
                "seconds": round(self.frames / fps, 2), "mean_size_px": round(self.mean_size, 1),
                "mean_confidence": round(self.mean_confidence, 3), "best_frame": self.best_frame()}


def person_size(joints: np.ndarray, confidence: np.ndarray) -> float:
    """A person's size in pixels: the diagonal of the box around their seen joints (at least 1), leaving out
    a joint far off the rest (more than three times the median distance from their centre: misplaced)."""
    seen = joints[confidence >= SEEN]
    if len(seen) < 2:
        return 1.0
    distance = np.linalg.norm(seen - np.median(seen, axis=0), axis=1)
    seen = seen[distance <= 3 * max(float(np.median(distance)), 1.0)]
    return max(float(np.linalg.norm(seen.max(axis=0) - seen.min(axis=0))), 1.0)


def pose_distance(a: np.ndarray, a_conf: np.ndarray, b: np.ndarray, b_conf: np.ndarray, size: float) -> float:
    """Mean distance of the joints seen in both poses, in units of ``size``; inf when fewer than 4 are shared.

    A pose is also compared with the other's left and right exchanged, and the nearer counts: a
    detector that names a person's limbs the other way round has still found the same person.
    """
    both = (a_conf >= SEEN) & (b_conf >= SEEN)
    mirrored = (a_conf >= SEEN) & (b_conf[MIRROR] >= SEEN)
    distances = []
    if both.sum() >= 4:
        distances.append(np.linalg.norm(a[both] - b[both], axis=-1).mean())
    if mirrored.sum() >= 4:
        distances.append(np.linalg.norm(a[mirrored] - b[MIRROR][mirrored], axis=-1).mean())
    return float(min(distances) / size) if distances else np.inf


class _Live:
    """A track being built: its frames so far and what predicts its next position."""

    def __init__(self, frame: int, joints: np.ndarray, confidence: np.ndarray, size: float, slot: int):
        self.frames, self.joints, self.confidence = [frame], [joints], [confidence]
        self.sizes = [size]   # person_size of each frame's joints, kept: the linking asks for them often
        self.slots = [slot]   # the detection slot of each frame (for the foot points of the same detection)
        self.velocity = np.zeros(2)

    def predicted(self, frame: int) -> np.ndarray:
        """Where the joints should be in ``frame``: the median of the last three frames, each moved on by
        the track's speed, so that one misplaced detection does not lead the track astray."""
        recent = [j + self.velocity * (frame - f) for f, j in zip(self.frames[-3:], self.joints[-3:])]
        return np.median(recent, axis=0)

    def centre(self, index: int = -1) -> np.ndarray:
        seen = self.confidence[index] >= SEEN
        return self.joints[index][seen].mean(axis=0) if seen.any() else self.joints[index].mean(axis=0)

    def add(self, frame: int, joints: np.ndarray, confidence: np.ndarray, size: float, slot: int) -> None:
        previous_centre, previous_frame = self.centre(), self.frames[-1]
        self.frames.append(frame)
        self.joints.append(joints)
        self.confidence.append(confidence)
        self.sizes.append(size)
        self.slots.append(slot)
        step = (self.centre() - previous_centre) / max(frame - previous_frame, 1)
        self.velocity = 0.7 * self.velocity + 0.3 * step  # smoothed: one noisy frame does not throw the prediction

    def size(self) -> float:
        return float(np.median(self.sizes[-5:]))


def _people_in_frame(positions: np.ndarray, confidence: np.ndarray) -> dict[int, float]:
    """Slots holding a person, without a second detection of someone already found (most confident kept),
    each with its ``person_size``."""
    slots = [p for p in range(len(positions)) if (confidence[p] >= SEEN).sum() >= MIN_JOINTS]
    slots.sort(key=lambda p: -confidence[p].mean())
    kept: dict[int, float] = {}
    for p in slots:
        size = person_size(positions[p], confidence[p])
        if all(pose_distance(positions[p], confidence[p], positions[k], confidence[k], size) > DUPLICATE_DISTANCE
               for k in kept):
            kept[p] = size
    return kept


def _link(people: PeopleDetections) -> list[_Live]:
    """Frame by frame, each detection continues the nearest expecting track (cheapest pairs first) or starts one."""
    max_gap = max(int(round(MAX_GAP_SECONDS * people.fps)), 1)
    live: list[_Live] = []
    ended: list[_Live] = []
    for frame in range(people.num_frames):
        positions, confidence = people.positions[frame], people.confidence[frame]
        slots = _people_in_frame(positions, confidence)
        still = []
        for track in live:
            (ended if frame - track.frames[-1] > max_gap else still).append(track)
        live = still
        pairs = []
        for t, track in enumerate(live):
            predicted, size = track.predicted(frame), track.size()
            gap = frame - track.frames[-1]
            for p in slots:
                cost = pose_distance(predicted, track.confidence[-1], positions[p], confidence[p], size)
                ratio = slots[p] / size
                if cost <= min(MATCH_DISTANCE + MATCH_GROWTH * (gap - 1), MATCH_MAX) and \
                        1 / MATCH_SIZE_RATIO <= ratio <= MATCH_SIZE_RATIO:
                    pairs.append((cost, t, p))
        taken_tracks, taken_slots = set(), set()
        for cost, t, p in sorted(pairs):
            if t not in taken_tracks and p not in taken_slots:
                live[t].add(frame, positions[p], confidence[p], slots[p], p)
                taken_tracks.add(t)
                taken_slots.add(p)
        for p in slots:
            if p not in taken_slots:
                live.append(_Live(frame, positions[p], confidence[p], slots[p], p))
    return ended + live


def _overlap_is_one_person(a: _Live, b: _Live) -> bool:
    """Whether the frames where ``b`` has begun before ``a`` ended show one person twice."""
    mine = {f: (j, c) for f, j, c in zip(a.frames, a.joints, a.confidence)}
    shared = [(f, j, c) for f, j, c in zip(b.frames, b.joints, b.confidence) if f in mine]
    return all(pose_distance(*mine[f], j, c, person_size(j, c)) <= SAME_PERSON for f, j, c in shared)


def _join_after_occlusions(tracks: list[_Live], fps: float) -> list[_Live]:
    """Join a track that ends with one that starts later nearby (one person hidden for a while, or found
    twice for a few frames before the first track let go); the most likely pair first."""
    max_gap = JOIN_GAP_SECONDS * fps
    while True:
        best = None
        for a in tracks:
            for b in tracks:
                gap = b.frames[0] - a.frames[-1]
                if a is b or not -JOIN_OVERLAP <= gap <= max_gap or b.frames[0] <= a.frames[0] or \
                        b.frames[-1] <= a.frames[-1]:
                    continue
                if gap <= 0 and not _overlap_is_one_person(a, b):
                    continue
                size = a.size()
                expected = a.centre() + a.velocity * max(gap, 0)   # where a would be had it walked on
                distance = np.linalg.norm(b.centre(0) - expected) if gap > 0 else 0.0
                allowed = (JOIN_DISTANCE + JOIN_SPEED * max(gap, 0)) * size  # anywhere a person could have got to
                size_ratio = b.sizes[0] / size
                if distance <= allowed and 0.5 <= size_ratio <= 2.0:
                    if best is None or distance / allowed < best[0]:
                        best = (distance / allowed, a, b)
        if best is None:
            return tracks
        _, a, b = best
        keep = [k for k, f in enumerate(a.frames) if f < b.frames[0]]  # b's frames where both have one
        a.frames = [a.frames[k] for k in keep] + b.frames
        a.joints = [a.joints[k] for k in keep] + b.joints
        a.confidence = [a.confidence[k] for k in keep] + b.confidence
        a.sizes = [a.sizes[k] for k in keep] + b.sizes
        a.slots = [a.slots[k] for k in keep] + b.slots
        a.velocity = b.velocity
        tracks.remove(b)


def _ghost(track: _Live, tracks: list[_Live], fps: float) -> bool:
    """Whether a short track is only ever seen right beside others: a detection made of two close people."""
    if len(track.frames) > GHOST_SECONDS * fps:
        return False
    others = [{f: (j, c) for f, j, c in zip(t.frames, t.joints, t.confidence)} for t in tracks if t is not track]
    for frame, joints, confidence in zip(track.frames, track.joints, track.confidence):
        size = person_size(joints, confidence)
        if not any(frame in other and pose_distance(joints, confidence, *other[frame], size) <= GHOST_DISTANCE
                   for other in others):
            return False
    return True


def _without_flicker_at_the_ends(track: _Live) -> _Live:
    """The track from its first to its last run of at least ``MIN_HITS`` consecutive frames.

    A detector catching a person flickers on and off for a frame or two first (and again while
    losing them), and those frames are its worst: a backlit body half-found, the legs on the sun's
    glare. As in trackers that confirm a track only after a few hits in a row, such leading and
    trailing scraps are dropped; gaps inside the track are kept (an occlusion).
    """
    frames = np.asarray(track.frames)
    bounds = [0, *(np.nonzero(np.diff(frames) > 1)[0] + 1), len(frames)]
    solid = [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b - a >= MIN_HITS]
    if not solid or (solid[0][0] == 0 and solid[-1][1] == len(frames)):
        return track
    keep = slice(solid[0][0], solid[-1][1])
    for name in ("frames", "joints", "confidence", "sizes", "slots"):
        setattr(track, name, getattr(track, name)[keep])
    return track


def track_people(people: PeopleDetections) -> list[PersonTrack]:
    """Everyone in the clip as tracks with ids 1, 2, ... in order of first appearance (noise dropped)."""
    built = [_without_flicker_at_the_ends(t) for t in _join_after_occlusions(_link(people), people.fps)]
    built = [t for t in built if len(t.frames) >= MIN_TRACK_FRAMES]
    built = [t for t in built if not _ghost(t, built, people.fps)]
    built.sort(key=lambda t: (t.frames[0], -len(t.frames)))
    tracks = []
    for number, live in enumerate(built, start=1):
        positions = np.zeros((people.num_frames, 17, 2), np.float32)
        confidence = np.zeros((people.num_frames, 17), np.float32)
        positions[live.frames], confidence[live.frames] = np.array(live.joints), np.array(live.confidence)
        track = PersonTrack(number, positions, confidence)
        if people.feet is not None:
            track.feet = np.zeros((people.num_frames, 4, 3), np.float32)
            track.feet_confidence = np.zeros((people.num_frames, 4), np.float32)
            track.feet[live.frames] = people.feet[live.frames, live.slots]
            track.feet_confidence[live.frames] = people.feet_confidence[live.frames, live.slots]
        if people.joints_3d is not None:
            track.joints_3d = np.zeros((people.num_frames, 17, 3), np.float32)   # (lazy zeros: not in memory until
            # written; frames without the person have confidence 0, which is what says their 3D means nothing)
            track.joints_3d[live.frames] = people.joints_3d[live.frames, live.slots]
        tracks.append(track)
    return tracks


def choose(tracks: list[PersonTrack], person: str | int, width: int, height: int) -> PersonTrack:
    """The track to animate: a track id, or ``largest`` (biggest on screen), ``longest`` (most frames; the default:
    a clip is framed around its subject) or
    ``center`` (nearest the frame's centre); ``largest`` and ``center`` consider only tracks seen in at least
    ``CHOICE_SHARE`` of the longest one's frames, so a passer-by close to the lens is not chosen."""
    if not tracks:
        raise ValueError("nobody was detected in this clip")
    if isinstance(person, int) or (isinstance(person, str) and person.isdigit()):
        found = [t for t in tracks if t.id == int(person)]
        if not found:
            raise ValueError(f"there is no person {person}: the tracks are {', '.join(str(t.id) for t in tracks)}")
        return found[0]
    if person not in CHOICES:
        raise ValueError(f"person must be a track id or one of {', '.join(CHOICES)}; got {person!r}")
    longest = max(tracks, key=lambda t: t.frames)
    if person == "longest":  # near-ties (within a tenth) go to the bigger person
        return max([t for t in tracks if t.frames >= 0.9 * longest.frames], key=lambda t: t.mean_size)
    candidates = [t for t in tracks if t.frames >= CHOICE_SHARE * longest.frames]
    if person == "largest":
        return max(candidates, key=lambda t: t.mean_size)
    centre = np.array([width / 2, height / 2])

    def off_centre(track: PersonTrack) -> float:
        present = track.present
        centres = np.array([track.positions[f][track.confidence[f] >= SEEN].mean(axis=0) for f in np.flatnonzero(present)])
        return float(np.linalg.norm(centres - centre, axis=1).mean())
    return min(candidates, key=off_centre)


def main_people(tracks: list[PersonTrack], frames: int) -> list[PersonTrack]:
    """The tracks ``--all-people`` animates: those seen in at least ``MAIN_PERSON_SHARE`` of the clip."""
    return [t for t in tracks if t.frames >= MAIN_PERSON_SHARE * frames]


LIMB_PAIRS = {  # each limb's joints (left, right); a swap exchanges a whole limb
    "legs": [("left_hip", "right_hip"), ("left_knee", "right_knee"), ("left_ankle", "right_ankle")],
    "arms": [("left_shoulder", "right_shoulder"), ("left_elbow", "right_elbow"), ("left_wrist", "right_wrist")],
}
SWITCH_COST = 0.45     # cost (in person sizes of jolt) of changing between as detected and exchanged
SWAP_PRIOR = 0.005     # and of each frame labelled against the detector (as detected, where both fit alike)
JERK_CAP = 0.5         # a limb end's jolt counts at most this much (in person sizes): one bad detection is not a swap
LIMB_SEEN = 0.05       # a far limb is seldom seen with much confidence, but it is still where the detector puts it


def limb_joints(limb: str) -> tuple[list[int], list[int]]:
    """The left and the right joints of one of ``LIMB_PAIRS`` (root to end), as indices."""
    pairs = LIMB_PAIRS[limb]
    return [J(a) for a, _ in pairs], [J(b) for _, b in pairs]


@dataclass
class SwapRun:
    """Consecutive frames in which one limb pair's left and right labels look exchanged."""
    limb: str             # a key of ``LIMB_PAIRS``
    frames: np.ndarray    # clip frame indices, consecutive

    @property
    def joints(self) -> tuple[list[int], list[int]]:
        return limb_joints(self.limb)


def proposed_swaps(track: PersonTrack) -> list[SwapRun]:
    """Where the detector seems to have exchanged left and right legs or arms (nothing is changed).

    Seen from the side, a leg passes in front of the other at every step, and the detector often
    comes out of that crossing with the labels exchanged (it names the front leg "left", say) and
    keeps them so for half a step. A limb moves smoothly; the exchanged labels make each limb end
    jolt where they change. So for each run of frames, the labelling of every frame (as detected
    or exchanged) is chosen together, by dynamic programming over the frames, to make the knees
    and ankles (elbows and wrists) move most smoothly, each change of labelling costing a fixed
    amount: a swap is proposed only where it makes the 2D motion clearly smoother.
    """
    swaps = []
    for limb in LIMB_PAIRS:
        left, right = limb_joints(limb)
        for run in _runs_of_frames(track, left + right):
            if len(run) < 4:
                continue
            exchanged = np.array(_smoothest_labels(track, run, left, right))
            for part in np.split(run, np.flatnonzero(np.diff(exchanged.astype(int))) + 1):
                if exchanged[np.searchsorted(run, part[0])]:
                    swaps.append(SwapRun(limb, part))
    return swaps


def apply_swaps(track: PersonTrack, swaps: list[SwapRun]) -> int:
    """Exchange left and right back in ``swaps``; returns the frames changed (``track.swaps_repaired``)."""
    repaired: set[int] = set()
    for swap in swaps:
        left, right = swap.joints
        for frame in swap.frames:
            swap_labels(track.positions, track.confidence, frame, left, right)
            if swap.limb == "legs" and track.feet is not None:   # the feet go with their legs
                swap_labels(track.feet, track.feet_confidence, frame, [0, 1], [2, 3])
            if track.joints_3d is not None:   # the detector's 3D carries the same labels as its 2D
                track.joints_3d[frame, left + right] = track.joints_3d[frame, right + left]
            repaired.add(int(frame))
    track.swaps_repaired = len(repaired)
    return track.swaps_repaired


def _runs_of_frames(track: PersonTrack, joints: list[int]) -> list[np.ndarray]:
    """Runs of consecutive frames in which the person and these joints are seen at all."""
    seen = track.present & (track.confidence[:, joints] >= LIMB_SEEN).all(axis=1)
    frames = np.flatnonzero(seen)
    if not len(frames):
        return []
    return np.split(frames, np.flatnonzero(np.diff(frames) > 1) + 1)


def _smoothest_labels(track: PersonTrack, run: np.ndarray, left: list[int], right: list[int]) -> list[bool]:
    """Per frame of ``run``: whether exchanging left and right makes the limb ends move most smoothly."""
    ends = [left[1], left[2], right[1], right[2]]
    swapped_ends = [right[1], right[2], left[1], left[2]]
    size = np.median([person_size(track.positions[f], track.confidence[f]) for f in run])
    options = np.stack([track.positions[run][:, ends], track.positions[run][:, swapped_ends]]) / size  # (2, T, 4, 2)

    def jolt(a: int, b: int, c: int, t: int) -> float:
        second = options[c, t] - 2 * options[b, t - 1] + options[a, t - 2]
        return float(np.minimum(np.linalg.norm(second, axis=-1), JERK_CAP).sum())

    # cost[a, b]: the best labelling up to frame t ending with labels a (frame t - 1) and b (frame t)
    cost = np.array([[SWAP_PRIOR * (a + b) + SWITCH_COST * (a != b) for b in (0, 1)] for a in (0, 1)], float)
    back = []
    for t in range(2, len(run)):
        new, choice = np.full((2, 2), np.inf), np.zeros((2, 2), int)
        for b in (0, 1):
            for c in (0, 1):
                totals = [cost[a, b] + jolt(a, b, c, t) for a in (0, 1)]
                choice[b, c] = int(np.argmin(totals))
                new[b, c] = min(totals) + SWAP_PRIOR * c + SWITCH_COST * (b != c)
        cost = new
        back.append(choice)
    b, c = np.unravel_index(int(np.argmin(cost)), cost.shape)
    labels = [c, b]
    for choice in reversed(back):
        a = choice[b, c]
        labels.append(a)
        b, c = a, b
    return [bool(label) for label in reversed(labels)]


def swap_labels(positions: np.ndarray, confidence: np.ndarray, frame: int, left: list[int], right: list[int]) -> None:
    """Exchange the ``left`` and ``right`` joints of one frame, in place."""
    for array in (positions, confidence):
        array[frame, left + right] = array[frame, right + left]


MAX_BONE_RATIO = 1.8   # a 2D bone longer than this many times its usual length is a misplaced joint


def drop_implausible_joints(track: PersonTrack) -> int:
    """Unsee joints whose bone to their parent is far longer than usual for this person; returns how many.

    Such a joint is on something else (another person, the background); gap filling then
    interpolates it from this person's own neighbouring frames instead.
    """
    dropped = 0
    present = track.present
    for parent, child in H36M_SKELETON.bones():
        lengths = np.linalg.norm(track.positions[:, child] - track.positions[:, parent], axis=-1)
        seen = present & (track.confidence[:, child] >= SEEN) & (track.confidence[:, parent] >= SEEN)
        if seen.sum() < 5:
            continue
        usual = float(np.median(lengths[seen]))
        torso = np.median(np.linalg.norm(track.positions[present, J("thorax")] - track.positions[present, J("pelvis")],
                                         axis=-1))
        bad = seen & (lengths > MAX_BONE_RATIO * max(usual, 0.25 * torso))
        dropped += int(bad.sum())
        track.confidence[bad, child] = 0.0
    return dropped + _drop_folded_legs(track)


FOLDED = 0.25   # both ankles further than this many trunk lengths past the hips, towards the head: legs misplaced
LEGS = [J(name) for name in ("left_knee", "left_ankle", "right_knee", "right_ankle")]


def _drop_folded_legs(track: PersonTrack) -> int:
    """Unsee both legs in frames where both ankles lie well beyond the hips on the head's side.

    A detector that loses a person's legs (backlit, against the sky) may put them on the upper
    body: hips below the ankles. A real body does that only lying on its back with the legs
    raised; a handstand turns the trunk too, so its ankles stay past the hips away from the head.
    """
    trunk = track.positions[:, J("thorax")] - track.positions[:, J("pelvis")]
    length = np.linalg.norm(trunk, axis=-1)
    along = np.einsum("tjc,tc->tj", track.positions[:, [J("left_ankle"), J("right_ankle")]]
                      - track.positions[:, None, J("pelvis")], trunk) / np.maximum(length, 1e-6)[:, None]
    seen = (track.confidence[:, [J("left_ankle"), J("right_ankle"), J("pelvis"), J("thorax")]] >= SEEN).all(axis=1)
    folded = track.present & seen & (length > 0) & (along > FOLDED * length[:, None]).all(axis=1)
    dropped = int((track.confidence[np.ix_(folded, LEGS)] >= SEEN).sum())
    track.confidence[np.ix_(folded, LEGS)] = 0.0
    if track.feet_confidence is not None:
        track.feet_confidence[folded] = 0.0
    return dropped
