"""Left/right repairs the lifter confirms: the shipped lifter on a walk seen from the side, legs exchanged."""
import numpy as np
import pytest

from core.camera import CameraIntrinsics, project_to_2d_linear
from core.inference import PoseLifter
from core.keypoints import PeopleDetections
from core.options import DEFAULT_MODEL
from core.people import select_people
from core.skeleton import H36M_SKELETON
from core.swap_check import confirmed_swaps, read_both_ways
from core.tracking import SwapRun, proposed_swaps, track_people
from training.rig_corpus.motion import walk

J = H36M_SKELETON.index
EXCHANGED = range(40, 50)   # frames in which the detector names the legs the wrong way round
WIDTH, HEIGHT = 1280, 720


@pytest.fixture(scope="module")
def lifter():
    return PoseLifter.from_file(DEFAULT_MODEL)


def side_view_camera() -> tuple[np.ndarray, np.ndarray]:
    """A walk (towards -Y) filmed from the side, 4 m away: joints in camera space and the pixel intrinsics."""
    world = walk(90)
    camera = np.stack([world[..., 1], -(world[..., 2] - 1.0), 4.0 + world[..., 0]], axis=-1)  # x: along the path
    camera[..., 0] -= camera[45, 0, 0]
    return camera, CameraIntrinsics(WIDTH, HEIGHT, (1000.0, 1000.0), (WIDTH / 2, HEIGHT / 2)).pixel_vector()


def side_view_walk(exchanged=EXCHANGED) -> tuple[PeopleDetections, np.ndarray]:
    """The side-view walk as detected, the legs' labels exchanged in ``exchanged``; and its true pixels."""
    camera, intrinsics = side_view_camera()
    pixels = project_to_2d_linear(camera, intrinsics).astype(np.float32)
    detected = pixels.copy()
    legs = [J(n) for n in ("left_hip", "left_knee", "left_ankle")], [J(n) for n in ("right_hip", "right_knee", "right_ankle")]
    for t in exchanged:
        detected[t, legs[0] + legs[1]] = pixels[t, legs[1] + legs[0]]
    people = PeopleDetections(detected[:, None], np.full((90, 1, 17), 0.9, np.float32), WIDTH, HEIGHT, 30.0)
    return people, pixels


def test_lifting_both_ways_averages_to_the_flip_augmented_lift(lifter):
    people, _ = side_view_walk()
    keypoints = (people.positions[:, 0] - [WIDTH / 2, HEIGHT / 2]) / (WIDTH / 2)
    direct, mirrored = lifter.lift_both_ways(keypoints)
    np.testing.assert_allclose((direct + mirrored) / 2, lifter.lift(keypoints, flip_augment=True), atol=1e-6)
    np.testing.assert_allclose(direct, lifter.lift(keypoints, flip_augment=False), atol=1e-6)


def test_legs_exchanged_for_a_stretch_are_proposed_and_the_lifter_confirms_them(lifter):
    people, _ = side_view_walk()
    track = track_people(people)[0]
    proposed = proposed_swaps(track)
    assert [(s.limb, list(s.frames)) for s in proposed] == [("legs", list(EXCHANGED))]
    as_detected, repaired = read_both_ways(track, proposed[0], lifter, WIDTH, HEIGHT)
    assert repaired.disagreement < as_detected.disagreement and repaired.jolt < as_detected.jolt
    assert confirmed_swaps(track, proposed, lifter, WIDTH, HEIGHT) == proposed


def test_the_lifter_refuses_to_exchange_legs_that_were_detected_right(lifter):
    people, _ = side_view_walk(exchanged=())
    track = track_people(people)[0]
    assert proposed_swaps(track) == []
    wrong = SwapRun("legs", np.arange(40, 50))  # as a 2D proposal that is wrong would be
    assert confirmed_swaps(track, [wrong], lifter, WIDTH, HEIGHT) == []


def test_the_pipeline_repairs_confirmed_swaps_by_default_and_says_so(lifter):
    people, truth = side_view_walk()
    repaired = select_people(people, "longest", repair_swaps=True, lifter=lifter)
    assert repaired.chosen.swaps_repaired == len(EXCHANGED) and repaired.chosen.swaps_unconfirmed == 0
    np.testing.assert_allclose(repaired.chosen.keypoints.positions, truth, atol=1e-3)
    assert any("exchanged back in 10 frames" in w for w in repaired.warnings)
    as_detected = select_people(people, "longest", repair_swaps=False, lifter=lifter)
    assert as_detected.chosen.swaps_repaired == 0 and not any("exchanged" in w for w in as_detected.warnings)


def test_a_2d_proposal_the_lifter_refuses_is_left_as_detected_and_reported(lifter, monkeypatch):
    import core.people
    people, truth = side_view_walk(exchanged=())
    monkeypatch.setattr(core.people, "proposed_swaps", lambda track: [SwapRun("legs", np.arange(40, 50))])
    selection = select_people(people, "longest", repair_swaps=True, lifter=lifter)
    assert selection.chosen.swaps_repaired == 0 and selection.chosen.swaps_unconfirmed == 10
    np.testing.assert_allclose(selection.chosen.keypoints.positions, truth, atol=1e-3)
    assert any("in 10 more they looked exchanged in 2D, but the lifted 3D disagreed" in w for w in selection.warnings)


def test_the_command_line_repairs_by_default_and_can_be_told_not_to():
    from core.pipeline import parse_args
    assert parse_args(["clip.mp4", "--out", "out"])[1].repair_swaps is True
    assert parse_args(["clip.mp4", "--out", "out", "--no-repair-swaps"])[1].repair_swaps is False


def test_the_bench_measures_the_repair_only_on_engine_chunks_the_lifter_was_not_trained_on(lifter, tmp_path):
    from training.bench_tracking import engine_chunks_report, engine_section
    camera, intrinsics = side_view_camera()
    people, _ = side_view_walk()
    for index in (900, 901):  # the engine's chunk format, as far as the report reads it
        np.savez(tmp_path / f"chunk_{index:05d}.npz", keypoints=people.positions, confidence=people.confidence,
                 truth_camera=camera[:, None], intrinsics_px=intrinsics, width=WIDTH, height=HEIGHT, fps=30.0)
    report = engine_chunks_report(str(tmp_path), lifter)
    assert report["chunks"] == 2 and report["swapped"] == 2 * len(EXCHANGED) and report["fixed_confirmed"] == 20
    assert report["broken_confirmed"] == 0
    shipped = lifter.metadata
    lifter.metadata = {**shipped, "synth_chunks": [901]}
    try:
        assert engine_chunks_report(str(tmp_path), lifter)["chunks"] == 1
        lifter.metadata = {**shipped, "synth_chunks": [900, 901]}   # trained on every chunk: no figure, and why
        section = engine_section(str(tmp_path), lifter)
        assert "engine_chunks" not in section and "trained on every chunk" in section["engine_chunks_missing"]
    finally:
        lifter.metadata = shipped
