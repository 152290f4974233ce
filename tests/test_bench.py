"""The benchmark command's pieces that do not need a trained model or a render: clip selection, results page."""
import json
import os

import numpy as np
import pytest

from training.bench import (COMPARISON_MODELS, comparison_command, lifting_keys, markdown, plot_end_to_end, plot_lifting, plot_speed,
                            write_benchmark_keys)
from training.bench_accuracy import joint_errors_mm, per_joint
from training.bench_pipeline import peak_memory_mb
from training.evaluate import spread


def test_spread_picks_clips_evenly_over_the_subset():
    clips = list(range(100))
    assert spread(clips, 4) == [0, 25, 50, 75]
    assert spread(clips, None) == clips and spread(clips[:3], 10) == [0, 1, 2]


def test_comparison_models_differ_only_in_their_architecture():
    def schedule(command):
        rest = list(command)
        for flag in ("--out", "--filter-widths"):
            at = rest.index(flag)
            del rest[at:at + 2]
        return [word for word in rest if word != "--causal"]
    commands = {name: comparison_command(name, "DATA", "models") for name in COMPARISON_MODELS}
    assert all(schedule(c) == schedule(commands["rf243"]) for c in commands.values())
    assert "--causal" in commands["rf27_causal"] and "--causal" not in commands["rf27"]
    assert len({c[c.index("--filter-widths") + 1] for c in commands.values()}) == 4


RUNTIME = {
    "demo": {"resolution": "1768x994", "frames": 230, "detection_alone_fps": 60.0, "pipeline_fps": 55.0,
             "pipeline_over_detection": 0.917, "load_average_before": [0.1, 0.2], "pipeline_s": [4.2, 4.1]},
    "resume": [{"signal": "SIGINT", "frames": 1800, "kept_after_stop": 900, "detected_by_rerun": 910, "redone_pct": 0.6}],
    "memory": [{"minutes": 10.0, "frames": 18000, "peak_rss_mb": 480.0, "pipeline_fps": 50.0}],
    "addon": {"demo_frames_baked": 230, "video_to_animation_s": 8.0, "addon_video_to_animation_fps": 28.8},
    "environment": {"demo_env_mb": 300.0},
}


def test_benchmark_keys_merge_into_the_root_file(tmp_path):
    path = tmp_path / "benchmarks.json"
    write_benchmark_keys(str(path), {"contact_f1": 0.5, "pipeline_fps_demo": 20.0})
    write_benchmark_keys(str(path), {"pipeline_fps_demo": 55.0, "demo_env_mb": 300.0})
    assert json.loads(path.read_text()) == {"contact_f1": 0.5, "demo_env_mb": 300.0, "pipeline_fps_demo": 55.0}


def _metrics(p1):
    return {"p1": p1, "p2": p1 * 0.8, "p3": p1 * 0.9, "mpjve": 5.0, "frames": 10}


