"""Shared test fixtures: small random networks with non-trivial BatchNorm statistics."""
import torch

from core.architecture import TemporalModelConfig
from core.models import TemporalModel


def random_model(seed: int = 0, **overrides) -> TemporalModel:
    """A model in eval mode whose BatchNorm layers are not the identity, so folding is exercised."""
    torch.manual_seed(seed)
    values = dict(filter_widths=(3, 3, 3), channels=64, dropout=0.25)
    values.update(overrides)
    model = TemporalModel(TemporalModelConfig(**values))
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm1d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.3, 0.3)
    return model.eval()
