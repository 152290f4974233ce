"""World grounding: the root solve, learned contacts, footprints for the floor, and the bench's measures."""
import json

import numpy as np
import pytest

from core.camera import CameraIntrinsics, fit_root_translation, look_at_rotation, project_to_2d_linear
from core.cleanup import ANKLE_HEIGHT, contacts_from, lock_feet
from core.inference import NumpyTemporalModel, PoseLifter
from core.models import network_weights, predict_sequence
from core import root_solve
from core.root_solve import WINDOW, solve_root
from core.skeleton import H36M_SKELETON, flip_horizontal
from core.world import camera_angles, world_frame
from tests.helpers import random_model, standing_person, synthetic_clips_file
from training import contacts as contact_training
from training.bench_grounding import in_view, path_length, rigid_alignment, summarize, trunk_lean_deg
from training.contacts import contact_f1, true_contact_points, true_foot_contacts

SK = H36M_SKELETON
INTRINSICS = CameraIntrinsics.from_fov(1280, 720, 60.0)
FEET = [SK.index("left_ankle"), SK.index("right_ankle")]


def _seen(poses_relative: np.ndarray, root: np.ndarray) -> np.ndarray:
    """Pixels of root-relative camera-space poses placed at ``root``."""
    return project_to_2d_linear(poses_relative + root[:, None], INTRINSICS.pixel_vector())


def _body_in_camera(frames: int) -> np.ndarray:
    """A standing body, root-relative, in camera axes (x right, y down, z forward)."""
    body = standing_person(1)[0].astype(np.float64)
    body = body - body[0]
    return np.repeat((body @ np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]]).T)[None], frames, axis=0)


@pytest.mark.parametrize("frames", [90, 2 * WINDOW + 77])
def test_exact_2d_and_a_steady_walk_give_back_the_true_root(frames):
    poses = _body_in_camera(frames)
    root = np.stack([np.linspace(-1, 1, frames), np.full(frames, 0.1), np.linspace(4, 6, frames)], axis=1)
    solved = solve_root(poses, _seen(poses, root), np.ones(poses.shape[:2]), INTRINSICS, None, 30.0)
    np.testing.assert_allclose(solved, root, atol=0.02)   # (the weak pull towards slower motion: under 2 cm)


def test_planted_feet_hold_a_standing_person_whose_lifted_size_wobbles():
    # A person standing still 5 m away; the lifter's pose is 10 % too big or too small from frame to
    # frame. Fitting each frame alone turns that into depth: the person wanders to and fro.
    frames = 120
    truth = _body_in_camera(frames)
    root = np.tile([0.0, 0.1, 5.0], (frames, 1))
    pixels = _seen(truth, root)
    scale = 1 + 0.1 * np.sin(np.arange(frames) / 4.0)
    lifted = truth * scale[:, None, None]
    confidence = np.ones(truth.shape[:2])
    per_frame = fit_root_translation(lifted, pixels, confidence, INTRINSICS)
    assert np.ptp(per_frame[:, 2]) > 0.8
    planted = np.ones((frames, 2))
    solved = solve_root(lifted, pixels, confidence, INTRINSICS, planted, 30.0)
    ankles = solved[:, None] + lifted[:, FEET]
    assert np.ptp(ankles[..., 2], axis=0).max() < 0.25            # the planted feet stay nearly put in depth
    assert np.ptp(solved[:, 2]) < 0.25 * np.ptp(per_frame[:, 2])
    unplanted = solve_root(lifted, pixels, confidence, INTRINSICS, None, 30.0)
    assert np.ptp(unplanted[:, 2]) > 0.5 * np.ptp(per_frame[:, 2])   # smoothness alone cannot tell


