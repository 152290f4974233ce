"""The detector's own 3D (BlazePose's world landmarks): carried with each person, blended into the lifted arms."""
import os

import numpy as np
import pytest

from core.keypoints import KeypointError, KeypointTrack, PeopleDetections, load_npz_keypoints
from core.options import OptionError, PipelineOptions, check_options
from core.pipeline import ARM_JOINTS, DETECTOR_3D_MAX_STRETCH, blend_detector_3d, parse_args
from core.skeleton import H36M_SKELETON
from core.tracking import apply_swaps, proposed_swaps, track_people
from tests.test_detectors import DEMO, needs_mediapipe
from tests.test_tracking import _side_walk_with_legs_exchanged, detections, person

J = H36M_SKELETON.index
FRAMES = 12
OTHERS = [j for j in range(17) if j not in ARM_JOINTS]


def standing_body() -> np.ndarray:
    """(17, 3) metres, pelvis at the origin, the camera's axes (y down): arms out to the sides."""
    body = np.zeros((17, 3))
    for side, x in (("left", 1.0), ("right", -1.0)):
        body[J(f"{side}_hip")] = [0.1 * x, 0.0, 0.0]
        body[J(f"{side}_knee")] = [0.1 * x, 0.45, 0.0]
        body[J(f"{side}_ankle")] = [0.1 * x, 0.9, 0.0]
        body[J(f"{side}_shoulder")] = [0.18 * x, -0.5, 0.0]
        body[J(f"{side}_elbow")] = [0.45 * x, -0.5, 0.0]
        body[J(f"{side}_wrist")] = [0.7 * x, -0.5, 0.0]
    body[J("spine")], body[J("thorax")] = [0, -0.25, 0], [0, -0.5, 0]
    body[J("neck_nose")], body[J("head")] = [0, -0.62, 0], [0, -0.75, 0]
    return body


def track_with(joints_3d: np.ndarray | None, confidence: float = 0.9) -> KeypointTrack:
    return KeypointTrack(np.zeros((FRAMES, 17, 2)), np.full((FRAMES, 17), confidence), 640, 480, 30.0,
                         joints_3d=joints_3d)


def test_half_the_detectors_arms_are_mixed_in_and_nothing_else():
    lifted = np.repeat(standing_body()[None], FRAMES, axis=0)
    detector = lifted.copy()
    detector[:, ARM_JOINTS, 2] += 0.2           # the detector puts both arms 20 cm further back ...
    detector[:, OTHERS, 2] -= 0.1                # ... and the rest of the body 10 cm nearer
    detector += [0.3, -0.2, 4.0]                 # anywhere: its pelvis is taken as the origin
    blended = blend_detector_3d(lifted, track_with(detector), 0.5)
    np.testing.assert_allclose(blended[:, ARM_JOINTS, 2], lifted[:, ARM_JOINTS, 2] + 0.5 * (0.2 + 0.1), atol=1e-6)
    np.testing.assert_allclose(blended[:, OTHERS], lifted[:, OTHERS])   # legs, trunk and head: the lifter's alone
    np.testing.assert_allclose(blend_detector_3d(lifted, track_with(detector), 1.0)[:, ARM_JOINTS],
                               (detector - detector[:, :1])[:, ARM_JOINTS], atol=1e-6)


def test_without_the_detectors_3d_or_at_weight_0_the_lifted_pose_is_kept():
    lifted = np.repeat(standing_body()[None], FRAMES, axis=0)
    detector = lifted + np.where(np.isin(np.arange(17), ARM_JOINTS)[:, None], 0.1, 0.0)
    assert blend_detector_3d(lifted, track_with(None), 0.5) is lifted        # keypoint files: no 3D
    assert blend_detector_3d(lifted, track_with(detector), 0.0) is lifted
    nowhere = np.full_like(detector, np.nan)                                 # the detector found nobody
    np.testing.assert_array_equal(blend_detector_3d(lifted, track_with(nowhere), 0.5), lifted)


