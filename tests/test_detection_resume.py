"""Detection over two workers, resumable chunks, damaged caches, truncated and variable-rate videos.

The videos' frames carry their own index (``tests.video_helpers``), so every test checks that
each detection belongs to the right frame, not only that there are as many as expected.
"""
import glob
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from core.detection_cache import frames_kept
from core.parallel_detection import CONVERGED_FRAMES, detect_video_cached, split_work
from core.pipeline import PipelineOptions, input_warnings
from core.video import probe, read_frames
from tests.video_helpers import (FollowingDetector, IndexDetector, index_video, read_index, two_people_video,
                                 variable_rate_mp4)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def frame_indices(run) -> list[int]:
    return [int(round(x)) for x in run.people.positions[:, 0, 0, 0]]


def chunk_files(folder) -> list[str]:
    return sorted(glob.glob(os.path.join(folder, "chunk_*.npz")))


def test_split_work_shares_frames_evenly_and_keeps_short_work_on_one_worker():
    plans = split_work([(0, 1000)], 2)
    assert plans == [[(0, 500)], [(500, 1000)]]
    plans = split_work([(0, 100), (300, 500), (900, 930)], 2)
    assert sum(b - a for plan in plans for a, b in plan) == 330
    assert [sum(b - a for a, b in plan) for plan in plans] == [165, 165]
    assert split_work([(0, 80)], 2) == [[(0, 80)]]
    # a range is not cut to leave a sliver to another worker (each cut costs that worker a lead)
    assert split_work([(100, 190), (300, 400)], 2) == [[(100, 190)], [(300, 400)]]
    assert split_work([(0, 150), (300, 330), (500, 700)], 2) == [[(0, 150), (300, 330)], [(500, 700)]]


@pytest.mark.parametrize("fourcc, suffix", [("MJPG", ".avi"), ("mp4v", ".mp4")])
def test_two_workers_give_every_frame_its_own_detection(tmp_path, fourcc, suffix):
    video = index_video(tmp_path / f"clip{suffix}", frames=300, fourcc=fourcc)
    run = detect_video_cached(video, str(tmp_path / "cache"), IndexDetector, workers=2, chunk_frames=64)
    assert frame_indices(run) == list(range(300))
    assert run.frames_detected == 300 and run.frames_from_cache == 0 and run.cache_problems == []
    np.testing.assert_allclose(np.diff(run.time_ms), 40.0)
    starts = [int(os.path.basename(p).split("_")[1]) for p in chunk_files(tmp_path / "cache")]
    assert starts == [0, 64, 128, 150, 214, 278]  # the second worker began half-way; a chunk every 64 frames
    single = detect_video_cached(video, str(tmp_path / "cache1"), IndexDetector, workers=1)
    np.testing.assert_array_equal(single.people.positions[:, 0], run.people.positions[:, 0])


@pytest.fixture
def slow_detector(monkeypatch):
    monkeypatch.setattr(IndexDetector, "delay", 0.003)
    return IndexDetector


def stopped_run(video: str, cache: str, at: int, **options) -> int:
    """Detect until ``at`` frames are done, then ask the run to stop; the last count reported."""
    seen = []
    with pytest.raises(InterruptedError):
        detect_video_cached(video, cache, IndexDetector, progress=lambda done, total, fps: seen.append(done),
                            should_stop=lambda: bool(seen) and seen[-1] >= at, **options)
    return seen[-1]


def test_a_stopped_run_resumes_where_it_stopped(tmp_path, slow_detector):
    video = index_video(tmp_path / "clip.avi", frames=400)
    cache = str(tmp_path / "cache")
    done_before = stopped_run(video, cache, 200, chunk_frames=50, workers=2)
    # the workers may finish a frame or two more before they stop
    assert 200 <= done_before < 400
    kept = frames_kept(cache)
    resumed = detect_video_cached(video, cache, IndexDetector, chunk_frames=50, workers=2)
    assert frame_indices(resumed) == list(range(400))
    # Stopping flushes every frame already detected, and the resumed pieces start on the people of
    # the frame before them: nothing is detected twice (but each resumed piece's priming frame).
    assert resumed.frames_from_cache == kept == done_before
    assert 400 - kept <= resumed.frames_detected <= 400 - kept + 2 and resumed.cache_problems == []


