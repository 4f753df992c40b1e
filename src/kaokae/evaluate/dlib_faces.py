"""dlib's face models: the evaluator's eyes. They are independent of the mediapipe models that make every kaokae
swap (BlazeFace finds the face, the face mesh places it), so a swap cannot score well merely by pleasing the
models that produced it.

- HOG + linear SVM frontal face detector (compiled into dlib),
- the 68-point shape predictor (iBUG 300-W layout),
- the ResNet 128-D face embedding (99.38% on LFW; same person below ~0.6).

The two model files ship inside the face_recognition_models package (found by `kaokae.faces.identity.models_dir`).
"""

import functools
from dataclasses import dataclass

import cv2
import dlib
import numpy as np

from kaokae.errors import KaokaeError
from kaokae.faces.identity import models_dir

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
ENCODER_FILE = "dlib_face_recognition_resnet_model_v1.dat"
DETECT_SIDE = 1024  # px: larger photos are searched downscaled to this


def _model_path(name: str) -> str:
    path = models_dir() / name
    if not path.is_file():
        raise KaokaeError(f"dlib model missing: {path} (reinstall face-recognition-models==0.3.0)")
    return str(path)


@functools.cache
def _detector():
    return dlib.get_frontal_face_detector()


@functools.cache
def _predictor():
    return dlib.shape_predictor(_model_path(PREDICTOR_FILE))


@functools.cache
def _encoder():
    return dlib.face_recognition_model_v1(_model_path(ENCODER_FILE))


@dataclass
class DlibFace:
    box: np.ndarray  # (4,) float32 x0, y0, x1, y1 in image pixels
    landmarks: np.ndarray  # (68, 2) float32, iBUG 300-W order, image pixels
    embedding: np.ndarray | None  # (128,) float32, or None when not asked for


def detect(rgb: np.ndarray, upsample: int | None = None) -> list[np.ndarray]:
    """Face boxes (x0, y0, x1, y1) in `rgb`'s pixels, largest first.

    HOG's window is 80 px, so faces smaller than that need the image upsampled; by default a second pass with one
    doubling runs only when the first finds nothing (it costs four times as much). Photos larger than
    DETECT_SIDE are searched at that size (HOG's cost grows with the pixels; the doubling pass still finds their
    small faces).
    """
    rgb = np.ascontiguousarray(rgb)
    scale = min(1.0, DETECT_SIDE / max(rgb.shape[:2]))
    small = rgb if scale == 1.0 else cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    passes = [upsample] if upsample is not None else [0, 1]
    rects = []
    for times in passes:
        rects = _detector()(small, times)
        if len(rects):
            break
    boxes = [np.array([r.left(), r.top(), r.right(), r.bottom()], np.float32) / scale for r in rects]
    return sorted(boxes, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))


def _rect(box: np.ndarray) -> dlib.rectangle:
    x0, y0, x1, y1 = (int(round(float(v))) for v in box)
    return dlib.rectangle(x0, y0, x1, y1)


def measure(rgb: np.ndarray, box: np.ndarray, with_embedding: bool = True) -> DlibFace:
    """68 landmarks (and the 128-D embedding) of the face in `box`."""
    rgb = np.ascontiguousarray(rgb)
    shape = _predictor()(rgb, _rect(box))
    landmarks = np.array([[p.x, p.y] for p in shape.parts()], np.float32)
    embedding = None
    if with_embedding:
        # The encoder aligns its own 150 px chip from these landmarks.
        embedding = np.array(_encoder().compute_face_descriptor(rgb, shape), np.float32)
    return DlibFace(np.asarray(box, np.float32), landmarks, embedding)


def embed_largest_face(rgb: np.ndarray, whole_image_fallback: bool = False) -> np.ndarray | None:
    """Embedding of the largest face in a photo (None when there is none).

    whole_image_fallback: treat the whole image as the face box when HOG finds nothing, for tightly cropped
    aligned faces (a faceset's PNGs) where the face fills the frame and HOG's window does not fit.
    """
    boxes = detect(rgb)
    if not boxes:
        if not whole_image_fallback:
            return None
        h, w = rgb.shape[:2]
        boxes = [np.array([0.1 * w, 0.1 * h, 0.9 * w, 0.9 * h], np.float32)]
    return measure(rgb, boxes[0]).embedding
