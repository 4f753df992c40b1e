"""Alignment: a least-squares similarity transform (Umeyama) from a stable subset of the 478 landmarks to a canonical
mean face, the warp it drives, and a blur score for aligned faces.

The matrix is a 2x3 float64 from frame pixels to aligned-face pixels: `cv2.warpAffine(frame, matrix, (size, size))`
makes the aligned face, `cv2.invertAffineTransform(matrix)` warps back.
"""

import cv2
import numpy as np

from kaokae.errors import KaokaeError
from kaokae.faces.mean_face import MEAN_FACE

CENTERINGS = ("face", "head")

# Points that move with the skull, not with expression: eye corners, nose bridge and tip, forehead, cheekbones and
# temples. Lids, brows, lips and jaw are left out so blinking or talking does not move the aligned face.
ALIGN_POINTS = np.array([
    33, 133, 362, 263,  # eye corners
    168, 6, 197, 195, 5, 4, 1, 2, 98, 327,  # nose bridge, tip and base
    10, 151, 9, 109, 338, 67, 297, 108, 337,  # forehead
    116, 345, 123, 352, 234, 454, 127, 356,  # cheekbones and temples
])

# Where the mean face sits in the aligned square, as (scale, x centre, y centre) of the mean face's frontal outline
# (its 2-D bounding box) in units of the output size. "face": the face fills the square (what swap models train on);
# "head": zoomed out and shifted down so forehead, hair and ears fit as well.
FRAMING = {"face": (0.80, 0.50, 0.52), "head": (0.52, 0.50, 0.58)}


def canonical_points(size: int = 256, centering: str = "face") -> np.ndarray:
    """(478, 2) float64: the mean face's landmarks in aligned-face pixels for this size and centering."""
    if centering not in FRAMING:
        raise KaokaeError(f"unknown centering {centering!r}: choose from {', '.join(CENTERINGS)}")
    scale, cx, cy = FRAMING[centering]
    front = MEAN_FACE[:, :2].astype(np.float64)
    lo, hi = front[:468].min(0), front[:468].max(0)
    unit = (front - (lo + hi) / 2) / (hi - lo).max()  # outline centred at 0, longer side 1
    return (unit * scale + [cx, cy]) * size


def umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 similarity (rotation, uniform scale, translation) minimising sum |s R src + t - dst|^2 (Umeyama 1991)."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / len(src)
    u, d, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:  # never a reflection
        sign[-1] = -1
    rotation = u @ np.diag(sign) @ vt
    scale = (d * sign).sum() / src_c.var(0).sum()
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - matrix[:, :2] @ src_mean
    return matrix


def align_matrix(landmarks: np.ndarray, size: int = 256, centering: str = "face") -> np.ndarray:
    """(2, 3) float64 frame -> aligned-face matrix for 478 landmarks (frame pixels)."""
    landmarks = np.asarray(landmarks)
    if landmarks.shape[0] != MEAN_FACE.shape[0]:
        raise ValueError(f"align_matrix needs the {MEAN_FACE.shape[0]} mesh landmarks, got {landmarks.shape}")
    target = canonical_points(size, centering)
    return umeyama(landmarks[ALIGN_POINTS, :2], target[ALIGN_POINTS])


def warp_face(frame_rgb: np.ndarray, matrix: np.ndarray, size: int = 256) -> np.ndarray:
    """The aligned (size, size, 3) face. Area-averaging when shrinking would be nicer, but cubic keeps detail when
    enlarging small faces, which is the common case for video."""
    return cv2.warpAffine(frame_rgb, matrix, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(N, 2) points through a 2x3 affine matrix; the dtype of `points` is kept."""
    points = np.asarray(points)
    out = points[:, :2].astype(np.float64) @ matrix[:, :2].T + matrix[:, 2]
    return out.astype(points.dtype if np.issubdtype(points.dtype, np.floating) else np.float64)


def sharpness(aligned_rgb: np.ndarray) -> float:
    """Blur score: variance of the Laplacian of the grey image (higher is sharper; compare faces of one size)."""
    grey = cv2.cvtColor(np.ascontiguousarray(aligned_rgb), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())
