"""Model registry: every architecture by name. A model module has a `Config` dataclass (with `scaled(size, width)`)
and a `Model(config)` nn.Module with `forward(a, b) -> (rgb_a, mask_a, rgb_b, mask_b)` for training and
`swap(faces, to="a"|"b") -> (rgb, mask | None)` for previews and convert. Faces are (B, 3, size, size) floats in
[0, 1]; masks (B, 1, size, size) or None when the model has no mask output."""

import dataclasses

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from kaokae.train.models import hd, original

MODELS = {"original": original, "hd": hd}


def model_config(name: str, values: dict):
    """The architecture's Config from a dict (as stored in config.json)."""
    config_class = MODELS[name].Config
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    unknown = set(values) - set(fields)
    if unknown:
        raise ValueError(f"{name}: unknown config fields {sorted(unknown)}")
    # JSON has lists where the dataclass has tuples.
    return config_class(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def build_model(name: str, config) -> nn.Module:
    return MODELS[name].Model(config)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def flops_per_sample(name: str, config) -> int:
    """FLOPs of one training step per face (forward and backward; a step trains faces of A and B, so half the
    FLOPs of one A face and one B face): what MFU divides by. Counted by PyTorch's FlopCounterMode on the meta device
    (no memory, no compute), so it follows any architecture."""
    with torch.device("meta"):
        model = build_model(name, config)
        a = torch.rand(1, 3, config.size, config.size)
        b = torch.rand(1, 3, config.size, config.size)
    with FlopCounterMode(display=False) as counter:
        rgb_a, mask_a, rgb_b, mask_b = model(a, b)
        loss = rgb_a.mean() + rgb_b.mean() + (mask_a.mean() + mask_b.mean() if mask_a is not None else 0)
        loss.backward()
    return counter.get_total_flops() // 2
