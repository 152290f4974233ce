"""Bad input gets a clear error before any long work, and loses nothing; outputs are never mixed.

Each case here was found by trying the command line as a user would (see the project's issue on
robustness): options that were checked only after detection or silently replaced, output paths
that gave raw OS errors, two runs sharing a folder, a failed run leaving half of its outputs.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from core import pipeline
from core.keypoints import KeypointError, load_coco_json
from core.outputs import OutputFolder
from core.progress import RunProgress
from core.video import VideoInfo
from tests.test_pipeline import _keypoints_json, _model, _video

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _DetectionMustNotStart:
    name = "must-not-start"

    def __init__(self):
        raise AssertionError("detection started although the options were wrong")


class _StandingPersonDetector:
    """A person standing still in the middle of every frame (the tests' stand-in for mediapipe)."""
    name = "standing"

    def __init__(self):
        keypoints = json.loads(open(_STANDING_JSON).read())["frames"][0]["people"][0]["keypoints"]
        from core.keypoints import map_to_h36m
        coco = np.asarray(keypoints, np.float32).reshape(17, 3)
        self.joints, self.confidence = (a[0] for a in map_to_h36m(coco[None, :, :2], coco[None, :, 2], "coco"))

    def detect(self, frame):
        return self.joints[None], self.confidence[None]

    def close(self):
        pass


_STANDING_JSON = None


@pytest.fixture
def standing_detector(tmp_path, monkeypatch):
    global _STANDING_JSON
    _STANDING_JSON = _keypoints_json(tmp_path / "standing.json", frames=1)
    monkeypatch.setattr(pipeline, "DetectorFactory", lambda kind, fps, max_people: _StandingPersonDetector)


@pytest.fixture
def clip(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "DetectorFactory", lambda kind, fps, max_people: _DetectionMustNotStart)
    return _video(tmp_path / "clip.mp4", frames=12), _model(tmp_path / "m.npz")


@pytest.mark.parametrize("arguments, message", [
    (["--focal-mm", "-5"], "focal length"),
    (["--fov", "nan"], "field of view"),
    (["--fov", "0"], "field of view"),
    (["--smooth", "4"], "smoothing window"),
    (["--smooth", "2"], "smoothing window"),
    (["--min-confidence", "0"], "minimum keypoint confidence"),
    (["--min-confidence", "1.5"], "minimum keypoint confidence"),
    (["--start", "-5"], "--start"),
    (["--start", "10", "--end", "5"], "--end"),
    (["--start", "500"], "past the end of the video"),
    (["--sensor-mm", "0"], "sensor width"),
    (["--fps", "0"], "frame rate"),
    (["--workers", "0"], "--workers"),
    (["--person", "tallest"], "--person must be a track id"),
    (["--person", "0"], "--person must be a track id"),
    (["--max-people", "0"], "--max-people"),
    (["--height", "3"], "height"),
    (["--height", "0"], "height"),
    (["--camera-pitch", "95"], "camera's pitch"),
    (["--camera-height", "-1"], "camera's height"),
])
def test_bad_options_stop_before_detection_with_a_clear_message(tmp_path, clip, capsys, arguments, message):
    video, model = clip
    out = tmp_path / "out"
    assert pipeline.main([video, "--out", str(out), "--model", model, *arguments]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and message in error and "Traceback" not in error
    assert not out.exists()  # nothing written, nothing detected


def test_every_bad_option_is_named_at_once(tmp_path, clip, capsys):
    video, model = clip
    pipeline.main([video, "--out", str(tmp_path / "out"), "--model", model, "--fov", "0", "--smooth", "4"])
    error = capsys.readouterr().err
    assert "field of view" in error and "smoothing window" in error


def test_output_folder_that_is_a_file_is_a_clear_error(tmp_path, clip, capsys):
    video, model = clip
    blocker = tmp_path / "taken"
    blocker.write_text("keep me")
    for out in (blocker, blocker / "inside"):
        assert pipeline.main([video, "--out", str(out), "--model", model]) == 2
        error = capsys.readouterr().err
        assert "is a file" in error and "Errno" not in error
    assert blocker.read_text() == "keep me"


def test_a_second_run_into_a_busy_folder_stops_with_a_clear_error(tmp_path, clip, capsys):
    video, model = clip
    keypoints = _keypoints_json(tmp_path / "k.json")
    held = OutputFolder(str(tmp_path / "out")).check().lock()
    try:
        assert pipeline.main([video, "--out", str(tmp_path / "out"), "--model", model, "--keypoints", keypoints]) == 2
        assert "another run is writing" in capsys.readouterr().err
    finally:
        held.unlock()
    assert pipeline.main([video, "--out", str(tmp_path / "out"), "--model", model, "--keypoints", keypoints]) == 0


def test_a_failed_run_leaves_the_previous_outputs_whole(tmp_path, clip):
    video, model = clip
    out = tmp_path / "out"
    good = _keypoints_json(tmp_path / "good.json")
    assert pipeline.main([video, "--out", str(out), "--model", model, "--keypoints", good]) == 0
    before = {name: (out / name).read_bytes() for name in ("motion.npz", "motion.bvh", "preview.mp4", "run.json")}
    other = _video(tmp_path / "other.mp4", frames=20)
    nobody = _keypoints_json(tmp_path / "nobody.json", frames=20, missing=range(20))
    assert pipeline.main([other, "--out", str(out), "--model", model, "--keypoints", nobody]) == 2
    assert {name: (out / name).read_bytes() for name in before} == before
    assert json.loads((out / "run.json").read_text())["video"] == os.path.abspath(video)
    assert not [name for name in os.listdir(out) if "partial" in name]


def test_a_run_with_another_video_replaces_the_whole_set(tmp_path, clip):
    cv2 = pytest.importorskip("cv2")
    video, model = clip
    out = tmp_path / "out"
    assert pipeline.main([video, "--out", str(out), "--model", model, "--keypoints",
                          _keypoints_json(tmp_path / "a.json")]) == 0
    other = _video(tmp_path / "other.mp4", frames=20)
    assert pipeline.main([other, "--out", str(out), "--model", model, "--no-preview", "--keypoints",
                          _keypoints_json(tmp_path / "b.json", frames=20)]) == 0
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["video"] == os.path.abspath(other) and manifest["frames"] == 20
    assert not (out / "preview.mp4").exists()  # the first video's preview does not stay beside the new motion
    assert np.load(out / "motion.npz")["joints_world"].shape[0] == 20
    assert pipeline.main([other, "--out", str(out), "--model", model, "--keypoints",
                          _keypoints_json(tmp_path / "b.json", frames=20)]) == 0
    assert int(cv2.VideoCapture(str(out / "preview.mp4")).get(cv2.CAP_PROP_FRAME_COUNT)) == 20


def test_ctrl_c_is_a_short_message_and_keeps_the_cache(tmp_path, clip, monkeypatch, capsys):
    video, model = clip

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "detect_video_cached", interrupted)
    assert pipeline.main([video, "--out", str(tmp_path / "out"), "--model", model]) == 130
    error = capsys.readouterr().err
    assert "interrupted: 0 frames of detections are kept" in error and "run the same command again" in error
    assert "Traceback" not in error


def test_preview_from_kept_frames_matches_a_rerun_from_the_cache(tmp_path, standing_detector):
    cv2 = pytest.importorskip("cv2")
    video, model = _video(tmp_path / "clip.mp4", frames=150), _model(tmp_path / "m.npz")
    out = tmp_path / "out"
    first, paths = pipeline.run(video, str(out), pipeline.PipelineOptions(model_path=model), quiet=True)
    assert first.detection.frames_from_cache == 0 and len(first.detection.preview_segments) == 2

    def frames(path):
        capture, images = cv2.VideoCapture(path), []
        while (item := capture.read())[0]:
            images.append(item[1].astype(float))
        return images

    kept = frames(paths["preview"])
    second, paths = pipeline.run(video, str(out), pipeline.PipelineOptions(model_path=model), quiet=True)
    assert second.detection.frames_from_cache == 150 and second.detection.preview_segments == []
    decoded = frames(paths["preview"])
    assert len(kept) == len(decoded) == 150
    # The same picture whichever way the frames came (both are lossy re-encodings of the clip).
    assert max(np.abs(a - b).mean() for a, b in zip(kept, decoded)) < 3.0


def test_input_warnings_name_the_frame_rate_and_the_missing_person(tmp_path, clip):
    video, model = clip
    keypoints = _keypoints_json(tmp_path / "k.json", missing=range(3, 6))
    result, _ = pipeline.run(video, str(tmp_path / "out"),
                             pipeline.PipelineOptions(model_path=model, keypoints_path=keypoints), quiet=True)
    assert any("person 1 is not seen in 25 % of their frames (3 of 12" in w for w in result.warnings)
    for source, words in (("assumed", "assumed"), ("timestamps", "measured from its frame times")):
        info = VideoInfo(video, 160, 120, 30.0, 12, source)
        warnings, _ = pipeline.input_warnings(info, None, 12, pipeline.PipelineOptions())
        assert any(words in w and "--fps" in w for w in warnings)


def test_a_person_in_only_a_few_frames_is_a_clear_error(tmp_path, clip):
    video, model = clip
    keypoints = _keypoints_json(tmp_path / "k.json", missing=range(8))
    with pytest.raises(KeypointError, match="nobody was detected.*found in only 4 frames, too few to follow"):
        pipeline.run(video, str(tmp_path / "out"), pipeline.PipelineOptions(model_path=model, keypoints_path=keypoints),
                     quiet=True)


@pytest.mark.parametrize("entry, message", [
    ({"frame": 0, "people": None}, "'people' must be a list"),
    ({"frame": -5, "people": []}, "out of range"),
    ({"frame": 1e9, "people": []}, "out of range"),
    ({"frame": "7", "people": []}, "whole number"),
    ({"frame": 2.5, "people": []}, "whole number"),
    ({"image_id": -1, "keypoints": [0] * 51}, "out of range"),
])
def test_keypoint_json_with_impossible_frames_is_a_clear_error(tmp_path, entry, message):
    path = tmp_path / "k.json"
    path.write_text(json.dumps({"width": 160, "height": 120, "frames": [{"frame": 0, "people": []}, entry]}))
    with pytest.raises(KeypointError, match=message):
        load_coco_json(str(path))


def test_overall_time_left_counts_every_stage(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr("core.progress.time.perf_counter", lambda: clock[0])
    progress = RunProgress(100, ["detecting 2D", "lifting to 3D", "exporting", "writing preview"], quiet=True)
    progress.stage("detecting 2D", 100)
    clock[0] = 10.0
    # Half of detection in 10 s: the other half takes 10 s more, the later stages 0.19 of detection.
    assert progress.eta_seconds(50, 100) == pytest.approx(10.0 + 10.0 / 50 * 19, rel=1e-6)


LIGHT_RUNTIME = """
import sys
for heavy in ("torch", "bpy", "scipy", "matplotlib"):
    sys.modules[heavy] = None  # importing any of them now fails
sys.path.insert(0, {root!r})
from core import pipeline
from core.detection import DetectorFactory
import numpy as np
detector = DetectorFactory()()  # the default: the Tasks API with the bundled full model
detector.detect(np.zeros((64, 64, 3), np.uint8))
detector.close()
sys.exit(pipeline.main([{video!r}, "--out", {out!r}, "--model", {model!r}, "--keypoints", {keypoints!r}]))
"""


def test_the_pipeline_runs_without_torch_bpy_scipy_or_matplotlib(tmp_path):
    pytest.importorskip("mediapipe")
    video, model = _video(tmp_path / "clip.mp4"), _model(tmp_path / "m.npz")
    script = LIGHT_RUNTIME.format(root=ROOT, video=video, out=str(tmp_path / "out"), model=model,
                                  keypoints=_keypoints_json(tmp_path / "k.json"))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = open(os.path.join(ROOT, "requirements-runtime.txt")).read().lower().splitlines()
    packages = [line.split("==")[0] for line in lines if line and not line.startswith("#")]
    assert "numpy" in packages and not {"torch", "bpy", "scipy", "matplotlib"} & set(packages)


def test_ctrl_c_on_the_command_line_keeps_the_finished_chunks(tmp_path):
    """A real SIGINT to a real run: a short message, exit 130, and the chunks stay for the next run."""
    pytest.importorskip("mediapipe")
    import signal
    import time
    from core.detection_cache import frames_kept
    # long enough that the run cannot finish before the signal, however fast detection is here
    video, model = _video(tmp_path / "long.mp4", frames=3000, size=(320, 240)), _model(tmp_path / "m.npz")
    out = tmp_path / "out"
    # (Ctrl-C's default action restored in the child: a test run started in the background, as a
    # non-interactive shell does with "&", would otherwise pass on SIGINT ignored)
    child = subprocess.Popen([sys.executable, "-m", "core.pipeline", video, "--out", str(out), "--model", model],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    chunks = out / ".cache" / "detections"
    deadline = time.time() + 60
    while frames_kept(str(chunks)) < 100 and time.time() < deadline and child.poll() is None:
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    _, error = child.communicate(timeout=60)
    assert child.returncode == 130, error[-600:].replace("\r", "\n")
    assert "Traceback" not in error and "interrupted: " in error and "run the same command again" in error
    kept = frames_kept(str(chunks))
    assert 100 <= kept < 3000 and f"interrupted: {kept} frames" in error
    assert not (out / "motion.npz").exists()  # nothing half-made among the outputs


def _image_sequence(folder, frames: int = 30, size=(96, 64)):
    """PNG images whose colours carry their frame index (``tests.video_helpers.read_index``), named unpadded."""
    import cv2
    from tests.video_helpers import index_colour
    os.makedirs(folder, exist_ok=True)
    for i in range(frames):
        cv2.imwrite(os.path.join(folder, f"frame_{i}.png"), np.full((size[1], size[0], 3), index_colour(i), np.uint8))
    return str(folder)


def test_a_folder_of_images_is_a_clip_in_numeric_name_order(tmp_path):
    from core.parallel_detection import detect_video_cached
    from core.video import probe
    from tests.video_helpers import IndexDetector
    folder = _image_sequence(tmp_path / "frames", frames=130)
    info = probe(folder)
    assert (info.width, info.height, info.frame_count, info.fps_source) == (96, 64, 130, "assumed")
    run = detect_video_cached(folder, str(tmp_path / "cache"), IndexDetector, workers=2)
    assert [int(round(x)) for x in run.people.positions[:, 0, 0, 0]] == list(range(130))  # frame_10 after frame_9
    again = detect_video_cached(folder, str(tmp_path / "cache"), IndexDetector, workers=2)
    assert again.frames_detected == 0  # the same images: all from the cache
    os.remove(os.path.join(folder, "frame_129.png"))
    changed = detect_video_cached(folder, str(tmp_path / "cache"), IndexDetector, workers=2)
    assert changed.frames_detected == 129 and any("another video" in p for p in changed.cache_problems)


def test_an_empty_image_folder_is_a_clear_error(tmp_path, clip):
    _, model = clip
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    code = pipeline.main([str(tmp_path / "empty"), "--out", str(tmp_path / "out"), "--model", model])
    assert code == 2
    with pytest.raises(ValueError, match="no images in folder"):
        pipeline.run(str(tmp_path / "empty"), str(tmp_path / "out"), pipeline.PipelineOptions(model_path=model))


def test_images_of_different_sizes_are_a_clear_error(tmp_path):
    import cv2
    from core.video import VideoError, read_frames
    folder = _image_sequence(tmp_path / "frames", frames=5)
    cv2.imwrite(os.path.join(folder, "frame_3.png"), np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(VideoError, match="frame_3.png is 10x10, the images before it 96x64"):
        list(read_frames(folder))


def test_a_portrait_video_keeps_its_shape(tmp_path, clip):
    from core.video import probe, read_frames
    from tests.video_helpers import index_video
    video = index_video(tmp_path / "portrait.avi", frames=10, size=(64, 112))
    info = probe(video)
    assert (info.width, info.height) == (64, 112)
    assert next(iter(read_frames(video))).image.shape == (112, 64, 3)


def _two_people_json(path, frames: int = 40) -> str:
    """COCO keypoints of two standing people, left and right, in a shuffled order; the right one leaves at 30."""
    rng = np.random.default_rng(3)
    base = json.loads(open(_keypoints_json(path, frames=1)).read())["frames"][0]["people"][0]["keypoints"]
    person = np.asarray(base, np.float32).reshape(17, 3)
    entries = []
    for i in range(frames):
        people = [person + [i - 60, 0, 0]] + ([person + [i + 40, 0, 0]] if i < 30 else [])
        rng.shuffle(people)
        entries.append({"frame": i, "people": [{"keypoints": p.ravel().tolist()} for p in people]})
    path.write_text(json.dumps({"width": 320, "height": 120, "fps": 25, "frames": entries}))
    return str(path)


def test_all_people_gives_one_motion_per_person_and_the_track_list(tmp_path, clip, capsys):
    video, model = clip
    keypoints = _two_people_json(tmp_path / "two.json")
    out = tmp_path / "out"
    assert pipeline.main([video, "--out", str(out), "--model", model, "--keypoints", keypoints, "--all-people",
                          "--no-preview"]) == 0
    tracks = json.loads((out / "tracks.json").read_text())
    assert [t["id"] for t in tracks["tracks"]] == [1, 2] and tracks["chosen"] == 1 and tracks["animated"] == [1, 2]
    assert [t["frames"] for t in tracks["tracks"]] == [40, 30]
    for name in ("person_1.bvh", "person_2.bvh", "person_1.npz", "person_2.npz", "motion.bvh", "tracks.png"):
        assert (out / name).stat().st_size > 0
    first, second = np.load(out / "person_1.npz"), np.load(out / "person_2.npz")
    assert len(first["joints_world"]) == 40 and len(second["joints_world"]) == 30
    assert np.allclose(first["camera_rotation"], second["camera_rotation"])  # one world for both
    printed = capsys.readouterr().out
    assert "2 people in this clip; animating person 1" in printed and "person 2 is in frames 0-29 of 40" in printed
    # Choosing the other person replaces the outputs; person_*.bvh of the earlier run do not stay behind.
    assert pipeline.main([video, "--out", str(out), "--model", model, "--keypoints", keypoints, "--person", "2",
                          "--no-preview"]) == 0
    assert json.loads((out / "tracks.json").read_text())["chosen"] == 2
    assert len(np.load(out / "motion.npz")["joints_world"]) == 30
    assert not (out / "person_1.bvh").exists()


def test_a_track_id_that_does_not_exist_is_a_clear_error(tmp_path, clip, capsys):
    video, model = clip
    keypoints = _two_people_json(tmp_path / "two.json")
    assert pipeline.main([video, "--out", str(tmp_path / "out"), "--model", model, "--keypoints", keypoints,
                          "--person", "7"]) == 2
    assert "there is no person 7: the tracks are 1, 2" in capsys.readouterr().err


def test_height_sets_the_metric_scale_and_the_output_says_it(tmp_path, clip, capsys):
    from core.cleanup import standing_height
    video, model = clip
    keypoints = _keypoints_json(tmp_path / "k.json")
    lifted, _ = pipeline.run(video, str(tmp_path / "a"), pipeline.PipelineOptions(
        model_path=model, keypoints_path=keypoints, preview=False), quiet=True)
    assert pipeline.main([video, "--out", str(tmp_path / "b"), "--model", model, "--keypoints", keypoints,
                          "--height", "1.9", "--no-preview"]) == 0
    printed = capsys.readouterr().out
    assert "1.90 m tall (--height)" in printed and "feet marked as planted in" in printed
    scaled = np.load(tmp_path / "b" / "motion.npz")
    assert standing_height(scaled["joints_camera"] - scaled["joints_camera"][:, :1]) == pytest.approx(1.9, rel=1e-3)
    assert float(scaled["height_m"]) == pytest.approx(1.9)
    # the whole scene scales about the camera: the same 2D, each joint s times as far
    ratio = pipeline.height_scale(lifted.height_m, 1.9)
    np.testing.assert_allclose(scaled["joints_camera"], lifted.joints_camera * ratio, rtol=1e-3, atol=1e-4)


def test_a_known_camera_is_used_and_reported(tmp_path, clip, capsys):
    video, model = clip
    keypoints = _keypoints_json(tmp_path / "k.json")
    assert pipeline.main([video, "--out", str(tmp_path / "out"), "--model", model, "--keypoints", keypoints,
                          "--camera-pitch", "15", "--camera-height", "1.3", "--no-preview"]) == 0
    assert "camera: 15.0° below the horizon, roll 0.0°, 1.30 m above the floor (pitch and height given" in \
        capsys.readouterr().out
    camera = json.loads((tmp_path / "out" / "run.json").read_text())["camera"]
    assert camera["pitch_deg"] == pytest.approx(15.0) and camera["height_m"] == pytest.approx(1.3)


def test_in_place_keeps_the_person_over_one_spot(tmp_path, clip):
    video, model = clip
    keypoints = _keypoints_json(tmp_path / "k.json")  # the person walks right, one pixel a frame
    moving, _ = pipeline.run(video, str(tmp_path / "a"), pipeline.PipelineOptions(
        model_path=model, keypoints_path=keypoints, preview=False), quiet=True)
    still, _ = pipeline.run(video, str(tmp_path / "b"), pipeline.PipelineOptions(
        model_path=model, keypoints_path=keypoints, preview=False, in_place=True), quiet=True)
    assert np.ptp(moving.joints_world[:, 0, :2], axis=0).max() > 0.01  # it travels when not in place
    np.testing.assert_allclose(still.joints_world[:, 0, :2], np.repeat(still.joints_world[:1, 0, :2], 12, 0), atol=1e-6)
    np.testing.assert_allclose(still.joints_world[:, 0, 2], moving.joints_world[:, 0, 2], atol=1e-6)
    relative = still.joints_world - still.joints_world[:, :1]
    np.testing.assert_allclose(relative, moving.joints_world - moving.joints_world[:, :1], atol=1e-6)
