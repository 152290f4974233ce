"""Shape of the temporal convolution network, shared by the torch model and the numpy engine.

The first layer is a convolution of width ``filter_widths[0]``; block ``b`` then has a
convolution of width ``filter_widths[b]`` dilated by the product of all earlier widths,
followed by a 1x1 convolution, with a residual connection around the pair. The receptive
field is therefore the product of the widths: 3,3,3 -> 27, 3,3,3,3 -> 81, 3,3,3,3,3 -> 243.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace

import numpy as np


@dataclass(frozen=True)
class TemporalModelConfig:
    num_joints_in: int = 17
    in_features: int = 2
    num_joints_out: int = 17
    filter_widths: tuple[int, ...] = (3, 3, 3, 3, 3)
    channels: int = 1024
    dropout: float = 0.25
    causal: bool = False
    out_features: int = 3     # values per output joint: 3 for positions; 1 for the contact network's logits

    def __post_init__(self) -> None:
        widths = tuple(int(w) for w in self.filter_widths)
        object.__setattr__(self, "filter_widths", widths)
        if not widths:
            raise ValueError("filter_widths must name at least one layer")
        if any(w < 1 or w % 2 == 0 for w in widths):
            raise ValueError(f"filter widths must be odd and positive, got {widths}")
        if self.channels < 1 or self.num_joints_in < 1 or self.num_joints_out < 1 or self.out_features < 1:
            raise ValueError("channels, joint counts and output features must be positive")

    @property
    def dilations(self) -> tuple[int, ...]:
        """Dilation of each layer: 1 for the first, then the product of the earlier widths."""
        return tuple(int(np.prod(self.filter_widths[:i])) for i in range(len(self.filter_widths)))

    @property
    def receptive_field(self) -> int:
        return 1 + sum((w - 1) * d for w, d in zip(self.filter_widths, self.dilations))

    def block_padding(self, block: int) -> int:
        """Frames that the dilated convolution of residual block ``block`` (1-based) trims from each side."""
        return (self.filter_widths[block] - 1) * self.dilations[block] // 2

    def residual_offset(self, block: int) -> int:
        """Where the residual of a block starts in its input: the centre frame, or the newest one if causal."""
        pad = self.block_padding(block)
        return 2 * pad if self.causal else pad

    def sequence_padding(self) -> tuple[int, int]:
        """Frames to add before and after a sequence so that every frame gets an output."""
        half = (self.receptive_field - 1) // 2
        return (2 * half, 0) if self.causal else (half, half)

    def for_trajectory(self) -> "TemporalModelConfig":
        """Same shape, one output 'joint': the root position in camera space."""
        return replace(self, num_joints_out=1)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "TemporalModelConfig":
        values = json.loads(text)
        values["filter_widths"] = tuple(values["filter_widths"])
        return cls(**values)


def parse_filter_widths(text: str) -> tuple[int, ...]:
    """'3,3,3' -> (3, 3, 3), for command lines."""
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError as exc:
        raise ValueError(f"filter widths must be comma-separated integers, got {text!r}") from exc


def pad_sequence_edges(sequence: np.ndarray, config: TemporalModelConfig) -> np.ndarray:
    """Pad along time (axis 0) by repeating the first and last frames, never with zeros."""
    before, after = config.sequence_padding()
    pad = [(before, after)] + [(0, 0)] * (sequence.ndim - 1)
    return np.pad(sequence, pad, mode="edge")
