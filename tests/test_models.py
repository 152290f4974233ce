import numpy as np
import pytest
import torch

from core.architecture import TemporalModelConfig, pad_sequence_edges, parse_filter_widths
from core.models import TrajectoryModel, predict_sequence
from tests.helpers import random_model


@pytest.mark.parametrize("widths, field", [((3, 3, 3), 27), ((3, 3, 3, 3), 81), ((3, 3, 3, 3, 3), 243), ((1, 1, 1), 1), ((5, 3), 15)])
def test_receptive_field(widths, field):
    assert TemporalModelConfig(filter_widths=widths).receptive_field == field
    model = random_model(filter_widths=widths, channels=8)
    assert model.receptive_field == field
    # The network really consumes exactly that many frames per output frame.
    out = model(torch.zeros(1, field + 9, 17, 2))
    assert out.shape == (1, 10, 17, 3)


def test_even_filter_width_rejected():
    with pytest.raises(ValueError, match="odd"):
        TemporalModelConfig(filter_widths=(3, 2))
    with pytest.raises(ValueError, match="comma-separated"):
        parse_filter_widths("3,x")


@pytest.mark.parametrize("causal", [False, True])
def test_strided_variant_matches_dilated(causal):
    model = random_model(seed=1, causal=causal)
    rf = model.receptive_field
    sequence = torch.randn(1, 60, 17, 2)
    with torch.no_grad():
        dense = model(sequence)[0]  # outputs for windows starting at 0..60-rf
        windows = torch.stack([sequence[0, s:s + rf] for s in range(60 - rf + 1)])
        strided = model(windows, strided=True)[:, 0]
    assert strided.shape == dense.shape
    torch.testing.assert_close(strided, dense, rtol=0, atol=1e-5)


def test_strided_variant_rejects_wrong_window():
    model = random_model()
    with pytest.raises(ValueError, match="exactly 27"):
        model(torch.zeros(2, 30, 17, 2), strided=True)


def test_causal_output_ignores_future_frames():
    model = random_model(seed=2, causal=True)
    keypoints = np.random.default_rng(0).normal(size=(100, 17, 2)).astype(np.float32)
    before = predict_sequence(model, keypoints)
    changed = keypoints.copy()
    t = 50
    changed[t + 1:] += np.random.default_rng(1).normal(size=changed[t + 1:].shape).astype(np.float32)
    after = predict_sequence(model, changed)
    np.testing.assert_array_equal(before[: t + 1], after[: t + 1])
    assert np.abs(before[t + 1:] - after[t + 1:]).max() > 1e-3


def test_non_causal_model_does_look_ahead():
    model = random_model(seed=2, causal=False)
    keypoints = np.random.default_rng(0).normal(size=(100, 17, 2)).astype(np.float32)
    changed = keypoints.copy()
    changed[51:] += 1.0
    assert np.abs(predict_sequence(model, keypoints)[50] - predict_sequence(model, changed)[50]).max() > 1e-3


def test_padding_repeats_edge_frames():
    config = TemporalModelConfig(filter_widths=(3, 3, 3))
    sequence = np.arange(10, dtype=np.float32).reshape(10, 1, 1)
    padded = pad_sequence_edges(sequence, config)
    assert padded.shape[0] == 10 + 26
    assert np.all(padded[:13] == 0) and np.all(padded[-13:] == 9)
    causal = pad_sequence_edges(sequence, TemporalModelConfig(filter_widths=(3, 3, 3), causal=True))
    assert np.all(causal[:26] == 0) and causal[-1, 0, 0] == 9


def test_every_frame_gets_an_output():
    model = random_model()
    assert predict_sequence(model, np.zeros((5, 17, 2), np.float32)).shape == (5, 17, 3)


def test_trajectory_model_has_one_output_joint_and_own_weights():
    config = TemporalModelConfig(filter_widths=(3, 3), channels=16)
    trajectory = TrajectoryModel(config)
    out = trajectory(torch.zeros(2, 9, 17, 2))
    assert out.shape == (2, 1, 1, 3)
    lifter = random_model(filter_widths=(3, 3), channels=16)
    assert trajectory.shrink.weight.shape[0] == 3 and lifter.shrink.weight.shape[0] == 51
