"""Batch augmentation in torch, on the model's device: one call turns a batch of uint8 faces (+ their landmark masks)
into warped inputs and unwarped targets.

Per face: a random similarity transform (rotation, scale, shift, horizontal flip) applied to input and target alike
(the model learns faces at any small pose), colour jitter and an optional colour transfer from the other person (also
applied to both), and a random smooth grid warp applied to the input only: the model must undo the distortion, which
is what teaches it each face's shape (the seed's "learn how each face distorts"). All randomness comes from one
torch.Generator, so a step's augmentation is a function of its seed.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class Augmentation:
    rotation: float = 10.0  # degrees, +-
    scale: float = 0.05  # +- fraction
    shift: float = 0.05  # +- fraction of the size
    flip: float = 0.5  # probability of a horizontal flip
    warp: float = 0.025  # standard deviation of the grid warp's control points, as a fraction of the size
    warp_points: int = 5  # control points per side of the warp grid
    jitter: float = 0.1  # brightness +-, contrast and saturation x (1 +- jitter)
    color_transfer: float = 0.0  # probability of taking the other person's face colours (mean/std per channel)


@dataclass
class Batch:
    inputs: torch.Tensor  # (B, 3, S, S) float in [0, 1]: warped
    targets: torch.Tensor  # (B, 3, S, S): unwarped
    face_mask: torch.Tensor  # (B, 1, S, S) the landmark face mask, aligned with targets
    eyes_mouth: torch.Tensor  # (B, 1, S, S)


def uniform(n: int, limit: float, g: torch.Generator) -> torch.Tensor:
    return (torch.rand(n, generator=g, device=g.device) * 2 - 1) * limit


def similarity_grid(n: int, size: int, aug: Augmentation, g: torch.Generator) -> torch.Tensor:
    """(n, size, size, 2) sampling grid of a random rotation/scale/shift/flip about the centre."""
    angle = uniform(n, math.radians(aug.rotation), g)
    scale = 1 + uniform(n, aug.scale, g)
    flip = torch.where(torch.rand(n, generator=g, device=g.device) < aug.flip, -1.0, 1.0)
    shift = uniform(2 * n, aug.shift * 2, g).view(n, 2)  # normalised coordinates span 2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale  # the grid maps output to input: inverse scale
    theta = torch.stack([torch.stack([cos * flip, -sin, shift[:, 0]], 1),
                         torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1)
    return F.affine_grid(theta, [n, 1, size, size], align_corners=False)


def warp_offsets(n: int, size: int, aug: Augmentation, g: torch.Generator) -> torch.Tensor:
    """(n, size, size, 2) smooth random displacement: random control points, bicubically interpolated."""
    points = torch.randn(n, 2, aug.warp_points, aug.warp_points, generator=g, device=g.device) * (aug.warp * 2)
    offsets = F.interpolate(points, size=(size, size), mode="bicubic", align_corners=True)
    return offsets.permute(0, 2, 3, 1)


def jitter_color(rgb: torch.Tensor, amount: float, g: torch.Generator) -> torch.Tensor:
    n = len(rgb)
    brightness = uniform(n, amount, g).view(n, 1, 1, 1)
    contrast = (1 + uniform(n, amount, g)).view(n, 1, 1, 1)
    saturation = (1 + uniform(n, amount, g)).view(n, 1, 1, 1)
    gray = 0.299 * rgb[:, 0:1] + 0.587 * rgb[:, 1:2] + 0.114 * rgb[:, 2:3]  # no host-to-GPU copy per step
    rgb = gray + (rgb - gray) * saturation
    mean = gray.mean((2, 3), keepdim=True)
    return ((rgb - mean) * contrast + mean + brightness).clamp(0, 1)


def masked_stats(rgb: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    total = mask.sum((2, 3), keepdim=True).clamp_min(1)
    mean = (rgb * mask).sum((2, 3), keepdim=True) / total
    var = ((rgb - mean) ** 2 * mask).sum((2, 3), keepdim=True) / total
    return mean, var.clamp_min(1e-6).sqrt()


def transfer_color(rgb: torch.Tensor, mask: torch.Tensor, reference: torch.Tensor, reference_mask: torch.Tensor,
                   probability: float, g: torch.Generator) -> torch.Tensor:
    """Give each face, with `probability`, the face-region colour mean and spread of the reference face beside it
    (Reinhard-style, per RGB channel): the encoder then cannot tell the people apart by their lighting."""
    mean, std = masked_stats(rgb, mask)
    ref_mean, ref_std = masked_stats(reference, reference_mask)
    moved = ((rgb - mean) / std * ref_std + ref_mean).clamp(0, 1)
    chosen = (torch.rand(len(rgb), generator=g, device=g.device) < probability).view(-1, 1, 1, 1)
    return torch.where(chosen, moved, rgb)


def augment(faces: torch.Tensor, aug: Augmentation, g: torch.Generator, reference: torch.Tensor | None = None,
            warp: bool = True) -> Batch:
    """faces: (B, 5, S, S) uint8 on the device (RGB, face mask, eyes+mouth mask), see `kaokae.train.data`.
    reference: the other person's batch, the colour source of `aug.color_transfer`."""
    n, size = len(faces), faces.shape[-1]
    x = faces.float() / 255
    rgb, masks = x[:, :3], x[:, 3:]
    if reference is not None and aug.color_transfer > 0:
        ref = reference.float() / 255
        rgb = transfer_color(rgb, masks[:, :1], ref[:, :3], ref[:, 3:4], aug.color_transfer, g)
    if aug.jitter > 0:
        rgb = jitter_color(rgb, aug.jitter, g)
    grid = similarity_grid(n, size, aug, g)
    target = F.grid_sample(torch.cat([rgb, masks], 1), grid, mode="bilinear", padding_mode="border",
                           align_corners=False)
    if warp and aug.warp > 0:
        inputs = F.grid_sample(rgb, grid + warp_offsets(n, size, aug, g), mode="bilinear",
                               padding_mode="border", align_corners=False)
    else:
        inputs = target[:, :3]
    return Batch(inputs, target[:, :3], target[:, 3:4], target[:, 4:5])
