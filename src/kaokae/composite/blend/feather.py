"""Feather: a plain alpha blend with the soft mask."""

import numpy as np

from kaokae.composite.blend import BLENDS


@BLENDS.register("feather", "plain alpha blend with the soft mask", rank=1)
def feather_blend(background: np.ndarray, face: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """background * (1 - alpha) + face * alpha, uint8 in and out."""
    a = np.asarray(alpha, np.float32)[..., None]
    out = background.astype(np.float32)
    out += (face.astype(np.float32) - out) * a
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
