"""`hd`: a 128 px (or 256 px) autoencoder with residual decoders and a learned mask, after DeepFaceLab's SAEHD.

Encoder: four 5x5 stride-2 convolutions (e, 2e, 4e, 8e channels) down to 1/16 of the size, flattened. Bottleneck
("inter"): dense to `bottleneck` values, dense back to a 1/16-size map and a pixel-shuffle upscale to 1/8. Decoders:
three pixel-shuffle upscales (8d, 4d, 2d channels), each followed by a residual block, then a 3x3 convolution to RGB
plus a mask channel. The mask is learned from the landmark face mask and lets convert blend without landmarks.

Bottleneck layout: {layout_note}
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from kaokae.train.models.original import conv, scale, upscale

LAYOUTS = ("inter", "liae")


@dataclass
class Config:
    size: int = 128  # input and output px: 128 or 256 (any multiple of 16 works)
    encoder_dims: int = 64  # channels of the first convolution; doubled at each of the next three
    decoder_dims: int = 64  # the decoder's last upscale has 2x this many channels, the first 8x
    bottleneck: int = 256
    layout: str = "inter"  # "inter": shared bottleneck, a decoder per person; "liae": see the module docstring

    @classmethod
    def scaled(cls, size: int | None = None, width: float = 1.0, layout: str = "inter") -> "Config":
        base = cls()
        return cls(size=size or base.size, encoder_dims=scale(base.encoder_dims, width),
                   decoder_dims=scale(base.decoder_dims, width), bottleneck=scale(base.bottleneck, width),
                   layout=layout)


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
        if config.layout not in LAYOUTS:
            raise ValueError(f"hd: layout must be one of {LAYOUTS}, not {config.layout!r}")
        self.config = config
        self.encoder = Encoder(config)
        if config.layout == "inter":
            self.inter = Inter(config, self.encoder.flat)
            self.decoder_a = Decoder(config, config.bottleneck)
            self.decoder_b = Decoder(config, config.bottleneck)
        else:
            self.inter_shared = Inter(config, self.encoder.flat)
            self.inter_a = Inter(config, self.encoder.flat)
            self.decoder = Decoder(config, 2 * config.bottleneck)

    def forward(self, a: torch.Tensor, b: torch.Tensor):
        features = self.encoder(torch.cat([a, b]))
        if self.config.layout == "inter":
            code_a, code_b = self.inter(features).split([len(a), len(b)])
            return *self.decoder_a(code_a), *self.decoder_b(code_b)
        shared = self.inter_shared(features)
        shared_a, shared_b = shared.split([len(a), len(b)])
        code = torch.cat([torch.cat([self.inter_a(features[: len(a)]), shared_a], 1),
                          torch.cat([shared_b, shared_b], 1)])
        rgb, mask = self.decoder(code)
        rgb_a, rgb_b = rgb.split([len(a), len(b)])
        mask_a, mask_b = mask.split([len(a), len(b)])
        return rgb_a, mask_a, rgb_b, mask_b

    def swap(self, faces: torch.Tensor, to: str = "b") -> tuple[torch.Tensor, torch.Tensor]:
        features = self.encoder(faces)
        if self.config.layout == "inter":
            return {"a": self.decoder_a, "b": self.decoder_b}[to](self.inter(features))
        shared = self.inter_shared(features)
        other = {"a": self.inter_a(features), "b": shared}[to]
        return self.decoder(torch.cat([other, shared], 1))
