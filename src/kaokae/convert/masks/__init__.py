"""Which pixels of the frame take the new face: each mask is one module here, a `Mask` registered in MASKS."""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from kaokae.composite import Box
from kaokae.registry import Registry

MASKS = Registry("mask", "kaokae.convert.masks")


@dataclass
class MaskInputs:
    landmarks: np.ndarray  # the frame face's 478 points, frame pixels
    box: Box  # the crop the alpha covers
    learned: Callable[[], np.ndarray]  # the model's mask warped back onto the box (float32, 0..1)
    erode: float  # fractions of the face's size
    feather: float
    keep_mouth: bool
    face_px: float  # the face's size in pixels


class Mask:
    """A mask method: `alpha(inputs)` -> float32 alpha of the box's shape. `learned` says it needs the model's
    learned mask (models without one refuse it)."""

    learned = False

    def alpha(self, inputs: MaskInputs) -> np.ndarray:
        raise NotImplementedError
