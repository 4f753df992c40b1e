"""Alignment: a least-squares similarity transform (Umeyama) from a stable subset of the 478 landmarks to a canonical
mean face, the warp it drives, and a blur score for aligned faces.

The matrix is a 2x3 float64 from frame pixels to aligned-face pixels: `cv2.warpAffine(frame, matrix, (size, size))`
makes the aligned face, `cv2.invertAffineTransform(matrix)` warps back.
"""

import cv2
import numpy as np

from kaokae.errors import KaokaeError
from kaokae.faces.mean_face import MEAN_FACE

CENTERINGS = ("face", "head", "whole_face")

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
# "head": zoomed out and shifted down so forehead, hair and ears fit as well. "whole_face": DeepFaceLab's whole-face
# crop, what .dfm models are trained on (DeepFaceLive and FaceFusion feed them this square); on 83 real faces DFL's
# own square is this one scaled by 1.036 and moved down 1.5% of its side (docs/export.md). The face square is then
# exactly the middle 4/5 of it, a tenth of the side in from each edge, so a .dfm's resampling is a pure pixel copy.
FRAMING = {"face": (0.80, 0.50, 0.52), "head": (0.52, 0.50, 0.58), "whole_face": (0.64, 0.50, 0.516)}


# What a turned face turns about, in mean-face units (outer eye corners 1 apart, origin between them, z away from the
# camera). "face": the middle of the rigid points, so the face stays centred in its square whatever its pose.
# "head": about 9 cm behind the eyes and a little below them (near the ear canals), so the head stays centred and the
# face moves within it as it turns.
PIVOT = {"face": MEAN_FACE[ALIGN_POINTS].astype(np.float64).mean(0), "head": np.array([0.0, 0.3, 1.0])}
PIVOT["whole_face"] = PIVOT["face"]  # so a whole-face square is exactly a face square scaled and shifted


def reframe_matrix(from_centering: str, to_centering: str, from_size: int, to_size: int) -> np.ndarray:
    """2x3: pixels of an aligned square (from_centering, from_size) -> the same face's square of to_centering and
    to_size. Exact for centerings that share a pivot (face and whole_face): their squares differ only by a scale
    and a shift."""
    if PIVOT[from_centering] is not PIVOT[to_centering]:
        raise ValueError(f"{from_centering} and {to_centering} squares are not related by a fixed transform")
    (s0, x0, y0), (s1, x1, y1) = FRAMING[from_centering], FRAMING[to_centering]
    # _frame puts unit coordinate u at pixel u * size, and u1 = (u0 - c0) * s1 / s0 + c1
    k = s1 / s0
    scale = k * to_size / from_size
    return np.array([[scale, 0.0, (x1 - x0 * k) * to_size], [0.0, scale, (y1 - y0 * k) * to_size]])


def _frame(points_xy: np.ndarray, size: int, centering: str) -> np.ndarray:
    """Mean-face (x, y) -> aligned-face pixels: the frontal outline centred and scaled as FRAMING says."""
    if centering not in FRAMING:
        raise KaokaeError(f"unknown centering {centering!r}: choose from {', '.join(CENTERINGS)}")
    scale, cx, cy = FRAMING[centering]
    front = MEAN_FACE[:468, :2].astype(np.float64)
    lo, hi = front.min(0), front.max(0)
    return ((points_xy - (lo + hi) / 2) / (hi - lo).max() * scale + [cx, cy]) * size


def canonical_points(size: int = 256, centering: str = "face") -> np.ndarray:
    """(478, 2) float64: the frontal mean face's landmarks in aligned-face pixels for this size and centering."""
    return _frame(MEAN_FACE[:, :2].astype(np.float64), size, centering)


def turn(yaw: float, pitch: float) -> np.ndarray:
    """3x3 rotation of the mean face by yaw then pitch (radians, model axes)."""
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    return ry @ rx


