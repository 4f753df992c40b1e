"""A's expression on the learned face (`convert --follow-expression S`).

A model trained for minutes draws B with a softened copy of A's expression: the mouth opens less, the eyes and
brows move less, so dlib's landmarks on the swap stray from A's (docs/benchmarks.md). The landmark model finds the
mesh again on the learned face where it will be pasted, and the learned face is warped triangle by triangle
(kaokae.swap.mesh) so that its eyes, brows, nose and lips move part of the way (all of it moves B's own proportions
onto A's too, and costs identity) towards A's. The face's outline stays where it was drawn (it is where the blend
mask fades), so only the inner features move; the offset is smoothed along each track, so the landmark model's own
jitter on a soft face does not become flicker.
"""

import numpy as np

from kaokae.composite import FACE_OVAL, Box, face_size, feather_blend, soft_edge
from kaokae.faces.landmarks import FaceMesh, Landmarker, Roi
from kaokae.swap.mesh import warp_mesh

# An offset larger than this (a share of the face's size, on average over the mesh) is the landmark model losing
# the face, not an expression: the face is left as drawn.
MAX_OFFSET = 0.08


class ExpressionWarp:
    """Moves the learned face's features `strength` of the way onto A's landmarks (1: exactly onto them);
    `smoothing` is the previous frames' share of a track's offset (0: each frame on its own). `landmarker`: one the
    caller keeps open and uses in this thread only (the UI's previews), else one of its own."""

    def __init__(self, strength: float = 1.0, smoothing: float = 0.5, landmarker: Landmarker | None = None):
        self.owned = landmarker is None
        self.mesh = landmarker or FaceMesh()
        self.strength = strength
        self.smoothing = smoothing
        self.offsets: dict[object, np.ndarray] = {}

    def apply(self, face: np.ndarray, alpha: np.ndarray, frame: np.ndarray, landmarks: np.ndarray, box: Box,
              key: object = None) -> np.ndarray:
        """`face`: the learned face warped back onto `box` of `frame` (uint8), `alpha` its blend mask there;
        `landmarks`: A's 478 points. Returns the face with its features moved towards A's (as it was when the
        landmark model finds no face on it)."""
        drawn = self._landmarks_of(face, alpha, frame, landmarks, box)
        if drawn is None:
            return face
        offset = np.asarray(landmarks, np.float32) - drawn
        offset[FACE_OVAL] = 0.0
        if np.linalg.norm(offset, axis=1).mean() > MAX_OFFSET * face_size(landmarks):
            return face
        previous = self.offsets.get(key) if key is not None else None
        if previous is not None:
            offset = self.smoothing * previous + (1 - self.smoothing) * offset
        if key is not None:
            self.offsets[key] = offset
        warped, covered = warp_mesh(face, box.local(drawn), drawn + self.strength * offset, box)
        # a soft edge where the mesh ends (the mouth's opening, the far side of a turned head)
        weight = soft_edge(covered, 0.0, 0.02 * face_size(landmarks))
        return feather_blend(face, warped, weight)

    def _landmarks_of(self, face: np.ndarray, alpha: np.ndarray, frame: np.ndarray, landmarks: np.ndarray,
                      box: Box) -> np.ndarray | None:
        """The mesh of the learned face as it will look pasted: the landmark model sees the frame around A's face
        with the learned face blended in (on a copy of the landmark model's region only)."""
        roi = Roi.from_landmarks(landmarks)
        half = roi.side * 0.71 + 3  # the landmark model's square patch fits in this, whatever the ROI's angle
        height, width = frame.shape[:2]
        region = Box(max(int(roi.center[0] - half), 0), max(int(roi.center[1] - half), 0),
                     min(int(roi.center[0] + half) + 1, width), min(int(roi.center[1] + half) + 1, height))
        view = frame[region.slices].copy()
        x0, y0, x1, y1 = max(box.x0, region.x0), max(box.y0, region.y0), min(box.x1, region.x1), min(box.y1, region.y1)
        if x1 <= x0 or y1 <= y0:
            return None
        inner = (slice(y0 - box.y0, y1 - box.y0), slice(x0 - box.x0, x1 - box.x0))
        into = (slice(y0 - region.y0, y1 - region.y0), slice(x0 - region.x0, x1 - region.x0))
        view[into] = feather_blend(view[into], face[inner], alpha[inner])
        origin = np.array([region.x0, region.y0], np.float32)
        found = self.mesh.run(view, Roi(roi.center - origin, roi.side, roi.angle))
        return None if found is None else found + origin

    def forget_except(self, keys) -> None:
        """Drop the offsets of tracks that ended."""
        keys = set(keys)
        for key in [k for k in self.offsets if k not in keys]:
            del self.offsets[key]

    def close(self) -> None:
        if self.owned:
            self.mesh.close()
