"""Tuning renders: apart from the bench's renders, and evaluated as the bench evaluates."""
import os

import numpy as np
import pytest

from core.camera import CameraIntrinsics, project_to_2d
from core.keypoints import KeypointTrack
from core.pipeline import DEFAULT_MODEL
from training import bench_accuracy
from training.datasets import Clip
from training.tuning_renders import (MIN_CLIP_FRAMES, TUNING_CAMERAS, TUNING_SEEDS, evaluate, evaluate_folder, main,
                                     pick_clips, pipeline_options)
from tests.helpers import standing_person


def test_tuning_renders_use_bodies_and_cameras_the_bench_never_uses():
    bench_seeds = range(bench_accuracy.BODY_SEEDS, bench_accuracy.BODY_SEEDS + 10 * len(bench_accuracy.CLIP_CONTENTS))
    assert TUNING_SEEDS not in bench_seeds and TUNING_SEEDS + len(TUNING_CAMERAS) * 4 not in bench_seeds
    assert not set(TUNING_CAMERAS) & set(bench_accuracy.CAMERAS)


def test_clips_are_picked_from_every_source_and_only_long_ones():
    def clip(name: str, source: str, frames: int) -> Clip:
        return Clip(name, source, "validation", np.zeros((frames, 17, 3)), {})
    clips = ([clip(f"b{k}", "bandai", 200) for k in range(6)] + [clip("c-short", "cmu", MIN_CLIP_FRAMES - 1)]
             + [clip("c-long", "cmu", MIN_CLIP_FRAMES)])
    picked = pick_clips(clips, per_source=4)
    assert sorted(c.source for c in picked) == ["bandai"] * 4 + ["cmu"]
    assert "c-short" not in [c.name for c in picked]
    assert [c.name for c in pick_clips(clips, per_source=4)] == [c.name for c in picked]   # the same every time


def _fake_render(folder: str, frames: int = 60, detector_offset: float = 0.05, walk_m: float = 1.5) -> None:
    """A body walking ``walk_m`` sideways, 4 m in front of a 30 mm camera 1.2 m high (the renders' own camera set-up);
    the 'detector' sees its exact 2D and a 3D with every joint but the pelvis ``detector_offset`` metres to the
    side (P1 16/17 of that), nobody in frame 10."""
    from training.render_mocap import camera_setup
    os.makedirs(folder)
    world = standing_person(frames).astype(np.float64)                  # Z up, walking 1 m along +x
    world[..., 0] *= walk_m                                              # (its joints all at x = 0 when standing)
    center, rotation, intrinsics = camera_setup(world, 4.0, 1.2, 0.0, 30.0, 960, 540)
    joints = (world - center) @ rotation
    positions = project_to_2d(joints, intrinsics.pixel_vector())
    detector_3d = joints - joints[:, :1]
    detector_3d[:, 1:, 0] += detector_offset
    detector_3d[10] = np.nan
    np.savez(os.path.join(folder, "truth.npz"), joints_world=world, joints_camera=joints, camera_center=center,
             camera_rotation=rotation, intrinsics_px=intrinsics.pixel_vector(), width=960, height=540, fps=30.0,
             focal_mm=30.0)
    KeypointTrack(positions, np.full((frames, 17), 0.9), 960, 540, 30.0,
                  joints_3d=detector_3d).save(os.path.join(folder, "track.npz"))


def test_the_evaluation_scores_the_detectors_3d_against_a_known_answer(tmp_path):
    if not os.path.isfile(DEFAULT_MODEL):
        pytest.skip("no shipped model")
    _fake_render(str(tmp_path / "walk_0"))
    from core.inference import PoseLifter
    row = evaluate_folder(str(tmp_path / "walk_0"), PoseLifter.from_file(DEFAULT_MODEL))
    assert row["frames"] == 59                                           # frame 10: nobody, left out
    assert row["mediapipe"]["p1"] == pytest.approx(50.0 * 16 / 17, abs=0.05)   # rounded to 0.1 mm
    assert 0 < row["ours"]["p1"] < 150                                    # a lifted standing body, not garbage
    grounding = row["grounding"]                                         # the bench's grounding figures as well
    assert grounding["truth_distance_travelled_all_frames_m"] == pytest.approx(1.5, abs=1e-3)
    assert grounding["distance_travelled_all_frames_m"] > 0.5 and grounding["floor_angle_error_deg"] < 20
    _fake_render(str(tmp_path / "walk_1"), frames=30, detector_offset=0.1, walk_m=0.5)
    report = evaluate(str(tmp_path), DEFAULT_MODEL)
    assert report["renders"] == 2 and report["frames"] == 59 + 29
    expected = (59 * 50.0 + 29 * 100.0) / (59 + 29) * 16 / 17           # frame-weighted over the renders
    assert report["mediapipe"]["p1"] == pytest.approx(expected, abs=0.06)
    assert report["p1_ratio_to_mediapipe"] == pytest.approx(report["ours"]["p1"] / report["mediapipe"]["p1"], abs=1e-3)
    assert report["grounding"]["renders_travelling"] == 1                # 1.5 m; 0.5 m is too short to count
    travelled = report["per_render"][0]["grounding"]
    assert report["grounding"]["distance_travelled_error_pct"] == pytest.approx(
        100 * abs(travelled["distance_travelled_m"] - travelled["truth_distance_travelled_m"])
        / travelled["truth_distance_travelled_m"], abs=0.1)
    # the pipeline's own flags reach the evaluation: all of the detector's arms, 5-10 cm off, instead of half
    assert pipeline_options("--detector-3d 1 --smooth 13").detector_3d_weight == 1.0
    arms_from_detector = evaluate(str(tmp_path), DEFAULT_MODEL, pipeline_options("--detector-3d 1"))
    assert arms_from_detector["ours"]["p1"] != report["ours"]["p1"]
    assert arms_from_detector["mediapipe"] == report["mediapipe"]


def test_bad_requests_are_refused_before_any_work(tmp_path):
    with pytest.raises(SystemExit) as empty:
        evaluate(str(tmp_path), DEFAULT_MODEL)
    assert "python -m training.tuning_renders --data" in str(empty.value)
    for argv in ([], ["--data", str(tmp_path / "missing.npz")], ["--evaluate", str(tmp_path / "missing.npz")],
                 ["--evaluate", DEFAULT_MODEL, "--pipeline=--detector-3d 3"],    # out of the pipeline's range
                 ["--evaluate", DEFAULT_MODEL, "--pipeline=--no-such-flag"]):
        with pytest.raises(SystemExit) as refused:
            main(["--out", str(tmp_path / "out")] + argv)
        assert refused.value.code == 2
    assert not (tmp_path / "out").exists()
