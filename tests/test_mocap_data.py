import os

import numpy as np
import pytest

from core.skeleton import H36M_SKELETON
from training.bvh import BVHError, forward_kinematics, parse_bvh
from training.datasets import bandai_subset, load_clips, read_bandai, save_clips, Clip
from training.mocap import SkeletonMappingError, find_source_joints, guess_unit_scale, resample

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")

CHAIN = """HIERARCHY
ROOT hip
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT arm
  {
    OFFSET 10 0 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 5 0 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.5
1 2 3 0 0 0 0 0 0
0 0 0 90 0 0 0 90 0
"""


def test_forward_kinematics_known_answer():
    bvh = parse_bvh(CHAIN)
    assert bvh.names == ["hip", "arm", "arm_end"] and bvh.parents == [-1, 0, 1]
    assert bvh.frame_rate == 2.0
    positions, _ = forward_kinematics(bvh)
    np.testing.assert_allclose(positions[0], [[1, 2, 3], [11, 2, 3], [16, 2, 3]], atol=1e-9)
    # Frame 2: the root turns 90 degrees about Z, so the arm points along +Y; the arm then turns
    # 90 degrees about its own X axis, which does not move its end lying on that axis.
    np.testing.assert_allclose(positions[1], [[0, 0, 0], [0, 10, 0], [0, 15, 0]], atol=1e-9)


def test_rotation_order_follows_channel_list():
    # Channels "Zrotation Xrotation" compose as Rz @ Rx (intrinsic order), checked on the end site.
    text = CHAIN.replace("OFFSET 5 0 0", "OFFSET 0 5 0").replace("0 0 0 90 0 0 0 90 0", "0 0 0 0 0 0 90 90 0")
    positions, _ = forward_kinematics(parse_bvh(text))
    rz = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]])
    np.testing.assert_allclose(positions[1, 2] - positions[1, 1], rz @ rx @ [0, 5, 0], atol=1e-9)


@pytest.mark.parametrize("text, message", [
    ("", "not a BVH"),
    ("HIERARCHY\nROOT a\n{\nOFFSET 0 0 0\nCHANNELS 3 Xposition Yposition Zposition\n}\nMOTION\nFrames: 3\nFrame Time: 0.1\n1 2 3\n",
     "expected 3 frames"),
    ("HIERARCHY\nROOT a\n{\nOFFSET 0 0\n", "truncated or malformed"),
    ("HIERARCHY\nROOT a\n{\nWHAT 0 0 0\n}\nMOTION\n", "unexpected token"),
])
def test_bad_bvh_is_a_clear_error(text, message):
    with pytest.raises(BVHError, match=message):
        parse_bvh(text)


def test_unmappable_skeleton_names_what_is_missing():
    with pytest.raises(SkeletonMappingError, match="left_elbow"):
        find_source_joints(["Hips", "Spine"])


def test_name_matching_ignores_case_separators_and_namespaces():
    names = ["mixamorig:Hips", "mixamorig:RightUpLeg", "mixamorig:RightLeg", "mixamorig:RightFoot",
             "mixamorig:LeftUpLeg", "mixamorig:LeftLeg", "mixamorig:LeftFoot", "mixamorig:Spine2",
             "mixamorig:Neck", "mixamorig:Head", "mixamorig:LeftArm", "mixamorig:LeftForeArm",
             "mixamorig:LeftHand", "mixamorig:RightArm", "mixamorig:RightForeArm", "mixamorig:RightHand"]
    found = find_source_joints(names)
    assert found["left_elbow"] == names.index("mixamorig:LeftForeArm")
    assert found["spine"] == names.index("mixamorig:Spine2")


