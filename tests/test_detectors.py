"""The Tasks API detector with its bundled models, against the solutions API on the demo clip."""
import os
import subprocess
import sys
import weakref
import zipfile

import cv2
import numpy as np
import pytest

from core.crop_search import square_crops
from core.detection import (DETECTORS, DetectorFactory, TasksPoseDetector, has_solutions_api, import_mediapipe, padded,
                            task_model_path)
from core.options import OptionError, PipelineOptions, check_options
from core.video import read_frames

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "data", "demo", "demo.mp4")
LIMBS = [1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16]


def needs_mediapipe() -> None:
    """Skip where mediapipe is missing (imported as the pipeline does: without matplotlib)."""
    try:
        import_mediapipe()
    except RuntimeError:
        pytest.skip("mediapipe is not installed")


def _detect(kind: str, frames: int, max_people: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(F, max_people, 17, 2) and (F, max_people, 17) of the demo's first ``frames`` frames."""
    detector = DetectorFactory(kind, 30.0, max_people)()
    try:
        found = [padded(*detector.detect(frame.image), max_people) for frame in read_frames(DEMO, 0, frames)]
    finally:
        detector.close()
    return np.array([j for j, _ in found]), np.array([c for _, c in found])


MATPLOTLIB_AFTER_MEDIAPIPE = """
import sys
from core.detection import import_mediapipe
import_mediapipe()
assert "matplotlib" not in sys.modules and "matplotlib.pyplot" not in sys.modules, sorted(sys.modules)
import matplotlib.pyplot
assert callable(matplotlib.pyplot.plot)   # the real one, not the stand-in used during mediapipe's import
"""


def test_mediapipe_is_imported_without_matplotlib_which_stays_importable():
    """About 30 MB less memory per run; a later ``import matplotlib`` (a user's script, Blender) still works."""
    needs_mediapipe()
    pytest.importorskip("matplotlib")
    done = subprocess.run([sys.executable, "-c", MATPLOTLIB_AFTER_MEDIAPIPE], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.skipif(not os.path.isfile(DEMO), reason="demo clip missing (make data/demo/demo.mp4)")
def test_the_tasks_detector_finds_both_people_on_the_demo():
    needs_mediapipe()  # (runs on mediapipe 0.10 and 1.x: make test does both)
    joints, confidence = _detect("tasks-full", 120, max_people=4)
    people = ((confidence[:, :, LIMBS] > 0.5).sum(axis=2) >= 6).sum(axis=1)
    assert (people[:55] >= 1).mean() > 0.8          # the man on the box
    assert (people[65:120] == 2).mean() > 0.8       # and the woman walking in from frame 59
    centres = [joints[f, p, 0] for f in range(65, 120) for p in range(4) if confidence[f, p, LIMBS].mean() > 0.5]
    assert max(c[1] for c in centres) > 600 and min(c[1] for c in centres) < 300  # one on the box, one below


@pytest.mark.skipif(not os.path.isfile(DEMO), reason="demo clip missing (make data/demo/demo.mp4)")
def test_the_tasks_api_finds_the_same_2d_as_the_solutions_api_on_the_demo():
    needs_mediapipe()
    if not has_solutions_api():
        pytest.skip("mediapipe 1.x: no solutions API to compare with")
    tasks, tasks_confidence = (a[:, 0] for a in _detect("tasks-full", 60))
    solutions, solutions_confidence = (a[:, 0] for a in _detect("solutions", 60))
    both = (tasks_confidence[:, LIMBS] > 0.5) & (solutions_confidence[:, LIMBS] > 0.5)
    assert both.sum() > 300  # both see the person on most frames
    distance = np.linalg.norm(tasks[:, LIMBS] - solutions[:, LIMBS], axis=-1)[both]
    assert np.median(distance) < 5.0  # pixels, on a 1768x994 clip: the same landmark network


def test_the_bundled_models_are_task_bundles_of_two_models():
    for variant in ("full", "heavy"):
        try:
            path = task_model_path(variant)
        except FileNotFoundError:
            assert variant == "heavy"  # assembled only where npm can fetch it
            continue
        with zipfile.ZipFile(path) as bundle:
            assert sorted(bundle.namelist()) == ["pose_detector.tflite", "pose_landmarks_detector.tflite"]


def test_unknown_detectors_and_missing_models_are_option_errors(monkeypatch, tmp_path):
    with pytest.raises(OptionError, match="--detector must be one of"):
        check_options(PipelineOptions(detector="openpose"))
    monkeypatch.setattr("core.detection.WEIGHTS", str(tmp_path))
    with pytest.raises(OptionError, match="training.pose_models"):
        check_options(PipelineOptions(detector="tasks-heavy"))
    if has_solutions_api():
        check_options(PipelineOptions(detector="solutions"))  # needs no bundled model
    assert set(DETECTORS) == {"tasks-full", "tasks-heavy", "solutions"}


def test_the_heavy_model_needs_npm_and_says_so(monkeypatch, tmp_path):
    needs_mediapipe()
    if not has_solutions_api():
        pytest.skip("the models are assembled from the mediapipe 0.10.21 wheel's files (make setup-runtime)")
    from training import pose_models
    monkeypatch.setattr(pose_models.shutil, "which", lambda name: None)
    with pytest.raises(FileNotFoundError, match="npm"):
        pose_models.assemble("heavy", str(tmp_path))
    assert not os.listdir(tmp_path)


def test_the_solutions_detector_without_mediapipe_0_10_is_an_option_error(monkeypatch):
    # mediapipe 1.x (the only mediapipe for Python 3.13) has no solutions API
    monkeypatch.setattr("core.detection.has_solutions_api", lambda: False)
    with pytest.raises(OptionError, match="mediapipe 1.x has only the Tasks API"):
        check_options(PipelineOptions(detector="solutions"))
    check_options(PipelineOptions(detector="tasks-full"))


@pytest.mark.skipif(not os.path.isfile(DEMO), reason="demo clip missing (make data/demo/demo.mp4)")
def test_a_person_small_in_a_wide_frame_is_found_in_square_crops():
    """The demo at half size in a 3:1 frame: squeezed whole into the detector's square input, the man on the
    box is too small to be found in most frames; the square crops find him, where he stands, and after the
    first frame look at one square per frame."""
    needs_mediapipe()
    frames = [frame.image for frame in read_frames(DEMO, 0, 30)]
    reference, reference_confidence = _detect("tasks-full", 30)
    height = frames[0].shape[0] // 2
    offset = (3 * height - frames[0].shape[1] // 2) // 2

    def wide(image):
        small = cv2.resize(image, (image.shape[1] // 2, height), interpolation=cv2.INTER_AREA)
        canvas = np.zeros((height, 3 * height, 3), np.uint8)
        canvas[:, offset:offset + small.shape[1]] = small
        return canvas

    def found(crop_search: bool):
        detector = TasksPoseDetector("full", 30.0, max_people=1, crop_search=crop_search)
        try:
            return [padded(*detector.detect(wide(image)), 1) for image in frames], detector
        finally:
            detector.close()

    without = np.array([c[0].mean() > 0 for _, c in found(False)[0]])
    with_crops, detector = found(True)
    seen = np.array([c[0].mean() > 0 for _, c in with_crops])
    assert without.mean() < 0.5 and seen.mean() > 0.9
    scan = len(square_crops(3 * height, height))
    assert detector._crops.crops_looked_at <= scan + (~without).sum() + scan   # one scan, then one square a frame
    both = seen & (reference_confidence[:, 0].mean(axis=1) > 0)
    placed = np.array([j[0] for j, _ in with_crops])[both]
    expected = reference[both, 0] / 2 + [offset, 0]
    sure = (reference_confidence[both, 0] > 0.5) & (np.array([c[0] for _, c in with_crops])[both] > 0.5)
    assert np.median(np.linalg.norm(placed - expected, axis=-1)[sure]) < 6   # pixels, the man ~250 px tall


def test_a_tasks_detector_dropped_unclosed_is_freed_at_once():
    """Nothing of its own holds it (its crop search gets the still-image detection per call): mediapipe 1.x
    hangs at interpreter exit when a landmarker is left to the garbage collector's final pass."""
    needs_mediapipe()
    detector = TasksPoseDetector("full", 30.0)
    assert detector.name == DetectorFactory("tasks-full").name == "mediapipe-tasks-full-crops"
    assert TasksPoseDetector.name_of("full", crop_search=False) == "mediapipe-tasks-full"   # its caches are not mixed
    gone = weakref.ref(detector)
    del detector
    assert gone() is None
