"""The detector's offsets from the canonical joints: measured on chunks, put on projected mocap."""
import numpy as np

from core.camera import CameraIntrinsics, project_to_2d_linear
from core.skeleton import H36M_SKELETON
from tests.helpers import standing_person
from training.augment import CLEAN, make_pairs
from training.synth.detector_offsets import add_offsets, median_offsets
from training.synth.windows import SynthClip

SK = H36M_SKELETON
# about what mediapipe does on the engine's renders: hips 4 % of the person's extent up the torso,
# the thorax 4 % down it, the shoulders 2 % up, the head 1.5 % across
KNOWN = np.zeros((17, 2), np.float32)
for name, offset in {"left_hip": (0.0, -0.04), "right_hip": (0.0, -0.04), "thorax": (0.0, 0.04),
                     "left_shoulder": (0.0, -0.02), "right_shoulder": (0.0, -0.02), "head": (0.015, 0.0)}.items():
    KNOWN[SK.index(name)] = offset


def _camera_points(frames: int = 20) -> np.ndarray:
    """A standing body 4 m ahead of the camera (x right, y down, z forwards), turning as it walks."""
    body = standing_person(frames).astype(np.float64)
    angles = np.linspace(0, 1.2, frames)
    c, s = np.cos(angles)[:, None], np.sin(angles)[:, None]
    x, y = body[..., 0] - body[:, :1, 0], body[..., 1]
    return np.stack([c * x - s * y, 0.9 - body[..., 2], s * x + c * y + 4.0], axis=-1)


def test_offsets_turn_and_scale_with_the_person():
    points = project_to_2d_linear(_camera_points(), CameraIntrinsics.from_fov(960, 540, 60.0).pixel_vector())
    moved = add_offsets(points, KNOWN)
    hips = [SK.index("left_hip"), SK.index("right_hip")]
    extent = np.ptp(points, axis=-2).max(axis=-1)
    # image y grows downwards and the torso points down: the hips move up by 4 % of the extent
    np.testing.assert_allclose((moved - points)[:, hips, 1], np.repeat(-0.04 * extent[:, None], 2, 1), rtol=1e-4)
    quarter_turn = np.array([[0.0, -1.0], [1.0, 0.0]])       # the same person lying on their side, twice as big
    turned = 2.0 * points @ quarter_turn.T
    np.testing.assert_allclose(add_offsets(turned, KNOWN), 2.0 * moved @ quarter_turn.T, atol=1e-6)
    np.testing.assert_array_equal(add_offsets(points, np.zeros((17, 2), np.float32)), points)


def test_median_offsets_recover_known_offsets_through_detector_outliers():
    camera = _camera_points(40)
    intrinsics = CameraIntrinsics.from_fov(960, 540, 60.0).normalized_vector()
    truth = project_to_2d_linear(camera, intrinsics).astype(np.float32)
    detected = add_offsets(truth, KNOWN)
    rng = np.random.default_rng(0)
    wrong = rng.random(detected.shape[:2]) < 0.1               # a tenth of the joints badly wrong
    detected[wrong] += rng.normal(0, 0.3, (wrong.sum(), 2)).astype(np.float32)
    clip = SynthClip(detected, (camera - camera[:, :1]).astype(np.float32), camera[:, 0].astype(np.float32), intrinsics)
    np.testing.assert_allclose(median_offsets([clip]), KNOWN, atol=0.004)


def test_a_share_of_the_training_views_take_the_offsets():
    windows = np.repeat(standing_person(9)[None].astype(np.float32), 64, axis=0)
    plain = make_pairs(windows, np.random.default_rng(5), CLEAN, augment_bones=False)
    every = make_pairs(windows, np.random.default_rng(5), CLEAN, augment_bones=False, detector_offsets=KNOWN,
                       offset_fraction=1.0)
    np.testing.assert_allclose(every.poses_3d, plain.poses_3d)       # the same views and the same truth
    np.testing.assert_allclose(every.inputs_2d, add_offsets(plain.inputs_2d, KNOWN), atol=1e-5)
    half = make_pairs(windows, np.random.default_rng(5), CLEAN, augment_bones=False, detector_offsets=KNOWN,
                      offset_fraction=0.5)
    moved = np.abs(half.inputs_2d - plain.inputs_2d).max(axis=(1, 2, 3)) > 1e-6
    assert 16 < moved.sum() < 48
