"""Who is who: tracks of people that cross, hide, get found twice or mirrored; the choice; 2D repairs."""
import numpy as np
import pytest

from core.keypoints import KeypointError, KeypointTrack, PeopleDetections, fill_gaps
from core.people import select_people
from core.skeleton import H36M_SKELETON
from core.tracking import apply_swaps, choose, drop_implausible_joints, proposed_swaps, track_people

J = H36M_SKELETON.index
# A standing person in 2D, in heights (y down), pelvis at the origin; joints in our order.
TEMPLATE = np.array([[0, 0], [-0.1, 0], [-0.1, 0.45], [-0.1, 0.9], [0.1, 0], [0.1, 0.45], [0.1, 0.9], [0, -0.25],
                     [0, -0.5], [0, -0.6], [0, -0.72], [0.18, -0.48], [0.22, -0.22], [0.24, 0], [-0.18, -0.48],
                     [-0.22, -0.22], [-0.24, 0]], np.float32)


def person(x: float, y: float = 300.0, height: float = 200.0) -> np.ndarray:
    return TEMPLATE * height + np.array([x, y], np.float32)


def detections(frames: list[list[np.ndarray]], slots: int = 4, fps: float = 30.0, seed: int = 0) -> PeopleDetections:
    """Per frame, the people's poses in a shuffled slot order (a detector's order means nothing)."""
    rng = np.random.default_rng(seed)
    positions = np.zeros((len(frames), slots, 17, 2), np.float32)
    confidence = np.zeros((len(frames), slots, 17), np.float32)
    for f, people in enumerate(frames):
        for slot, pose in zip(rng.permutation(slots), people):
            positions[f, slot], confidence[f, slot] = pose, 0.9
    return PeopleDetections(positions, confidence, 1280, 720, fps)


def test_two_people_crossing_keep_their_ids_through_the_occlusion():
    # A walks right, B walks left behind A; while they overlap B is hidden for 12 frames.
    frames = []
    for t in range(120):
        a, b = person(200 + 8 * t, height=220), person(1100 - 8 * t, y=280, height=180)
        hidden = 50 <= t < 62
        frames.append([a] if hidden else [a, b])
    tracks = track_people(detections(frames))
    assert len(tracks) == 2
    for track in tracks:
        xs = track.positions[track.present, 0, 0]
        steps = np.diff(xs)
        assert (steps > 0).all() or (steps < 0).all()  # each track stays on one person: no jump back
    walking_left = next(t for t in tracks if t.positions[t.present, 0, 0][0] > 600)
    assert walking_left.frames == 108 and walking_left.first_frame == 0 and walking_left.last_frame == 119


def test_gap_filling_stays_on_the_person_and_never_interpolates_toward_another():
    frames = [[person(300), person(900)] if not 40 <= t < 50 else [person(900)] for t in range(80)]
    tracks = track_people(detections(frames))
    left = next(t for t in tracks if t.positions[t.present, 0, 0].mean() < 600)
    filled = fill_gaps(left.keypoint_track(1280, 720, 30.0))
    assert np.allclose(filled.positions[40:50, 0, 0], 300)  # held on the left person, never pulled toward x = 900
    assert filled.filled[40:50].all()


def test_a_person_found_twice_in_a_frame_is_one_track():
    frames = [[person(400), person(400) + 3.0] for _ in range(30)]
    assert len(track_people(detections(frames))) == 1


def test_a_mirrored_second_detection_of_one_person_is_one_track():
    mirrored = person(400)[[0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13]]
    frames = [[person(400), mirrored] for _ in range(30)]
    assert len(track_people(detections(frames))) == 1


def test_a_person_hidden_for_two_seconds_nearby_keeps_their_id():
    frames = [[person(300 + 2 * t)] if not 30 <= t < 90 else [] for t in range(130)]
    tracks = track_people(detections(frames))
    assert len(tracks) == 1 and tracks[0].frames == 70


def test_a_detector_flickering_on_and_off_at_the_ends_of_a_track_is_cut_off():
    # Frames 2-3 and 60: the detector catching and losing the person (a scrap of one or two frames
    # cut off by a gap, with the legs misplaced); frames 30-31 alone between two gaps inside the track
    # are an occlusion's edges and stay.
    garbled = person(400) + np.array([0, 40.0], np.float32) * (np.arange(17) < 7)[:, None]
    frames = [[] for _ in range(64)]
    for t in (2, 3, 60):
        frames[t] = [garbled]
    for t in [*range(6, 28), 30, 31, *range(34, 57)]:
        frames[t] = [person(400)]
    (track,) = track_people(detections(frames))
    assert track.first_frame == 6 and track.last_frame == 56
    assert track.present[30:32].all() and track.frames == 22 + 2 + 23


