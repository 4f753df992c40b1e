"""The metrics as small pure functions on arrays: embeddings, 68-point landmarks, head poses, images.

Everything here is deterministic and model-free; the models that produce the inputs live in dlib_faces.py.
"""

from collections.abc import Sequence

import cv2
import numpy as np
from skimage.metrics import structural_similarity

from kaokae.faces.align import umeyama

# iBUG 300-W 68-point layout (dlib's shape predictor).
RIGHT_EYE = list(range(36, 42))  # the subject's right eye: on the image's left
LEFT_EYE = list(range(42, 48))
MOUTH = list(range(48, 68))
EYES_AND_MOUTH = RIGHT_EYE + LEFT_EYE + MOUTH
OUTER_EYE_CORNERS = (36, 45)

# dlib's ResNet was trained so that two photos of one person are closer than this (its LFW threshold).
SAME_PERSON_DISTANCE = 0.6


# --- identity ---------------------------------------------------------------------------------------------------

def identity_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two 128-D dlib embeddings: ~0 same photo, < 0.6 same person."""
    return float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))


def centroid(embeddings: Sequence[np.ndarray]) -> np.ndarray:
    """Mean embedding of one person: steadier than any single photo."""
    if len(embeddings) == 0:
        raise ValueError("centroid of no embeddings")
    return np.mean(np.asarray(embeddings, np.float64), axis=0)


def nearest_identity(embedding: np.ndarray, gallery: dict[str, np.ndarray]) -> str:
    """Name of the gallery person (name -> centroid) closest to `embedding`."""
    return min(gallery, key=lambda name: identity_distance(embedding, gallery[name]))


def retrieval_rate(embeddings: Sequence[np.ndarray], gallery: dict[str, np.ndarray], expected: str) -> float:
    """Share of embeddings whose nearest gallery identity is `expected` (ID retrieval, top-1)."""
    if len(embeddings) == 0:
        return float("nan")
    return float(np.mean([nearest_identity(e, gallery) == expected for e in embeddings]))


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boxes (x0, y0, x1, y1)."""
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(x1 - x0, 0) * max(y1 - y0, 0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / max(union, 1e-9))


# --- pose ---------------------------------------------------------------------------------------------------------

def angle_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b| per angle in degrees, wrapped so that 179 and -179 are 2 apart."""
    d = (np.asarray(a, np.float64) - np.asarray(b, np.float64) + 180.0) % 360.0 - 180.0
    return np.abs(d)


# --- expression ---------------------------------------------------------------------------------------------------

def expression_error(landmarks: np.ndarray, reference: np.ndarray) -> float:
    """Normalised mean error of the eye and mouth landmarks of a face against a reference face (68-point layout).

    The face is first aligned onto the reference by a similarity fit on all 68 points, which removes position,
    size and in-plane rotation; what is left on the eyes and mouth is how they are shaped (blinks, mouth opening,
    smiles). The mean point distance is divided by the reference's outer-eye-corner distance, the usual NME
    normaliser, so 0.05 means 5% of the eye span whatever the resolution.
    """
    landmarks, reference = np.asarray(landmarks, np.float64), np.asarray(reference, np.float64)
    matrix = umeyama(landmarks, reference)
    aligned = landmarks @ matrix[:, :2].T + matrix[:, 2]
    i, j = OUTER_EYE_CORNERS
    interocular = np.linalg.norm(reference[i] - reference[j])
    errors = np.linalg.norm(aligned[EYES_AND_MOUTH] - reference[EYES_AND_MOUTH], axis=1)
    return float(errors.mean() / max(interocular, 1e-9))


# --- reconstruction -----------------------------------------------------------------------------------------------

def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity of two uint8 RGB images (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5)."""
    return float(structural_similarity(a, b, channel_axis=2, data_range=255, gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 images in dB (inf when identical)."""
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


# --- flicker ------------------------------------------------------------------------------------------------------

def clip_box(box: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = np.round(np.asarray(box, np.float64)).astype(int)
    return max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)


def face_motion(previous: np.ndarray, current: np.ndarray, box: np.ndarray) -> float:
    """Mean absolute difference between two consecutive frames inside the face box (0-255 scale)."""
    x0, y0, x1, y1 = clip_box(box, current.shape[1], current.shape[0])
    if x1 <= x0 or y1 <= y0:
        return float("nan")
    a = previous[y0:y1, x0:x1].astype(np.int16)
    b = current[y0:y1, x0:x1].astype(np.int16)
    return float(np.abs(b - a).mean())


def flicker_ratio(swapped_motion: Sequence[float], source_motion: Sequence[float]) -> float:
    """Frame-to-frame change in the face region of the swap over that of its source (1.0: no added flicker).

    Pairs where either is unknown (nan: no face) are left out of both sums.
    """
    return ratio_of_sums(swapped_motion, source_motion)


def ratio_of_sums(swapped: Sequence[float], source: Sequence[float]) -> float:
    """sum(swapped) / sum(source) over the frames where both are known (not nan)."""
    sw, src = np.asarray(swapped, np.float64), np.asarray(source, np.float64)
    keep = np.isfinite(sw) & np.isfinite(src)
    if not keep.any():
        return float("nan")
    total_src, total_sw = src[keep].sum(), sw[keep].sum()
    if total_src == 0:
        return 1.0 if total_sw == 0 else float("inf")
    return float(total_sw / total_src)


# --- sharpness ----------------------------------------------------------------------------------------------------

def detail_energy(rgb: np.ndarray, box: np.ndarray) -> float:
    """Fine detail inside the face box: mean square of the grey image minus its Gaussian blur (sigma 1 px), the
    energy a blurred face loses first."""
    x0, y0, x1, y1 = clip_box(box, rgb.shape[1], rgb.shape[0])
    if x1 - x0 < 3 or y1 - y0 < 3:
        return float("nan")
    grey = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY).astype(np.float32)
    high = grey - cv2.GaussianBlur(grey, (0, 0), 1.0)
    return float(np.mean(high.astype(np.float64) ** 2))


def sharpness_ratio(swapped_detail: Sequence[float], source_detail: Sequence[float]) -> float:
    """Detail energy of the swapped faces over the source's at the same place (1.0: as sharp as the source; a blur
    that an identity model forgives scores well below 1)."""
    return ratio_of_sums(swapped_detail, source_detail)


def flicker(swapped: Sequence[np.ndarray], source: Sequence[np.ndarray], boxes: Sequence[np.ndarray | None]) -> float:
    """Flicker of a swapped clip against its source clip (same length, consecutive frames), face boxes per frame."""
    if not (len(swapped) == len(source) == len(boxes)):
        raise ValueError("swapped, source and boxes must have one entry per frame")
    sw, src = [], []
    for t in range(1, len(source)):
        if boxes[t] is None:
            continue
        sw.append(face_motion(swapped[t - 1], swapped[t], boxes[t]))
        src.append(face_motion(source[t - 1], source[t], boxes[t]))
    return flicker_ratio(sw, src)
