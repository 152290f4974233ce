"""Human3.6M in VideoPose3D's files, for people who hold the dataset: train and evaluate with the paper's protocol.

Files (prepared with VideoPose3D's own scripts):
- ``data_3d_h36m.npz``: ``positions_3d[subject][action]`` -> (F, 32, 3) world positions, metres.
- ``data_2d_h36m_<detector>.npz``: ``positions_2d[subject][action][camera]`` -> (F, 17, 2) pixels.
- a cameras JSON (the dataset's calibration, which VideoPose3D keeps in code):
  ``{"S1": [{"id": "54138969", "res_w": 1000, "res_h": 1002, "center": [cx, cy], "focal_length": [fx, fy],
  "radial_distortion": [k1, k2, k3], "tangential_distortion": [p1, p2], "orientation": [w, x, y, z],
  "translation": [x, y, z] (mm)}, ...4 cameras], ...}``.

Protocol: train on S1, S5, S6, S7, S8; test on S9 and S11; 50 fps; 17 of the 32 joints.

Both ``.npz`` files store pickled dictionaries. They are read with a restricted unpickler that
rebuilds only numpy arrays, dtypes and plain containers, so a tampered file cannot run code.
"""
from __future__ import annotations

import io
import json
import pickle
import zipfile
from dataclasses import dataclass

import numpy as np

from core.camera import CameraIntrinsics, normalize_screen_coordinates, quaternion_to_matrix

TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9", "S11")
REMOVED_JOINTS = (4, 5, 9, 10, 11, 16, 20, 21, 22, 23, 24, 28, 29, 30, 31)
KEPT_JOINTS = tuple(i for i in range(32) if i not in REMOVED_JOINTS)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"), ("builtins", "dict"), ("builtins", "list"),
        ("collections", "OrderedDict"), ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")
        return super().find_class(module, name)


def load_pickled_npz_item(path: str, key: str):
    """The object stored under ``key`` in an .npz written from a Python dict, unpickled safely."""
    try:
        with zipfile.ZipFile(path) as archive:
            raw = archive.read(f"{key}.npy")
    except (FileNotFoundError, zipfile.BadZipFile, KeyError) as exc:
        raise ValueError(f"{path}: not a VideoPose3D .npz with '{key}' ({exc})") from exc
    stream = io.BytesIO(raw)
    version = np.lib.format.read_magic(stream)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read_header(stream)
    if dtype != object or shape != ():
        raise ValueError(f"{path}: '{key}' is not a stored dictionary")
    try:
        value = _NumpyOnlyUnpickler(stream).load()
    except pickle.UnpicklingError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    return value.item() if isinstance(value, np.ndarray) and value.shape == () else value


@dataclass
class ViewSequence:
    """One action of one subject seen by one real camera: what the lifter gets and must produce."""

    name: str
    subject: str
    action: str
    inputs_2d: np.ndarray    # (F, 17, 2) normalized screen coordinates
    poses_3d: np.ndarray     # (F, 17, 3) camera space, root-relative, metres
    roots: np.ndarray        # (F, 1, 3) camera space, metres
    intrinsics: np.ndarray   # (9,) normalized


def load_cameras(path: str) -> dict[str, list[dict]]:
    with open(path) as handle:
        cameras = json.load(handle)
    needed = {"res_w", "res_h", "center", "focal_length", "orientation", "translation"}
    for subject, cams in cameras.items():
        for cam in cams:
            missing = needed - set(cam)
            if missing:
                raise ValueError(f"{path}: camera of {subject} lacks {sorted(missing)}")
    return cameras


def load_h36m(path_3d: str, path_2d: str, cameras_path: str, subjects: tuple[str, ...]) -> list[ViewSequence]:
    positions_3d = load_pickled_npz_item(path_3d, "positions_3d")
    positions_2d = load_pickled_npz_item(path_2d, "positions_2d")
    cameras = load_cameras(cameras_path)
    views = []
    for subject in subjects:
        if subject not in positions_3d or subject not in positions_2d or subject not in cameras:
            raise ValueError(f"subject {subject} missing from the 3D, 2D or camera files")
        for action, world in sorted(positions_3d[subject].items()):
            world = np.asarray(world, dtype=np.float64)[:, KEPT_JOINTS]
            for index, cam in enumerate(cameras[subject]):
                keypoints = np.asarray(positions_2d[subject][action][index], dtype=np.float32)[: len(world)]
                if len(keypoints) < len(world):
                    raise ValueError(f"{subject} {action} camera {index}: fewer 2D frames than 3D frames")
                intrinsics = CameraIntrinsics(int(cam["res_w"]), int(cam["res_h"]), tuple(cam["focal_length"]),
                                              tuple(cam["center"]), tuple(cam.get("radial_distortion", (0, 0, 0))),
                                              tuple(cam.get("tangential_distortion", (0, 0))))
                rotation = quaternion_to_matrix(np.asarray(cam["orientation"], dtype=np.float64))
                camera_points = (world - np.asarray(cam["translation"], dtype=np.float64) / 1000) @ rotation
                roots = camera_points[:, :1]
                views.append(ViewSequence(
                    f"{subject}/{action}/{cam.get('id', index)}", subject, action,
                    normalize_screen_coordinates(keypoints, intrinsics.width, intrinsics.height),
                    (camera_points - roots).astype(np.float32), roots.astype(np.float32),
                    intrinsics.normalized_vector()))
    return views


def sample_view_windows(views: list[ViewSequence], batch: int, window: int, target_frame: int,
                        rng: np.random.Generator, allow_flip: bool = True):
    """Random windows from real views: (2D (B, window, 17, 2), pose and root at the target frame, intrinsics).

    Windows are edge-repeated at sequence ends, as at inference. A flip mirrors 2D, 3D and the
    camera (principal point x and the first tangential coefficient).
    """
    from core.skeleton import H36M_SKELETON, flip_horizontal

    lengths = np.array([len(v.inputs_2d) for v in views])
    chosen = rng.choice(len(views), size=batch, p=lengths / lengths.sum())
    inputs = np.empty((batch, window, 17, 2), np.float32)
    poses = np.empty((batch, 1, 17, 3), np.float32)
    roots = np.empty((batch, 1, 1, 3), np.float32)
    intrinsics = np.empty((batch, 9), np.float32)
    for b, v in enumerate(chosen):
        view = views[v]
        centre = rng.integers(len(view.inputs_2d))
        indices = np.clip(np.arange(window) + centre - target_frame, 0, len(view.inputs_2d) - 1)
        inputs[b], poses[b, 0], roots[b, 0] = view.inputs_2d[indices], view.poses_3d[centre], view.roots[centre]
        intrinsics[b] = view.intrinsics
        if allow_flip and rng.random() < 0.5:
            inputs[b] = flip_horizontal(inputs[b], H36M_SKELETON)
            poses[b] = flip_horizontal(poses[b], H36M_SKELETON)
            roots[b, :, :, 0] *= -1
            intrinsics[b, [2, 7]] *= -1
    return inputs, poses, roots, intrinsics