def test_frames_the_detector_got_wrong_and_joints_without_2d_keep_the_lifted_pose():
    lifted = np.repeat(standing_body()[None], FRAMES, axis=0)
    detector = lifted.copy()
    detector[:, ARM_JOINTS, 2] += 0.2          # every frame's arms further back than the lifter's
    detector[3, [J("left_knee"), J("left_ankle")]] = [[0.1, -0.2, 0.0], [0.1, -0.6, 0.0]]   # a leg folded up
    detector[5, [J("left_knee"), J("left_ankle")], 1] *= 1 + 2 * DETECTOR_3D_MAX_STRETCH    # a leg much too long
    detector[7, :] = np.nan                                                                 # nobody found
    track = track_with(detector)
    track.confidence[9, J("right_wrist")] = 0.0      # its 2D was thrown out (a misfit, a folded leg)
    blended = blend_detector_3d(lifted, track, 0.5)
    for frame in (3, 5, 7):
        np.testing.assert_allclose(blended[frame], lifted[frame])
    np.testing.assert_allclose(blended[9, J("right_wrist")], lifted[9, J("right_wrist")])
    np.testing.assert_allclose(blended[9, J("left_wrist"), 2], 0.1, atol=1e-6)
    np.testing.assert_allclose(blended[0, ARM_JOINTS, 2], 0.1, atol=1e-6)   # the other frames are blended


def test_the_detectors_shaking_is_smoothed_before_it_is_mixed_in():
    frames = 60
    lifted = np.repeat(standing_body()[None], frames, axis=0)
    detector = lifted.copy()
    detector[:, ARM_JOINTS, 2] += 0.1 + 0.02 * (-1.0) ** np.arange(frames)[:, None]   # 2 cm of shake, frame to frame
    track = KeypointTrack(np.zeros((frames, 17, 2)), np.full((frames, 17), 0.9), 640, 480, 30.0, joints_3d=detector)
    depth = blend_detector_3d(lifted, track, 0.5)[:, ARM_JOINTS, 2]
    np.testing.assert_allclose(depth.mean(), 0.05, atol=1e-3)     # half of its 10 cm further back
    shake = np.abs(np.diff(depth, axis=0)).mean()
    assert shake < 0.1 * (0.5 * 0.04)                              # mixed in unsmoothed: 2 cm from frame to frame


def test_the_detectors_3d_must_have_one_point_per_joint_and_frame(tmp_path):
    with pytest.raises(KeypointError, match="3D joints must have shape"):
        track_with(np.zeros((FRAMES, 33, 3)))
    with pytest.raises(KeypointError, match="3D joints must have shape"):
        PeopleDetections(np.zeros((4, 2, 17, 2)), np.ones((4, 2, 17)), 640, 480, 30.0, joints_3d=np.zeros((4, 17, 3)))
    joints_3d = np.random.default_rng(0).normal(size=(4, 2, 17, 3)).astype(np.float32)
    joints_3d[1, 1] = np.nan
    PeopleDetections(np.zeros((4, 2, 17, 2)), np.ones((4, 2, 17)), 640, 480, 30.0,
                     joints_3d=joints_3d).save(str(tmp_path / "d.npz"))
    np.testing.assert_array_equal(load_npz_keypoints(str(tmp_path / "d.npz")).joints_3d, joints_3d)
    track = track_with(joints_3d[:, 0].repeat(3, axis=0))
    track.save(str(tmp_path / "t.npz"))
    np.testing.assert_array_equal(KeypointTrack.load(str(tmp_path / "t.npz")).joints_3d, track.joints_3d)


def test_the_share_is_checked_before_any_work():
    for bad in (-0.1, 1.5, float("nan"), "half"):
        with pytest.raises(OptionError, match="detector's 3D share"):
            check_options(PipelineOptions(detector_3d_weight=bad))
    assert parse_args(["clip.mp4", "--out", "o", "--detector-3d", "0"])[1].detector_3d_weight == 0.0
    assert parse_args(["clip.mp4", "--out", "o"])[1].detector_3d_weight == PipelineOptions.detector_3d_weight


