"""Blending a new face into a frame crop: a feathered alpha blend, or Poisson (gradient-domain) cloning.

Both take and return crops of one box (see `mask.Box`), so the work is proportional to the face, not the frame.
Pixels where alpha is 0 come back exactly as they were.
"""

import cv2
import numpy as np

METHODS = ("poisson", "feather")


def feather_blend(background: np.ndarray, face: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """background * (1 - alpha) + face * alpha, uint8 in and out."""
    a = np.asarray(alpha, np.float32)[..., None]
    out = background.astype(np.float32)
    out += (face.astype(np.float32) - out) * a
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def poisson_blend(background: np.ndarray, face: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Poisson cloning of the face's gradients inside alpha > 0 with the background as the boundary condition, so
    lighting and skin tone follow the frame; then the feathered alpha on top (which also keeps everything outside the
    mask exact: the solver alone changes pixels there by a level or two)."""
    support = (np.asarray(alpha) > 0).astype(np.uint8) * 255
    # seamlessClone clears the outermost row and column of the mask; do it here too so the rectangle we centre on
    # is the one it uses (then the clone lands on exactly the same pixels, not a pixel off).
    support[[0, -1], :] = 0
    support[:, [0, -1]] = 0
    x, y, w, h = cv2.boundingRect(support)
    if w < 3 or h < 3:
        return feather_blend(background, face, alpha)
    cloned = cv2.seamlessClone(face, background, support, (x + w // 2, y + h // 2), cv2.NORMAL_CLONE)
    return feather_blend(background, cloned, alpha)


def blend(background: np.ndarray, face: np.ndarray, alpha: np.ndarray, method: str = "poisson") -> np.ndarray:
    if method == "poisson":
        return poisson_blend(background, face, alpha)
    if method == "feather":
        return feather_blend(background, face, alpha)
    raise ValueError(f"unknown blend method {method!r}; choose from {', '.join(METHODS)}")
