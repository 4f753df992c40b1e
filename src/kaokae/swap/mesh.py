"""The face mesh as triangles, and the piecewise-affine warp of one face onto another's landmarks.

The mediapipe mesh has a fixed topology, so its triangles are worked out once: mediapipe ships the mesh only as
edges (FACEMESH_TESSELATION), and its 852 triangles are the edge triples that close (less two triples that enclose
another vertex). The mesh has holes at the eyes and the mouth; the eyes are filled here (a swap should carry the
source's eyes), the mouth is left open (the target's teeth and tongue stay).
"""

import functools
from collections import defaultdict

import cv2
import numpy as np
from mediapipe.python.solutions import face_mesh_connections
from scipy.spatial import Delaunay

from kaokae.composite import Box
from kaokae.faces.mean_face import MEAN_FACE

# The eye openings of the mesh as ordered loops (the same loops as FACEMESH_RIGHT_EYE / FACEMESH_LEFT_EYE).
RIGHT_EYE = [33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7]
LEFT_EYE = [263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249]

_SHIFT = 4  # fixed-point bits for drawing triangles at sub-pixel landmark positions


def _signed_area(corners: np.ndarray) -> np.ndarray:
    """(T,) twice the signed area of (T, 3, 2) triangles; positive is clockwise on screen (y points down)."""
    a, b, c = corners[:, 0], corners[:, 1], corners[:, 2]
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])


def _fill_loop(loop: list[int], front: np.ndarray) -> list[tuple[int, int, int]]:
    """Triangles covering a hole bounded by `loop`: Delaunay of its points in the frontal mean face, kept inside."""
    points = front[loop]
    outline = points.astype(np.float32).reshape(-1, 1, 2)
    triangles = []
    for simplex in Delaunay(points).simplices:
        centre = points[simplex].mean(0)
        if cv2.pointPolygonTest(outline, (float(centre[0]), float(centre[1])), False) > 0:
            triangles.append(tuple(loop[i] for i in simplex))
    return triangles


@functools.cache
def mesh_triangles() -> np.ndarray:
    """(T, 3) int32 vertex indices: the mesh's triangles plus the eye fills, all wound the same way (positive
    `_signed_area` when the face is seen from the front), ordered back to front so that drawing them in order
    lets the nose cover the far cheek when the head turns."""
    edges = {tuple(sorted(e)) for e in face_mesh_connections.FACEMESH_TESSELATION}
    neighbours = defaultdict(set)
    for a, b in edges:
        neighbours[a].add(b)
        neighbours[b].add(a)
    closed = {tuple(sorted((a, b, c))) for a, b in edges for c in neighbours[a] & neighbours[b]}
    front = MEAN_FACE[:, :2].astype(np.float64)
    triangles = []
    for triangle in sorted(closed):
        outline = front[list(triangle)].astype(np.float32).reshape(-1, 1, 2)
        others = (v for v in neighbours[triangle[0]] | neighbours[triangle[1]] if v not in triangle)
        # A closed triple that encloses another vertex is three faces' outline, not a face.
        if not any(cv2.pointPolygonTest(outline, (float(front[v, 0]), float(front[v, 1])), False) > 0 for v in others):
            triangles.append(triangle)
    triangles += _fill_loop(RIGHT_EYE, front) + _fill_loop(LEFT_EYE, front)
    triangles = np.array(triangles, np.int32)
    flip = _signed_area(front[triangles]) < 0
    triangles[flip] = triangles[flip][:, [0, 2, 1]]
    depth = MEAN_FACE[triangles, 2].mean(1)  # z grows away from the camera
    return triangles[np.argsort(-depth, kind="stable")]


def _affine_from_triangles(dst: np.ndarray, src: np.ndarray) -> np.ndarray:
    """(T, 2, 3) affine maps taking each (3, 2) dst triangle's corners to the src triangle's (closed form: a batched
    np.linalg.inv costs ten times more)."""
    e1, e2 = dst[:, 1] - dst[:, 0], dst[:, 2] - dst[:, 0]
    f1, f2 = src[:, 1] - src[:, 0], src[:, 2] - src[:, 0]
    det = e1[:, 0] * e2[:, 1] - e2[:, 0] * e1[:, 1]
    inv = np.stack([np.stack([e2[:, 1], -e2[:, 0]], 1), np.stack([-e1[:, 1], e1[:, 0]], 1)], 1) / det[:, None, None]
    linear = np.stack([f1, f2], axis=2) @ inv  # (T, 2, 2): [f1 f2] [e1 e2]^-1
    shift = src[:, 0] - (linear @ dst[:, 0, :, None])[..., 0]
    return np.concatenate([linear, shift[:, :, None]], axis=2)


def warp_mesh(source: np.ndarray, source_points: np.ndarray, target_points: np.ndarray,
              box: Box) -> tuple[np.ndarray, np.ndarray]:
    """The source face warped triangle by triangle onto the target's landmarks, drawn on `box` of the target frame.

    Returns (face, covered): the (h, w, 3) uint8 crop and a bool mask of the pixels some triangle covers. Triangles
    that face away in the target (the far side of a turned head) are skipped. The work is one label image (which
    triangle covers each pixel), one gather of per-triangle affine maps, and one cv2.remap: a few ms per face.
    """
    triangles = mesh_triangles()
    dst = box.local(target_points)[triangles].astype(np.float64)
    visible = _signed_area(dst) > 1e-3
    triangles, dst = triangles[visible], dst[visible]
    src = np.asarray(source_points, np.float64)[triangles]
    # Label 0 is "no triangle": its map points outside the source, which remap fills with black.
    affine = np.zeros((len(triangles) + 1, 2, 3), np.float32)
    affine[0, :, 2] = -1e4
    affine[1:] = _affine_from_triangles(dst, src)

    labels = np.zeros(box.shape, np.int32)
    corners = np.round(dst * (1 << _SHIFT)).astype(np.int32)
    for label, polygon in enumerate(corners, start=1):
        cv2.fillConvexPoly(labels, polygon, label, lineType=cv2.LINE_8, shift=_SHIFT)

    m = affine[labels]  # (h, w, 2, 3)
    ys, xs = np.indices(box.shape, dtype=np.float32)
    map_x = m[..., 0, 0] * xs + m[..., 0, 1] * ys + m[..., 0, 2]
    map_y = m[..., 1, 0] * xs + m[..., 1, 1] * ys + m[..., 1, 2]
    face = cv2.remap(source, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return face, labels > 0
