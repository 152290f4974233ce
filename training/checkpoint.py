"""Optimizer state to and from plain arrays, so checkpoints never need pickle."""
from __future__ import annotations

import json

import numpy as np
import torch


def optimizer_state_arrays(optimizer: torch.optim.Optimizer) -> dict[str, np.ndarray]:
    state = optimizer.state_dict()
    arrays = {"param_groups": np.array(json.dumps(state["param_groups"]))}
    for index, values in state["state"].items():
        for name, value in values.items():
            arrays[f"state::{index}::{name}"] = value.cpu().numpy() if torch.is_tensor(value) else np.array(value)
    return arrays


def load_optimizer_state(optimizer: torch.optim.Optimizer, path: str) -> None:
    with np.load(path, allow_pickle=False) as data:
        state: dict[int, dict[str, torch.Tensor]] = {}
        for key in data.files:
            if key.startswith("state::"):
                _, index, name = key.split("::")
                state.setdefault(int(index), {})[name] = torch.from_numpy(np.array(data[key]))
        optimizer.load_state_dict({"state": state, "param_groups": json.loads(data["param_groups"].item())})
