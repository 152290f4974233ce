"""Benchmark reports: printed for the person running the command, and saved as JSON for training.bench."""
from __future__ import annotations

import json


def print_and_save(report: dict, path: str | None) -> dict:
    """Print ``report`` as JSON and, when ``path`` is given, write it there; returns it."""
    print(json.dumps(report, indent=2))
    if path:
        with open(path, "w") as handle:
            json.dump(report, handle, indent=2)
    return report
