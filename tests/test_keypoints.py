import json

import numpy as np
import pytest

from core.keypoints import (KeypointError, KeypointTrack, LAYOUTS, fill_gaps, load_coco_json,
                            load_openpose_folder, map_to_h36m)
from core.skeleton import H36M_SKELETON

J = H36M_SKELETON.index


def _coco_person(x_shift=0.0, score=0.9):
    points = np.array([[50, 10], [48, 8], [52, 8], [45, 10], [55, 10], [40, 30], [60, 30], [35, 50], [65, 50],
                       [33, 70], [67, 70], [44, 70], [56, 70], [44, 100], [56, 100], [44, 130], [56, 130]], float)
    points[:, 0] += x_shift
    return np.column_stack([points, np.full(17, score)]).ravel().tolist()


def test_coco_mapping_builds_missing_joints():
    flat = np.array(_coco_person()).reshape(17, 3)
    joints, conf = map_to_h36m(flat[None, :, :2], flat[None, :, 2], "coco")
    np.testing.assert_allclose(joints[0, J("pelvis")], [50, 70])
    np.testing.assert_allclose(joints[0, J("thorax")], [50, 30])
    np.testing.assert_allclose(joints[0, J("left_wrist")], [33, 70])   # COCO 9 = left wrist
    np.testing.assert_allclose(joints[0, J("right_ankle")], [56, 130])
    assert joints[0, J("spine")][1] == pytest.approx(70 + 0.55 * (30 - 70))
    assert joints[0, J("head")][1] < joints[0, J("neck_nose")][1] < joints[0, J("thorax")][1]
    assert np.all(conf > 0)


def test_all_layouts_agree_on_the_same_body():
    """One body written in BlazePose, COCO, BODY_25 and OpenPose-18 order maps to the same 17 joints."""
    rng = np.random.default_rng(0)
    named = {name: rng.uniform(0, 100, 2) for name in
             ["l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle", "l_sho", "r_sho", "l_elb", "r_elb",
              "l_wri", "r_wri", "l_ear", "r_ear"]}
    orders = {
        "blazepose": {23: "l_hip", 24: "r_hip", 25: "l_knee", 26: "r_knee", 27: "l_ankle", 28: "r_ankle", 11: "l_sho",
                      12: "r_sho", 13: "l_elb", 14: "r_elb", 15: "l_wri", 16: "r_wri", 7: "l_ear", 8: "r_ear"},
        "coco": {11: "l_hip", 12: "r_hip", 13: "l_knee", 14: "r_knee", 15: "l_ankle", 16: "r_ankle", 5: "l_sho",
                 6: "r_sho", 7: "l_elb", 8: "r_elb", 9: "l_wri", 10: "r_wri", 3: "l_ear", 4: "r_ear"},
        "body25": {12: "l_hip", 9: "r_hip", 13: "l_knee", 10: "r_knee", 14: "l_ankle", 11: "r_ankle", 5: "l_sho",
                   2: "r_sho", 6: "l_elb", 3: "r_elb", 7: "l_wri", 4: "r_wri", 18: "l_ear", 17: "r_ear"},
        "openpose18": {11: "l_hip", 8: "r_hip", 12: "l_knee", 9: "r_knee", 13: "l_ankle", 10: "r_ankle", 5: "l_sho",
                       2: "r_sho", 6: "l_elb", 3: "r_elb", 7: "l_wri", 4: "r_wri", 17: "l_ear", 16: "r_ear"},
    }
    results = []
    for layout, order in orders.items():
        points = np.zeros((1, LAYOUTS[layout]["count"], 2))
        for index, name in order.items():
            points[0, index] = named[name]
        results.append(map_to_h36m(points, np.ones(points.shape[:2]), layout)[0])
    blazepose, coco = results[0], results[1]
    for other in results[2:]:
        np.testing.assert_allclose(other, coco)
    # BlazePose agrees too, except that its hips (and what is built from them) are raised on purpose.
    hip_derived = [J(n) for n in ("left_hip", "right_hip", "pelvis", "spine")]
    others = [j for j in range(17) if j not in hip_derived]
    np.testing.assert_allclose(blazepose[:, others], coco[:, others])
    np.testing.assert_allclose(blazepose[0, J("left_elbow")], named["l_elb"], rtol=1e-6)
    mid_shoulders = (named["l_sho"] + named["r_sho"]) / 2
    mid_hips = (named["l_hip"] + named["r_hip"]) / 2
    np.testing.assert_allclose(blazepose[0, J("left_hip")], named["l_hip"] + 0.10 * (mid_shoulders - mid_hips), rtol=1e-5)


