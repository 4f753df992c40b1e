"""One swapped face back into its frame: warp the model's output back with the inverse matrix (only over the face's
box), build the blend mask, correct the colour inside it, blend. Every step works on the box, so a 4K frame costs
what its faces cost."""

from dataclasses import dataclass

import cv2
import numpy as np

from kaokae.composite import (
    TableSmoother,
    blend,
    correct_colour,
    face_size,
    intersect,
    soft_edge,
)
from kaokae.composite.options import CompositeOptions
from kaokae.convert.geometry import compose, coverage, paste_box, resize_matrix, warp_back
from kaokae.convert.masks import MASKS, MaskInputs


@dataclass
class PasteOptions(CompositeOptions):
    """How a face is pasted: the composite options (erode, feather, colour, blend) with the convert's mask."""

    mask: str = "both"  # a name in MASKS (convert resolves ConvertOptions.mask's None to one)
    keep_mouth: bool = False  # keep the frame's own open mouth (teeth, tongue) instead of the model's


def model_matrix(matrix: np.ndarray, face_size: int, model_size: int) -> np.ndarray:
    """frame -> model square, from the frame -> faceset square matrix."""
    return compose(resize_matrix(face_size, model_size), matrix)


def paste_face(frame: np.ndarray, landmarks: np.ndarray, matrix: np.ndarray, face: np.ndarray,
               learned_mask: np.ndarray | None, options: PasteOptions, smoother: TableSmoother | None = None,
               key: object = None, alpha_out: np.ndarray | None = None, detail=None, expression=None) -> None:
    """Blend `face` (the model's (s, s, 3) uint8 output) into `frame` in place.

    matrix: frame -> model square (s px); landmarks: the frame face's 478 points; learned_mask: (s, s) float or
    None. Pixels outside the mask keep their exact values. `alpha_out` (frame-sized float32), when given, receives
    the blend mask (for previews). `expression` (a kaokae.convert.expression.ExpressionWarp) moves the face's
    features onto A's landmarks, then `detail` (a kaokae.convert.detail.ClassicDetail) adds B's fine detail there.
    """
    size = face.shape[0]
    box = paste_box(matrix, size, frame.shape)
    if box.empty:
        return
    background = frame[box.slices]
    px = face_size(landmarks)
    inside_square = coverage(matrix, size, box)
    # The model only says something inside its square: fade out towards the square's edge rather than cut there.
    alpha = soft_edge(inside_square, 0.0, options.feather * px)
    mask = MASKS.get(options.mask)()
    if mask.learned and learned_mask is None:
        raise ValueError("this model has no learned mask")

    def learned() -> np.ndarray:
        return warp_back(learned_mask.astype(np.float32), matrix, box, cv2.BORDER_CONSTANT, cv2.INTER_LINEAR)

    alpha = intersect(alpha, mask.alpha(MaskInputs(landmarks, box, learned, options.erode, options.feather,
                                                   options.keep_mouth, px)))
    if not (alpha > 0).any():
        return
    new_face = warp_back(face, matrix, box)
    new_face = correct_colour(new_face, background, alpha, options.colour, smoother, key)
    if expression is not None:
        new_face = expression.apply(new_face, alpha, frame, landmarks, box, key)
    if detail is not None:
        model_pixel = 1.0 / np.sqrt(abs(np.linalg.det(matrix[:, :2])))  # frame pixels per model pixel
        new_face = detail.apply(new_face, background, landmarks, box, frame.shape, model_pixel, key)
    frame[box.slices] = blend(background, new_face, alpha, options.blend)
    if alpha_out is not None:
        alpha_out[box.slices] = np.maximum(alpha_out[box.slices], alpha)
