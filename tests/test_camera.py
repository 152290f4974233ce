import numpy as np
import pytest
import torch

from core.camera import (CameraIntrinsics, CameraPose, image_coordinates, look_at_rotation,
                         normalize_screen_coordinates, project_to_2d, project_to_2d_linear,
                         quaternion_to_matrix, unproject)


def _points(n=50, seed=0):
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(-1, 1, n), rng.uniform(-1, 1, n), rng.uniform(2, 6, n)])


def test_normalization_round_trip_and_aspect():
    pixels = np.array([[0, 0], [1920, 1080], [960, 540]], dtype=np.float32)
    normalized = normalize_screen_coordinates(pixels, 1920, 1080)
    np.testing.assert_allclose(normalized[0], [-1, -1080 / 1920], atol=1e-6)
    np.testing.assert_allclose(normalized[1], [1, 1080 / 1920], atol=1e-6)
    np.testing.assert_allclose(normalized[2], [0, 0], atol=1e-6)
    np.testing.assert_allclose(image_coordinates(normalized, 1920, 1080), pixels, atol=1e-3)


def test_intrinsics_from_fov_and_focal_agree():
    # A 36 mm sensor behind a 18 mm lens sees 90 degrees horizontally.
    from_mm = CameraIntrinsics.from_focal_mm(1000, 500, focal_mm=18, sensor_width_mm=36)
    from_fov = CameraIntrinsics.from_fov(1000, 500, 90)
    np.testing.assert_allclose(from_mm.focal, from_fov.focal, rtol=1e-9)
    assert from_mm.focal[0] == pytest.approx(500)
    assert from_mm.horizontal_fov_deg == pytest.approx(90)
    with pytest.raises(ValueError):
        CameraIntrinsics.from_fov(100, 100, 0)


def test_linear_projection_known_answer():
    intrinsics = CameraIntrinsics(640, 480, (500, 500), (320, 240)).pixel_vector()
    projected = project_to_2d(np.array([[0.2, -0.1, 2.0]]), intrinsics)
    np.testing.assert_allclose(projected, [[320 + 50, 240 - 25]], atol=1e-5)
    np.testing.assert_allclose(project_to_2d_linear(np.array([[0.2, -0.1, 2.0]]), intrinsics), projected, atol=1e-5)


@pytest.mark.parametrize("distorted", [False, True])
def test_projection_round_trip(distorted):
    radial, tangential = ((-0.2, 0.05, 0.001), (0.001, -0.002)) if distorted else ((0, 0, 0), (0, 0))
    intrinsics = CameraIntrinsics(1000, 1000, (1100, 1090), (510, 495), radial, tangential).pixel_vector()
    points = _points()
    pixels = project_to_2d(points, intrinsics)
    if distorted:
        assert np.abs(pixels - project_to_2d_linear(points, intrinsics)).max() > 1.0
    recovered = unproject(pixels, points[:, 2:3], intrinsics)
    np.testing.assert_allclose(recovered, points, atol=1e-5)


def test_projection_is_the_same_in_torch_and_numpy():
    intrinsics = CameraIntrinsics(800, 600, (700, 700), (400, 300), (-0.1, 0.01, 0), (0.001, 0.002)).normalized_vector()
    points = _points(seed=1).astype(np.float32)
    in_numpy = project_to_2d(points, intrinsics)
    in_torch = project_to_2d(torch.from_numpy(points), torch.from_numpy(intrinsics)).numpy()
    np.testing.assert_allclose(in_torch, in_numpy, atol=1e-6)


def test_normalized_intrinsics_project_into_normalized_screen_space():
    camera = CameraIntrinsics(1280, 720, (900, 900), (650, 350))
    points = _points(seed=2)
    pixels = project_to_2d(points, camera.pixel_vector())
    normalized = project_to_2d(points, camera.normalized_vector())
    np.testing.assert_allclose(normalized, normalize_screen_coordinates(pixels, 1280, 720), atol=1e-5)


def test_world_camera_round_trip():
    rotation = look_at_rotation(np.array([3.0, -4.0, 1.5]), np.array([0, 0, 1.0]), np.array([0, 0, 1.0]))
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), atol=1e-12)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    pose = CameraPose(rotation, np.array([3.0, -4.0, 1.5]))
    world = np.random.default_rng(3).normal(size=(20, 3))
    np.testing.assert_allclose(pose.to_world(pose.to_camera(world)), world, atol=1e-12)
    # The target lies straight ahead on the optical axis, and world up is image up (negative y).
    target_cam = pose.to_camera(np.array([0, 0, 1.0]))
    np.testing.assert_allclose(target_cam[:2], [0, 0], atol=1e-12)
    assert target_cam[2] == pytest.approx(np.sqrt(3**2 + 4**2 + 0.5**2))
    assert pose.to_camera(np.array([0, 0, 2.0]))[1] < 0


def test_quaternion_to_matrix():
    half = np.sqrt(0.5)
    rotation = quaternion_to_matrix(np.array([half, 0, 0, half]))  # 90 degrees about z
    np.testing.assert_allclose(rotation @ [1, 0, 0], [0, 1, 0], atol=1e-12)
