"""Feet: heels and toe tips in 3D from the detector's foot points (``core.feet``), and what carries them."""
import numpy as np
import pytest

from core.camera import CameraIntrinsics
from core.feet import (BALL_FRACTION, DEFAULT_LOCAL, HEEL_REACH, TOE_REACH, above_floor, facing, follow_ankles,
                       foot_joints, hold_planted_toes, lift_feet)
from core.keypoints import FOOT_ANKLES, FOOT_POINTS, KeypointTrack, map_feet
from core.skeleton import FOOT_SKELETON, H36M_SKELETON
from tests.motion_helpers import LENGTHS

SK = H36M_SKELETON
FX, CX, CY = 1000.0, 960.0, 540.0
INTRINSICS = CameraIntrinsics(1920, 1080, (FX, FX), (CX, CY))
HEIGHT = 1.7


def person_in_camera(frames: int = 20, yaw_deg: float = 30.0) -> np.ndarray:
    """A person standing 4 m in front of the camera (camera axes: x right, y down, z forward), turned
    ``yaw_deg`` away from facing the camera; the left knee bends a little over the clip."""
    from core.rotations import rest_pose
    rest = rest_pose(LENGTHS)                      # Z up, facing -Y
    a = np.radians(yaw_deg)
    turn = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    to_camera = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])   # world (x, y, z up) -> camera (x, y down, z)
    joints = np.repeat(((rest @ turn.T) @ to_camera.T)[None], frames, axis=0)
    joints[:, SK.index("left_knee")] += np.linspace(0, 0.05, frames)[:, None] * np.array([0, 0, -1.0])
    return joints + np.array([0.2, -0.1, 4.0])


def true_feet(joints: np.ndarray) -> np.ndarray:
    """Heels and toe tips (T, 4, 3) square to each shin: toes forwards and a little down, heels back and down."""
    points = np.zeros((len(joints), 4, 3))
    forward = facing(joints)
    for k, name in enumerate(FOOT_POINTS):
        side = FOOT_ANKLES[k].split("_")[0]
        ankle, knee = joints[:, SK.index(FOOT_ANKLES[k])], joints[:, SK.index(f"{side}_knee")]
        down = (ankle - knee) / np.linalg.norm(ankle - knee, axis=-1, keepdims=True)
        ahead = forward - np.sum(forward * down, axis=-1, keepdims=True) * down
        ahead /= np.linalg.norm(ahead, axis=-1, keepdims=True)
        local = DEFAULT_LOCAL["toe" if name.endswith("toe") else "heel"]
        reach = (TOE_REACH if name.endswith("toe") else HEEL_REACH) * HEIGHT
        points[:, k] = ankle + reach * (local[0] * down + local[1] * ahead)
    return points


def seen_by_a_detector(joints: np.ndarray, feet: np.ndarray, with_depth: bool = True) -> KeypointTrack:
    """What a detector reports: pixels of the 17 joints and of the foot points, and (with_depth) each foot
    point's depth relative to its ankle in pixels, as BlazePose gives it."""
    def project(p):
        return np.stack([FX * p[..., 0] / p[..., 2] + CX, FX * p[..., 1] / p[..., 2] + CY], axis=-1)
    ankles = joints[:, [SK.index(n) for n in FOOT_ANKLES]]
    relative = (feet[..., 2] - ankles[..., 2]) * FX / ankles[..., 2] if with_depth else np.full(feet.shape[:2], np.nan)
    foot_points = np.concatenate([project(feet), relative[..., None]], axis=-1)
    return KeypointTrack(project(joints), np.ones(joints.shape[:2]), 1920, 1080, 30.0,
                         feet=foot_points, feet_confidence=np.ones(feet.shape[:2]))


@pytest.mark.parametrize("with_depth", [True, False])
def test_heels_and_toes_come_back_from_their_pixels(with_depth):
    """BlazePose's depths place the points exactly; without depths (OpenPose) the foot's length and the hips'
    facing choose the depth, and the toes still come out where they are."""
    joints = person_in_camera()
    feet = true_feet(joints)
    found, detected = lift_feet(seen_by_a_detector(joints, feet, with_depth), joints, INTRINSICS, HEIGHT, window=1)
    assert detected.all()
    np.testing.assert_allclose(found, feet, atol=0.002)


def test_a_toe_read_the_wrong_way_round_is_turned_forwards():
    joints = person_in_camera(yaw_deg=0.0)            # facing the camera: the toes come towards it
    feet = true_feet(joints)
    track = seen_by_a_detector(joints, feet)
    track.feet[:, 1, 2] *= -1                         # the left toe's depth read backwards
    found, _ = lift_feet(track, joints, INTRINSICS, HEIGHT, window=1)
    np.testing.assert_allclose(found[:, 1], feet[:, 1], atol=0.002)


