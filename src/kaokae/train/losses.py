"""Reconstruction losses: L1 + DSSIM (+ an optional detail term on image gradients), weighted per pixel by the
landmark face mask with extra weight on the eyes and mouth (what a viewer looks at first), plus the mask loss for
models that learn a mask. Computed in float32."""

import torch
import torch.nn.functional as F


def pixel_weights(face_mask: torch.Tensor, eyes_mouth: torch.Tensor, background: float, eyes_mouth_weight: float
                  ) -> torch.Tensor:
    """(B, 1, H, W) loss weights: `background` outside the face, 1 on it, `eyes_mouth_weight` on eyes and mouth.
    A small background weight keeps the background roughly learned (previews stay readable) without spending the
    model's capacity there."""
    weight = background + (1 - background) * face_mask
    return weight + (eyes_mouth_weight - 1) * eyes_mouth


def weighted_mean(values: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean of `values` (B, C, H, W) under per-pixel `weight` (B, 1, H, W)."""
    return (values * weight).sum() / (weight.sum() * values.shape[1]).clamp_min(1e-8)


def gaussian_kernel(size: int = 11, sigma: float = 1.5, device=None) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32, device=device) - size // 2
    k = torch.exp(-(x**2) / (2 * sigma**2))
    return k / k.sum()


def blur_matrix(size: int, device=None) -> torch.Tensor:
    """(size, size) matrix M such that M @ v is v blurred by the Gaussian window, reflect-padded at both ends."""
    kernel = gaussian_kernel(device=device)
    taps = len(kernel)
    index = (torch.arange(size, device=device)[:, None] + torch.arange(taps, device=device) - taps // 2).abs()
    index = torch.where(index >= size, 2 * (size - 1) - index, index)
    return torch.zeros(size, size, device=device).scatter_add_(1, index, kernel.expand(size, taps).contiguous())


def ssim_map(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-pixel SSIM (B, C, H, W) of images in [0, 1] (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5).
    The separable blur is two matrix products (rows @ image @ columns): on a CPU several times faster than depthwise
    convolutions, and exact float32 on a GPU (cuDNN convolutions may round to TF32)."""
    c1, c2 = 0.01**2, 0.03**2
    rows, cols = blur_matrix(x.shape[-2], x.device), blur_matrix(x.shape[-1], x.device).T

    def blur(v: torch.Tensor) -> torch.Tensor:
        return rows @ v @ cols

    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    return ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))


def gradient_l1(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """L1 of the difference of horizontal and vertical neighbour differences under `weight`: zero for a prediction
    off by a constant, large for a blurred one (blur flattens the edges a plain L1 barely sees)."""
    dx = (pred[..., :, 1:] - pred[..., :, :-1]) - (target[..., :, 1:] - target[..., :, :-1])
    dy = (pred[..., 1:, :] - pred[..., :-1, :]) - (target[..., 1:, :] - target[..., :-1, :])
    return weighted_mean(dx.abs(), weight[..., :, 1:]) + weighted_mean(dy.abs(), weight[..., 1:, :])


def reconstruction_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, l1: float, dssim: float,
                        detail: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, l1 term) of a predicted face against its target under per-pixel `weight`."""
    pred, target = pred.float(), target.float()
    l1_term = weighted_mean((pred - target).abs(), weight)
    loss = l1 * l1_term
    if dssim:
        loss = loss + dssim * weighted_mean((1 - ssim_map(pred, target)) / 2, weight)
    if detail:
        loss = loss + detail * gradient_l1(pred, target, weight)
    return loss, l1_term


def mask_loss(pred_mask: torch.Tensor, target_mask: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(pred_mask.float(), target_mask)
