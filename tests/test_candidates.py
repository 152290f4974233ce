"""Comparing candidate lifters off the test: the validation subset, the engine's unseen chunks."""
import numpy as np
import pytest

from core.inference import NumpyTemporalModel, PoseLifter
from core.models import network_weights
from core.weights import WeightsFile, save_weights
from tests.helpers import fake_engine_chunk, random_model, standing_person
from training import candidates
from training.augment import CLEAN
from training.datasets import Clip, load_clips, save_clips
from training.evaluation import clip_view


class _NoDepthLifter:
    """Answers every pose with all joints at the root: its P1 is the joints' mean distance from the root."""

    def lift(self, keypoints, flip_augment=True):
        return np.zeros(keypoints.shape[:2] + (3,))


def test_validation_p1_per_source_and_without_bandai(tmp_path):
    walk = standing_person(40).astype(np.float32)
    crouch = walk.copy()
    crouch[:, :, 2] *= 0.7
    clips = [Clip("bandai-1_5", "bandai", "validation", walk, {}), Clip("cmu-05", "cmu-asfamc", "validation", crouch, {}),
             Clip("cmu-06", "cmu-asfamc", "train", walk, {})]
    save_clips(tmp_path / "clips.npz", clips)
    loaded = load_clips(str(tmp_path / "clips.npz"), ("validation",))
    result = candidates.validation_p1(_NoDepthLifter(), loaded)

    def spread(clip):
        poses = clip_view(clip, CLEAN).poses_3d[0]
        return 1000 * np.linalg.norm(poses, axis=-1).mean()
    by_name = {clip.name: clip for clip in loaded}
    assert set(result) == {"bandai", "cmu-asfamc", "not_bandai"}                 # the training clip stays out
    assert result["bandai"] == pytest.approx(spread(by_name["bandai-1_5"]), abs=0.01)
    assert result["not_bandai"] == result["cmu-asfamc"] == pytest.approx(spread(by_name["cmu-05"]), abs=0.01)
    assert result["cmu-asfamc"] < result["bandai"]                                 # the crouching body is smaller


def _model(path, chunks):
    save_weights(path, WeightsFile({"lifter": network_weights(random_model(channels=16, filter_widths=(3, 3)))},
                                   {"synth_chunks": chunks}))
    return str(path)


def test_unseen_chunks_are_those_no_candidate_learnt_from(tmp_path):
    synth = tmp_path / "synth"
    synth.mkdir()
    for index in range(5):
        (synth / f"chunk_{index:05d}.npz").write_bytes(b"")
    (synth / "chunk_00005.npz.partial.npz").write_bytes(b"")                        # an engine stopped mid-write
    models = [_model(tmp_path / "a.npz", [0, 1]), _model(tmp_path / "b.npz", [1, 3])]
    assert candidates.unseen_chunk_paths(str(synth), models) == [str(synth / "chunk_00002.npz"),
                                                                 str(synth / "chunk_00004.npz")]


def test_chunks_are_scored_where_the_detector_found_the_body(tmp_path):
    fake_engine_chunk(tmp_path / "chunk_00000.npz")                    # 12 frames, the body not found in frame 3
    lifter = PoseLifter(NumpyTemporalModel(network_weights(random_model(channels=16, filter_widths=(3, 3)))))
    result = candidates.chunk_p1(lifter, [str(tmp_path / "chunk_00000.npz")], min_found=5)
    assert result["chunks"] == 1 and result["frames"] == 11 and result["p1"] > 0
    assert candidates.chunk_p1(lifter, [str(tmp_path / "chunk_00000.npz")], min_found=20) == \
        {"chunks": 0, "frames": 0, "p1": None}


def test_missing_inputs_are_refused_before_any_work(tmp_path, capsys):
    model = _model(tmp_path / "a.npz", [])
    with pytest.raises(SystemExit) as stop:
        candidates.main([model, str(tmp_path / "nowhere.npz"), "--data", str(tmp_path / "clips.npz")])
    assert stop.value.code == 2
    error = capsys.readouterr().err
    assert "nowhere.npz" in error and "clips.npz" in error