def test_ctrl_c_keeps_the_finished_chunks(tmp_path, slow_detector):
    video = index_video(tmp_path / "clip.avi", frames=300)
    cache = str(tmp_path / "cache")
    def progress(done, total, fps):
        if done >= 100:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        detect_video_cached(video, cache, IndexDetector, progress=progress, chunk_frames=40)
    assert chunk_files(cache)
    resumed = detect_video_cached(video, cache, IndexDetector, chunk_frames=40)
    assert frame_indices(resumed) == list(range(300))
    assert resumed.frames_from_cache >= 100
    assert resumed.frames_detected <= 300 - resumed.frames_from_cache + 2  # a priming frame per resumed piece


KILLED_RUN = """
import sys
sys.path.insert(0, {root!r})
from core.parallel_detection import detect_video_cached
from tests.video_helpers import IndexDetector
IndexDetector.delay = 0.01
detect_video_cached({video!r}, {cache!r}, IndexDetector, chunk_frames=25, workers=2)
"""


def test_a_killed_run_leaves_only_whole_chunks_and_the_rerun_redoes_little(tmp_path):
    video = index_video(tmp_path / "clip.avi", frames=600)
    cache = str(tmp_path / "cache")
    child = subprocess.Popen([sys.executable, "-c", KILLED_RUN.format(root=ROOT, video=video, cache=cache)])
    deadline = time.time() + 60
    while len(chunk_files(cache)) < 6 and time.time() < deadline and child.poll() is None:
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert len(chunk_files(cache)) >= 6
    resumed = detect_video_cached(video, cache, IndexDetector, chunk_frames=25, workers=2)
    assert frame_indices(resumed) == list(range(600))
    assert resumed.cache_problems == []  # a killed write leaves a temporary file, never a broken chunk
    assert resumed.frames_from_cache >= 6 * 25
    assert not glob.glob(os.path.join(cache, ".*partial*"))  # what the kill cut short is cleared away