def test_cmu_own_bvh_names_and_its_unit_of_one_over_0_45_inch():
    names = ["Hips", "LeftHip", "LeftKnee", "LeftAnkle", "RightHip", "RightKnee", "RightAnkle", "Chest", "Neck", "Head",
             "LeftCollar", "LeftShoulder", "LeftElbow", "LeftWrist", "RightCollar", "RightShoulder", "RightElbow",
             "RightWrist"]
    found = find_source_joints(names)
    assert found["left_hip"] == names.index("LeftHip") and found["left_ankle"] == names.index("LeftAnkle")
    assert found["left_shoulder"] == names.index("LeftShoulder") and found["right_wrist"] == names.index("RightWrist")
    mixamo = ["Hips", "LeftUpLeg", "LeftLeg", "LeftFoot", "RightUpLeg", "RightLeg", "RightFoot", "Spine2", "Neck",
              "Head", "LeftShoulder", "LeftArm", "LeftForeArm", "LeftHand", "RightShoulder", "RightArm",
              "RightForeArm", "RightHand"]
    assert find_source_joints(mixamo)["left_shoulder"] == mixamo.index("LeftArm")   # there LeftShoulder is the collarbone
    leg_metres = 0.84
    assert guess_unit_scale(leg_metres / (0.0254 / 0.45)) == pytest.approx(0.0254 / 0.45)
    assert guess_unit_scale(leg_metres / 0.0254) == 0.0254
    assert guess_unit_scale(84.0) == 0.01 and guess_unit_scale(840.0) == 0.001 and guess_unit_scale(0.84) == 1.0
    with pytest.raises(ValueError, match="unit"):
        guess_unit_scale(0.0)


def test_resample_to_30fps_keeps_duration_and_values():
    times = np.arange(121) / 120.0
    positions = np.stack([times, times ** 2, np.zeros_like(times)], -1)[:, None, :]
    out = resample(positions, 120.0, 30.0)
    assert out.shape[0] == 31
    np.testing.assert_allclose(out[:, 0, 0], np.arange(31) / 30, atol=1e-9)


def test_bandai_split_rules():
    assert bandai_subset("dataset-2_walk_feminine_012.bvh")[0] == "test_actor"
    assert bandai_subset("dataset-2_walk_normal_015.bvh")[0] == "validation"
    assert bandai_subset("dataset-2_walk_normal_014.bvh")[0] == "train"
    assert bandai_subset("dataset-1_kick_normal_001.bvh")[0] == "test_motion"
    assert bandai_subset("dataset-1_walk_feminine_001.bvh")[0] == "train"  # dataset 1's feminine is another actor


def test_clips_round_trip_without_pickle(tmp_path):
    clips = [Clip("a", "x", "train", np.zeros((3, 17, 3), np.float32), {"content": "walk"}),
             Clip("b", "x", "test_actor", np.ones((5, 17, 3), np.float32), {"style": "s"})]
    save_clips(tmp_path / "c.npz", clips)
    loaded = load_clips(tmp_path / "c.npz", ("test_actor",))
    assert [c.name for c in loaded] == ["b"] and loaded[0].positions.shape == (5, 17, 3)
    assert loaded[0].labels["style"] == "s"
    with pytest.raises(FileNotFoundError, match="prepare_data"):
        load_clips(tmp_path / "missing.npz")
    # toe bases travel with their clip; a source without them loads without them
    toes = np.arange(3 * 2 * 3, dtype=np.float32).reshape(3, 2, 3)
    save_clips(tmp_path / "t.npz", [Clip("a", "x", "train", np.zeros((3, 17, 3), np.float32), {}, toes), clips[1]])
    first, second = load_clips(tmp_path / "t.npz")
    np.testing.assert_array_equal(first.toes, toes)
    assert second.toes is None


@pytest.mark.skipif(not os.path.isdir(SHARED), reason="shared mocap archives not present")
def test_real_bandai_clip_is_a_plausible_standing_person():
    clip = next(read_bandai(os.path.join(SHARED, "bandai-namco-research-motiondataset.tar.xz")))
    p = clip.positions
    sk = H36M_SKELETON
    assert p.shape[1:] == (17, 3)
    # Z up, metres: head well above the pelvis, ankles near the floor, left hip on the body's left.
    assert np.all(p[:, sk.index("head"), 2] - p[:, 0, 2] > 0.5)
    assert np.median(p[:, sk.index("left_ankle"), 2]) < 0.25
    lengths = sk.bone_lengths(p)
    assert 0.3 < lengths[:, 1].mean() < 0.5           # thigh
    assert np.allclose(lengths[:, 1], lengths[:, 4], atol=0.01)  # left and right thighs match
    assert lengths.std(axis=0).max() < 0.01            # rigid bones
    # Bandai's toe bases: ahead of the ankles and nearer the floor, a foot's length away
    toes = clip.toes
    assert toes.shape == (len(p), 2, 3)
    reach = np.linalg.norm(toes[:, 0] - p[:, sk.index("left_ankle")], axis=-1)
    assert 0.08 < np.median(reach) < 0.2
    assert np.median(toes[:, 0, 2] - p[:, sk.index("left_ankle"), 2]) < -0.03


