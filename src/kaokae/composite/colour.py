"""Colour correction: make the new face's colours match the frame's face, measured inside the blend mask.

Every method becomes a per-channel lookup table on 8-bit LAB (L, a, b each 0..255), so all are cheap to apply and
the same temporal smoothing (an exponential moving average of the tables, per face track) works for all of them.
"""

import cv2
import numpy as np

METHODS = ("lab", "hist", "none")
# A frame's face under hard, coloured light can have 2-4x the colour spread of an evenly lit photo; stretching the
# photo's colours that much turns its skin blotches into red and yellow patches (the frame's spread is light and
# shadow, not skin). So the spread moves at most this factor.
MAX_SCALE = 1.5
_LEVELS = np.arange(256, dtype=np.float32)


def to_lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)


def lab_mean_std(rgb: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each 8-bit LAB channel over the pixels where mask > 0.5."""
    return _mean_std(to_lab(rgb), _inside(mask))


def _inside(mask: np.ndarray) -> np.ndarray:
    return (np.asarray(mask) > 0.5).astype(np.uint8)


def _mean_std(lab: np.ndarray, inside: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = cv2.meanStdDev(lab, mask=inside)  # far faster than numpy reductions over a boolean selection
    return mean.ravel().astype(np.float32), std.ravel().astype(np.float32)


def stats_table(face_lab: np.ndarray, reference_lab: np.ndarray, inside: np.ndarray,
                max_scale: float = MAX_SCALE) -> np.ndarray:
    """Tables (3, 256) that move each channel's mean and standard deviation inside the mask onto the reference's
    (Reinhard et al. 2001), the spread scaled by at most `max_scale` either way."""
    mean_f, std_f = _mean_std(face_lab, inside)
    mean_r, std_r = _mean_std(reference_lab, inside)
    scale = np.clip(std_r / np.maximum(std_f, 1e-3), 1 / max_scale, max_scale)
    return ((_LEVELS[None, :] - mean_f[:, None]) * scale[:, None] + mean_r[:, None]).astype(np.float32)


def histogram_table(face_lab: np.ndarray, reference_lab: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Tables (3, 256) that map each channel's histogram inside the mask onto the reference's (cumulative
    distributions matched)."""
    tables = np.empty((3, 256), np.float32)
    for c in range(3):
        cdf_f = np.cumsum(cv2.calcHist([face_lab], [c], inside, [256], [0, 256]).ravel())
        cdf_r = np.cumsum(cv2.calcHist([reference_lab], [c], inside, [256], [0, 256]).ravel())
        cdf_f /= cdf_f[-1]
        cdf_r /= cdf_r[-1]
        # Midpoint rank of each level, so a level that holds many pixels maps to the middle of its range.
        rank = cdf_f - 0.5 * np.diff(cdf_f, prepend=0.0)
        tables[c] = np.interp(rank, cdf_r, _LEVELS)
    return tables


def colour_table(face: np.ndarray, reference: np.ndarray, mask: np.ndarray, method: str = "lab") -> np.ndarray | None:
    """The tables that correct `face` towards `reference` (same-shaped RGB crops) inside `mask`; None for 'none' or
    when the mask is (nearly) empty."""
    if method not in METHODS:
        raise ValueError(f"unknown colour method {method!r}; choose from {', '.join(METHODS)}")
    inside = _inside(mask)
    if method == "none" or cv2.countNonZero(inside) < 16:
        return None
    table = stats_table if method == "lab" else histogram_table
    return table(to_lab(face), to_lab(reference), inside)


def apply_table(rgb: np.ndarray, table: np.ndarray | None) -> np.ndarray:
    if table is None:
        return rgb
    lut = np.clip(np.rint(table), 0, 255).astype(np.uint8).T.reshape(256, 1, 3)  # cv2.LUT: one column per channel
    return cv2.cvtColor(cv2.LUT(to_lab(rgb), lut), cv2.COLOR_LAB2RGB)


class TableSmoother:
    """Exponential moving average of colour tables per key (a face track), so a face's colour does not flicker when
    its mask shifts a little from frame to frame. `weight` is the share of the newest frame (1 = no smoothing)."""

    def __init__(self, weight: float = 0.25):
        self.weight = weight
        self.tables: dict[object, np.ndarray] = {}

    def __call__(self, key: object, table: np.ndarray | None) -> np.ndarray | None:
        if table is None:
            return self.tables.get(key)
        old = self.tables.get(key)
        self.tables[key] = table if old is None else old + self.weight * (table - old)
        return self.tables[key]

    def keep_only(self, keys) -> None:
        """Forget tracks that ended."""
        keys = set(keys)
        for key in [k for k in self.tables if k not in keys]:
            del self.tables[key]


def correct_colour(face: np.ndarray, reference: np.ndarray, mask: np.ndarray, method: str = "lab",
                   smoother: TableSmoother | None = None, key: object = 0) -> np.ndarray:
    """`face` with its colours moved towards `reference`'s inside `mask` (all the same size: a box's crop)."""
    table = colour_table(face, reference, mask, method)
    if smoother is not None and method != "none":
        table = smoother(key, table)
    return apply_table(face, table)