def test_gap_filling_interpolates_and_flags():
    positions = np.zeros((5, 17, 2), np.float32)
    positions[:, :, 0] = np.arange(5)[:, None] * 10
    confidence = np.ones((5, 17), np.float32)
    confidence[2, 3] = 0.0
    positions[2, 3] = 999
    confidence[4, 5] = 0.1
    track = fill_gaps(KeypointTrack(positions, confidence, 100, 100, 30))
    assert track.positions[2, 3, 0] == pytest.approx(20)
    assert track.positions[4, 5, 0] == pytest.approx(40)  # edge: holds the last offset from its parent, the hip
    assert track.filled[2, 3] and track.filled[4, 5] and track.filled.sum() == 2


def test_a_lost_limb_moves_with_the_body_but_a_lost_ankle_stays_put():
    """A man jumps while the flare hides his knees and ankles: the knees rise with his hips; the
    ankles stay where they were last seen (a hidden ankle is most often a planted foot)."""
    frames = 9
    positions = np.tile(np.arange(17, dtype=np.float32)[None, :, None] * [1.0, 10.0], (frames, 1, 1))
    rise = np.array([0, 0, 0, 20, 40, 20, 0, 0, 0], np.float32)      # pixels up, frames 3-5 in the air
    positions[:, :, 1] -= rise[:, None]
    confidence = np.ones((frames, 17), np.float32)
    hidden = [J("left_knee"), J("right_knee"), J("left_ankle"), J("right_ankle")]
    confidence[3:6, hidden] = 0.0
    seen_positions = positions.copy()
    positions[3:6, hidden] = 0.0                                      # what the detector said there: garbage
    track = fill_gaps(KeypointTrack(positions, confidence, 100, 200, 30))
    for knee in (J("left_knee"), J("right_knee")):
        np.testing.assert_allclose(track.positions[3:6, knee], seen_positions[3:6, knee], atol=1e-4)
    for ankle in (J("left_ankle"), J("right_ankle")):
        np.testing.assert_allclose(track.positions[3:6, ankle], np.repeat(seen_positions[2:3, ankle], 3, 0), atol=1e-4)
    assert track.filled[3:6, hidden].all() and track.filled.sum() == 12


def test_clip_without_person_is_a_clear_error():
    track = KeypointTrack(np.zeros((10, 17, 2)), np.zeros((10, 17)), 100, 100, 30)
    with pytest.raises(KeypointError, match="no person was detected"):
        fill_gaps(track)


def test_person_leaving_the_frame_is_filled(tmp_path):
    frames = [{"frame": i, "people": [{"keypoints": _coco_person(x_shift=i)}] if i < 6 or i > 8 else []}
              for i in range(12)]
    path = tmp_path / "coco.json"
    path.write_text(json.dumps({"width": 200, "height": 150, "fps": 25, "frames": frames}))
    people = load_coco_json(str(path))
    track = fill_gaps(KeypointTrack(people.positions[:, 0], people.confidence[:, 0], 200, 150, people.fps))
    assert track.num_frames == 12 and track.fps == 25
    assert track.filled[7].all() and not track.filled[5].any()
    assert track.positions[7, J("left_wrist"), 0] == pytest.approx(33 + 7, abs=1e-4)


