"""Assemble mediapipe Tasks ``PoseLandmarker`` bundles (``.task``) from Apache-2.0 model files.

mediapipe's Tasks API wants a bundle of two TFLite models with image-input metadata; the
mediapipe wheels ship no bundle, but the models themselves reach us under Apache-2.0:
- the pose detector and the *full* landmark model inside the mediapipe 0.10.21 wheel
  (``mediapipe/modules/pose_detection/pose_detection.tflite``, ``.../pose_landmark/pose_landmark_full.tflite``);
- the *heavy* landmark model in the npm package ``@mediapipe/pose`` (``npm pack``, pinned).
The detector takes images normalised to [-1, 1], the landmark models to [0, 1]; that is the
metadata added here (with mediapipe's own ``metadata_writers``). Nothing is downloaded at run
time: ``make`` runs this once into ``core/weights/`` (ignored by git, vendored into the add-on).

    python -m training.pose_models                 # full and, when npm is there, heavy
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "core", "weights")
NPM_POSE = "@mediapipe/pose@0.5.1675469404"
HEAVY_SHA256 = "59e42d71bcd44cbdbabc419f0ff76686595fd265419566bd4009ef703ea8e1fe"
VARIANTS = ("full", "heavy")


def task_path(variant: str, folder: str = OUT) -> str:
    return os.path.join(folder, f"pose_landmarker_{variant}.task")


def _with_image_metadata(model: bytes, name: str, mean: float, std: float) -> bytes:
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer
    writer = metadata_writer.MetadataWriter.create(bytearray(model))
    writer.add_general_info(name, "mediapipe pose model (Apache-2.0), image-input metadata added by videopose")
    writer.add_image_input(norm_mean=[mean], norm_std=[std])
    return bytes(writer.populate()[0])


def _mediapipe_file(*parts: str) -> bytes:
    from core.detection import import_mediapipe
    mediapipe = import_mediapipe()
    path = os.path.join(os.path.dirname(mediapipe.__file__), *parts)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} is missing: the pose models come from the mediapipe 0.10.21 wheel")
    with open(path, "rb") as handle:
        return handle.read()


def _npm_heavy() -> bytes:
    """``pose_landmark_heavy.tflite`` from the pinned npm package, checked by its SHA-256."""
    if shutil.which("npm") is None:
        raise FileNotFoundError("npm is not installed: the heavy model comes from the npm package " + NPM_POSE)
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(["npm", "pack", NPM_POSE, "--silent"], cwd=folder, check=True, stdout=subprocess.DEVNULL)
        archive = next(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".tgz"))
        with tarfile.open(archive) as tar:
            data = tar.extractfile("package/pose_landmark_heavy.tflite").read()
    if hashlib.sha256(data).hexdigest() != HEAVY_SHA256:
        raise RuntimeError(f"pose_landmark_heavy.tflite from {NPM_POSE} is not the checked file (SHA-256 differs)")
    return data


def assemble(variant: str, folder: str = OUT) -> str:
    """Write ``pose_landmarker_<variant>.task``; returns its path."""
    from core.detection import import_mediapipe
    import_mediapipe()  # (without matplotlib where it is absent)
    from mediapipe.tasks.python.metadata.metadata_writers.model_asset_bundle_utils import create_model_asset_bundle
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}")
    detector = _mediapipe_file("modules", "pose_detection", "pose_detection.tflite")
    landmarks = _mediapipe_file("modules", "pose_landmark", "pose_landmark_full.tflite") if variant == "full" \
        else _npm_heavy()
    os.makedirs(folder, exist_ok=True)
    path = task_path(variant, folder)
    create_model_asset_bundle({
        "pose_detector.tflite": _with_image_metadata(detector, "pose_detector", 127.5, 127.5),
        "pose_landmarks_detector.tflite": _with_image_metadata(landmarks, f"pose_landmarks_{variant}", 0.0, 255.0),
    }, path + ".partial")
    os.replace(path + ".partial", path)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default="full,heavy")
    parser.add_argument("--out", default=OUT)
    args = parser.parse_args(argv)
    for variant in args.variants.split(","):
        try:
            print(assemble(variant, args.out))
        except FileNotFoundError as exc:
            if variant == "full":
                raise
            print(f"{variant}: not assembled ({exc})")


if __name__ == "__main__":
    main()
