"""`hd`: a 128 px (or 256 px) autoencoder with residual decoders and a learned mask, after DeepFaceLab's SAEHD.

Encoder: four 5x5 stride-2 convolutions (e, 2e, 4e, 8e channels) down to 1/16 of the size, flattened. Bottleneck
("inter"): dense to `bottleneck` values, dense back to a 1/16-size map and a pixel-shuffle upscale to 1/8. Decoders:
three pixel-shuffle upscales (8d, 4d, 2d channels), each followed by a residual block, then a 3x3 convolution to RGB
plus a mask channel. The mask is learned from the landmark face mask and lets convert blend without landmarks.

Bottleneck layout: the shared "inter" bottleneck with a decoder per person (DeepFaceLab's "DF"), not LIAE: its A->B
swaps look more like B, it is symmetric and slightly smaller (the measurements: docs/benchmarks.md, "Design
experiments").
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from kaokae.train.models.original import conv, scale, upscale


@dataclass
class Config:
    size: int = 128  # input and output px: 128 or 256 (any multiple of 16 works)
    encoder_dims: int = 64  # channels of the first convolution; doubled at each of the next three
    decoder_dims: int = 64  # the decoder's last upscale has 2x this many channels, the first 8x
    bottleneck: int = 256

    @classmethod
    def scaled(cls, size: int | None = None, width: float = 1.0) -> "Config":
        base = cls()
        return cls(size=size or base.size, encoder_dims=scale(base.encoder_dims, width),
                   decoder_dims=scale(base.decoder_dims, width), bottleneck=scale(base.bottleneck, width))


class Residual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(F.leaky_relu(self.conv1(x), 0.2))
        return F.leaky_relu(x + y, 0.2)


class Encoder(nn.Module):
    def __init__(self, c: Config):
        super().__init__()
        e = c.encoder_dims
        self.convs = nn.Sequential(conv(3, e), conv(e, 2 * e), conv(2 * e, 4 * e), conv(4 * e, 8 * e))
        self.flat = 8 * e * (c.size // 16) ** 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.convs(x).flatten(1)


class Inter(nn.Module):
    """Dense bottleneck: the encoder's flattened features -> `bottleneck` values -> a 1/8-size code map."""

    def __init__(self, c: Config, flat: int):
        super().__init__()
        self.lowest = c.size // 16
        self.channels = c.bottleneck
        self.dense_in = nn.Linear(flat, c.bottleneck)
        self.dense_out = nn.Linear(c.bottleneck, c.bottleneck * self.lowest**2)
        self.upscale = upscale(c.bottleneck, c.bottleneck)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dense_out(self.dense_in(x))
        return self.upscale(x.view(-1, self.channels, self.lowest, self.lowest))


class Decoder(nn.Module):
    def __init__(self, c: Config, in_channels: int):
        super().__init__()
        d = c.decoder_dims
        dims = (in_channels, 8 * d, 4 * d, 2 * d)
        self.blocks = nn.Sequential(*[nn.Sequential(upscale(i, o), Residual(o))
                                      for i, o in zip(dims, dims[1:], strict=False)])
        self.to_rgb_mask = nn.Conv2d(2 * d, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = torch.sigmoid(self.to_rgb_mask(self.blocks(x)))
        return out[:, :3], out[:, 3:]


class Model(nn.Module):
    """forward(a, b): the training pass -> (rgb_a, mask_a, rgb_b, mask_b).
    swap(faces, to): encode any faces, decode them as person `to` ("a" or "b") -> (rgb, mask)."""

    has_mask = True

    def __init__(self, config: Config):
        super().__init__()
        if config.size % 16:
            raise ValueError(f"hd: size must be a multiple of 16, not {config.size}")
        self.config = config
        self.encoder = Encoder(config)
        self.inter = Inter(config, self.encoder.flat)
        self.decoder_a = Decoder(config, config.bottleneck)
        self.decoder_b = Decoder(config, config.bottleneck)

    def forward(self, a: torch.Tensor, b: torch.Tensor):
        code_a, code_b = self.inter(self.encoder(torch.cat([a, b]))).split([len(a), len(b)])
        return *self.decoder_a(code_a), *self.decoder_b(code_b)

    def swap(self, faces: torch.Tensor, to: str = "b") -> tuple[torch.Tensor, torch.Tensor]:
        decoder = {"a": self.decoder_a, "b": self.decoder_b}[to]
        return decoder(self.inter(self.encoder(faces)))