def test_results_page_and_plots(tmp_path):
    camera = {"distance_m": 4.0, "height_m": 1.2, "yaw_deg": 0.0, "focal_mm": 30.0}
    results = {
        "command": "python -m training.bench --quick", "out": "results/bench", "machine": "2 CPU cores", "quick": True, "seconds": 300,
        "lifting": {"models": [{"name": n, "label": n, "receptive_field": rf, "causal": False, "channels": 256,
                                "clean": _metrics(p1), "noisy": _metrics(p1 + 2), "leaving": _metrics(p1 + 9)}
                               for n, rf, p1 in (("default", 243, 50.0), ("single_frame", 1, 60.0))],
                    "missing": {"rf81": "python -m training.train ..."}, "quick": True,
                    "per_source": {"rows": [{"subset": "test_actor", "source": "cmu-asfamc", "clips": 4, **_metrics(70.0)}],
                                   "other_sources": _metrics(72.5)}},
        "end_to_end": {"renders": 1, "per_render": [{"camera": camera}],
                       "renders_without_person": [{"render": "walk_far_away", "camera": camera, "error": "no person"}],
                       "ours": {"p1": 130.0, "p2": 85.0, "mpjve": 20.0, "foot_sliding_mm_per_frame": 30.0,
                                "root_error_mm": 400.0, "root_error_trajectory_network_mm": 800.0},
                       "ours_same_frames_as_mediapipe": {"p1": 120.0, "p2": 80.0, "mpjve": 21.0},
                       "mediapipe_world_landmarks": {"p1": 150.0, "p2": 98.0, "mpjve": 45.0},
                       "truth_foot_sliding_mm_per_frame": 10.0,
                       "grounding": {"contact_f1": 0.71, "foot_sliding_ratio_to_truth": 2.5,
                                     "foot_sliding_on_true_contacts_mm_per_frame": 5.0,
                                     "truth_foot_sliding_mm_per_frame": 2.0, "floor_angle_error_deg": 4.25,
                                     "root_error_after_alignment_mm": 180.0, "distance_travelled_error_pct": None,
                                     "renders_travelling": 0, "trunk_lean_error_deg": 6.5, "demo_root_wander_m": 0.5,
                                     "demo_root_path_m": 2.0, "demo_root_depth_range_m": 0.4,
                                     "demo_planted_share": 0.6}},
        "speed": {"fps": {"video decoding alone": 180.0, "detection (mediapipe)": 40.0, "whole pipeline": 35.0},
                  "ratios": {"lifting time (numpy) / detection time": 0.002},
                  "runtime": RUNTIME, "decode_only": {"peak_rss_mb": 100.0},
                  "bake": {"frames": 10000, "bake_new_armature_s": 0.4, "bake_rigify_metarig_s": 0.5,
                           "bake_rigify_generated_s": 0.6, "video_to_animation_s": 9.0, "demo_frames_baked": 230}},
        "detectors": {"detectors": {
            "solutions": {"fps_1080p": 78.5, "fps_demo": 72.1, "person_found_pct_1080p": 79.3,
                          "error_vs_truth_1080p": {"median_px": 16.6, "p90_px": 67.3}},
            "tasks-heavy": {"fps_1080p": 38.8, "fps_demo": 31.9, "person_found_pct_1080p": 73.0,
                            "error_vs_truth_1080p": {"median_px": 11.2, "p90_px": 32.4},
                            "against_solutions": {"1080p": {"median_px": 4.9}, "demo": {"median_px": 4.3}}}}},
        "tracking": {"scenes": {"tracking_cross2": {"frames": 180, "people": 2, "tracks": 3, "identity_switches": 2,
                                                    "chosen_missed_frames": 40, "chosen_visible_frames": 170}},
                     "demo": {"demo_chosen_is_the_man": True},
                     "keys": {"tracking_identity_switches_per_1000_frames": 5.9, "tracking_missed_frames_pct": 23.5,
                              "tracking_demo_identity_switches": 0, "tracking_demo_people_all": 2,
                              "lr_swap_frames_pct_before": 42.4, "lr_swap_frames_pct_after": 12.0,
                              "lr_swap_frames_pct_after_2d_only": 44.0},
                     "engine_chunks": {"chunks": 48, "judged_frames": 3620, "swapped": 123, "fixed_confirmed": 15,
                                       "broken_confirmed": 1, "fixed_2d": 28, "broken_2d": 73}},
        "retarget": {"rigs": [{"rig": "mpfb_mixamo", "about": "Mixamo names", "motion": "walk", "bones": 52,
                               "limb_direction_error_max_deg": 0.01, "hinge_error_median_deg": 0.2,
                               "hinge_error_p90_deg": 0.9, "lowest_ankle_m": 0.07, "root_scale": 0.95,
                               "root_scale_intended": 0.96, "root_scale_error_pct": 1.0,
                               "contact_sheet": "results/bench/retarget/mpfb_mixamo.png"}]},
    }
    page = markdown(results)
    assert "| default | 243 | 50.0 |" in page and "| single_frame | 1 | 60.0 |" in page
    assert "| 5.00 | 59.0 |" in page  # the default model's P1 with people leaving the frame closes its row
    assert "0.60 s onto the generated Rigify rig" in page and "(230 frames, detection included) took 9.0 s" in page
    assert "Mediapipe found nobody in 1 more render(s): walk_far_away" in page
    assert "`rf81`" in page and "4 m away, 1.2 m high, yaw 0°, 30 mm" in page
    assert "| lifting time (numpy) / detection time | 0.002 |" in page
    assert "| demo (two people), 1768x994 | 230 | 60.0 | 55.0 | 0.917 | 0.10, 0.20 |" in page
    assert "| SIGINT | 1800 | 900 | 910 | 0.6 % |" in page and "| 10 min | 18000 | 480 | 50.0 |" in page
    assert "230 frames in 8.0 s (28.8 frames/s" in page and "300 MB" in page
    assert "| mpfb_mixamo: Mixamo names | walk | 52 | 0.01 | - | 0.2 / 0.9 | 0.07 | 0.95 (0.96) | 1.0 % |" in page
    assert "`results/bench/retarget/<rig>.png`" in page
    assert "| solutions | 78.5 | 72.1 | 79.3 % | 16.6 / 67.3 |  |" in page
    assert "| tasks-heavy | 38.8 | 31.9 | 73.0 % | 11.2 / 32.4 | 4.9 / 4.3 |" in page
    assert "| tracking_cross2 | 180 | 2 | 3 | 2 | 40 / 170 |" in page
    assert "a track from one person to another" in page
    assert "Demo clip: 0 identity switches of the chosen track (the man: True); `--all-people` animates 2" in page
    assert "as detected 42.4 %; in what the pipeline animates" in page and "`core.swap_check`) **12.0 %**" in page
    assert "exchanges 15 frames back rightly and 1 wrongly; every 2D proposal would have 28 rightly and 73" in page
    assert "| test_actor | cmu-asfamc | 4 | 70.0 | 56.0 | 63.0 | 5.00 | - |" in page   # results from before the noisy rows
    assert "P1 **72.5** (`lifting_heldout_source_p1_clean_mm`)" in page
    assert "same frames: **0.800** (`end_to_end_p1_ratio_to_mediapipe`)" in page
    assert "Per joint" not in page   # results from before the per-joint table: no table, no crash
    results["end_to_end"]["per_joint"] = {"joints": ["pelvis", "left_wrist"], "ours": [0.0, 90.0], "mediapipe": [0.0, 120.0]}
    page_with_joints = markdown(results)
    assert "| pelvis | 0.0 | 0.0 | - |" in page_with_joints and "| left wrist | 90.0 | 120.0 | 0.75 |" in page_with_joints
    assert lifting_keys(results) == {"lifting_heldout_source_p1_clean_mm": 72.5, "end_to_end_p1_ratio_to_mediapipe": 0.8}
    results["lifting"]["models"][1]["other_sources_clean"] = _metrics(80.0)   # single frame
    results["lifting"]["models"].append({**results["lifting"]["models"][0], "name": "rf243",
                                         "other_sources_clean": _metrics(60.0)})
    assert lifting_keys(results)["temporal_vs_single_frame_gain"] == 0.25  # 1 - 60 / 80
    assert "temporal_vs_single_frame_gain_detector_like_2d" not in lifting_keys(results)   # no noisy figures: no key
    assert "receptive field 243 60.0 mm, single frame 80.0 mm; the temporal model is **25.0 %** better" in markdown(results)
    assert "end_to_end_p1_ratio_to_mediapipe_height_given" not in lifting_keys(results)   # results from before it
    assert "`--height`" not in markdown(results)
    results["end_to_end"]["ours_height_given_same_frames"] = {"p1": 105.0, "p2": 80.0, "mpjve": 21.0}
    results["end_to_end"]["height_m"] = {"truth_mean": 1.65, "truth_sd": 0.1, "ours_mean": 1.7, "ours_mean_abs_error_pct": 6.5,
                                         "ours_correlation": -0.06, "mediapipe_mean": 1.62,
                                         "mediapipe_mean_abs_error_pct": 6.1, "mediapipe_correlation": None}
    assert lifting_keys(results)["end_to_end_p1_ratio_to_mediapipe_height_given"] == 0.7   # 105 / 150
    assert lifting_keys(results)["end_to_end_p1_ratio_to_mediapipe"] == 0.8                 # unchanged
    page_given = markdown(results)
    assert "| ours with the person's height given (`--height`, the body's true standing height), same frames | 105.0 |" in page_given
    assert "Ours: 1.70 m on average, 6.5 % off per body, correlation with the true heights -0.06;" in page_given
    assert "1.62 m, 6.1 % off. With each body's true height given" in page_given   # no correlation: none printed
    assert "P1 is **0.700** (`end_to_end_p1_ratio_to_mediapipe_height_given`)" in page_given
    results["lifting"]["models"][1]["other_sources_noisy"] = _metrics(100.0)
    results["lifting"]["models"][-1]["other_sources_noisy"] = _metrics(70.0)
    results["lifting"]["per_source"]["rows"][0]["p1_noisy"] = 91.25
    assert lifting_keys(results)["temporal_vs_single_frame_gain_detector_like_2d"] == 0.3  # 1 - 70 / 100
    assert lifting_keys(results)["temporal_vs_single_frame_gain"] == 0.25   # the clean figure is unchanged
    page_noisy = markdown(results)
    assert "| test_actor | cmu-asfamc | 4 | 70.0 | 56.0 | 63.0 | 5.00 | 91.2 |" in page_noisy
    assert ("With detector-like 2D on the same clips and views: receptive field 243 70.0 mm, single frame 100.0 mm, "
            "30.0 % better (`temporal_vs_single_frame_gain_detector_like_2d`)") in page_noisy
    assert "| contact F1 (`contact_f1`) | 0.710 | ≥ 0.85 |" in page
    assert "| 2.50 (5.00 vs 2.00 mm/frame) | ≤ 1.5 |" in page and "| no render travels 1 m |" in page
    assert "| 0.50 m (path 2.00 m, depth range 0.40 m, feet planted 60 % of the frames) | < 0.3 m |" in page
    assert "![speed](speed.png)" in page and "![" not in markdown(results, with_plots=False)
    for plot, part in ((plot_lifting, "lifting"), (plot_end_to_end, "end_to_end"), (plot_speed, "speed")):
        path = tmp_path / f"{part}.png"
        plot(results[part], str(path))
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and os.path.getsize(path) > 5000


