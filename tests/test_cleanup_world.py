import numpy as np
import pytest
from scipy.signal import savgol_filter

from core.camera import look_at_rotation
from core.cleanup import (ANKLE_HEIGHT, detect_foot_contacts, enforce_bone_lengths, foot_sliding, lock_feet,
                          smooth, two_bone_ik)
from core.skeleton import H36M_SKELETON
from core.world import world_frame
from tests.helpers import standing_person

SK = H36M_SKELETON


def _walk(frames=90, slide=0.0):
    """A person walking along +x in world metres: feet alternate stance (still) and swing.

    ``slide`` adds a drift of the stance foot (m/frame) to imitate foot sliding.
    """
    body = standing_person(frames).astype(np.float64)
    body[:, :, 0] = body[0, :, 0]  # start from a still body, then build steps explicitly
    t = np.arange(frames)
    pelvis_x = 0.02 * t
    body[:, :, 0] += pelvis_x[:, None]
    for foot, name in enumerate(("left_ankle", "right_ankle")):
        phase = (t // 15 + foot) % 2 == 0  # 15-frame stance, 15-frame swing
        x = np.zeros(frames)
        for i in range(1, frames):
            x[i] = x[i - 1] + (slide if phase[i] else 0.04)
        body[:, SK.index(name), 0] = x + body[0, SK.index(name), 0]
        body[:, SK.index(name), 2] = np.where(phase, ANKLE_HEIGHT, ANKLE_HEIGHT + 0.12)
    return body


def test_savgol_matches_scipy():
    signal = np.random.default_rng(0).normal(size=(100, 17, 3))
    np.testing.assert_allclose(smooth(signal, 9, 2), savgol_filter(signal, 9, 2, axis=0, mode="nearest"), atol=1e-10)
    np.testing.assert_allclose(smooth(signal, 15, 3), savgol_filter(signal, 15, 3, axis=0, mode="nearest"), atol=1e-10)
    with pytest.raises(ValueError):
        smooth(signal, 8, 2)
    assert smooth(signal[:1], 9, 2).shape == (1, 17, 3)


def test_smoothing_reduces_jitter_keeps_motion():
    t = np.linspace(0, 2 * np.pi, 200)
    clean = np.sin(t)[:, None]
    noisy = clean + np.random.default_rng(1).normal(0, 0.05, clean.shape)
    assert np.abs(smooth(noisy, 11, 2) - clean).mean() < 0.5 * np.abs(noisy - clean).mean()


def test_bone_lengths_become_constant():
    poses = standing_person(20).astype(np.float64) * np.random.default_rng(2).uniform(0.9, 1.1, (20, 1, 1))
    fixed, lengths = enforce_bone_lengths(poses)
    assert SK.bone_lengths(fixed).std(axis=0).max() < 1e-9
    np.testing.assert_allclose(fixed[:, 0], poses[:, 0])


def test_two_bone_ik_reaches_and_keeps_lengths():
    rng = np.random.default_rng(3)
    hip = rng.normal(size=(50, 3))
    knee = hip + np.array([0.05, 0, -0.4])
    target = hip + rng.normal(0, 0.2, (50, 3)) + np.array([0, 0, -0.6])
    new_knee = two_bone_ik(hip, knee, target, 0.4, 0.42)
    np.testing.assert_allclose(np.linalg.norm(new_knee - hip, axis=-1), 0.4, atol=1e-9)
    reachable = np.linalg.norm(target - hip, axis=-1) < 0.82
    np.testing.assert_allclose(np.linalg.norm(target - new_knee, axis=-1)[reachable], 0.42, atol=1e-9)


def test_contacts_found_and_sliding_removed():
    walk = _walk(slide=0.01)
    contacts = detect_foot_contacts(walk, fps=30)
    stance = np.stack([((np.arange(90) // 15 + f) % 2 == 0) for f in range(2)], axis=1)
    assert (contacts == stance).mean() > 0.85
    before = foot_sliding(walk, contacts)
    locked = lock_feet(walk, contacts)
    after = foot_sliding(locked, contacts)
    assert before > 8 and after < 0.5 * before
    thigh_before = np.linalg.norm(walk[:, SK.index("left_knee")] - walk[:, SK.index("left_hip")], axis=-1)
    thigh_after = np.linalg.norm(locked[:, SK.index("left_knee")] - locked[:, SK.index("left_hip")], axis=-1)
    np.testing.assert_allclose(thigh_after, np.median(thigh_before), atol=1e-6)


def test_world_frame_stands_the_person_on_the_floor():
    world = _walk()
    camera_center = np.array([1.0, -4.0, 1.6])
    rotation = look_at_rotation(camera_center, np.array([1.0, 0.0, 0.6]), np.array([0, 0, 1.0]))
    camera_points = (world - camera_center) @ rotation  # a camera tilted down at the walker
    frame = world_frame(camera_points)
    recovered = frame.apply(camera_points)
    head, pelvis = SK.index("head"), SK.index("pelvis")
    assert np.all(recovered[:, head, 2] > recovered[:, pelvis, 2] + 0.3)
    ankles = recovered[:, [SK.index("left_ankle"), SK.index("right_ankle")], 2]
    assert abs(np.percentile(ankles.min(axis=1), 5) - ANKLE_HEIGHT) < 0.01
    # Heights above the floor match the truth (the floor plane was found, not just the spine direction).
    np.testing.assert_allclose(recovered[..., 2], world[..., 2] - world[..., 2].min() + recovered[..., 2].min(), atol=0.02)
    np.testing.assert_allclose(recovered[0, pelvis, :2], [0, 0], atol=1e-9)
    # The camera sits in front (negative Y) and above the floor.
    _, centre = frame.camera_pose()
    assert centre[1] < 0 and centre[2] > 1.0


def test_a_known_camera_pitch_and_height_place_the_camera_and_the_floor():
    from core.world import camera_angles, up_from_pitch, world_frame
    rng = np.random.default_rng(4)
    poses = rng.normal(0, 0.3, (50, 17, 3)) + np.array([0.0, 0.0, 5.0])
    frame = world_frame(poses, pitch_deg=12.0, camera_height=1.6)
    angles = camera_angles(frame)
    assert angles["pitch_deg"] == pytest.approx(12.0) and angles["roll_deg"] == pytest.approx(0.0, abs=1e-9)
    assert angles["height_m"] == pytest.approx(1.6)
    rotation, centre = frame.camera_pose()
    assert rotation[:, 2] @ np.array([0, 0, 1.0]) == pytest.approx(-np.sin(np.radians(12)))  # looks down 12°
    # a point 1.6 m straight below the camera is on the floor
    below = -1.6 * up_from_pitch(12.0)
    assert frame.apply(below)[2] == pytest.approx(0.0, abs=1e-9)


def test_the_camera_angles_of_an_estimated_frame_match_a_tilted_upright_person():
    from core.world import camera_angles, world_frame
    walk = standing_person(40).astype(np.float64)  # z up, walking along +x
    tilt = np.radians(20)                          # the camera looks 20° down at the person, from -y
    # camera axes in world: x right = world x; z forward = (0, cos, -sin); y down = z x x
    forward = np.array([0, np.cos(tilt), -np.sin(tilt)])
    right = np.array([1.0, 0, 0])
    down = np.cross(forward, right)
    camera = (walk - np.array([0.5, -4.0, 2.0])) @ np.stack([right, down, forward], axis=1)
    angles = camera_angles(world_frame(camera))
    assert angles["pitch_deg"] == pytest.approx(20.0, abs=1.0) and abs(angles["roll_deg"]) < 1.0


def test_footprints_on_a_box_and_on_the_ground_do_not_tilt_the_floor():
    # The demo's man: most of the clip on top of a box, then a jump down to the ground beside it.
    from core.world import camera_angles, world_frame
    body = standing_person(1)[0].astype(np.float64)
    t = np.arange(200)
    on_box = t < 150
    offsets = np.stack([np.where(on_box, 0.4 * np.sin(t / 9), 1.5 + 0.02 * t),
                        np.where(on_box, 0.4 * np.cos(t / 13), 0.6), np.where(on_box, 1.0, 0.0)], axis=1)
    world = body[None] + offsets[:, None]
    tilt = np.radians(8)
    forward, right = np.array([0, np.cos(tilt), -np.sin(tilt)]), np.array([1.0, 0, 0])
    camera = (world - np.array([0.0, -5.0, 1.6])) @ np.stack([right, np.cross(forward, right), forward], axis=1)
    angles = camera_angles(world_frame(camera))
    assert angles["pitch_deg"] == pytest.approx(8.0, abs=1.0) and abs(angles["roll_deg"]) < 1.0


def _seen_by_camera(world: np.ndarray, pitch_deg: float, roll_deg: float) -> np.ndarray:
    """World points (z up) in the camera space of a camera 5 m in front, pitched down and rolled."""
    pitch, roll = np.radians(pitch_deg), np.radians(roll_deg)
    forward, level_right = np.array([0, np.cos(pitch), -np.sin(pitch)]), np.array([1.0, 0, 0])
    level_down = np.cross(forward, level_right)
    right = np.cos(roll) * level_right + np.sin(roll) * level_down   # rolled about the viewing axis
    down = np.cross(forward, right)
    return (world - np.array([0.0, -5.0, 1.6])) @ np.stack([right, down, forward], axis=1)


def test_a_sideways_lean_of_the_lifted_trunk_barely_rolls_a_level_camera():
    # Standing still (no footprints to fit): up comes from the trunk, here leaning 10° sideways,
    # as a lifted trunk may; a camera without roll is far more likely than a person leaning for the
    # whole clip, so only a third of the lean is taken as the camera's roll (it was all of it).
    from core.world import camera_angles
    body = standing_person(60).astype(np.float64)
    body[:, :, 0] = body[0, :, 0]
    lean = np.radians(10)
    pelvis = body[:, SK.index("pelvis")][:, None]
    upper = [SK.index(n) for n in ("spine", "thorax", "neck_nose", "head", "left_shoulder", "left_elbow",
                                   "left_wrist", "right_shoulder", "right_elbow", "right_wrist")]
    offset = body[:, upper] - pelvis
    body[:, upper, 0] = pelvis[..., 0] + np.cos(lean) * offset[..., 0] + np.sin(lean) * offset[..., 2]
    body[:, upper, 2] = pelvis[..., 2] - np.sin(lean) * offset[..., 0] + np.cos(lean) * offset[..., 2]
    angles = camera_angles(world_frame(_seen_by_camera(body, 10.0, 0.0)))
    assert abs(angles["roll_deg"]) < 4.0
    assert angles["pitch_deg"] == pytest.approx(10.0, abs=1.5)


def test_a_rolled_camera_is_still_found_rolled():
    # The pull towards a level camera is a prior, not a rule: an upright person seen by a camera
    # rolled 8° still shows a roll the same way (a third of it, where the body's up is all there is).
    from core.world import camera_angles
    body = standing_person(60).astype(np.float64)
    body[:, :, 0] = body[0, :, 0]
    angles = camera_angles(world_frame(_seen_by_camera(body, 10.0, 8.0)))
    assert 1.5 < abs(angles["roll_deg"]) < 4.0
    level = camera_angles(world_frame(_seen_by_camera(body, 10.0, 0.0)))["roll_deg"]
    rolled_back = camera_angles(world_frame(_seen_by_camera(body, 10.0, -8.0)))["roll_deg"]
    assert level == pytest.approx(0.0, abs=1e-6) and np.sign(rolled_back) == -np.sign(angles["roll_deg"])
    assert angles["pitch_deg"] == pytest.approx(10.0, abs=1.0)
