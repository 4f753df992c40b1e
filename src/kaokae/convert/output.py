"""The preview sheet of a conversion (original | swapped | mask), labelled like every output. The frames themselves
are written by kaokae.provenance.output."""

from pathlib import Path

import cv2
import numpy as np

from kaokae.media import write_image
from kaokae.provenance import Labeller

PREVIEW_HEIGHT = 270  # px of each tile in the preview sheet


def preview_path(output: Path) -> Path:
    """out.mp4 -> out.preview.png; a folder out/ -> out.preview.png beside it."""
    output = Path(output)
    name = output.stem if output.suffix else output.name
    return output.parent / f"{name}.preview.png"


class Preview:
    """A sheet of frames, one per row: original | swapped | blend mask, each scaled to PREVIEW_HEIGHT px high."""

    def __init__(self, rows: int):
        self.rows: list[np.ndarray] = []

    def add(self, original: np.ndarray, swapped: np.ndarray, alpha: np.ndarray) -> None:
        height, width = original.shape[:2]
        scale = min(1.0, PREVIEW_HEIGHT / height)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        mask = np.repeat(np.clip(alpha * 255 + 0.5, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
        tiles = [cv2.resize(x, size, interpolation=cv2.INTER_AREA) for x in (original, swapped, mask)]
        gap = np.full((size[1], 4, 3), 255, np.uint8)
        self.rows.append(np.concatenate([tiles[0], gap, tiles[1], gap, tiles[2]], axis=1))

    def write(self, path: Path, labeller: Labeller) -> Path | None:
        if not self.rows:
            return None
        width = max(r.shape[1] for r in self.rows)
        rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in self.rows]
        write_image(path, labeller.mark(np.concatenate(rows)[:-4]), xmp=labeller.xmp)
        labeller.sign(path)
        return path