def test_someone_else_appearing_far_away_is_a_new_person():
    frames = [[person(200)] if t < 40 else [person(1100)] for t in range(80)]
    assert len(track_people(detections(frames))) == 2


def test_the_choice_of_person():
    frames = [[person(640, height=150), person(150, height=300)] + ([person(1000, height=400)] if t < 20 else [])
              for t in range(100)]
    people = detections(frames)
    tracks = track_people(people)
    by_x = {round(float(t.positions[t.present, 0, 0].mean()), -1): t for t in tracks}
    centre, big, passer_by = by_x[640], by_x[150], by_x[1000]
    assert choose(tracks, "center", 1280, 720) is centre
    assert choose(tracks, "largest", 1280, 720) is big  # the passer-by is larger, but seen for a fifth of the clip
    assert choose(tracks, "longest", 1280, 720) is big  # a tie in frames goes to the bigger person
    assert choose(tracks, str(passer_by.id), 1280, 720) is passer_by
    with pytest.raises(ValueError, match="there is no person 9"):
        choose(tracks, "9", 1280, 720)


def test_all_people_animates_the_main_people_and_names_who_is_left_out():
    frames = [[person(300), person(900)] + ([person(600, y=500, height=100)] if t < 10 else []) for t in range(100)]
    selection = select_people(detections(frames), "longest", all_people=True)
    assert len(selection.tracks) == 3 and len(selection.animated) == 2
    assert any("seen in too few frames to animate" in w for w in selection.warnings)
    assert selection.tracks_json(30.0)["animated"] == [p.id for p in selection.animated]


def test_a_person_only_in_the_middle_of_the_clip_is_animated_over_their_frames():
    frames = [[person(300)] + ([person(900)] if 30 <= t < 70 else []) for t in range(100)]
    selection = select_people(detections(frames), "2")
    assert selection.chosen.first_frame == 30 and selection.chosen.keypoints.num_frames == 40
    assert any("person 2 is in frames 30-69 of 100" in w for w in selection.warnings)


def _side_walk_with_legs_exchanged():
    """A side view: the legs swing back and forth; the detector exchanges them in mid-stride for frames 24-33."""
    frames, truth = [], []
    for t in range(60):
        pose = person(300 + 5 * t)
        swing = 60 * np.sin(t / 6)
        pose[[J("left_knee"), J("left_ankle")], 0] += [swing / 2, swing]
        pose[[J("right_knee"), J("right_ankle")], 0] -= [swing / 2, swing]
        truth.append(pose.copy())
        if 24 <= t < 34:
            pose = pose[[0, 4, 5, 6, 1, 2, 3, *range(7, 17)]]
        frames.append([pose])
    return detections(frames), np.array(truth)


def test_left_and_right_legs_exchanged_for_a_stretch_are_swapped_back():
    people, truth = _side_walk_with_legs_exchanged()
    track = track_people(people)[0]
    assert apply_swaps(track, proposed_swaps(track)) == 10
    np.testing.assert_allclose(track.positions, truth, atol=1e-3)


def with_feet(people: PeopleDetections) -> PeopleDetections:
    """The detections with each slot's heels and toe tips beside its own ankles (left ones first, as
    ``core.keypoints.FOOT_POINTS``), depth unknown: feet found by the same detections as the legs."""
    ankles = people.positions[:, :, [J("left_ankle"), J("left_ankle"), J("right_ankle"), J("right_ankle")]]
    feet = np.concatenate([ankles + np.array([[-5, 8], [20, 10], [-5, 8], [20, 10]], np.float32),
                           np.full(ankles.shape[:3] + (1,), np.nan, np.float32)], axis=-1)
    confidence = np.repeat(people.confidence[:, :, :1], 4, axis=2)
    return PeopleDetections(people.positions, people.confidence, people.width, people.height, people.fps,
                            feet, confidence)


