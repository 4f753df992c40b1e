"""Where a face goes between the frame, the faceset's aligned square and the model's square, and back.

Matrices are 2x3 affine, frame -> square, in OpenCV's pixel-centre convention (pixel (0, 0) covers [-0.5, 0.5]).
The model sees the faceset-sized aligned face resized to its own size with `cv2.resize`, so going from the faceset
square (S px) to the model square (s px) is x' = (x + 0.5) * s / S - 0.5, not a plain scale: a plain scale would put
every pasted face a fraction of a pixel off.
"""

import cv2
import numpy as np

from kaokae.composite import Box
from kaokae.faces import warp_face


def resize_matrix(from_size: int, to_size: int) -> np.ndarray:
    """2x3: pixel coordinates of a from_size square -> those of the same square resized to to_size by cv2.resize."""
    s = to_size / from_size
    return np.array([[s, 0.0, 0.5 * s - 0.5], [0.0, s, 0.5 * s - 0.5]])


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The 2x3 matrix that applies `inner` first, then `outer`."""
    return (np.vstack([outer, [0, 0, 1]]) @ np.vstack([inner, [0, 0, 1]]))[:2]


def model_input(frame: np.ndarray, matrix: np.ndarray, face_size: int, model_size: int) -> np.ndarray:
    """The face as the model was trained on it: warped as extract warps it (face_size px), then resized the way
    training resized the faceset's faces."""
    aligned = warp_face(frame, matrix, face_size)
    if model_size == face_size:
        return aligned
    interpolation = cv2.INTER_AREA if model_size < face_size else cv2.INTER_CUBIC
    return cv2.resize(aligned, (model_size, model_size), interpolation=interpolation)


def paste_box(matrix: np.ndarray, size: int, frame_shape: tuple[int, ...]) -> Box:
    """The frame pixels the aligned square (frame -> square `matrix`, `size` px) covers, clipped to the frame."""
    corners = np.array([[-0.5, -0.5], [size - 0.5, -0.5], [size - 0.5, size - 0.5], [-0.5, size - 0.5]])
    back = cv2.invertAffineTransform(matrix)
    points = corners @ back[:, :2].T + back[:, 2]
    (x0, y0), (x1, y1) = points.min(0), points.max(0)
    height, width = frame_shape[:2]
    return Box(max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0),
               min(int(np.ceil(x1)) + 1, width), min(int(np.ceil(y1)) + 1, height))


def warp_back(square: np.ndarray, matrix: np.ndarray, box: Box, border: int = cv2.BORDER_REPLICATE,
              interpolation: int = cv2.INTER_CUBIC) -> np.ndarray:
    """A square image (frame -> square `matrix`) warped back onto the frame pixels of `box`, as a crop of its shape.
    Only the box is computed, so the cost follows the face's size, not the frame's."""
    to_box = compose(np.array([[1.0, 0, -box.x0], [0, 1.0, -box.y0]]), cv2.invertAffineTransform(matrix))
    height, width = box.shape
    return cv2.warpAffine(square, to_box, (width, height), flags=interpolation, borderMode=border)


def coverage(matrix: np.ndarray, size: int, box: Box, inset: float = 2.0) -> np.ndarray:
    """Bool mask of the box's pixels that lie inside the aligned square at least `inset` square pixels from its
    edge: outside it the model said nothing, and near the edge the warp's interpolation reads the border."""
    to_square = compose(matrix, np.array([[1.0, 0, box.x0], [0, 1.0, box.y0]]))
    height, width = box.shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    u = to_square[0, 0] * xs + to_square[0, 1] * ys + to_square[0, 2]
    v = to_square[1, 0] * xs + to_square[1, 1] * ys + to_square[1, 2]
    low, high = inset - 0.5, size - 0.5 - inset
    return (u >= low) & (u <= high) & (v >= low) & (v <= high)
