import numpy as np
import pytest
import torch

from core.inference import NumpyTemporalModel, PoseLifter
from core.models import network_weights
from core.weights import WeightsFile, load_weights, save_weights
from tests.helpers import random_model
from training import average_weights


def _file(path, seed, chunks=None, channels=16, **extra_networks):
    model = random_model(seed=seed, channels=channels)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm1d):
                module.num_batches_tracked.fill_(seed + 10)
    metadata = {"training_command": f"command {seed}", "training_data": f"data {seed}", "name": f"model {seed}",
                "last_epoch": {"epoch": seed}}
    if chunks is not None:
        metadata["synth_chunks"] = chunks
    save_weights(path, WeightsFile({"lifter": network_weights(model), **extra_networks}, metadata))
    return str(path)


def test_the_lifter_is_the_weighted_mean_and_the_other_networks_stay(tmp_path):
    contacts = network_weights(random_model(seed=7, channels=8))
    base = _file(tmp_path / "base.npz", 1, chunks=[0, 1, 2], contacts=contacts)
    tuned = _file(tmp_path / "tuned.npz", 2, chunks=[2, 3, 5])
    out = tmp_path / "out.npz"
    average_weights.main(["--base", base, "--tuned", tuned, "--share", "0.25", "--stage", "stage 9",
                          "--name", "model v9", "--out", str(out)])
    old, new, made = (load_weights(p) for p in (base, tuned, out))
    for key, value in made.networks["lifter"].parameters.items():
        if "num_batches_tracked" in key:
            assert value == new.networks["lifter"].parameters[key] == 12     # the tuned network's counter
        else:
            expected = 0.75 * old.networks["lifter"].parameters[key] + 0.25 * new.networks["lifter"].parameters[key]
            np.testing.assert_allclose(value, expected, rtol=1e-6, atol=1e-7)
            assert value.dtype == old.networks["lifter"].parameters[key].dtype
    for key, value in contacts.parameters.items():
        np.testing.assert_array_equal(made.networks["contacts"].parameters[key], value)
    assert made.metadata["synth_chunks"] == [0, 1, 2, 3, 5]
    assert "chunks seen so far: 0-3, 5" in made.metadata["training_data"]
    assert made.metadata["training_command"].startswith("command 1 ; stage 9: command 2 ; then python -m training.average_weights")
    assert made.metadata["last_epoch"] == {"epoch": 2} and made.metadata["name"] == "model v9"
    assert made.metadata["lifter_average"]["share"] == 0.25


def test_share_one_gives_the_tuned_lifter_back(tmp_path):
    base, tuned = _file(tmp_path / "base.npz", 1), _file(tmp_path / "tuned.npz", 2)
    out = tmp_path / "out.npz"
    average_weights.main(["--base", base, "--tuned", tuned, "--share", "1", "--stage", "s", "--out", str(out)])
    keypoints = np.random.default_rng(0).uniform(-0.5, 0.5, size=(40, 17, 2)).astype(np.float32)
    got = PoseLifter(NumpyTemporalModel(load_weights(out).networks["lifter"])).lift(keypoints)
    want = PoseLifter(NumpyTemporalModel(load_weights(tuned).networks["lifter"])).lift(keypoints)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert load_weights(out).metadata["name"] == "model 1"     # the base's name unless --name


def test_networks_of_another_shape_are_refused_and_nothing_is_written(tmp_path):
    base, tuned = _file(tmp_path / "base.npz", 1), _file(tmp_path / "tuned.npz", 2, channels=32)
    out = tmp_path / "out.npz"
    with pytest.raises(ValueError, match="differ in shape"):
        average_weights.main(["--base", base, "--tuned", tuned, "--stage", "s", "--out", str(out)])
    assert not out.exists()


@pytest.mark.parametrize("share", ["0", "-0.5", "1.5"])
def test_a_share_outside_zero_to_one_is_refused(tmp_path, share, capsys):
    base, tuned = _file(tmp_path / "base.npz", 1), _file(tmp_path / "tuned.npz", 2)
    with pytest.raises(SystemExit):
        average_weights.main(["--base", base, "--tuned", tuned, "--share", share, "--stage", "s",
                              "--out", str(tmp_path / "out.npz")])
    assert "--share must be above 0 and at most 1" in capsys.readouterr().err


def test_missing_inputs_and_networks_are_clear_errors(tmp_path, capsys):
    base = _file(tmp_path / "base.npz", 1)
    with pytest.raises(SystemExit):
        average_weights.main(["--base", base, "--tuned", str(tmp_path / "none.npz"), "--stage", "s",
                              "--out", str(tmp_path / "out.npz")])
    error = capsys.readouterr().err
    assert "--tuned" in error and "no such file" in error
    tuned = _file(tmp_path / "tuned.npz", 2)
    with pytest.raises(ValueError, match="no 'trajectory' network"):
        average_weights.main(["--base", base, "--tuned", tuned, "--network", "trajectory", "--stage", "s",
                              "--out", str(tmp_path / "out.npz")])
    assert not (tmp_path / "out.npz").exists()


def test_chunk_ranges():
    assert average_weights.chunk_ranges([]) == ""
    assert average_weights.chunk_ranges([4]) == "4"
    assert average_weights.chunk_ranges([0, 1, 2, 5, 7, 8]) == "0-2, 5, 7-8"