ASF = """:version 1.10
:units
  mass 1.0
  length 0.45
  angle deg
:root
   order TX TY TZ RX RY RZ
   axis XYZ
:bonedata
  begin
     id 1
     name arm
     direction 1 0 0
     length 9
     axis 0 0 0  XYZ
    dof rx rz
  end
:hierarchy
  begin
    root arm
  end
"""
AMC = """:FULLY-SPECIFIED
:DEGREES
1
root 0 0 0 0 0 0
arm 0 0
2
root 45 0 0 0 0 0
arm 30 90
"""


def test_asf_amc_forward_kinematics_known_answer():
    from training.asfamc import forward_kinematics as asf_fk, parse_amc, parse_asf
    skeleton = parse_asf(ASF)
    assert skeleton.metres_per_unit == pytest.approx(0.0254 / 0.45)
    positions = asf_fk(skeleton, parse_amc(AMC, skeleton))
    unit = 0.0254 / 0.45
    np.testing.assert_allclose(positions["arm"][0], [9 * unit, 0, 0], atol=1e-12)
    # Frame 2: the root moves 45 units along x; the arm turns 90 degrees about z (after 30 about x,
    # which leaves an x-pointing bone alone), so it now points along +y.
    np.testing.assert_allclose(positions["root"][1], [45 * unit, 0, 0], atol=1e-12)
    np.testing.assert_allclose(positions["arm"][1], [45 * unit, 9 * unit, 0], atol=1e-9)


def test_bad_asf_is_a_clear_error():
    from training.asfamc import ASFError, parse_amc, parse_asf
    with pytest.raises(ASFError, match="not an ASF"):
        parse_asf("hello")
    with pytest.raises(ASFError, match="no frames"):
        parse_amc(":FULLY-SPECIFIED\n", parse_asf(ASF))


def _cc_bvh(frames: list[list[float]]) -> str:
    """A Character Creator (iClone) skeleton in centimetres, Y up, root at its rest offset of 100 cm."""
    def chain(names_offsets, depth):
        name, offset = names_offsets[0]
        inner = chain(names_offsets[1:], depth + 1) if len(names_offsets) > 1 else "End Site\n{\nOFFSET 0 -1 0\n}\n"
        return (f"JOINT {name}\n{{\nOFFSET {offset}\nCHANNELS 3 Zrotation Yrotation Xrotation\n{inner}}}\n")
    legs = "".join(chain([(f"CC_Base_{s}_Thigh", f"{x} -5 0"), (f"CC_Base_{s}_Calf", "0 -45 0"),
                          (f"CC_Base_{s}_Foot", "0 -45 0"), (f"CC_Base_{s}_ToeBase", "0 -5 12")], 0)
                   for s, x in (("L", 10), ("R", -10)))
    arms = "".join(chain([(f"CC_Base_{s}_Clavicle", f"{x} 15 0"), (f"CC_Base_{s}_Upperarm", f"{2 * x} 0 0"),
                          (f"CC_Base_{s}_Forearm", f"{3 * x} 0 0"), (f"CC_Base_{s}_Hand", f"{3 * x} 0 0")], 0)
                   for s, x in (("L", 5), ("R", -5)))
    spine = ("JOINT CC_Base_Waist\n{\nOFFSET 0 5 0\nCHANNELS 3 Zrotation Yrotation Xrotation\n"
             "JOINT CC_Base_Spine01\n{\nOFFSET 0 10 0\nCHANNELS 3 Zrotation Yrotation Xrotation\n"
             "JOINT CC_Base_Spine02\n{\nOFFSET 0 20 0\nCHANNELS 3 Zrotation Yrotation Xrotation\n" + arms +
             chain([("CC_Base_NeckTwist01", "0 20 0"), ("CC_Base_Head", "0 10 0")], 0) + "}\n}\n}\n")
    text = ("HIERARCHY\nROOT CC_Base_Hip\n{\nOFFSET 0 100 0\n"
            "CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation\n"
            "JOINT CC_Base_Pelvis\n{\nOFFSET 0 0 0\nCHANNELS 3 Zrotation Yrotation Xrotation\n" + legs + "}\n" + spine + "}\n")
    channels = 6 + 3 * text.count("JOINT")
    rows = [" ".join(f"{v:g}" for v in frame + [0.0] * (channels - len(frame))) for frame in frames]
    return text + f"MOTION\nFrames: {len(rows)}\nFrame Time: 0.0166667\n" + "\n".join(rows) + "\n"


