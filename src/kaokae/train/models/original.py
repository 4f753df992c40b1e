"""`original`: the 2017 deepfakes autoencoder at 64 px.

One shared encoder (5x5 stride-2 convolutions 128-256-512-1024, a dense 1024 bottleneck, dense back to 4x4x1024 and a
pixel-shuffle upscale to 8x8x512) and one decoder per person (pixel-shuffle upscales 256-128-64, then a 5x5
convolution to RGB). No mask output: convert masks the face with its landmarks.

`width` scales every channel count (0.125 gives a model that trains in seconds on a CPU, for tests).
"""

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class Config:
    size: int = 64  # input and output px; a multiple of 16
    encoder_dims: tuple[int, ...] = (128, 256, 512, 1024)
    bottleneck: int = 1024
    decoder_dims: tuple[int, ...] = (256, 128, 64)

    @classmethod
    def scaled(cls, size: int | None = None, width: float = 1.0) -> "Config":
        base = cls()
        return cls(size=size or base.size,
                   encoder_dims=tuple(scale(d, width) for d in base.encoder_dims),
                   bottleneck=scale(base.bottleneck, width),
                   decoder_dims=tuple(scale(d, width) for d in base.decoder_dims))


def scale(channels: int, width: float) -> int:
    return max(4, round(channels * width))


def conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 5, stride=2, padding=2), nn.LeakyReLU(0.1))


def upscale(cin: int, cout: int) -> nn.Sequential:
    """3x3 convolution to 4x the channels, then pixel shuffle: twice the size, `cout` channels."""
    return nn.Sequential(nn.Conv2d(cin, cout * 4, 3, padding=1), nn.LeakyReLU(0.1), nn.PixelShuffle(2))


class Encoder(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        dims = (3, *c.encoder_dims)
        self.convs = nn.Sequential(*[conv(i, o) for i, o in zip(dims, dims[1:], strict=False)])
        self.lowest = c.size // 2 ** len(c.encoder_dims)
        self.channels = dims[-1]
        flat = self.channels * self.lowest**2
        self.dense_in = nn.Linear(flat, c.bottleneck)
        self.dense_out = nn.Linear(c.bottleneck, flat)
        self.upscale = upscale(self.channels, self.channels // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.convs(x).flatten(1)
        x = self.dense_out(self.dense_in(x))
        return self.upscale(x.view(-1, self.channels, self.lowest, self.lowest))


class Decoder(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        dims = (c.encoder_dims[-1] // 2, *c.decoder_dims)
        self.upscales = nn.Sequential(*[upscale(i, o) for i, o in zip(dims, dims[1:], strict=False)])
        self.to_rgb = nn.Conv2d(dims[-1], 3, 5, padding=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.to_rgb(self.upscales(x)))


class Model(nn.Module):
    """forward(a, b): the training pass, both people through the shared encoder in one batch.
    swap(faces, to): encode any faces, decode them as person `to` ("a" or "b"); returns (rgb, None)."""

    has_mask = False

    def __init__(self, config: Config):
        super().__init__()
        if config.size % 16:
            raise ValueError(f"original: size must be a multiple of 16, not {config.size}")
        self.config = config
        self.encoder = Encoder(config)
        self.decoder_a = Decoder(config)
        self.decoder_b = Decoder(config)

    def forward(self, a: torch.Tensor, b: torch.Tensor):
        code_a, code_b = self.encoder(torch.cat([a, b])).split([len(a), len(b)])
        return self.decoder_a(code_a), None, self.decoder_b(code_b), None

    def swap(self, faces: torch.Tensor, to: str = "b") -> tuple[torch.Tensor, None]:
        decoder = {"a": self.decoder_a, "b": self.decoder_b}[to]
        return decoder(self.encoder(faces)), None
