"""Widening a trained network keeps what it computes and lets the copies learn apart."""
import numpy as np
import pytest
import torch

from core.inference import NumpyTemporalModel
from core.models import model_from_weights, network_weights
from core.weights import WeightsFile, load_weights, save_weights
from tests.helpers import random_model
from training import widen


@pytest.mark.parametrize("causal", [False, True])
def test_a_widened_network_computes_the_same_poses(causal):
    narrow = network_weights(random_model(seed=3, channels=16, causal=causal))
    wide = widen.widen_network(narrow, 48, np.random.default_rng(0))
    assert wide.config.channels == 48 and wide.config.filter_widths == narrow.config.filter_widths
    inputs = np.random.default_rng(1).normal(0, 0.4, (40, 17, 2)).astype(np.float32)
    expected = NumpyTemporalModel(narrow).predict(inputs)
    np.testing.assert_allclose(NumpyTemporalModel(wide).predict(inputs), expected, atol=2e-5)
    torch_model = model_from_weights(wide).eval()                     # the torch form reads it as well
    with torch.no_grad():
        strided = torch_model(torch.from_numpy(inputs[None, :27]), strided=True)[0, 0].numpy()
    np.testing.assert_allclose(strided, NumpyTemporalModel(narrow).forward_valid(inputs[:27])[0], atol=2e-5)
    # the copies of one channel read the layer below alike but are read in unequal shares
    conv = wide.parameters["layers_conv.0.weight"]
    np.testing.assert_array_equal(conv[:16], conv[16:32])
    assert not np.allclose(conv[:, :16], conv[:, 16:32])


def test_widening_says_what_it_cannot_do(tmp_path):
    narrow = network_weights(random_model(seed=3, channels=16))
    with pytest.raises(ValueError, match="whole multiple of the network's 16 channels"):
        widen.widen_network(narrow, 40, np.random.default_rng(0))
    path = tmp_path / "model.npz"
    save_weights(path, WeightsFile({"lifter": narrow, "contacts": narrow}, {"name": "m"}))
    with pytest.raises(SystemExit):
        widen.main(["--model", str(path), "--channels", "32", "--out", str(path)])       # would overwrite its input
    with pytest.raises(SystemExit):
        widen.main(["--model", str(path), "--channels", "24", "--out", str(tmp_path / "x.npz")])
    assert not (tmp_path / "x.npz").exists()
    widen.main(["--model", str(path), "--channels", "32", "--out", str(tmp_path / "wide.npz")])
    made = load_weights(tmp_path / "wide.npz")
    assert made.networks["lifter"].config.channels == 32 and made.networks["contacts"].config.channels == 16
    assert "16 to 32 channels" in made.metadata["widened"] and made.metadata["name"] == "m"
    widen.main(["--model", str(path), "--channels", "32", "--only", "--out", str(tmp_path / "alone.npz")])
    assert set(load_weights(tmp_path / "alone.npz").networks) == {"lifter"}
