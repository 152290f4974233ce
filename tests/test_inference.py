import numpy as np
import pytest

from core.architecture import TemporalModelConfig
from core.inference import NumpyTemporalModel, PoseLifter
from core.models import TrajectoryModel, network_weights, predict_sequence
from core.skeleton import H36M_SKELETON, flip_horizontal
from core.weights import WeightsFile, load_weights, save_weights
from tests.helpers import random_model


@pytest.mark.parametrize("causal", [False, True])
def test_numpy_inference_equals_torch_over_1000_frames(causal):
    model = random_model(seed=3, filter_widths=(3, 3, 3, 3, 3), channels=128, causal=causal)
    keypoints = np.random.default_rng(0).uniform(-1, 1, size=(1000, 17, 2)).astype(np.float32)
    reference = predict_sequence(model, keypoints)
    engine = NumpyTemporalModel(network_weights(model))
    ours = engine.predict(keypoints)
    assert ours.shape == (1000, 17, 3)
    assert np.abs(reference).max() > 0.1  # a non-trivial output
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-4)


def test_chunked_inference_equals_whole_sequence():
    engine = NumpyTemporalModel(network_weights(random_model(seed=4)))
    keypoints = np.random.default_rng(1).normal(size=(700, 17, 2)).astype(np.float32)
    whole = engine.predict(keypoints, chunk_frames=10_000)
    chunked = engine.predict(keypoints, chunk_frames=97)
    np.testing.assert_allclose(chunked, whole, rtol=0, atol=1e-6)


def test_weights_round_trip_through_file(tmp_path):
    lifter = random_model(seed=5)
    trajectory = TrajectoryModel(lifter.config).eval()
    path = tmp_path / "model.npz"
    save_weights(path, WeightsFile({"lifter": network_weights(lifter), "trajectory": network_weights(trajectory)},
                                   {"license": "test"}))
    loaded = load_weights(path)
    assert loaded.metadata == {"license": "test"}
    assert loaded.networks["lifter"].config == lifter.config
    pose_lifter = PoseLifter.from_file(path)
    keypoints = np.random.default_rng(2).normal(size=(50, 17, 2)).astype(np.float32)
    np.testing.assert_allclose(pose_lifter.lifter.predict(keypoints), predict_sequence(lifter, keypoints), atol=1e-4)
    assert pose_lifter.trajectory(keypoints).shape == (50, 3)


def test_flip_augmentation_is_mirror_symmetric(tmp_path):
    path = tmp_path / "model.npz"
    save_weights(path, WeightsFile({"lifter": network_weights(random_model(seed=6))}))
    lifter = PoseLifter.from_file(path)
    keypoints = np.random.default_rng(3).normal(size=(40, 17, 2)).astype(np.float32)
    pose = lifter.lift(keypoints)
    mirrored_pose = lifter.lift(flip_horizontal(keypoints, H36M_SKELETON))
    np.testing.assert_allclose(flip_horizontal(mirrored_pose, H36M_SKELETON), pose, atol=1e-5)
    assert np.all(pose[:, 0] == 0)
    with pytest.raises(ValueError, match="no trajectory"):
        lifter.trajectory(keypoints)


def test_missing_model_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="Model file not found"):
        PoseLifter.from_file(tmp_path / "nope.npz")


def test_wrong_file_format_is_rejected(tmp_path):
    text = tmp_path / "model.npz"
    text.write_text("not a model")
    with pytest.raises(ValueError, match="not a model weights file"):
        load_weights(text)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(ValueError, match="not a lifter weights file"):
        load_weights(other)


def test_pickled_arrays_are_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, __format__=np.array("videopose-lifter-weights-v1"), payload=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="pickled"):
        load_weights(path)


def test_damaged_file_is_rejected(tmp_path):
    good = tmp_path / "good.npz"
    save_weights(good, WeightsFile({"lifter": network_weights(random_model())}))
    data = good.read_bytes()
    bad = tmp_path / "bad.npz"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError):
        load_weights(bad)


def test_bad_keypoints_are_rejected():
    engine = NumpyTemporalModel(network_weights(random_model()))
    with pytest.raises(ValueError, match="shape"):
        engine.predict(np.zeros((10, 16, 2)))
    with pytest.raises(ValueError, match="empty"):
        engine.predict(np.zeros((0, 17, 2)))
    keypoints = np.zeros((10, 17, 2))
    keypoints[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        engine.predict(keypoints)


def test_config_survives_json():
    config = TemporalModelConfig(filter_widths=(3, 5, 3), channels=7, causal=True, dropout=0.1)
    assert TemporalModelConfig.from_json(config.to_json()) == config
