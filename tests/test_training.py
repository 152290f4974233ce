import json
import os
import subprocess
import sys

import numpy as np
import pytest

from core.inference import PoseLifter
from tests.helpers import synthetic_clips_file
from training import evaluate, train

TINY = ["--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "8", "--channels", "16",
        "--filter-widths", "3,3", "--validation-clips", "2", "--workers", "0"]


def _log(run):
    with open(os.path.join(run, "log.jsonl")) as handle:
        return [json.loads(line) for line in handle]


def test_training_writes_weights_log_plot_and_resumes(tmp_path):
    data = synthetic_clips_file(tmp_path / "clips.npz")
    run = str(tmp_path / "run")
    train.main(["--data", data, "--out", run] + TINY)
    for name in ("model.npz", "checkpoint.npz", "checkpoint_optimizer.npz", "log.jsonl", "loss.png"):
        assert os.path.isfile(os.path.join(run, name)), name
    lifter = PoseLifter.from_file(os.path.join(run, "model.npz"))
    assert lifter.receptive_field == 9 and lifter.trajectory_model is not None
    assert "training_command" in lifter.metadata
    from training.datasets import frames_per_source, load_clips
    assert lifter.metadata["training_frames"] == frames_per_source(load_clips(data, ("train",)))   # what the bench checks
    first = np.load(os.path.join(run, "model.npz"))["lifter::param::shrink.bias"]
    train.main(["--data", data, "--out", run, "--resume", "--epochs", "2"] + TINY[2:])
    log = _log(run)
    assert [r["epoch"] for r in log] == [1, 2]
    assert not np.array_equal(first, np.load(os.path.join(run, "model.npz"))["lifter::param::shrink.bias"])
    assert log[1]["lr"] < log[0]["lr"]


def test_stored_training_command_gives_back_the_same_arguments(tmp_path):
    # Zero values (here no window may leave the frame) must be written too, not dropped as if unset.
    data = synthetic_clips_file(tmp_path / "clips.npz")
    argv = ["--data", data, "--out", str(tmp_path / "run"), "--leave-frame-fraction", "0", "--no-trajectory"] + TINY
    train.main(argv)
    command = PoseLifter.from_file(str(tmp_path / "run" / "model.npz")).metadata["training_command"]
    assert command.startswith("python -m training.train ")
    assert vars(train.parse_args(command.split()[3:])) == vars(train.parse_args(argv))


def test_leave_frame_fraction_outside_0_1_is_a_clear_error(tmp_path):
    data = synthetic_clips_file(tmp_path / "clips.npz")
    with pytest.raises(ValueError, match="--leave-frame-fraction must be between 0 and 1"):
        train.main(["--data", data, "--out", str(tmp_path / "run"), "--leave-frame-fraction", "1.5"] + TINY)
    assert not os.path.exists(tmp_path / "run")  # nothing written


def test_limb_swaps_and_turns_outside_0_1_are_a_clear_error_and_a_share_trains(tmp_path):
    data = synthetic_clips_file(tmp_path / "clips.npz")
    for option in ("--swap-arms", "--swap-legs", "--rotate-arms", "--rotate-legs"):
        with pytest.raises(ValueError, match=f"{option} must be between 0 and 1"):
            train.main(["--data", data, "--out", str(tmp_path / "run"), option, "-0.2"] + TINY)
    assert not os.path.exists(tmp_path / "run")  # nothing written
    train.main(["--data", data, "--out", str(tmp_path / "swapped"), "--swap-arms", "0.5", "--swap-legs", "0.25",
                "--rotate-arms", "0.4", "--rotate-legs", "0.2", "--no-trajectory"] + TINY)
    command = PoseLifter.from_file(str(tmp_path / "swapped" / "model.npz")).metadata["training_command"]
    assert "--swap-arms 0.5" in command and "--swap-legs 0.25" in command
    assert "--rotate-arms 0.4" in command and "--rotate-legs 0.2" in command


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    data = synthetic_clips_file(tmp_path / "clips.npz")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train.main(["--data", data, "--out", str(tmp_path / "empty"), "--resume"] + TINY)