def test_per_joint_errors_pool_the_renders_by_their_frames():
    from core.skeleton import H36M_SKELETON
    truth = np.zeros((4, 17, 3))
    off = truth.copy()
    off[:, 13, 0] = 0.1                       # one joint 100 mm off in every frame
    assert joint_errors_mm(off, truth)[13] == 100.0 and joint_errors_mm(off, truth)[0] == 0.0
    short = {"per_joint_mm": {"frames": 10, "ours": [10.0] * 17, "mediapipe": [40.0] * 17}}
    long = {"per_joint_mm": {"frames": 30, "ours": [30.0] * 17, "mediapipe": [40.0] * 17}}
    table = per_joint([short, long])
    assert table["joints"] == list(H36M_SKELETON.names)
    assert table["ours"] == [25.0] * 17 and table["mediapipe"] == [40.0] * 17   # (10*10 + 30*30) / 40


def test_peak_memory_is_this_process_own():
    assert 10 < peak_memory_mb() < 100_000


def _tiny_data(folder) -> tuple[str, str]:
    """A prepared data file of two sources, and the training frames a model trained on it records."""
    from training.datasets import Clip, save_clips
    clips = [Clip("a", "bandai", "train", np.zeros((5, 17, 3), np.float32)),
             Clip("b", "cmu-iclone", "train", np.zeros((3, 17, 3), np.float32)),
             Clip("c", "cmu-iclone", "validation", np.zeros((4, 17, 3), np.float32))]
    save_clips(folder / "data.npz", clips)
    return str(folder / "data.npz"), "bandai 5, cmu-iclone 3"


