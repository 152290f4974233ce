"""Build the Blender extension zip: vendor ``core/`` into the add-on and pack it with the manifest.

    python build.py [--out dist]

The zip holds the manifest at its root, the add-on package files, and ``core/`` (engine and
shipped weights) as a subpackage; the engine uses relative imports only, so it works vendored.
"""
from __future__ import annotations

import argparse
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SKIP_PARTS = {"__pycache__"}
SKIP_SUFFIXES = {".pyc", ".pyo"}


def _files(folder: Path):
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not SKIP_PARTS.intersection(path.parts) and path.suffix not in SKIP_SUFFIXES:
            yield path


def build(out_dir: Path | str) -> Path:
    out_dir = Path(out_dir)
    manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{manifest['id']}-{manifest['version']}.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(ROOT / "blender_manifest.toml", "blender_manifest.toml")
        for path in _files(ROOT / "blender_addon"):
            archive.write(path, path.relative_to(ROOT / "blender_addon").as_posix())
        for path in _files(ROOT / "core"):
            archive.write(path, ("core" / path.relative_to(ROOT / "core")).as_posix())
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    print(build(parser.parse_args().out))


if __name__ == "__main__":
    main()
