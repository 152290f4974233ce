"""From everyone detected to the people to animate: tracks, the choice, 2D clean-up, and what to tell the user.

Shared by the command line (``core.pipeline``) and the add-on, so both choose, repair and warn
alike. Each animated person's 2D track covers the frames from their first to their last
appearance (``PersonClip.first_frame`` on): outside them there is nothing to animate.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .keypoints import KeypointError, KeypointTrack, PeopleDetections
from .inference import PoseLifter
from .swap_check import confirmed_swaps
from .tracking import (PersonTrack, apply_swaps, choose, drop_implausible_joints, main_people, proposed_swaps,
                       track_people)

MIN_FRAMES = 5               # fewer frames of a person are not enough to animate
MISSING_WARNING_SHARE = 0.1  # warn when a person is unseen in more than this share of their span


@dataclass
class PersonClip:
    """One person to animate: their 2D track over their span of the clip, and what was repaired."""
    track: PersonTrack
    keypoints: KeypointTrack   # frames first_frame .. last_frame of the clip's range
    first_frame: int           # offset of the span in the clip's range
    missing_frames: int        # frames of the span in which the person is not seen (filled in)
    joints_dropped: int
    swaps_repaired: int = 0    # frames whose left and right limbs were exchanged back (``repair_swaps``)
    swaps_unconfirmed: int = 0  # frames the 2D alone would have exchanged, left as detected as the 3D disagreed

    @property
    def id(self) -> int:
        return self.track.id


@dataclass
class PeopleSelection:
    tracks: list[PersonTrack]
    chosen: PersonClip
    animated: list[PersonClip]           # the chosen person first, then (with all_people) the other main people
    warnings: list[str] = field(default_factory=list)

    def tracks_json(self, fps: float) -> dict:
        return {"chosen": self.chosen.id, "animated": [p.id for p in self.animated],
                "tracks": [t.summary(fps) for t in self.tracks]}


def _person_clip(track: PersonTrack, people: PeopleDetections, repair_swaps: bool = False,
                 lifter: PoseLifter | None = None, min_confidence: float = 0.3) -> PersonClip:
    dropped = drop_implausible_joints(track)
    # Left/right swaps proposed by the 2D motion alone (core.tracking.proposed_swaps) are wrong about as
    # often as right on varied clips; with a lifter, only those the 3D agrees with are repaired
    # (core.swap_check; measured with truth in training/bench_tracking.py).
    first, last = track.first_frame, track.last_frame
    repaired = unconfirmed = 0
    if repair_swaps:
        proposed = proposed_swaps(track)
        kept = proposed if lifter is None else confirmed_swaps(track, proposed, lifter, people.width, people.height,
                                                               min_confidence)
        unconfirmed = sum(len(s.frames) for s in proposed if not any(s is k for k in kept))
        repaired = apply_swaps(track, kept)
    keypoints = track.keypoint_track(people.width, people.height, people.fps, first, last)
    missing = int((~track.present[first:last + 1]).sum())
    return PersonClip(track, keypoints, first, missing, dropped, repaired, unconfirmed)


def _notes(clip: PersonClip, total_frames: int) -> list[str]:
    span = clip.keypoints.num_frames
    notes = []
    if span < total_frames:
        notes.append(f"person {clip.id} is in frames {clip.first_frame}-{clip.first_frame + span - 1} of "
                     f"{total_frames}; their motion covers those frames only")
    if clip.missing_frames > MISSING_WARNING_SHARE * span:
        notes.append(f"person {clip.id} is not seen in {100 * clip.missing_frames / span:.0f} % of their frames "
                     f"({clip.missing_frames} of {span}; hidden or not found); those frames are filled in from "
                     "the frames around them and may look wrong")
    if clip.swaps_repaired or clip.swaps_unconfirmed:
        notes.append(f"person {clip.id}: left and right limbs exchanged back in {clip.swaps_repaired} frames"
                     + (f"; in {clip.swaps_unconfirmed} more they looked exchanged in 2D, but the lifted 3D "
                        "disagreed, so they were left as detected" if clip.swaps_unconfirmed else ""))
    if clip.joints_dropped:
        notes.append(f"person {clip.id}: {clip.joints_dropped} joint positions far off the body were dropped "
                     "and filled in")
    return notes


def select_people(people: PeopleDetections, person: str | int = "longest", all_people: bool = False,
                  repair_swaps: bool = False, lifter: PoseLifter | None = None,
                  min_confidence: float = 0.3) -> PeopleSelection:
    """Track everyone, choose ``person`` (a track id or ``core.tracking.CHOICES``), prepare each person to animate.

    ``repair_swaps``: exchange back left and right limbs where the detector swapped them; with ``lifter``,
    only where the lifted 3D agrees (``core.swap_check``), without it wherever the 2D motion suggests.
    """
    tracks = track_people(people)
    if not tracks:
        seen = int((people.confidence.max(axis=(1, 2)) > 0).sum())
        raise KeypointError("nobody was detected in this clip: is a whole person (head to hips at least) in view?"
                            + (f" (someone was found in only {seen} frames, too few to follow)" if seen else ""))
    chosen_track = choose(tracks, person, people.width, people.height)
    if chosen_track.frames < MIN_FRAMES:
        raise KeypointError(f"person {chosen_track.id} is seen in only {chosen_track.frames} frames; at least "
                            f"{MIN_FRAMES} are needed (tracks: " +
                            ", ".join(f"{t.id}: {t.frames} frames" for t in tracks) + ")")
    chosen = _person_clip(chosen_track, people, repair_swaps, lifter, min_confidence)
    animated = [chosen]
    warnings = []
    if len(tracks) > 1:
        warnings.append(f"{len(tracks)} people in this clip; animating person {chosen.id} "
                        f"(--person {person}); see tracks.json and tracks.png to choose another")
    if all_people:
        others = [t for t in main_people(tracks, people.num_frames) if t is not chosen_track and t.frames >= MIN_FRAMES]
        animated += [_person_clip(t, people, repair_swaps, lifter, min_confidence) for t in others]
        left_out = [t.id for t in tracks if t is not chosen_track and t not in others]
        if left_out:
            warnings.append(f"people {', '.join(map(str, left_out))} are seen in too few frames to animate "
                            "(choose one with --person)")
    for clip in animated:
        warnings += _notes(clip, people.num_frames)
    return PeopleSelection(tracks, chosen, animated, warnings)