def test_a_comparison_model_trained_on_other_data_is_trained_anew_not_compared(tmp_path, monkeypatch):
    """The bench's comparison models must have learnt from the data it measures with: one trained before a source
    joined (or recording none) is listed with both data and trained again."""
    from core.weights import WeightsFile, save_weights
    from training.bench import other_data, train_missing
    data, frames = _tiny_data(tmp_path)
    command = comparison_command("single_frame", data, str(tmp_path))
    path = tmp_path / "single_frame" / "model.npz"
    os.makedirs(path.parent)
    metadata = {"training_command": "python -m training.train " + " ".join(command), "last_epoch": {"epoch": 30}}
    save_weights(str(path), WeightsFile({}, dict(metadata, training_frames=frames)))
    assert other_data(str(path), data) is None
    save_weights(str(path), WeightsFile({}, dict(metadata, training_frames="bandai 5")))
    assert other_data(str(path), data) == "data bandai 5 (the bench's: bandai 5, cmu-iclone 3)"
    calls = []
    monkeypatch.setattr("training.train.main", calls.append)
    train_missing(data, str(tmp_path))
    assert command in calls
    save_weights(str(path), WeightsFile({}, metadata))
    assert other_data(str(path), data).startswith("data (not recorded)")


def test_a_missing_demo_clip_stops_the_bench_before_any_long_part(tmp_path, monkeypatch, capsys):
    """The speed and grounding parts read the demo clip; its absence is said at once, not after the lifting
    and end-to-end parts (about 15 minutes on 2 cores)."""
    from training import bench
    data, _ = _tiny_data(tmp_path)
    monkeypatch.setattr(bench, "DEMO", str(tmp_path / "no_demo.mp4"))
    monkeypatch.setattr(bench, "lifting_accuracy", lambda *args: pytest.fail("the lifting part ran"))
    with pytest.raises(SystemExit):
        bench.main(["--data", data, "--out", str(tmp_path / "out")])
    assert "no_demo.mp4 not found: make data/demo/demo.mp4 fetches the demo clip" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_comparison_model_stopped_before_its_last_epoch_is_not_compared(tmp_path, monkeypatch):
    """Training writes model.npz after every epoch: a run stopped at epoch 4 of 30 must not pass for finished."""
    from core.weights import WeightsFile, save_weights
    from training.bench import train_missing, unfinished
    data, frames = _tiny_data(tmp_path)
    command = "python -m training.train " + " ".join(comparison_command("rf243", data, str(tmp_path)))
    path = tmp_path / "rf243" / "model.npz"
    os.makedirs(path.parent)
    save_weights(str(path), WeightsFile({}, {"training_command": command, "last_epoch": {"epoch": 4},
                                             "training_frames": frames}))
    assert unfinished(str(path)) == "epoch 4 of 30"
    (path.parent / "checkpoint.npz").write_bytes(b"")
    calls = []
    monkeypatch.setattr("training.train.main", calls.append)
    train_missing(data, str(tmp_path))                 # continued from its checkpoint; the missing ones from scratch
    assert calls[-1] == comparison_command("rf243", data, str(tmp_path)) + ["--resume"]
    assert [c[c.index("--out") + 1] for c in calls[:-1]] == [str(tmp_path / n) for n in COMPARISON_MODELS if n != "rf243"]
    save_weights(str(path), WeightsFile({}, {"training_command": command, "last_epoch": {"epoch": 30}}))
    assert unfinished(str(path)) is None
    save_weights(str(path), WeightsFile({}, {"training_command": "hand-made", "last_epoch": {"epoch": 4}}))
    assert unfinished(str(path)) is None          # no --epochs recorded: nothing to hold it against