def _arms_out_turned_by_the_lifter(frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A person standing 5 m away whose arms the lifter turns towards the camera and back, each
    arm's length kept: the lifted pose is narrower across the image than the 2D, as tall as it."""
    profile = _body_in_camera(frames)     # seen from the side, upright along y
    truth = np.stack([profile[..., 2], -profile[..., 1], profile[..., 0]], axis=-1)   # facing the camera
    for side in ("left", "right"):   # arms raised straight out to the side
        shoulder = truth[:, SK.index(f"{side}_shoulder")]
        out = np.sign(shoulder[:, :1]) * np.array([[1.0, 0.0, 0.0]])
        truth[:, SK.index(f"{side}_elbow")] = shoulder + 0.3 * out
        truth[:, SK.index(f"{side}_wrist")] = shoulder + 0.55 * out
    root = np.tile([0.0, 0.1, 5.0], (frames, 1))
    pixels = _seen(truth, root)
    lifted = truth.copy()
    turn = np.radians(60) * (0.5 + 0.5 * np.sin(np.arange(frames) / 5.0))
    for side in ("left", "right"):
        shoulder = SK.index(f"{side}_shoulder")
        for joint in (SK.index(f"{side}_elbow"), SK.index(f"{side}_wrist")):
            arm = truth[:, joint] - truth[:, shoulder]
            lifted[:, joint, 0] = truth[:, shoulder, 0] + arm[:, 0] * np.cos(turn)
            lifted[:, joint, 2] = truth[:, shoulder, 2] - np.abs(arm[:, 0]) * np.sin(turn)
    return lifted, pixels, root


def test_arms_the_lifter_turns_towards_the_camera_do_not_move_the_root_in_depth(monkeypatch):
    lifted, pixels, root = _arms_out_turned_by_the_lifter(120)
    confidence = np.ones(lifted.shape[:2])
    solved = solve_root(lifted, pixels, confidence, INTRINSICS, None, 30.0)
    monkeypatch.setattr(root_solve, "HORIZONTAL_SIGMA", root_solve.REPROJECTION_SIGMA)
    alike = solve_root(lifted, pixels, confidence, INTRINSICS, None, 30.0)
    assert np.ptp(alike[:, 2]) > 0.2                          # both axes alike: the person wanders in depth
    assert np.ptp(solved[:, 2]) < 0.1 * np.ptp(alike[:, 2])
    assert np.abs(solved[:, 0] - root[:, 0]).max() < 0.01                # across the image: where the body is
    assert np.median(solved[:, 2]) == pytest.approx(np.median(alike[:, 2]), abs=0.005)   # distance: both axes


def test_contact_probabilities_become_runs_of_at_least_three_frames():
    probabilities = np.zeros((12, 2))
    probabilities[2:8, 0] = 0.9
    probabilities[9:11, 1] = 0.8          # two frames only: dropped
    contacts = contacts_from(probabilities)
    assert contacts[:, 0].tolist() == [False] * 2 + [True] * 6 + [False] * 4
    assert not contacts[:, 1].any()
    assert contacts_from(None) is None


def test_a_foot_planted_on_a_box_stays_at_the_box_height():
    body = standing_person(30).astype(np.float64)
    body[:, :, 0] = body[0, :, 0]
    body[:, [SK.index("left_knee"), SK.index("right_knee")], 0] += 0.15   # knees bent: the feet can reach lower
    body[..., 2] += 0.5                      # standing on a 0.5 m box
    contacts = np.ones((30, 2), bool)
    locked = lock_feet(body, contacts)
    assert locked[:, FEET, 2].min() > 0.5      # not pulled down to the floor
    on_floor = body.copy()
    on_floor[..., 2] -= 0.5 - 0.02            # just above a foot flat on the floor: snapped down onto it
    assert lock_feet(on_floor, contacts)[:, FEET, 2].max() == pytest.approx(ANKLE_HEIGHT)


def test_the_floor_comes_from_the_planted_feet_not_from_a_foot_held_up():
    # A person on a floor seen from a camera pitched 12° down; while one foot stands, the other is
    # held up high for most of the clip: the lowest-ankle rule would still find the floor here, but
    # with the held-up foot marked unplanted only real footprints count.
    frames = 200
    body = standing_person(1)[0].astype(np.float64)
    t = np.arange(frames)
    world = body[None] + np.stack([0.01 * t, 0.6 * np.sin(t / 20), np.zeros(frames)], axis=1)[:, None]
    world[:, SK.index("left_ankle"), 2] += 0.3 * (t % 40 < 30)
    contacts = np.stack([t % 40 >= 30, np.ones(frames, bool)], axis=1)
    pitch = np.radians(12)
    forward, right = np.array([0, np.cos(pitch), -np.sin(pitch)]), np.array([1.0, 0, 0])
    camera = (world - np.array([0.5, -5.0, 1.8])) @ np.stack([right, np.cross(forward, right), forward], axis=1)
    angles = camera_angles(world_frame(camera, contacts=contacts))
    assert angles["pitch_deg"] == pytest.approx(12.0, abs=1.0) and abs(angles["roll_deg"]) < 1.0
    assert angles["height_m"] == pytest.approx(1.8, abs=0.05)


def test_true_contacts_follow_speed_and_the_local_ground_level():
    frames = 120
    body = standing_person(frames).astype(np.float64)
    body[:, :, 0] = 0.0
    t = np.arange(frames)
    left, right = FEET
    body[:, left, 2] = ANKLE_HEIGHT + np.where(t < 60, 0.0, 0.5)          # steps up onto a box and stands
    body[:, right, 0] = np.where(t < 40, 0.0, 0.03 * (t - 40))            # still, then walks off at 0.9 m/s
    contacts = true_foot_contacts(body, 30.0)
    assert contacts[5:55, 0].all() and contacts[76:, 0].all()             # on the floor, then on the box
    assert not contacts[60:74, 0].any()   # (for the half second after standing lower, it counts as held up)
    assert contacts[:35, 1].all() and not contacts[45:, 1].any()
    assert contact_f1(contacts, contacts) == 1.0 and contact_f1(~contacts, contacts) == 0.0


def test_toes_are_planted_by_the_same_rule_as_the_heels_and_unknown_without_toe_joints():
    frames = 90
    body = standing_person(frames).astype(np.float64)
    left, right = FEET
    toes = body[:, [left, right]] + np.array([0.0, -0.12, -0.06])
    t = np.arange(frames)
    body[:, left, 2] += np.where((t >= 30) & (t < 60), 0.012 * np.minimum(t - 30, 60 - t), 0.0)  # the heel rises ...
    truth = true_contact_points(body, toes, 30.0)                                            # ... the toe stays
    assert truth.shape == (frames, 4)
    assert truth[40:50, 1].all() and not truth[40:50, 0].any()     # pushing off: left toe down, left heel up
    assert truth[5:25, [0, 1, 2, 3]].all()
    assert np.isnan(true_contact_points(body, None, 30.0)[:, [1, 3]]).all()


def test_a_heel_and_toe_network_gives_the_heels_as_the_feet_and_mirrors_all_four():
    engine = NumpyTemporalModel(network_weights(random_model(seed=3, num_joints_out=4, out_features=1, channels=32)))
    keypoints = np.random.default_rng(5).normal(size=(60, 17, 2)).astype(np.float32)
    lifter = PoseLifter(NumpyTemporalModel(network_weights(random_model(seed=8))), contacts=engine)
    points = lifter.contact_points(keypoints)
    assert points.shape == (60, 4)
    np.testing.assert_allclose(lifter.contacts(keypoints), points[:, [0, 2]])
    np.testing.assert_allclose(lifter.contact_points(flip_horizontal(keypoints, SK)), points[:, [2, 3, 0, 1]],
                               atol=1e-5)
    two = PoseLifter(lifter.lifter, contacts=NumpyTemporalModel(network_weights(
        random_model(seed=3, num_joints_out=2, out_features=1, channels=32))))
    assert two.contact_points(keypoints) is None and two.contacts(keypoints).shape == (60, 2)


def test_contact_network_numpy_equals_torch_and_is_mirror_symmetric(tmp_path):
    model = random_model(seed=7, num_joints_out=2, out_features=1, channels=32)
    keypoints = np.random.default_rng(4).normal(size=(80, 17, 2)).astype(np.float32)
    engine = NumpyTemporalModel(network_weights(model))
    np.testing.assert_allclose(engine.predict(keypoints), predict_sequence(model, keypoints), atol=1e-4)
    lifter = PoseLifter(NumpyTemporalModel(network_weights(random_model(seed=8))), contacts=engine)
    probabilities = lifter.contacts(keypoints)
    assert probabilities.shape == (80, 2) and ((probabilities > 0) & (probabilities < 1)).all()
    mirrored = lifter.contacts(flip_horizontal(keypoints, SK))
    np.testing.assert_allclose(mirrored, probabilities[:, ::-1], atol=1e-5)   # the left foot is the mirror's right


def test_contact_training_quick_adds_the_network_to_a_weights_file(tmp_path):
    from core.weights import WeightsFile, save_weights
    data = synthetic_clips_file(tmp_path / "clips.npz")
    base = tmp_path / "base.npz"
    save_weights(base, WeightsFile({"lifter": network_weights(random_model(seed=9))}, {"name": "base"}))
    out = tmp_path / "with_contacts.npz"
    contact_training.main(["--data", data, "--model", str(base), "--out", str(out), "--quick"])
    lifter = PoseLifter.from_file(out)
    assert lifter.contact_model is not None and lifter.metadata["name"] == "base"
    assert "f1_by_subset_and_source" in lifter.metadata["contacts"]
    assert " --seed 0 " in lifter.metadata["contacts"]["training_command"]   # zeros are options given too
    assert lifter.contacts(np.zeros((30, 17, 2), np.float32)).shape == (30, 2)
    assert lifter.contact_points(np.zeros((30, 17, 2), np.float32)).shape == (30, 4)
    scores = lifter.metadata["contacts"]["f1_by_subset_and_source"]["validation"]["synthetic"]
    assert "f1" in scores and "toe_f1" in scores
    with pytest.raises(SystemExit):
        contact_training.main(["--data", data, "--model", str(tmp_path / "missing.npz"), "--out", str(out)])
    contact_training.main(["--data", data, "--out", str(tmp_path / "new" / "folder" / "c.npz"), "--quick"])
    assert (tmp_path / "new" / "folder" / "c.npz").is_file()     # its folder is made before training
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit):                                # refused at once, not after training
        contact_training.main(["--data", data, "--out", str(tmp_path / "file" / "c.npz"), "--quick"])


