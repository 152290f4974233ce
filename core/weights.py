"""Safe on-disk format for trained networks: one ``.npz`` of plain arrays, never a pickle.

A file holds one or more named networks (``lifter``, ``trajectory``), each stored as its
config (JSON text) and its parameters under ``"<name>::<parameter>"``, plus a JSON metadata
record (training data, license, metrics). Loading uses ``allow_pickle=False``.
"""
from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field

import numpy as np

from .architecture import TemporalModelConfig

SEPARATOR = "::"
METADATA_KEY = "__metadata__"
FORMAT_KEY = "__format__"
FORMAT_NAME = "videopose-lifter-weights-v1"


@dataclass
class NetworkWeights:
    config: TemporalModelConfig
    parameters: dict[str, np.ndarray]


@dataclass
class WeightsFile:
    networks: dict[str, NetworkWeights]
    metadata: dict = field(default_factory=dict)


def save_weights(path: str | os.PathLike, weights: WeightsFile) -> None:
    """Write networks and metadata to ``path`` (an ``.npz``), atomically."""
    arrays: dict[str, np.ndarray] = {
        FORMAT_KEY: np.array(FORMAT_NAME),
        METADATA_KEY: np.array(json.dumps(weights.metadata)),
    }
    for name, network in weights.networks.items():
        if SEPARATOR in name:
            raise ValueError(f"network name must not contain {SEPARATOR!r}")
        arrays[f"{name}{SEPARATOR}config"] = np.array(network.config.to_json())
        for key, value in network.parameters.items():
            arrays[f"{name}{SEPARATOR}param{SEPARATOR}{key}"] = np.asarray(value)
    path = os.fspath(path)
    temporary = path + ".partial.npz"
    np.savez(temporary, **arrays)
    os.replace(temporary, path)


def load_weights(path: str | os.PathLike) -> WeightsFile:
    """Read a weights file written by :func:`save_weights`, with clear errors for bad files."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Model file not found: {path}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a model weights file (expected an .npz archive of arrays)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except ValueError as exc:
        raise ValueError(f"{path} holds pickled objects or unreadable arrays; refusing to load it ({exc})") from exc
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"{path} is damaged and cannot be read ({exc})") from exc
    if arrays.get(FORMAT_KEY, np.array("")).item() != FORMAT_NAME:
        raise ValueError(f"{path} is an .npz file but not a lifter weights file (no {FORMAT_NAME} marker)")
    metadata = json.loads(arrays[METADATA_KEY].item()) if METADATA_KEY in arrays else {}
    networks: dict[str, NetworkWeights] = {}
    for key, value in arrays.items():
        parts = key.split(SEPARATOR)
        if len(parts) == 2 and parts[1] == "config":
            networks[parts[0]] = NetworkWeights(TemporalModelConfig.from_json(value.item()), {})
    for key, value in arrays.items():
        parts = key.split(SEPARATOR, 2)
        if len(parts) == 3 and parts[1] == "param":
            if parts[0] not in networks:
                raise ValueError(f"{path}: parameters for network {parts[0]!r} without its config")
            networks[parts[0]].parameters[parts[2]] = value
    return WeightsFile(networks, metadata)