def test_a_damaged_chunk_is_reported_and_detected_again(tmp_path):
    video = index_video(tmp_path / "clip.avi", frames=200)
    cache = str(tmp_path / "cache")
    detect_video_cached(video, cache, IndexDetector, chunk_frames=50)
    damaged = chunk_files(cache)[1]
    data = open(damaged, "rb").read()
    open(damaged, "wb").write(data[: len(data) // 3])
    rerun = detect_video_cached(video, cache, IndexDetector, chunk_frames=50)
    assert frame_indices(rerun) == list(range(200))
    assert rerun.frames_detected == 50 + 1  # and a priming frame: it starts on the people of the frame before it
    assert any("damaged" in problem and os.path.basename(damaged) in problem for problem in rerun.cache_problems)
    assert detect_video_cached(video, cache, IndexDetector).frames_detected == 0  # rebuilt whole


class FootIndexDetector(IndexDetector):
    """``IndexDetector`` that also finds feet and makes its own 3D of each person, the frame's index in their depth."""
    name = "index-feet"

    def detect(self, frame):
        positions, confidence = super().detect(frame)
        feet = np.zeros((len(positions), 4, 3), np.float32)
        feet[..., 2] = positions[:, :1, 0]
        self.last_feet = (feet, np.full((len(positions), 4), 0.8, np.float32))
        self.last_joints_3d = np.zeros((len(positions), 17, 3), np.float32)
        self.last_joints_3d[..., 2] = positions[:, :1, 0]
        return positions, confidence


def test_foot_points_and_the_detectors_3d_are_kept_with_their_frames_and_a_cache_without_them_is_rebuilt(tmp_path):
    video = index_video(tmp_path / "clip.avi", frames=120)
    cache = str(tmp_path / "cache")
    run = detect_video_cached(video, cache, FootIndexDetector, workers=2, chunk_frames=25)
    np.testing.assert_allclose(run.people.feet[:, 0, :, 2], np.arange(120)[:, None].repeat(4, axis=1), atol=0.5)
    assert (run.people.feet_confidence[:, 0] == np.float32(0.8)).all()
    assert (run.people.feet_confidence[:, 1:] == 0).all()          # the empty slots
    np.testing.assert_allclose(run.people.joints_3d[:, 0, :, 2], np.arange(120)[:, None].repeat(17, axis=1), atol=0.5)
    assert np.isnan(run.people.joints_3d[:, 1:]).all()
    again = detect_video_cached(video, cache, FootIndexDetector, workers=2, chunk_frames=25)
    assert again.frames_detected == 0
    np.testing.assert_array_equal(again.people.feet, run.people.feet)
    np.testing.assert_array_equal(again.people.joints_3d, run.people.joints_3d)
    for missing in ("feet", "joints_3d"):   # chunks earlier versions wrote, without foot points, without the 3D
        old = chunk_files(cache)[0]
        with np.load(old) as data:
            kept = {k: data[k] for k in data.files if not k.startswith(missing)}
        np.savez(old, **kept)
        rerun = detect_video_cached(video, cache, FootIndexDetector, workers=2, chunk_frames=25)
        assert any("without foot points or the detector's 3D" in problem for problem in rerun.cache_problems)
        assert 0 < rerun.frames_detected < 120
        np.testing.assert_array_equal(rerun.people.feet, run.people.feet)
        np.testing.assert_array_equal(rerun.people.joints_3d, run.people.joints_3d)


def test_a_truncated_video_is_detected_to_its_real_end_and_warned_about(tmp_path):
    video = index_video(tmp_path / "clip.avi", frames=240)
    data = open(video, "rb").read()
    open(video, "wb").write(data[: int(len(data) * 0.4)])
    info = probe(video)
    assert info.frame_count == 240  # the header still announces the whole clip
    run = detect_video_cached(video, str(tmp_path / "cache"), IndexDetector, workers=2, info=info)
    assert 60 < run.people.num_frames < 240
    assert frame_indices(run) == list(range(run.people.num_frames))
    assert run.frames_announced == 240
    warnings, _ = input_warnings(info, run, run.people.num_frames, PipelineOptions())
    assert any("announces 240 frames" in w and f"only {run.people.num_frames}" in w for w in warnings)
    again = detect_video_cached(video, str(tmp_path / "cache"), IndexDetector, workers=2, info=info)
    assert again.frames_detected == 0 and again.people.num_frames == run.people.num_frames


def test_variable_frame_rate_seeks_are_caught_and_the_rate_comes_from_the_frame_times(tmp_path):
    video = variable_rate_mp4(tmp_path / "vfr.mp4", frames=400)
    info = probe(video)
    run = detect_video_cached(video, str(tmp_path / "cache"), IndexDetector, workers=2)
    # OpenCV seeks by time, which lands on the wrong frame here; the frame times reveal it and the
    # frames after the seek are detected again in decoding order.
    assert frame_indices(run) == list(range(400))
    assert any("seeking" in problem for problem in run.cache_problems)
    warnings, rate = input_warnings(info, run, run.people.num_frames, PipelineOptions())
    assert any("variable frame rate" in w for w in warnings)
    assert rate == pytest.approx(400 / 16.0, rel=0.02)  # 400 frames over the clip's 16 s


def test_splitting_the_work_never_loses_a_person_the_tracker_held(tmp_path):
    # One worker starts on the left person (alone at first) and follows them; a second detector
    # started half-way from scratch picks only the brighter person on the right. The first worker's
    # detector then goes on past the seam until both find the same people: as with one worker.
    video = two_people_video(tmp_path / "two.avi", frames=200)
    one = detect_video_cached(video, str(tmp_path / "one"), FollowingDetector, workers=1)
    assert np.allclose(one.people.positions[:, 0, 0, 0], 19.5, atol=1.0)
    two = detect_video_cached(video, str(tmp_path / "two"), FollowingDetector, workers=2)
    assert any("100 frames from frame 100 on were detected again" in problem for problem in two.cache_problems)
    np.testing.assert_allclose(two.people.positions, one.people.positions, atol=1.0)


def test_the_continuation_past_a_seam_reads_on_without_opening_the_video_again(tmp_path, monkeypatch):
    import core.parallel_detection as parallel
    video = two_people_video(tmp_path / "two.avi", frames=200)
    opened = []
    monkeypatch.setattr(parallel, "read_frames", lambda *a, **k: opened.append(a[1]) or read_frames(*a, **k))
    run = detect_video_cached(video, str(tmp_path / "two"), FollowingDetector, workers=2)
    assert any("detected again" in problem for problem in run.cache_problems)
    assert sorted(opened) == [0, 100]   # the two pieces; the redo from frame 100 went on with the first's reader


def test_a_seam_between_pieces_on_the_same_person_is_kept(tmp_path):
    video = two_people_video(tmp_path / "one_person.avi", frames=200, second_from=10_000)
    run = detect_video_cached(video, str(tmp_path / "cache"), FollowingDetector, workers=2)
    assert run.cache_problems == [] and run.frames_detected == 200


def test_a_resumed_piece_starts_on_the_person_the_earlier_run_followed(tmp_path):
    # The first run followed the left person over frames 0-99. A fresh detector at frame 100
    # would pick the brighter right person; the resumed piece first sees frame 100 shown only
    # where the earlier run's people were, so it goes on with them and nothing is redone.
    video = two_people_video(tmp_path / "two.avi", frames=200)
    cache = str(tmp_path / "cache")
    detect_video_cached(video, cache, FollowingDetector, stop=100, workers=1)
    resumed = detect_video_cached(video, cache, FollowingDetector, workers=2)
    assert resumed.frames_from_cache == 100 and resumed.cache_problems == []
    assert resumed.frames_detected == 100 + 1  # and the priming frame
    assert np.allclose(resumed.people.positions[:, 0, 0, 0], 19.5, atol=1.0)


def test_preview_frames_come_in_order_from_kept_frames_and_the_video(tmp_path, slow_detector):
    from core.preview import preview_frames
    cv2 = pytest.importorskip("cv2")
    video = index_video(tmp_path / "clip.avi", frames=300)
    cache = str(tmp_path / "cache")
    stopped_run(video, cache, 150, chunk_frames=30)  # a first run keeps about half of the detections, no frames
    run = detect_video_cached(video, cache, IndexDetector, chunk_frames=30, preview_height=32)
    assert run.frames_from_cache > 0 and run.preview_segments
    kept = sum(count for _, count, _ in run.preview_segments)
    assert kept == 300 - run.frames_from_cache  # only the frames this run decoded were kept
    frames = list(preview_frames(video, 0, 300, run.preview_segments))
    assert [read_index(cv2.cvtColor(f, cv2.COLOR_BGR2RGB)) for f in frames] == list(range(300))


def resumed_finding_nobody_where_primed(video: str, cache: str, detector, monkeypatch, workers: int):
    """Frames 0-99 detected, then the rest, with every primed frame showing nobody."""
    detect_video_cached(video, cache, detector, stop=100, workers=1)
    monkeypatch.setattr("core.parallel_detection._only_inside", lambda image, boxes: np.zeros_like(image))
    return detect_video_cached(video, cache, detector, workers=workers)


def test_a_person_that_cannot_be_found_again_is_a_warning(tmp_path, monkeypatch):
    # As mediapipe sometimes does on a person seen from behind: nobody is found in the primed
    # first frame, so the resumed piece starts on the other person. The run says so.
    video = two_people_video(tmp_path / "two.avi", frames=200)
    resumed = resumed_finding_nobody_where_primed(video, str(tmp_path / "cache"), FollowingDetector, monkeypatch, 2)
    assert any("could not be found again at frame 100" in problem for problem in resumed.cache_problems)
    # The resumed piece and its priming frame, then a redo (primed again, in vain) that ends once
    # it agrees with the first try for CONVERGED_FRAMES frames.
    assert resumed.frames_detected == 100 + 1 + 1 + CONVERGED_FRAMES


def test_a_primed_first_frame_without_anybody_is_detected_whole(tmp_path, monkeypatch):
    video = index_video(tmp_path / "clip.avi", frames=200)
    resumed = resumed_finding_nobody_where_primed(video, str(tmp_path / "cache"), IndexDetector, monkeypatch, 1)
    assert frame_indices(resumed) == list(range(200)) and resumed.cache_problems == []
    assert resumed.frames_detected == 100 + 1


def test_a_missing_frame_rate_is_measured_from_the_frame_times(tmp_path):
    from core.video import _cv2, _rate_from_timestamps
    cv2 = _cv2()
    capture = cv2.VideoCapture(index_video(tmp_path / "clip.avi", frames=20, fps=12.5))
    capture.read()
    assert _rate_from_timestamps(capture, cv2, capture.get(cv2.CAP_PROP_POS_MSEC)) == pytest.approx(12.5)
    capture.release()


def test_a_second_detector_that_finds_nobody_where_the_first_tracks_someone_is_not_trusted(tmp_path):
    from tests.video_helpers import HardToFindDetector, fading_person_video
    video = fading_person_video(tmp_path / "fading.avi", frames=200)
    one = detect_video_cached(video, str(tmp_path / "one"), HardToFindDetector, workers=1)
    assert (one.people.confidence[:, 0] > 0).all()  # one tracker holds the person throughout
    two = detect_video_cached(video, str(tmp_path / "two"), HardToFindDetector, workers=2)
    np.testing.assert_array_equal(two.people.confidence[:, 0], one.people.confidence[:, 0])
    np.testing.assert_allclose(two.people.positions[:, 0], one.people.positions[:, 0], atol=1.0)