def test_rigid_alignment_undoes_a_known_rotation_and_shift():
    points = np.random.default_rng(5).normal(size=(200, 3))
    rotation = look_at_rotation(np.zeros(3), np.array([1.0, 2.0, 0.3]), np.array([0.0, 0.0, 1.0]))
    moved = points @ rotation.T + np.array([0.5, -2.0, 1.0])
    found, shift = rigid_alignment(points, moved)
    np.testing.assert_allclose(points @ found.T + shift, moved, atol=1e-9)


def test_grounding_summary_pools_contacts_and_travel():
    body = standing_person(10).astype(np.float64)
    assert trunk_lean_deg(body) == pytest.approx(np.zeros(10), abs=1e-6)
    reports = [{"frames": 100, "frames_in_view": 50, "contact_counts": [40, 50, 60],
                "sliding_on_true_contacts_mm_per_frame": 6.0, "truth_sliding_mm_per_frame": 2.0,
                "floor_angle_error_deg": 2.0, "root_error_after_alignment_mm": 100.0,
                "root_error_after_alignment_all_frames_mm": 400.0,
                "distance_travelled_m": 4.4, "truth_distance_travelled_m": 4.0,
                "distance_travelled_all_frames_m": 4.4, "truth_distance_travelled_all_frames_m": 8.0,
                "trunk_lean_error_deg": 3.0},
               {"frames": 300, "frames_in_view": 300, "contact_counts": [100, 100, 100],
                "sliding_on_true_contacts_mm_per_frame": 2.0, "truth_sliding_mm_per_frame": 2.0,
                "floor_angle_error_deg": 6.0, "root_error_after_alignment_mm": 200.0,
                "root_error_after_alignment_all_frames_mm": 200.0,
                "distance_travelled_m": 0.3, "truth_distance_travelled_m": 0.1,
                "distance_travelled_all_frames_m": 0.3, "truth_distance_travelled_all_frames_m": 0.1,
                "trunk_lean_error_deg": 5.0}]
    keys = summarize(reports)
    assert keys["contact_f1"] == pytest.approx(2 * 140 / 310, abs=1e-3)
    assert keys["foot_sliding_ratio_to_truth"] == pytest.approx(1.5)        # (6*100 + 2*300) / 400 over 2
    assert keys["floor_angle_error_deg"] == pytest.approx(5.0)
    assert keys["distance_travelled_error_pct"] == pytest.approx(10.0)       # the standing render is left out
    assert keys["distance_travelled_error_all_frames_pct"] == pytest.approx(45.0)
    assert keys["root_error_after_alignment_mm"] == pytest.approx((100 * 50 + 200 * 300) / 350, abs=0.1)
    assert keys["root_error_after_alignment_all_frames_mm"] == pytest.approx(250.0)
    assert keys["frames_out_of_view_pct"] == pytest.approx(12.5)
    assert keys["renders_travelling"] == 1
    json.dumps(keys)