def test_init_from_fine_tunes_and_carries_the_trajectory_over(tmp_path):
    data = synthetic_clips_file(tmp_path / "clips.npz")
    base, tuned, lifter_only = (str(tmp_path / name) for name in ("base", "tuned", "lifter_only"))
    train.main(["--data", data, "--out", base] + TINY)
    train.main(["--data", data, "--out", lifter_only, "--no-trajectory"] + TINY)
    train.main(["--data", data, "--out", tuned, "--init-from", os.path.join(base, "model.npz"), "--no-trajectory"] + TINY)
    before, after = (np.load(os.path.join(run, "model.npz")) for run in (base, tuned))
    # The trajectory network is copied unchanged, the lifter trained on from the file's weights.
    assert all(np.array_equal(before[k], after[k]) for k in before.files if k.startswith("trajectory::"))
    assert not np.array_equal(before["lifter::param::shrink.bias"], after["lifter::param::shrink.bias"])
    # A file without a trajectory network gives a run without one (not an untrained one).
    again = str(tmp_path / "again")
    train.main(["--data", data, "--out", again, "--init-from", os.path.join(lifter_only, "model.npz"), "--no-trajectory"] + TINY)
    assert PoseLifter.from_file(os.path.join(again, "model.npz")).trajectory_model is None
    with pytest.raises(ValueError, match="give the same --filter-widths"):
        train.main(["--data", data, "--out", again, "--init-from", os.path.join(base, "model.npz")] + TINY[:-6]
                   + ["--filter-widths", "3,3,3", "--validation-clips", "2", "--workers", "0"])


def test_semi_supervised_adds_unlabeled_losses_after_warmup(tmp_path):
    data = synthetic_clips_file(tmp_path / "clips.npz", clips_per_subset=6)
    run = str(tmp_path / "semi")
    train.main(["--data", data, "--out", run, "--labeled-fraction", "0.5", "--semi-supervised",
                "--warmup-epochs", "1", "--epochs", "2"] + TINY[2:])
    log = _log(run)
    assert log[0]["train_reprojection"] == 0 and log[0]["train_bone_length"] == 0
    assert log[1]["train_reprojection"] > 0 and log[1]["train_bone_length"] > 0
    with pytest.raises(ValueError, match="labeled-fraction below 1"):
        train.main(["--data", data, "--out", run, "--semi-supervised"] + TINY)


def test_distributed_training_with_two_processes(tmp_path):
    data = synthetic_clips_file(tmp_path / "clips.npz")
    run = str(tmp_path / "ddp")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             "-m", "training.train", "--data", data, "--out", run] + TINY,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    log = _log(run)
    assert len(log) == 1 and log[0]["world_size"] == 2
    assert os.path.isfile(os.path.join(run, "model.npz"))


def test_evaluation_cli_reports_all_metrics(tmp_path):
    data = synthetic_clips_file(tmp_path / "clips.npz")
    run = str(tmp_path / "run")
    train.main(["--data", data, "--out", run] + TINY)
    out = tmp_path / "eval.json"
    results = evaluate.main(["--model", os.path.join(run, "model.npz"), "--data", data, "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["clean"]["overall"] == results["clean"]["overall"]
    for level in ("clean", "noisy", "leaving"):
        assert set(saved[level]) == {"test_actor", "test_motion", "overall"}
        for key in ("p1", "p2", "p3", "mpjve", "root_error"):
            assert saved[level]["overall"][key] > 0
        assert saved[level]["overall"]["p2"] <= saved[level]["overall"]["p1"]
    assert saved["noisy"]["overall"]["frames"] == saved["clean"]["overall"]["frames"] == 6 * 60


def test_source_weighting_outside_0_1_is_a_clear_error_and_a_share_trains(tmp_path):
    data = synthetic_clips_file(tmp_path / "clips.npz")
    with pytest.raises(ValueError, match="--source-weighting must be between 0 and 1"):
        train.main(["--data", data, "--out", str(tmp_path / "run"), "--source-weighting", "2"] + TINY)
    assert not os.path.exists(tmp_path / "run")  # nothing written
    train.main(["--data", data, "--out", str(tmp_path / "run"), "--source-weighting", "0.5", "--no-trajectory"] + TINY)
    command = PoseLifter.from_file(str(tmp_path / "run" / "model.npz")).metadata["training_command"]
    assert "--source-weighting 0.5" in command


def test_a_fresh_run_in_an_old_run_s_folder_starts_its_log_anew(tmp_path):
    data = synthetic_clips_file(tmp_path / "clips.npz")
    argv = ["--data", data, "--out", str(tmp_path / "run"), "--no-trajectory"] + TINY
    train.main(argv)
    first = (tmp_path / "run" / "log.jsonl").read_text().splitlines()
    train.main(argv)
    assert len((tmp_path / "run" / "log.jsonl").read_text().splitlines()) == len(first)