def with_joints_3d(people: PeopleDetections) -> PeopleDetections:
    """Each slot's 3D: its 2D in metres (x, y over 1000) and, in depth, its own x pixel: who it belongs to."""
    joints_3d = np.concatenate([people.positions / 1000.0, people.positions[..., :1]], axis=-1)
    joints_3d[people.confidence == 0] = np.nan
    return PeopleDetections(people.positions, people.confidence, people.width, people.height, people.fps,
                            joints_3d=joints_3d)


def test_the_3d_stays_with_its_person_and_is_swapped_back_with_the_legs():
    people, truth = _side_walk_with_legs_exchanged()
    track = track_people(with_joints_3d(people))[0]
    assert apply_swaps(track, proposed_swaps(track)) == 10
    np.testing.assert_allclose(track.joints_3d[..., 2], truth[..., 0], atol=1e-3)
    two = with_joints_3d(detections([[person(300), person(900)] for _ in range(20)], seed=3))
    for tracked in track_people(two):   # each track's 3D is its own, whatever slot it was in
        clip = tracked.keypoint_track(1280, 720, 30.0)
        np.testing.assert_allclose(clip.joints_3d[..., 2], clip.positions[..., 0], atol=1e-3)


@pytest.mark.skipif(not os.path.isfile(DEMO), reason="demo clip missing (make data/demo/demo.mp4)")
def test_blazepose_gives_each_person_found_a_metric_body_of_their_own():
    """On the demo, the man on the box and the woman walking below: each slot's 3D is the body of its own 2D."""
    needs_mediapipe()
    from core.detection import detect_video, TasksPoseDetector
    people = detect_video(DEMO, TasksPoseDetector("full", 30.0, max_people=4), stop=90)
    people = PeopleDetections(people.positions[70:], people.confidence[70:], people.width, people.height, people.fps,
                              joints_3d=people.joints_3d[70:])
    seen = people.confidence[..., [J("pelvis"), J("head")]].min(axis=-1) > 0.5
    assert (seen.sum(axis=1) >= 2).all()
    man = np.argmin(np.where(seen, people.positions[..., J("pelvis"), 1], np.inf), axis=1)   # higher in the image
    woman = np.argmax(np.where(seen, people.positions[..., J("pelvis"), 1], -np.inf), axis=1)
    frames = np.arange(len(man))
    for slot in (man, woman):
        body = people.joints_3d[frames, slot]
        np.testing.assert_allclose(body[:, J("pelvis")], 0.0, atol=1e-6)
        height = body[:, [J("left_ankle"), J("right_ankle")], 1].mean(axis=1) - body[:, J("head"), 1]
        assert ((height > 1.0) & (height < 2.0)).all() and np.median(height) > 1.2   # metres, y down
    def shape(points: np.ndarray) -> np.ndarray:   # x, y about the pelvis over the head-to-ankles height
        points = points[..., :2] - points[:, J("pelvis"), None, :2]
        return points / np.abs(points[:, [J("left_ankle"), J("right_ankle")], 1].mean(axis=1)
                               - points[:, J("head"), 1])[:, None, None]
    for own, other in ((man, woman), (woman, man)):   # each slot's 3D looks like its own 2D, not the other's
        flat = shape(people.positions[frames, own])
        match = np.abs(flat - shape(people.joints_3d[frames, own])).mean(axis=(1, 2))
        mismatch = np.abs(flat - shape(people.joints_3d[frames, other])).mean(axis=(1, 2))
        assert (match < mismatch).mean() > 0.9 and np.median(match) < 0.05
    empty = ~seen & (people.confidence.max(axis=-1) == 0)
    assert np.isnan(people.joints_3d[empty]).all()
