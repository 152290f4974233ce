import json
import os

import numpy as np
import pytest

from core.camera import CameraIntrinsics, project_to_2d, quaternion_to_matrix
from tests.helpers import standing_person
from training import evaluate, train
from training.h36m import KEPT_JOINTS, load_h36m, load_pickled_npz_item, sample_view_windows

CAMERA = {"id": "cam0", "res_w": 1000, "res_h": 1002, "center": [508.8, 508.1], "focal_length": [1145.0, 1143.8],
          "radial_distortion": [-0.207, 0.248, -0.003], "tangential_distortion": [-0.0009, -0.0013],
          "orientation": [0.1407, -0.1500, -0.7552, 0.6223], "translation": [1841.1, 4955.3, 1563.4]}


def _write_h36m(folder, subjects=("S1", "S9"), frames=40):
    rng = np.random.default_rng(0)
    positions_3d, positions_2d, cameras = {}, {}, {}
    for subject in subjects:
        cams = []
        for k in range(2):
            cam = dict(CAMERA, id=f"{subject}-{k}")
            cam["orientation"] = list(np.array(CAMERA["orientation"]) + rng.normal(0, 0.02, 4))
            cams.append(cam)
        cameras[subject] = cams
        positions_3d[subject], positions_2d[subject] = {}, {}
        for action in ("Walking 1", "Posing"):
            body = standing_person(frames).astype(np.float64)
            world = np.zeros((frames, 32, 3))
            world[:, list(KEPT_JOINTS)] = body
            positions_3d[subject][action] = world.astype(np.float32)
            views = []
            for cam in cams:
                rotation = quaternion_to_matrix(np.array(cam["orientation"]))
                points = (body - np.array(cam["translation"]) / 1000) @ rotation
                intrinsics = CameraIntrinsics(1000, 1002, tuple(cam["focal_length"]), tuple(cam["center"]),
                                              tuple(cam["radial_distortion"]), tuple(cam["tangential_distortion"]))
                views.append(np.concatenate([project_to_2d(points, intrinsics.pixel_vector()),
                                             np.zeros((5, 17, 2))]).astype(np.float32))  # detections run longer
            positions_2d[subject][action] = views
    paths = {name: str(folder / name) for name in ("data_3d_h36m.npz", "data_2d_h36m_gt.npz", "cameras.json")}
    np.savez(paths["data_3d_h36m.npz"], positions_3d=positions_3d)
    np.savez(paths["data_2d_h36m_gt.npz"], positions_2d=positions_2d, metadata={"num_joints": 17})
    with open(paths["cameras.json"], "w") as handle:
        json.dump(cameras, handle)
    return paths["data_3d_h36m.npz"], paths["data_2d_h36m_gt.npz"], paths["cameras.json"]


def test_views_are_geometrically_consistent(tmp_path):
    views = load_h36m(*_write_h36m(tmp_path), subjects=("S9",))
    assert len(views) == 4 and views[0].subject == "S9"
    for view in views:
        assert view.inputs_2d.shape == (40, 17, 2)  # trimmed to the 3D length
        assert np.all(view.poses_3d[:, 0] == 0) and np.all(view.roots[..., 2] > 1)
        reprojected = project_to_2d(view.poses_3d + view.roots, view.intrinsics)
        np.testing.assert_allclose(reprojected, view.inputs_2d, atol=1e-4)


def test_flip_keeps_views_consistent(tmp_path):
    views = load_h36m(*_write_h36m(tmp_path), subjects=("S1",))
    rng = np.random.default_rng(1)
    inputs, poses, roots, intrinsics = sample_view_windows(views, 64, 9, 4, rng)
    projected = project_to_2d(poses + roots, intrinsics[:, None, None, :])
    np.testing.assert_allclose(projected[:, 0], inputs[:, 4], atol=1e-4)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_tampered_pickle_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, positions_3d=np.array(_Exploit(), dtype=object))
    with pytest.raises(ValueError, match="refusing to load"):
        load_pickled_npz_item(str(path), "positions_3d")
    with pytest.raises(ValueError, match="not a VideoPose3D"):
        load_pickled_npz_item(str(path), "positions_2d")


def test_missing_subject_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="subject S11 missing"):
        load_h36m(*_write_h36m(tmp_path), subjects=("S11",))


def test_train_and_evaluate_on_h36m_files(tmp_path):
    path_3d, path_2d, cameras = _write_h36m(tmp_path, subjects=("S1", "S5", "S6", "S7", "S8", "S9", "S11"))
    h36m = ["--h36m-3d", path_3d, "--h36m-2d", path_2d, "--h36m-cameras", cameras]
    run = str(tmp_path / "run")
    train.main(h36m + ["--out", run, "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "8",
                       "--channels", "16", "--filter-widths", "3,3", "--validation-clips", "2", "--workers", "0"])
    results = evaluate.main(h36m + ["--model", os.path.join(run, "model.npz"), "--out", str(tmp_path / "e.json")])
    assert set(results["h36m"]) == {"Walking", "Posing", "overall"}
    assert results["h36m"]["overall"]["frames"] == 2 * 2 * 2 * 40
    with pytest.raises(SystemExit):
        evaluate.main(["--model", os.path.join(run, "model.npz"), "--h36m-3d", path_3d])