def yaw_pitch(landmarks: np.ndarray) -> tuple[float, float]:
    """The face's yaw and pitch (radians, model axes) from a weak-perspective fit of the mean face's rigid points:
    the least-squares 2x3 camera, made a scaled rotation, split as Rz(roll) Ry(yaw) Rx(pitch)."""
    model = MEAN_FACE[ALIGN_POINTS].astype(np.float64)
    image = np.asarray(landmarks, np.float64)[ALIGN_POINTS, :2]
    camera = np.linalg.lstsq(model - model.mean(0), image - image.mean(0), rcond=None)[0].T  # 2x3
    u, _, vt = np.linalg.svd(camera, full_matrices=False)
    rows = u @ vt  # the nearest pair of orthonormal rows
    rotation = np.vstack([rows, np.cross(rows[0], rows[1])])
    return float(np.arcsin(np.clip(-rotation[2, 0], -1, 1))), float(np.arctan2(rotation[2, 1], rotation[2, 2]))


def posed_points(landmarks: np.ndarray, size: int = 256, centering: str = "face") -> np.ndarray:
    """(478, 2): the mean face turned to this face's yaw and pitch (about PIVOT), framed like the frontal one."""
    pivot = PIVOT[centering] if centering in PIVOT else 0.0  # _frame reports an unknown centering
    turned = (MEAN_FACE.astype(np.float64) - pivot) @ turn(*yaw_pitch(landmarks)).T + pivot
    return _frame(turned[:, :2], size, centering)


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


def align_matrix(landmarks: np.ndarray, size: int = 256, centering: str = "face", follow_pose: bool = True
                 ) -> np.ndarray:
    """(2, 3) float64 frame -> aligned-face matrix for 478 landmarks (frame pixels).

    follow_pose: fit to the mean face turned to the face's own yaw and pitch, so a turned face is aligned upright,
    at the scale of a frontal one, with its head where a frontal head would be; otherwise to the frontal mean face
    (which tilts and shrinks turned faces: a frontal template cannot fit a profile's narrower outline).
    """
    landmarks = np.asarray(landmarks)
    if landmarks.shape[0] != MEAN_FACE.shape[0]:
        raise ValueError(f"align_matrix needs the {MEAN_FACE.shape[0]} mesh landmarks, got {landmarks.shape}")
    target = posed_points(landmarks, size, centering) if follow_pose else canonical_points(size, centering)
    return umeyama(landmarks[ALIGN_POINTS, :2], target[ALIGN_POINTS])


def warp_face(frame_rgb: np.ndarray, matrix: np.ndarray, size: int = 256) -> np.ndarray:
    """The aligned (size, size, 3) face. Cubic when enlarging (it keeps the detail of small faces); bilinear when
    shrinking, where cubic adds nothing visible and costs 4x as much (1.6 vs 0.4 ms for 256 px)."""
    enlarging = abs(np.linalg.det(np.asarray(matrix)[:, :2])) > 1
    return cv2.warpAffine(frame_rgb, matrix, (size, size), flags=cv2.INTER_CUBIC if enlarging else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(N, 2) points through a 2x3 affine matrix; the dtype of `points` is kept."""
    points = np.asarray(points)
    out = points[:, :2].astype(np.float64) @ matrix[:, :2].T + matrix[:, 2]
    return out.astype(points.dtype if np.issubdtype(points.dtype, np.floating) else np.float64)


def sharpness(aligned_rgb: np.ndarray) -> float:
    """Blur score: variance of the Laplacian of the grey image (higher is sharper; compare faces of one size)."""
    grey = cv2.cvtColor(np.ascontiguousarray(aligned_rgb), cv2.COLOR_RGB2GRAY)
    # int16 holds any 3x3 Laplacian of 8-bit pixels exactly, and is 3x faster than float64
    return float(cv2.meanStdDev(cv2.Laplacian(grey, cv2.CV_16S))[1][0, 0] ** 2)
