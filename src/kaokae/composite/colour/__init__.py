"""Colour correction: make the new face's colours match the frame's face, measured inside the blend mask.

Each method is one module here: a `ColourCorrection` registered in COLOURS whose one method, `fit`, returns the
correction as an array (per-channel lookup tables on 8-bit LAB for lab and hist; a colour matrix for mkl). Arrays of
one method average, so the same temporal smoothing (an exponential moving average per face track) works for all.
"""

import cv2
import numpy as np

from kaokae.registry import Registry

COLOURS = Registry("colour", "kaokae.composite.colour")
# A frame's face under hard, coloured light can have 2-4x the colour spread of an evenly lit photo; stretching the
# photo's colours that much turns its skin blotches into red and yellow patches (the frame's spread is light and
# shadow, not skin). So the spread moves at most this factor.
MAX_SCALE = 1.5
LEVELS = np.arange(256, dtype=np.float32)


class ColourCorrection:
    """A colour correction method. `fit(face_lab, reference_lab, inside)` -> the correction moving the face's
    colours towards the reference's inside the uint8 mask `inside` (both 8-bit LAB crops of one box), or None for
    no change. The default `apply` reads the correction as (3, 256) lookup tables."""

    def fit(self, face_lab: np.ndarray, reference_lab: np.ndarray, inside: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError

    def apply(self, lab: np.ndarray, correction: np.ndarray) -> np.ndarray:
        lut = np.clip(np.rint(correction), 0, 255).astype(np.uint8).T.reshape(256, 1, 3)  # one column per channel
        return cv2.LUT(lab, lut)


def to_lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)


def lab_mean_std(rgb: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each 8-bit LAB channel over the pixels where mask > 0.5."""
    return mean_std(to_lab(rgb), inside_mask(mask))


def inside_mask(mask: np.ndarray) -> np.ndarray:
    return (np.asarray(mask) > 0.5).astype(np.uint8)


def mean_std(lab: np.ndarray, inside: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = cv2.meanStdDev(lab, mask=inside)  # far faster than numpy reductions over a boolean selection
    return mean.ravel().astype(np.float32), std.ravel().astype(np.float32)


def colour_table(face: np.ndarray, reference: np.ndarray, mask: np.ndarray, method: str = "lab") -> np.ndarray | None:
    """The correction of `face` towards `reference` (same-shaped RGB crops) inside `mask`; None for 'none' or
    when the mask is (nearly) empty."""
    correction = COLOURS.get(method)()
    inside = inside_mask(mask)
    if cv2.countNonZero(inside) < 16:
        return None
    return correction.fit(to_lab(face), to_lab(reference), inside)


def apply_correction(rgb: np.ndarray, correction: np.ndarray | None, method: str = "lab") -> np.ndarray:
    if correction is None:
        return rgb
    return cv2.cvtColor(COLOURS.get(method)().apply(to_lab(rgb), correction), cv2.COLOR_LAB2RGB)


class TableSmoother:
    """Exponential moving average of colour corrections per key (a face track), so a face's colour does not flicker
    when its mask shifts a little from frame to frame. `weight` is the share of the newest frame (1 = no smoothing)."""

    def __init__(self, weight: float = 0.25):
        self.weight = weight
        self.tables: dict[object, np.ndarray] = {}

    def __call__(self, key: object, table: np.ndarray | None) -> np.ndarray | None:
        if table is None:
            return self.tables.get(key)
        old = self.tables.get(key)
        self.tables[key] = table if old is None or old.shape != table.shape else old + self.weight * (table - old)
        return self.tables[key]

    def keep_only(self, keys) -> None:
        """Forget tracks that ended."""
        keys = set(keys)
        for key in [k for k in self.tables if k not in keys]:
            del self.tables[key]


def correct_colour(face: np.ndarray, reference: np.ndarray, mask: np.ndarray, method: str = "lab",
                   smoother: TableSmoother | None = None, key: object = 0) -> np.ndarray:
    """`face` with its colours moved towards `reference`'s inside `mask` (all the same size: a box's crop)."""
    correction = colour_table(face, reference, mask, method)
    if smoother is not None and method != "none":
        correction = smoother(key, correction)
    return apply_correction(face, correction, method)