def test_character_creator_names_map_to_the_lifters_joints():
    bvh = parse_bvh(_cc_bvh([[0.0]]))
    found = find_source_joints(bvh.names)
    assert bvh.names[found["left_knee"]] == "CC_Base_L_Calf" and bvh.names[found["thorax"]] == "CC_Base_NeckTwist01"
    assert bvh.names[found["right_shoulder"]] == "CC_Base_R_Upperarm" and bvh.names[found["pelvis"]] == "CC_Base_Hip"


def test_cmu_iclone_reader_stands_on_the_floor_drops_the_t_pose_and_cuts_out_glitches(tmp_path):
    from training.datasets import read_cmu_iclone
    frames = [[200.0, 0.0, 0.0]]                       # a T-pose frame 2 m away, as the files' fix script prepends
    for f in range(400):                              # 400 frames at 60 fps, walking slowly along x
        frames.append([f * 0.2, 0.0, 0.0])
    frames[1 + 200] = frames[1 + 200][:3] + [0.0] * 6 + [60.0]   # the left thigh (after Hip, Pelvis) flips for a frame
    (tmp_path / "007_01.bvh").write_text(_cc_bvh(frames))
    clips = list(read_cmu_iclone(tmp_path))
    assert [c.name for c in clips] == ["cmu-iclone-007_01-0", "cmu-iclone-007_01-1"]
    assert all(c.source == "cmu-iclone" and c.labels["content"] == "subject-07" for c in clips)
    # the two glitch-free pieces, about 3.3 s each at 30 fps; no frame from the T-pose or the glitch
    assert all(95 <= len(c.positions) <= 101 for c in clips)
    ankles = np.concatenate([c.positions[:, [3, 6], 2] for c in clips])
    np.testing.assert_allclose(ankles, 0.05, atol=1e-6)      # 100 - 5 - 45 - 45 cm: the root's offset is kept
    assert clips[0].toes.shape == (len(clips[0].positions), 2, 3)
    (tmp_path / "007_02.bvh").write_text(_cc_bvh(frames[:1]))    # a single frame: too short for a piece, no crash
    assert [c.name for c in read_cmu_iclone(tmp_path)] == ["cmu-iclone-007_01-0", "cmu-iclone-007_01-1"]
    (tmp_path / "002_01.bvh").write_text(_cc_bvh(frames))
    with pytest.raises(ValueError, match="reserved"):
        list(read_cmu_iclone(tmp_path))
    with pytest.raises(FileNotFoundError, match="fetch_mocap"):
        list(read_cmu_iclone(tmp_path / "none"))


def test_glitch_free_pieces_cut_around_a_joint_too_fast_for_a_body():
    from training.datasets import glitch_free_pieces
    positions = np.zeros((100, 17, 3))
    positions[:, :, 0] = np.arange(100)[:, None] * 0.1     # the whole body moving at 3 m/s is fine
    positions[50, 2, 1] = 0.4                               # a knee 0.4 m off for one frame at 30 fps
    assert glitch_free_pieces(positions, 30.0, min_seconds=1.0) == [slice(0, 49), slice(52, 100)]
    assert glitch_free_pieces(positions, 30.0, min_seconds=2.0) == []


def test_fetch_mocap_checks_each_file_and_keeps_no_bad_one(tmp_path, monkeypatch):
    from training import fetch_mocap
    good = b"BVH bytes"
    monkeypatch.setattr(fetch_mocap, "SHA256", {"005_01.bvh": fetch_mocap._sha256(good)})
    monkeypatch.setattr(fetch_mocap, "_from_github", lambda name: b"something else")
    with pytest.raises(fetch_mocap.FetchError, match="not the pinned"):
        fetch_mocap.fetch(str(tmp_path))
    assert not list(tmp_path.iterdir())
    monkeypatch.setattr(fetch_mocap, "_from_github", lambda name: good)
    assert fetch_mocap.fetch(str(tmp_path)) == [str(tmp_path / "005_01.bvh")]
    monkeypatch.setattr(fetch_mocap, "_from_github", lambda name: pytest.fail("fetched again"))
    assert (tmp_path / "005_01.bvh").read_bytes() == good and fetch_mocap.fetch(str(tmp_path))
    with pytest.raises(fetch_mocap.FetchError, match="not a folder"):
        fetch_mocap.fetch(str(tmp_path), from_git=str(tmp_path / "missing"))