def test_unseen_feet_follow_the_shin_and_a_foot_never_seen_stands_square_to_it():
    joints = person_in_camera(frames=30)
    feet = true_feet(joints)
    track = seen_by_a_detector(joints, feet)
    track.feet_confidence[10:15, :2] = 0.0            # the left foot hidden for five frames
    track.feet_confidence[:, 2:] = 0.0                # the right foot never seen
    found, detected = lift_feet(track, joints, INTRINSICS, HEIGHT, window=1)
    assert not detected[10:15, :2].any() and detected[:10, :2].all() and not detected[:, 2:].any()
    np.testing.assert_allclose(found, feet, atol=0.002)  # the true feet are square to the shins, as the default
    assert (np.sum((found[:, 3] - joints[:, SK.index("right_ankle")]) * facing(joints), axis=-1) > 0).all()


def test_without_foot_points_every_foot_stands_square_to_its_shin():
    joints = person_in_camera(frames=5)
    track = seen_by_a_detector(joints, true_feet(joints))
    track.feet = track.feet_confidence = None         # keypoints from a file without feet (COCO)
    found, detected = lift_feet(track, joints, INTRINSICS, HEIGHT)
    assert not detected.any()
    np.testing.assert_allclose(found, true_feet(joints), atol=1e-6)


def test_toes_lie_flat_while_pushing_off_and_follow_the_foot_in_the_air():
    joints = np.zeros((2, 17, 3))
    joints[:, SK.index("left_ankle")] = [0.0, 0.0, 0.12]
    joints[:, SK.index("right_ankle")] = [0.4, 0.0, 0.5]
    feet = np.zeros((2, 4, 3))
    feet[:, 0] = [0.0, 0.06, 0.10]                    # left heel up ...
    feet[:, 1] = [0.0, -0.19, 0.0]                    # ... the toe tip on the floor: pushing off
    feet[:, 2] = [0.4, 0.06, 0.45]                    # right foot in the air, tilted the same way
    feet[:, 3] = [0.4, -0.19, 0.35]
    out = foot_joints(joints, feet)
    assert out.shape == (2, FOOT_SKELETON.num_joints, 3)
    left_ball, left_tip = out[0, FOOT_SKELETON.index("left_ball")], out[0, FOOT_SKELETON.index("left_toe")]
    np.testing.assert_allclose(left_ball, feet[0, 0] + 0.72 * (feet[0, 1] - feet[0, 0]))
    assert left_tip[2] == pytest.approx(left_ball[2])        # flat: the toes bend at the ball
    assert np.linalg.norm(left_tip - left_ball) == pytest.approx(0.28 * np.linalg.norm(feet[0, 1] - feet[0, 0]))
    np.testing.assert_allclose(out[0, FOOT_SKELETON.index("right_toe")], feet[0, 3])   # straight in the air


def test_the_contact_network_says_when_the_toes_lie_flat():
    joints = np.zeros((2, 17, 3))
    joints[:, SK.index("left_ankle")] = [0.0, 0.0, 0.12]
    joints[:, SK.index("right_ankle")] = [0.4, 0.0, 0.12]
    feet = np.zeros((2, 4, 3))
    feet[:, 0], feet[:, 1] = [0.0, 0.06, 0.10], [0.0, -0.19, 0.0]
    feet[:, 2], feet[:, 3] = [0.4, 0.06, 0.10], [0.4, -0.19, 0.0]
    planted = np.array([[False, True, True, True], [False, False, False, True]])   # left toe only; right toe only
    out = foot_joints(joints, feet, planted)
    tips = out[:, [FOOT_SKELETON.index("left_toe"), FOOT_SKELETON.index("right_toe")]]
    balls = out[:, [FOOT_SKELETON.index("left_ball"), FOOT_SKELETON.index("right_ball")]]
    assert tips[0, 0, 2] == pytest.approx(balls[0, 0, 2])     # left, frame 0: toe down, heel up: flat
    np.testing.assert_allclose(tips[0, 1], feet[0, 3])        # right, frame 0: the heel is down too: straight
    np.testing.assert_allclose(tips[1, 0], feet[1, 1])        # left, frame 1: nothing planted: straight
    assert tips[1, 1, 2] == pytest.approx(balls[1, 1, 2])     # right, frame 1: toe only: flat