def test_coco_results_list_keeps_every_person(tmp_path):
    entries = [{"image_id": 0, "keypoints": _coco_person(0, 0.2)}, {"image_id": 0, "keypoints": _coco_person(40, 0.9)},
               {"image_id": 1, "keypoints": _coco_person(40, 0.9)}]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(entries))
    people = load_coco_json(str(path), width=200, height=150)
    assert people.positions.shape == (2, 2, 17, 2)
    assert sorted(people.positions[0, :, J("left_wrist"), 0]) == pytest.approx([33, 73])
    assert people.confidence[1, 1].max() == 0  # frame 1 has one person: the second slot is empty


@pytest.mark.parametrize("content, message", [
    ("{not json", "cannot read keypoint JSON"),
    ("[]", "non-empty list"),
    ('[{"frame": 0, "people": [{"keypoints": [1, 2, 3]}]}]', "51 numbers"),
    ('[{"frame": 0}]', "neither 'people' nor 'keypoints'"),
])
def test_corrupt_coco_json_is_a_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(KeypointError, match=message):
        load_coco_json(str(path), width=100, height=100)


def test_openpose_folder(tmp_path):
    for i in range(3):
        flat = np.zeros((25, 3))
        flat[:, 0] = np.arange(25) + i
        flat[:, 2] = 0.8
        (tmp_path / f"clip_{i:012d}_keypoints.json").write_text(
            json.dumps({"version": 1.3, "people": [{"pose_keypoints_2d": flat.ravel().tolist()}]}))
    people = load_openpose_folder(str(tmp_path), 640, 480, 30)
    assert people.num_frames == 3
    assert people.positions[2, 0, J("left_elbow"), 0] == pytest.approx(6 + 2)  # BODY_25 index 6
    (tmp_path / "clip_000000000003_keypoints.json").write_text('{"people": [{"pose_keypoints_2d": [1, 2]}]}')
    with pytest.raises(KeypointError, match="mix keypoint layouts"):
        load_openpose_folder(str(tmp_path), 640, 480, 30)
    with pytest.raises(KeypointError, match="no OpenPose JSON"):
        load_openpose_folder(str(tmp_path / "nothing"), 640, 480, 30)


def test_track_file_round_trip_and_bad_file(tmp_path):
    track = KeypointTrack(np.ones((4, 17, 2)), np.ones((4, 17)), 640, 480, 24.0)
    track.save(str(tmp_path / "k.npz"))
    loaded = KeypointTrack.load(str(tmp_path / "k.npz"))
    assert loaded.width == 640 and loaded.fps == 24.0 and loaded.positions.shape == (4, 17, 2)
    (tmp_path / "bad.npz").write_text("nope")
    with pytest.raises(KeypointError, match="not a keypoint file"):
        KeypointTrack.load(str(tmp_path / "bad.npz"))


def test_foot_points_of_the_wrong_shape_are_a_clear_error_and_round_trip_when_right(tmp_path):
    from core.keypoints import PeopleDetections, load_npz_keypoints
    positions, confidence = np.zeros((5, 2, 17, 2)), np.ones((5, 2, 17))
    with pytest.raises(KeypointError, match="foot points must have shape"):
        PeopleDetections(positions, confidence, 640, 480, 30.0, np.zeros((5, 2, 4, 2)), np.ones((5, 2, 4)))
    with pytest.raises(KeypointError, match="foot points must have shape"):
        KeypointTrack(positions[:, 0], confidence[:, 0], 640, 480, 30.0, feet=np.zeros((4, 4, 3)),
                      feet_confidence=np.ones((4, 4)))
    feet = np.arange(5 * 2 * 4 * 3, dtype=np.float32).reshape(5, 2, 4, 3)
    PeopleDetections(positions, confidence, 640, 480, 30.0, feet, np.ones((5, 2, 4))).save(str(tmp_path / "d.npz"))
    np.testing.assert_array_equal(load_npz_keypoints(str(tmp_path / "d.npz")).feet, feet)