def test_the_feet_stay_with_their_person_and_are_swapped_back_with_their_legs():
    people, truth = _side_walk_with_legs_exchanged()
    track = track_people(with_feet(people))[0]
    assert apply_swaps(track, proposed_swaps(track)) == 10
    true_ankles = truth[:, [J("left_ankle"), J("left_ankle"), J("right_ankle"), J("right_ankle")]]
    np.testing.assert_allclose(track.feet[..., :2] - true_ankles, np.broadcast_to([[-5, 8], [20, 10], [-5, 8], [20, 10]],
                                                                                  true_ankles.shape), atol=1e-3)
    two = with_feet(detections([[person(300), person(900)] for _ in range(20)], seed=3))
    for tracked in track_people(two):   # each track's feet are under its own ankles, whatever slot it was in
        clip = tracked.keypoint_track(1280, 720, 30.0)
        np.testing.assert_allclose(clip.feet[:, 0, 0], clip.positions[:, J("left_ankle"), 0] - 5)


def test_swaps_are_repaired_only_on_request_and_then_reported():
    people, truth = _side_walk_with_legs_exchanged()
    as_detected = select_people(people, "longest")
    assert as_detected.chosen.swaps_repaired == 0
    assert not np.allclose(as_detected.chosen.keypoints.positions, truth, atol=1e-3)
    repaired = select_people(people, "longest", repair_swaps=True)
    assert repaired.chosen.swaps_repaired == 10
    np.testing.assert_allclose(repaired.chosen.keypoints.positions, truth, atol=1e-3)
    assert any("exchanged back in 10 frames" in warning for warning in repaired.warnings)


def test_limbs_that_move_smoothly_are_left_alone():
    frames = []
    for t in range(60):
        pose = person(300 + 5 * t)
        swing = 60 * np.sin(t / 6)
        pose[[J("left_knee"), J("left_ankle")], 0] += [swing / 2, swing]
        pose[[J("right_knee"), J("right_ankle")], 0] -= [swing / 2, swing]
        frames.append([pose])
    track = track_people(detections(frames))[0]
    assert apply_swaps(track, proposed_swaps(track)) == 0


def test_a_joint_far_off_the_body_is_dropped():
    frames = [[person(300)] for _ in range(30)]
    people = detections(frames)
    people.positions[10, :, J("left_wrist")] += 500  # on something else, far away
    track = track_people(people)[0]
    assert drop_implausible_joints(track) == 1 and track.confidence[10, J("left_wrist")] == 0
    assert isinstance(track.keypoint_track(1280, 720, 30.0), KeypointTrack)


def test_legs_put_above_the_hips_are_dropped_but_a_handstand_is_kept():
    track = track_people(detections([[person(300)] for _ in range(30)]))[0]
    pelvis_y = track.positions[5, J("pelvis"), 1]
    for frame in (5, 6):   # both ankles and knees drawn on the upper body
        track.positions[frame, LEG_JOINTS, 1] = pelvis_y - 60
    assert drop_implausible_joints(track) == 8
    assert (track.confidence[[5, 6]][:, LEG_JOINTS] == 0).all() and (track.confidence[4][LEG_JOINTS] > 0).all()
    upside_down = detections([[person(300) * [1, -1] + [0, 700]] for _ in range(30)])   # a handstand
    assert drop_implausible_joints(track_people(upside_down)[0]) == 0


LEG_JOINTS = [J("left_knee"), J("left_ankle"), J("right_knee"), J("right_ankle")]


def test_a_joint_never_seen_is_guessed_from_its_mirrored_twin_and_named():
    frames = [[person(300)] for _ in range(20)]
    people = detections(frames)
    track = track_people(people)[0].keypoint_track(1280, 720, 30.0)
    truth = track.positions.copy()
    track.confidence[:, J("right_wrist")] = 0.0            # always hidden behind the body
    filled = fill_gaps(track)
    assert filled.guessed == ("right_wrist",) and filled.filled[:, J("right_wrist")].all()
    # the template is left-right symmetric about its upright trunk: the mirrored twin lands on the truth
    np.testing.assert_allclose(filled.positions[:, J("right_wrist")], truth[:, J("right_wrist")], atol=1e-3)
    track.confidence[:, J("left_wrist")] = 0.0              # both hidden: each sits on its elbow
    both = fill_gaps(track)
    np.testing.assert_allclose(both.positions[:, J("left_wrist")], both.positions[:, J("left_elbow")])
    track.confidence[:, J("thorax")] = 0.0                  # the trunk itself: a clear error
    with pytest.raises(KeypointError, match="thorax was never detected"):
        fill_gaps(track)