def test_no_heel_or_toe_under_the_floor_and_feet_move_with_locked_ankles():
    joints = np.zeros((1, 17, 3))
    joints[0, SK.index("left_ankle")] = [0.0, 0.0, 0.08]
    joints[0, SK.index("right_ankle")] = [0.3, 0.0, 0.08]
    feet = np.array([[[0.0, 0.05, 0.03], [0.0, -0.15, -0.05], [0.3, 0.05, 0.03], [0.3, -0.15, 0.0]]])
    raised = above_floor(feet, joints)
    assert raised[0, 1, 2] == pytest.approx(0.0, abs=1e-9)
    assert np.linalg.norm(raised[0, 1] - joints[0, 6]) == pytest.approx(np.linalg.norm(feet[0, 1] - joints[0, 6]))
    np.testing.assert_allclose(raised[0, [0, 2, 3]], feet[0, [0, 2, 3]])
    moved = joints.copy()
    moved[0, SK.index("left_ankle")] += [0.1, 0.0, 0.0]
    np.testing.assert_allclose(follow_ankles(feet, joints, moved)[0, :2], feet[0, :2] + [0.1, 0.0, 0.0])
    np.testing.assert_allclose(follow_ankles(feet, joints, moved)[0, 2:], feet[0, 2:])


def test_blazepose_and_openpose_foot_points():
    points = np.zeros((1, 33, 3))
    points[0, 27], points[0, 29], points[0, 31] = [100, 500, 10], [90, 510, 25], [140, 515, -20]   # left
    points[0, 28], points[0, 30], points[0, 32] = [200, 500, 0], [190, 510, 5], [240, 515, -30]    # right
    feet, conf = map_feet(points, np.full((1, 33), 0.9), "blazepose")
    np.testing.assert_allclose(feet[0], [[90, 510, 15], [140, 515, -30], [190, 510, 5], [240, 515, -30]])
    assert conf.shape == (1, 4)
    openpose = np.zeros((1, 25, 2))
    openpose[0, 21], openpose[0, 19], openpose[0, 24], openpose[0, 22] = [1, 2], [3, 4], [5, 6], [7, 8]
    feet, _ = map_feet(openpose, np.ones((1, 25)), "body25")
    np.testing.assert_allclose(feet[0, :, :2], [[1, 2], [3, 4], [5, 6], [7, 8]])
    assert np.isnan(feet[..., 2]).all()
    assert map_feet(np.zeros((1, 17, 2)), np.ones((1, 17)), "coco") is None


def test_while_only_the_toes_are_planted_the_ball_stays_where_it_was():
    """Pushing off, the heel rises about the ball; a foot that kept its direction would slide its ball
    forwards. Held, the foot turns about the ankle and its ball stays on the first spot."""
    frames = 6
    joints = np.zeros((frames, 17, 3))
    heel0, toe0 = np.array([0.0, 0.05, 0.03]), np.array([0.0, -0.2, 0.0])
    ball0 = heel0 + BALL_FRACTION * (toe0 - heel0)
    ankle0 = np.array([0.0, 0.0, 0.09])
    feet = np.zeros((frames, 4, 3))
    for t in range(frames):   # the ankle rises about the ball, 12 degrees a frame ...
        a = np.radians(12.0 * t)
        roll = np.array([[1, 0, 0], [0, np.cos(a), np.sin(a)], [0, -np.sin(a), np.cos(a)]])
        joints[t, SK.index("left_ankle")] = ball0 + roll @ (ankle0 - ball0)
        feet[t, 0] = joints[t, SK.index("left_ankle")] + (heel0 - ankle0)   # ... but the foot kept its direction
        feet[t, 1] = joints[t, SK.index("left_ankle")] + (toe0 - ankle0)
    joints[:, SK.index("right_ankle")] = [0.3, 0.0, 0.09]
    feet[:, 2], feet[:, 3] = [0.3, 0.05, 0.03], [0.3, -0.2, 0.0]
    planted = np.zeros((frames, 4), bool)
    planted[:, 1] = True                                        # left toe down, left heel up: pushing off
    held = hold_planted_toes(feet, joints, planted)
    balls = held[:, 0] + BALL_FRACTION * (held[:, 1] - held[:, 0])
    moved = feet[:, 0] + BALL_FRACTION * (feet[:, 1] - feet[:, 0])
    assert np.linalg.norm(moved[-1] - moved[0]) > 0.05         # unheld, the ball slides
    np.testing.assert_allclose(balls, np.broadcast_to(ball0, balls.shape), atol=1e-9)
    ankle = joints[:, SK.index("left_ankle")]
    np.testing.assert_allclose(np.linalg.norm(held[:, :2] - ankle[:, None], axis=-1),
                               np.linalg.norm(feet[:, :2] - ankle[:, None], axis=-1))   # the foot keeps its shape
    np.testing.assert_allclose(held[:, 2:], feet[:, 2:])     # the right foot, heel down, is left alone
