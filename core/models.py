"""Torch temporal convolution networks (VideoPose3D style) for training and as the reference.

One module serves both forms of the network with the same weights:
- ``forward(x)``: dilated convolutions over a whole sequence, one output per valid frame;
- ``forward(x, strided=True)``: the training form, where each window of exactly one
  receptive field gives one output frame and every convolution strides by its width instead
  of dilating, which skips all the intermediate frames that would be thrown away.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .architecture import TemporalModelConfig, pad_sequence_edges
from .weights import NetworkWeights


class TemporalModel(nn.Module):
    """Lifts 2D joint sequences (N, T, J_in, F) to 3D joints (N, T', J_out, 3) (or J_out x ``out_features`` values)."""

    def __init__(self, config: TemporalModelConfig):
        super().__init__()
        self.config = config
        widths, channels = config.filter_widths, config.channels
        self.expand_conv = nn.Conv1d(config.num_joints_in * config.in_features, channels, widths[0], bias=False)
        self.expand_bn = nn.BatchNorm1d(channels, momentum=0.1)
        self.layers_conv = nn.ModuleList()
        self.layers_bn = nn.ModuleList()
        for width in widths[1:]:
            self.layers_conv.append(nn.Conv1d(channels, channels, width, bias=False))
            self.layers_bn.append(nn.BatchNorm1d(channels, momentum=0.1))
            self.layers_conv.append(nn.Conv1d(channels, channels, 1, bias=False))
            self.layers_bn.append(nn.BatchNorm1d(channels, momentum=0.1))
        self.shrink = nn.Conv1d(channels, config.num_joints_out * config.out_features, 1)
        self.drop = nn.Dropout(config.dropout)

    @property
    def receptive_field(self) -> int:
        return self.config.receptive_field

    def set_bn_momentum(self, momentum: float) -> None:
        """BatchNorm momentum decays during training, as in the paper."""
        for module in self.modules():
            if isinstance(module, nn.BatchNorm1d):
                module.momentum = momentum

    def _activate(self, x: torch.Tensor, bn: nn.BatchNorm1d) -> torch.Tensor:
        x = F.relu(bn(x))
        if not self.training or self.drop.p == 0:
            return x
        # Inverted dropout with a mask from rand_like: the same as nn.Dropout, but torch's CPU
        # bernoulli_ is about 3x slower and took a third of each training step.
        keep = 1.0 - self.drop.p
        return x * (torch.rand_like(x) < keep).to(x.dtype).mul_(1.0 / keep)

    def forward(self, x: torch.Tensor, strided: bool = False) -> torch.Tensor:
        cfg = self.config
        if x.dim() != 4 or x.shape[2] != cfg.num_joints_in or x.shape[3] != cfg.in_features:
            raise ValueError(f"expected input (N, T, {cfg.num_joints_in}, {cfg.in_features}), got {tuple(x.shape)}")
        batch = x.shape[0]
        if strided and x.shape[1] != cfg.receptive_field:
            raise ValueError(f"strided form takes windows of exactly {cfg.receptive_field} frames, got {x.shape[1]}")
        if x.shape[1] < cfg.receptive_field:
            raise ValueError(f"sequence of {x.shape[1]} frames is shorter than the receptive field {cfg.receptive_field}; pad it")
        x = x.reshape(batch, x.shape[1], -1).transpose(1, 2)
        first_stride = cfg.filter_widths[0] if strided else 1
        x = self._activate(F.conv1d(x, self.expand_conv.weight, stride=first_stride), self.expand_bn)
        for block, width in enumerate(cfg.filter_widths[1:], start=1):
            conv, pointwise = self.layers_conv[2 * block - 2], self.layers_conv[2 * block - 1]
            bn, pointwise_bn = self.layers_bn[2 * block - 2], self.layers_bn[2 * block - 1]
            if strided:
                offset = width - 1 if cfg.causal else width // 2
                residual = x[:, :, offset::width]
                y = F.conv1d(x, conv.weight, stride=width)
            else:
                pad, offset = cfg.block_padding(block), cfg.residual_offset(block)
                residual = x[:, :, offset: x.shape[2] - 2 * pad + offset]
                y = F.conv1d(x, conv.weight, dilation=cfg.dilations[block])
            y = self._activate(y, bn)
            x = residual + self._activate(pointwise(y), pointwise_bn)
        x = self.shrink(x)
        return x.transpose(1, 2).reshape(batch, -1, cfg.num_joints_out, cfg.out_features)


class TrajectoryModel(TemporalModel):
    """Same network with its own weights, regressing the root position in camera space (N, T', 1, 3)."""

    def __init__(self, config: TemporalModelConfig):
        super().__init__(config.for_trajectory() if config.num_joints_out != 1 else config)


def network_weights(model: TemporalModel) -> NetworkWeights:
    """Parameters and BatchNorm statistics as float32 numpy arrays, ready for :func:`core.weights.save_weights`."""
    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    parameters = {
        key: value.detach().cpu().numpy().astype(np.float32 if value.is_floating_point() else np.int64)
        for key, value in model.state_dict().items()
    }
    return NetworkWeights(model.config, parameters)


def model_from_weights(weights: NetworkWeights) -> TemporalModel:
    cls = TrajectoryModel if weights.config.num_joints_out == 1 and weights.config.out_features == 3 else TemporalModel
    model = cls(weights.config)
    model.load_state_dict({key: torch.from_numpy(np.array(value)) for key, value in weights.parameters.items()})
    return model


@torch.no_grad()
def predict_sequence(model: TemporalModel, keypoints: np.ndarray) -> np.ndarray:
    """Reference inference: one sequence (T, J, F) -> (T, J_out, out_features), edges padded by repetition."""
    model.eval()
    padded = pad_sequence_edges(np.asarray(keypoints, dtype=np.float32), model.config)
    return model(torch.from_numpy(padded)[None])[0].numpy()