def test_a_comparison_model_from_another_schedule_is_trained_anew_not_compared(tmp_path, monkeypatch):
    """Comparing architectures means one schedule: a model left over from an earlier COMPARISON_TRAINING must
    be listed with what differs and trained again from scratch, not resumed or compared."""
    from core.weights import WeightsFile, save_weights
    from training.bench import other_schedule, train_missing
    data, _ = _tiny_data(tmp_path)
    command = comparison_command("rf243", data, str(tmp_path))
    path = tmp_path / "rf243" / "model.npz"
    os.makedirs(path.parent)
    save_weights(str(path), WeightsFile({}, {"training_command": "python -m training.train " + " ".join(
        command + ["--workers", "3", "--threads", "2"]), "last_epoch": {"epoch": 30}}))
    assert other_schedule(str(path), "rf243") is None          # processes and threads are not the schedule
    learning_rate = command.index("--lr") + 1
    older = command[:learning_rate] + ["0.01"] + command[learning_rate + 1:] + ["--swap-arms", "0.5"]
    save_weights(str(path), WeightsFile({}, {"training_command": "python -m training.train " + " ".join(older),
                                             "last_epoch": {"epoch": 4}}))
    changed = other_schedule(str(path), "rf243")
    assert "--lr 0.01 (schedule 0.001)" in changed and "--swap-arms 0.5 (schedule 0.0)" in changed
    (path.parent / "checkpoint.npz").write_bytes(b"")
    calls = []
    monkeypatch.setattr("training.train.main", calls.append)
    train_missing(data, str(tmp_path))
    assert command in calls and command + ["--resume"] not in calls     # anew, although a checkpoint is there
    assert other_schedule(str(path), "single_frame").startswith("--filter-widths (3, 3, 3, 3, 3) (schedule (1, 1, 1))")
    save_weights(str(path), WeightsFile({}, {"training_command": "python -m training.train " + " ".join(
        command + ["--an-option-since-removed", "1"]), "last_epoch": {"epoch": 30}}))
    assert other_schedule(str(path), "rf243").startswith("a training command this version cannot read")


