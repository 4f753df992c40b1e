"""Poisson: gradient-domain cloning, so the face takes the frame's lighting at its edge."""

import cv2
import numpy as np

from kaokae.composite.blend import BLENDS
from kaokae.composite.blend.feather import feather_blend


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """A bool mask with every hole (a region enclosed by the mask, like the cut-out mouth) filled."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros(mask.shape, np.uint8)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return filled.astype(bool) | mask.astype(bool)


def _extend(values: np.ndarray, inside: np.ndarray, rings: int = 2) -> np.ndarray:
    """`values` (h, w, 3) with the pixels just outside `inside` set to their inside neighbours' mean, `rings` deep,
    so that scaling the image up does not blend the inside values with whatever lies outside."""
    weight = inside.astype(np.float32)
    values = values * weight[..., None]
    for _ in range(rings):
        total = cv2.blur(values, (3, 3))
        count = cv2.blur(weight, (3, 3))
        grow = (weight == 0) & (count > 0)
        values[grow] = total[grow] / count[grow, None]
        weight = np.where(grow, 1.0, weight).astype(np.float32)
    return values


@BLENDS.register("poisson", "gradient-domain cloning, so lighting follows the frame", rank=0)
def poisson_blend(background: np.ndarray, face: np.ndarray, alpha: np.ndarray, solve_size: int | None = 80
                  ) -> np.ndarray:
    """Poisson cloning: the face's gradients inside alpha > 0, with the background as the boundary condition, so
    lighting and skin tone follow the frame; then the feathered alpha on top (which also keeps everything outside the
    mask exact: the solver alone moves pixels there by a level or two).

    Cloning equals the face plus a correction that is harmonic (smooth) inside the mask, so the correction is solved
    on a copy whose longer side is at most `solve_size` pixels and scaled up: a 300 px face costs a few ms instead of
    ~40 ms, with much the same look (None solves at full size). Holes in the mask (the cut-out mouth) are cloned with the
    background's own pixels, so the teeth's edge does not act as a bright boundary that lightens the lips.
    """
    support = np.asarray(alpha) > 0
    region = fill_holes(support)
    # seamlessClone needs a one-pixel margin around the region, and we centre on the region's rectangle ourselves
    # so that the clone lands on exactly the same pixels, not a pixel off.
    region[[0, -1], :] = False
    region[:, [0, -1]] = False
    x, y, w, h = cv2.boundingRect(region.astype(np.uint8))
    if w < 3 or h < 3:
        return feather_blend(background, face, alpha)
    x0, y0, x1, y1 = x - 1, y - 1, x + w + 1, y + h + 1  # region plus its margin (still inside the crop)
    bg = background[y0:y1, x0:x1]
    source = np.where(support[y0:y1, x0:x1, None], face[y0:y1, x0:x1], bg)
    inside = region[y0:y1, x0:x1]

    scale = 1.0 if solve_size is None else min(1.0, solve_size / max(w, h))
    if scale < 1.0:
        size = (max(round((x1 - x0) * scale), 5), max(round((y1 - y0) * scale), 5))
        bg_small = cv2.resize(bg, size, interpolation=cv2.INTER_AREA)
        source_small = cv2.resize(source, size, interpolation=cv2.INTER_AREA)
        inside_small = cv2.resize(inside.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    else:
        bg_small, source_small, inside_small = bg, source, inside
    inside_small[[0, -1], :] = False
    inside_small[:, [0, -1]] = False
    sx, sy, sw, sh = cv2.boundingRect(inside_small.astype(np.uint8))
    if sw < 3 or sh < 3:
        return feather_blend(background, face, alpha)
    cloned = cv2.seamlessClone(np.ascontiguousarray(source_small), np.ascontiguousarray(bg_small),
                               inside_small.astype(np.uint8) * 255, (sx + sw // 2, sy + sh // 2), cv2.NORMAL_CLONE)
    correction = cloned.astype(np.float32) - source_small.astype(np.float32)
    if scale < 1.0:
        correction = _extend(correction, inside_small)
        correction = cv2.resize(correction, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)

    out = background.copy()
    out[y0:y1, x0:x1] = np.clip(np.rint(source + correction), 0, 255).astype(np.uint8)
    return feather_blend(background, out, alpha)
