"""What the user looks at while training: a preview grid of the model's output on fixed faces, and the loss curve."""

from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from kaokae import atomic

ROWS = ("A", "A->A", "A->B", "B", "B->B", "B->A")
LABEL_WIDTH = 64
MIN_TILE = 128  # small models are shown enlarged so their faces can be judged
MAX_POINTS = 2000  # per curve of the loss plot


def _tiles(x: torch.Tensor, tile: int) -> np.ndarray:
    """(B, 3, S, S) floats in [0, 1] -> one (tile, B * tile, 3) uint8 row."""
    images = (x.float().clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    if images.shape[1] != tile:
        images = np.stack([cv2.resize(im, (tile, tile), interpolation=cv2.INTER_NEAREST) for im in images])
    return np.concatenate(list(images), 1)


def _label(text: str, height: int) -> np.ndarray:
    panel = np.full((height, LABEL_WIDTH, 3), 32, np.uint8)
    cv2.putText(panel, text, (6, height // 2 + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (235, 235, 235), 1, cv2.LINE_AA)
    return panel


@torch.no_grad()
def preview_grid(model, faces_a: torch.Tensor, faces_b: torch.Tensor, autocast) -> np.ndarray:
    """Rows A, A->A, A->B, B, B->B, B->A over fixed faces (B, 3, S, S) floats: RGB uint8 image."""
    with autocast():
        rows = [faces_a, model.swap(faces_a, "a")[0], model.swap(faces_a, "b")[0],
                faces_b, model.swap(faces_b, "b")[0], model.swap(faces_b, "a")[0]]
    tile = max(MIN_TILE, faces_a.shape[-1])
    lines = [np.concatenate([_label(name, tile), _tiles(row, tile)], 1) for name, row in zip(ROWS, rows, strict=True)]
    width = max(line.shape[1] for line in lines)  # A and B may have fewer faces than the grid has columns
    return np.concatenate([np.pad(line, ((0, 0), (0, width - line.shape[1]), (0, 0))) for line in lines], 0)


def write_png(dest: Path, rgb: np.ndarray) -> None:
    with atomic.atomic_path(dest) as tmp:
        Image.fromarray(rgb).save(tmp, format="PNG")


def loss_plot(history: list[dict], dest: Path, title: str) -> None:
    """Training losses of A and B (and held-out L1 when there is one) against iterations, log scale."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no display needed

    fig = Figure(figsize=(8, 4.5), dpi=100)
    ax = fig.subplots()
    for key, label, style in (("loss_a", "loss A", "-"), ("loss_b", "loss B", "-"),
                              ("val_l1_a", "held-out L1 A", "o--"), ("val_l1_b", "held-out L1 B", "o--")):
        points = np.array([(r["iteration"], r[key]) for r in history if key in r], np.float64).reshape(-1, 2)
        if len(points) > MAX_POINTS:  # a long run: plot means of consecutive stretches
            points = np.stack([chunk.mean(0) for chunk in np.array_split(points, MAX_POINTS)])
        if len(points):
            ax.plot(points[:, 0], points[:, 1], style, label=label, linewidth=1.2, markersize=3)
    parent = [r for r in history if "parent_end" in r]
    if parent:  # a model trained --from another: the parent's losses are at negative iterations
        ax.axvline(0, color="0.4", linestyle=":", label=f"parent model {parent[0]['parent_end']} ended")
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    if ax.lines or parent:
        ax.legend()
    fig.tight_layout()
    with atomic.atomic_path(dest) as tmp:
        fig.savefig(tmp, format="png")
