"""Blend masks for pasting a face into a frame: which pixels take the new face, with a soft edge.

All work happens on a `Box` (the face's bounding box plus a margin), never on the whole frame, so the cost depends on
the face's size, not the frame's. Sizes (erode, feather) are fractions of the face's size so the same settings look
the same on a 60 px face and a 600 px one.

A mask here is a float32 alpha in [0, 1] of the box's shape: 1 takes the new face, 0 keeps the frame.
"""

from dataclasses import dataclass

import cv2
import numpy as np

# Ordered loops of the 478-point mediapipe face mesh (the same loops as its FACEMESH_FACE_OVAL and FACEMESH_LIPS
# connection sets; tests check they still match).
FACE_OVAL = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148,
             176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109]
# The inner edge of the lips: inside it is the open mouth (teeth, tongue), which a swap keeps from the target.
INNER_LIPS = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95]


@dataclass(frozen=True)
class Box:
    """An integer pixel rectangle [x0, x1) x [y0, y1) inside a frame."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    @property
    def shape(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0

    @property
    def empty(self) -> bool:
        return self.x1 <= self.x0 or self.y1 <= self.y0

    def local(self, points: np.ndarray) -> np.ndarray:
        """Frame coordinates -> coordinates inside the box."""
        return np.asarray(points, np.float32) - np.array([self.x0, self.y0], np.float32)


def face_size(landmarks: np.ndarray) -> float:
    """The face's size in pixels: the longer side of its landmarks' bounding box.

    Steadier than the inter-ocular distance when the head turns (the eyes foreshorten, the face's height does not).
    """
    span = np.ptp(np.asarray(landmarks, np.float32), axis=0)
    return float(max(span.max(), 1.0))


def face_box(landmarks: np.ndarray, frame_shape: tuple[int, ...], margin: float = 0.1) -> Box:
    """The landmarks' bounding box grown by `margin` x face size on every side, clipped to the frame."""
    points = np.asarray(landmarks, np.float32)
    pad = margin * face_size(points)
    (x0, y0), (x1, y1) = points.min(axis=0) - pad, points.max(axis=0) + pad
    height, width = frame_shape[:2]
    return Box(max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0),
               min(int(np.ceil(x1)) + 1, width), min(int(np.ceil(y1)) + 1, height))


def polygon_mask(points: np.ndarray, shape: tuple[int, int], convex: bool = False) -> np.ndarray:
    """A hard (bool) mask of a polygon in box coordinates, or of its convex hull."""
    mask = np.zeros(shape, np.uint8)
    # Fixed-point drawing keeps the sub-pixel landmark positions.
    shift = 4
    poly = np.round(np.asarray(points, np.float32) * (1 << shift)).astype(np.int32)
    if convex:
        poly = cv2.convexHull(poly)
    cv2.fillPoly(mask, [poly.reshape(-1, 1, 2)], 1, lineType=cv2.LINE_8, shift=shift)
    return mask.astype(bool)


def _distance(mask: np.ndarray) -> np.ndarray:
    """Pixels from each mask pixel to the nearest non-mask pixel (0 outside). Beyond the box's sides the mask is taken
    to go on as it is at the side, so a face cut by the frame's edge stays solid there."""
    return cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5)


def signed_distance(mask: np.ndarray) -> np.ndarray:
    """Pixels to the mask's edge: positive inside, negative outside."""
    mask = mask.astype(bool)
    return _distance(mask) - _distance(~mask)


def soft_edge(mask: np.ndarray, erode_px: float = 0.0, feather_px: float = 0.0) -> np.ndarray:
    """Alpha from a hard mask: 0 outside the mask eroded by `erode_px` (negative dilates), rising smoothly to 1 at
    `feather_px` further in. With erode_px >= 0 nothing outside the original mask gets any weight."""
    mask = mask.astype(bool)
    if erode_px >= 0:  # the ramp lies inside the mask: only distances inside matter
        distance = _distance(mask) - erode_px
    elif erode_px + feather_px <= 0:  # the ramp lies outside: only distances outside matter
        distance = -_distance(~mask) - erode_px
    else:
        distance = signed_distance(mask) - erode_px
    if feather_px <= 0:
        return (distance > 0).astype(np.float32)
    t = np.clip(distance * (1.0 / feather_px), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)  # smoothstep: no visible kink where the ramp ends


def face_mask(landmarks: np.ndarray, box: Box, erode: float = 0.0, feather: float = 0.1, keep_mouth: bool = True,
              mouth_feather: float = 0.02, polygon: np.ndarray | None = None, convex: bool = True) -> np.ndarray:
    """The alpha for pasting a face whose 478 landmarks (frame coordinates) are given, on `box`.

    The outline is the convex hull of the mesh's face oval (`convex=False`: the oval itself, which follows the jaw
    exactly), or `polygon` (frame coordinates) if given. `erode` (negative dilates) and `feather` are fractions of
    `face_size`. With `keep_mouth` the inside of the lips gets alpha 0 with a `mouth_feather` ramp outside it, so the
    target's open mouth (teeth, tongue) is never painted over.
    """
    size = face_size(landmarks)
    points = box.local(landmarks)
    outline = box.local(polygon) if polygon is not None else points[FACE_OVAL]
    alpha = soft_edge(polygon_mask(outline, box.shape, convex=convex), erode * size, feather * size)
    if keep_mouth and len(points) > max(INNER_LIPS):
        mouth = polygon_mask(points[INNER_LIPS], box.shape)
        # The mouth's ramp lies outside the inner lips, so the whole mouth interior stays the target's.
        ramp = mouth_feather * size
        alpha = np.minimum(alpha, 1.0 - soft_edge(mouth, -ramp, ramp))
    return alpha


def intersect(*alphas: np.ndarray) -> np.ndarray:
    """Pixels every mask accepts (for example the landmark mask and a model's learned mask)."""
    return np.minimum.reduce([np.asarray(a, np.float32) for a in alphas])
