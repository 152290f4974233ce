"""Left/right repairs confirmed by the lifter: a 2D swap is repaired only where the 3D agrees.

``core.tracking.proposed_swaps`` finds stretches in which exchanging a person's left and right legs
(or arms) makes the 2D limb ends move more smoothly. On a side view those are mostly the detector's
swaps, but a limb that really jerks (a hand waved, a foot kicked) can look the same in 2D: on 58
of the data engine's chunks (random people, motions and cameras) the 2D alone would exchange 79
frames wrongly for 30 it fixes. The lifter has seen how bodies move in 3D, so the frames around each proposed
stretch are lifted both ways, and the swap is kept only where, with it repaired,

- the lifter reads the 2D consistently: its lift and the mirrored lift of the mirror image
  (``PoseLifter.lift_both_ways``) disagree less about the limb's ends, and
- the lifted limb's ends move more smoothly in 3D.

On those chunks, with the v4 lifter (trained on none of them), that keeps 16 right frames and 1
wrong one (``training/bench_tracking.py`` measures it, on the chunks the shipped lifter was not
trained on).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .camera import normalize_screen_coordinates
from .inference import PoseLifter
from .keypoints import KeypointTrack, fill_gaps
from .tracking import PersonTrack, SwapRun, swap_labels

CONTEXT = 40        # frames lifted on each side of a proposed swap (half the lifter's receptive field)
JUDGED = 6          # frames on each side of the swap whose 3D is compared as well
JOLT_CAP = 0.3      # metres: one limb end's jolt counts at most this much in one frame


@dataclass
class LiftedLimb:
    """How the lifter reads one limb pair's ends over the judged frames."""
    disagreement: float   # summed distance (m) between the direct and the mirrored lift
    jolt: float           # summed, capped size of the averaged lift's second differences (m)


def limb_jolt(poses: np.ndarray, joints: list[int]) -> float:
    """Summed size of the second differences of ``joints`` (metres per frame squared), each capped."""
    second = poses[2:, joints] - 2 * poses[1:-1, joints] + poses[:-2, joints]
    return float(np.minimum(np.linalg.norm(second, axis=-1), JOLT_CAP).sum())


def _read_limb(positions: np.ndarray, confidence: np.ndarray, width: int, height: int, lifter: PoseLifter,
               min_confidence: float, judged: slice, ends: list[int]) -> LiftedLimb:
    window = fill_gaps(KeypointTrack(positions, confidence, width, height, 30.0), min_confidence)
    direct, mirrored = lifter.lift_both_ways(normalize_screen_coordinates(window.positions, width, height))
    direct, mirrored = direct[judged], mirrored[judged]
    disagreement = float(np.linalg.norm(direct[:, ends] - mirrored[:, ends], axis=-1).sum())
    return LiftedLimb(disagreement, limb_jolt((direct + mirrored) / 2, ends))


def read_both_ways(track: PersonTrack, swap: SwapRun, lifter: PoseLifter, width: int, height: int,
                   min_confidence: float = 0.3) -> tuple[LiftedLimb, LiftedLimb]:
    """How the lifter reads the swapped limb around ``swap``: as detected, and with the swap repaired."""
    start = max(track.first_frame, int(swap.frames[0]) - CONTEXT)
    stop = min(track.last_frame + 1, int(swap.frames[-1]) + 1 + CONTEXT)
    judged = slice(max(int(swap.frames[0]) - JUDGED, start) - start, min(int(swap.frames[-1]) + 1 + JUDGED, stop) - start)
    left, right = swap.joints
    ends = [left[1], left[2], right[1], right[2]]
    positions, confidence = track.positions[start:stop].copy(), track.confidence[start:stop].copy()
    as_detected = _read_limb(positions, confidence, width, height, lifter, min_confidence, judged, ends)
    for frame in swap.frames:
        swap_labels(positions, confidence, int(frame) - start, left, right)
    repaired = _read_limb(positions, confidence, width, height, lifter, min_confidence, judged, ends)
    return as_detected, repaired


def confirmed_swaps(track: PersonTrack, swaps: list[SwapRun], lifter: PoseLifter, width: int, height: int,
                    min_confidence: float = 0.3) -> list[SwapRun]:
    """Those of ``swaps`` that the lifter reads more consistently, and as smoother 3D motion, repaired."""
    kept = []
    for swap in swaps:
        as_detected, repaired = read_both_ways(track, swap, lifter, width, height, min_confidence)
        if repaired.disagreement < as_detected.disagreement and repaired.jolt < as_detected.jolt:
            kept.append(swap)
    return kept