def test_frames_in_view_and_the_path_walked_while_seen():
    """A person walking out of the side of the image: frames out of view, and their steps, are not counted."""
    frames = 10
    joints = np.zeros((frames, 17, 3))
    joints[..., 2] = 4.0
    joints[..., 1] = np.linspace(-0.8, 0.8, 17)               # 1.6 m tall, centred on the optical axis
    joints[..., 0] = np.linspace(0.0, 4.5, frames)[:, None]   # walking right, 0.5 m a frame
    truth = {"joints_camera": joints, "intrinsics_px": np.array([500.0, 500.0, 480.0, 270.0, 0, 0, 0, 0, 0]),
             "width": 960, "height": 540}
    seen = in_view(truth)
    # the image's right edge is at x = 480 / 500 * 4 = 3.84 m
    np.testing.assert_array_equal(seen, np.linspace(0.0, 4.5, frames) < 3.84)
    world = np.zeros((frames, 17, 3))
    world[:, 0, 0] = np.linspace(0.0, 4.5, frames)
    assert path_length(world, seen) == pytest.approx(3.5)      # 7 steps between the 8 frames in view


def test_stretches_the_motion_does_not_match_are_found_and_reported():
    from core.pipeline import MotionResult, motion_warnings, poorly_fit_spans
    errors = np.full(100, 10.0)
    errors[[20, 21, 23, 24]] = 80.0          # one good frame inside: still one stretch
    errors[60:62] = 90.0                      # two frames: too short to report
    errors[90:95] = 50.0
    assert poorly_fit_spans(errors) == [(20, 25), (90, 95)]
    assert poorly_fit_spans(np.zeros(10)) == []
    result = MotionResult.__new__(MotionResult)
    result.person, result.first_frame, result.poorly_fit = 3, 100, [(20, 25)]
    result.keypoints = type("Track", (), {"guessed": ()})()
    assert motion_warnings([result]) == ["person 3: in frames 120-124 the 3D motion matches the 2D keypoints poorly "
                                         "(an unusual pose, or the detector lost the body there); check those frames "
                                         "in the preview"]