def test_the_end_to_end_evaluation_measures_the_pipeline_as_shipped_and_the_lifter_alone(tmp_path):
    """On a piece of the demo whose 'truth' is the pipeline's own answer: ours is exact, the lifter alone is not."""
    import cv2
    from core.detection import TasksPoseDetector, detect_video
    from core.inference import PoseLifter
    from core.keypoints import KeypointTrack
    from core.pipeline import DEFAULT_MODEL, PipelineOptions, lift_track
    from training.bench_accuracy import evaluate_render
    from tests.test_detectors import DEMO, needs_mediapipe
    if not os.path.isfile(DEMO):
        pytest.skip("demo clip missing (make data/demo/demo.mp4)")
    needs_mediapipe()
    video = str(tmp_path / "render.avi")
    reader = cv2.VideoCapture(DEMO)
    writer = None
    for index in range(60):
        ok, frame = reader.read()
        if index >= 20:    # the man on the box, alone
            writer = writer or cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"MJPG"), 30.0, frame.shape[1::-1])
            writer.write(frame)
    writer.release()
    people = detect_video(video, TasksPoseDetector("full", 30.0))
    track = KeypointTrack(people.positions[:, 0], people.confidence[:, 0], people.width, people.height, 30.0,
                          joints_3d=people.joints_3d[:, 0])
    lifter = PoseLifter.from_file(DEFAULT_MODEL)
    result = lift_track(track, lifter, PipelineOptions(focal_mm=30.0, sensor_mm=36.0, preview=False))
    (fx, fy), (cx, cy) = result.intrinsics.focal, result.intrinsics.center
    np.savez(tmp_path / "truth.npz", joints_camera=result.joints_camera, joints_world=result.joints_world,
             camera_rotation=result.world.rotation.T, intrinsics_px=[fx, fy, cx, cy, 0, 0, 0, 0, 0],
             width=people.width, height=people.height, fps=30.0)
    report = evaluate_render(video, str(tmp_path / "truth.npz"), lifter, 30.0)
    assert report["ours"]["p1"] < 0.5 and report["ours_same_frames_as_mediapipe"]["p1"] < 0.5
    assert report["lifter_alone_same_frames"]["p1"] > 2.0          # the detector's 3D moved the arms
    assert report["mediapipe_world_landmarks"]["p1"] > report["lifter_alone_same_frames"]["p1"]
    # the truth's height is the pipeline's own: giving it changes nothing
    assert report["height_m"]["truth"] == pytest.approx(report["height_m"]["ours"], abs=1e-3)
    assert report["ours_height_given_same_frames"]["p1"] < 0.5


def test_heights_summary_says_how_far_off_each_estimate_is_and_whether_it_follows_the_bodies():
    from training.bench_accuracy import heights
    reports = [{"height_m": {"truth": t, "ours": round(1.1 * t, 3), "mediapipe": 1.6}} for t in (1.5, 1.7, 1.9)]
    reports.append({"height_m": {"truth": 1.8, "ours": 1.9, "mediapipe": None}})   # mediapipe found nobody: left out
    summary = heights(reports)
    assert summary["truth_mean"] == pytest.approx(1.7) and summary["ours_mean"] == pytest.approx(1.87)
    assert summary["ours_mean_abs_error_pct"] == pytest.approx(10.0)
    assert summary["ours_correlation"] == pytest.approx(1.0)
    assert summary["mediapipe_correlation"] is None            # a constant guess follows nothing
    assert summary["mediapipe_mean_abs_error_pct"] == pytest.approx(100 * (0.1 / 1.5 + 0.1 / 1.7 + 0.3 / 1.9) / 3, abs=0.05)
