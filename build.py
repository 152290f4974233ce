"""Build the Blender extension: vendor ``core/`` into the add-on and pack it with the manifest.

    python build.py                              # one zip without bundled wheels (uses what Blender has)
    python build.py --platform linux-x64         # one zip for that platform with the detector's wheels
    python build.py --all-platforms              # one zip per platform, each with its wheels

The engine uses relative imports only, so it works vendored as ``<extension>.core``. Detection
needs mediapipe and OpenCV, which Blender does not ship: they travel as wheels inside the zip
(Blender installs an extension's wheels itself; nothing is fetched at run time). numpy is not
bundled: Blender ships it. mediapipe 1.x wheels are ``py3-none`` and OpenCV's ``abi3``: one set
serves Python 3.11 (Blender 4.2 to 5.0) and 3.13 (Blender 5.1 and later); the add-on detects
through the Tasks API with the bundled model. mediapipe 1.x has no macOS Intel wheel: there the
zip carries mediapipe 0.10.21 (Python 3.11 only, so Blender 4.2 to 5.0).
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SKIP_PARTS = {"__pycache__"}
SKIP_SUFFIXES = {".pyc", ".pyo"}
PYTHON_VERSION = "3.11"
# mediapipe and what it imports at run time (its own pins clash with Blender's numpy). Not
# matplotlib (imported only for drawing; core.detection stands in for it), not sounddevice (audio).
RUNTIME_WHEELS = [
    "mediapipe==1.2.3", "opencv-python-headless==4.11.0.86", "absl-py==2.5.1", "flatbuffers==25.12.19",
    "certifi==2026.10.19.post1",
]
LEGACY_WHEELS = [  # where mediapipe 1.x has no wheel
    "mediapipe==0.10.21", "opencv-python-headless==4.11.0.86", "protobuf==4.25.9", "attrs==26.1.0",
    "absl-py==2.5.1", "flatbuffers==25.12.19",
]
WHEELS_BY_PLATFORM = {"macos-x64": LEGACY_WHEELS}
PLATFORMS = {  # Blender platform name -> pip platform tags, most specific first
    "linux-x64": ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
                  "manylinux1_x86_64"],
    "windows-x64": ["win_amd64"],
    "macos-arm64": [f"macosx_{v}_arm64" for v in ("11_0", "12_0", "13_0", "14_0")]
    + [f"macosx_{v}_universal2" for v in ("10_9", "10_13", "11_0")],
    "macos-x64": [f"macosx_{v}_x86_64" for v in ("10_9", "10_13", "10_15", "11_0", "12_0", "13_0")]
    + [f"macosx_{v}_universal2" for v in ("10_9", "10_13", "11_0")],
}


def _files(folder: Path):
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not SKIP_PARTS.intersection(path.parts) and path.suffix not in SKIP_SUFFIXES:
            yield path


def download_wheels(platform: str, folder: Path) -> list[Path]:
    """The runtime wheels for one platform, through pip (binary only, no dependency resolution)."""
    tags = [arg for tag in PLATFORMS[platform] for arg in ("--platform", tag)]
    for requirement in WHEELS_BY_PLATFORM.get(platform, RUNTIME_WHEELS):
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                        "--python-version", PYTHON_VERSION, "--implementation", "cp", *tags,
                        "-d", str(folder), requirement], check=True)
    return sorted(folder.glob("*.whl"))


def manifest_text(wheels: list[str], platform: str | None) -> str:
    """The manifest, with ``platforms`` and ``wheels`` filled in for a platform build."""
    text = (ROOT / "blender_manifest.toml").read_text()
    if platform is None:
        return text
    extra = f'\nplatforms = ["{platform}"]\nwheels = [\n' + "".join(f'  "./wheels/{w}",\n' for w in wheels) + "]\n"
    # Top-level keys must come before the first [table].
    first_table = re.search(r"^\[", text, flags=re.MULTILINE)
    cut = first_table.start() if first_table else len(text)
    return text[:cut].rstrip("\n") + "\n" + extra + "\n" + text[cut:]


def build(out_dir: Path | str, platform: str | None = None) -> Path:
    out_dir = Path(out_dir)
    if not (ROOT / "core" / "weights" / "pose_landmarker_full.task").is_file():
        raise SystemExit("core/weights/pose_landmarker_full.task is missing: python -m training.pose_models "
                         "assembles it (make setup-runtime does)")
    manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = f"-{platform}" if platform else ""
    target = out_dir / f"{manifest['id']}-{manifest['version']}{suffix}.zip"
    with tempfile.TemporaryDirectory() as scratch:
        wheels = download_wheels(platform, Path(scratch)) if platform else []
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("blender_manifest.toml", manifest_text([w.name for w in wheels], platform))
            for path in _files(ROOT / "blender_addon"):
                archive.write(path, path.relative_to(ROOT / "blender_addon").as_posix())
            for path in _files(ROOT / "core"):  # the pose models are compressed already: stored as they are
                archive.write(path, ("core" / path.relative_to(ROOT / "core")).as_posix(),
                              compress_type=zipfile.ZIP_STORED if path.suffix == ".task" else None)
            for wheel in wheels:
                archive.write(wheel, f"wheels/{wheel.name}")
    return target


def unpack(folder: Path | str) -> Path:
    """Build the extension and unpack it into ``folder`` as the package ``videopose_mocap``, the way
    Blender installs it (its own copy of ``core``); with ``folder`` on ``sys.path`` it imports as installed."""
    folder = Path(folder)
    with zipfile.ZipFile(build(folder / "dist")) as archive:
        archive.extractall(folder / "videopose_mocap")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--platform", choices=sorted(PLATFORMS))
    group.add_argument("--all-platforms", action="store_true")
    args = parser.parse_args()
    for platform in (sorted(PLATFORMS) if args.all_platforms else [args.platform]):
        print(build(args.out, platform))


if __name__ == "__main__":
    main()
