"""478-point landmarks: mediapipe's face mesh with refined eyes and lips, run on a crop around one face.

Running the mesh on a crop per face (rather than once on the whole frame) is what makes every face work: the mesh's own
detector sees the face large whatever its size in the frame, and several faces need no special handling.
"""

import numpy as np

# kaokae.faces.detect sets mediapipe's log level before importing it.
from kaokae.faces.detect import crop, mp, square_crop_matrix

MESH_POINTS = 478  # 468 mesh points + 2 x 5 iris points (refine_landmarks=True)
CROP_SIZE = 256  # the crop the mesh sees; its own models run at 128 (detector) and 192 (mesh)

# Named points of the mesh ("right" and "left" are the subject's: the subject's right eye is on the image's left).
RIGHT_EYE_OUTER, RIGHT_EYE_INNER, LEFT_EYE_INNER, LEFT_EYE_OUTER = 33, 133, 362, 263
RIGHT_IRIS, LEFT_IRIS = 468, 473  # iris centres (refined points)
NOSE_TIP, CHIN, FOREHEAD = 1, 152, 10
MOUTH_RIGHT, MOUTH_LEFT = 61, 291

# The classic 68-point layout (iBUG 300-W, as dlib's shape_predictor_68 uses) as mesh indices, in 68-point order:
#   0-16 jaw from the subject's right ear to left ear, 17-21 right brow, 22-26 left brow, 27-30 nose bridge,
#   31-35 nose base, 36-41 right eye, 42-47 left eye, 48-59 outer lips, 60-67 inner lips.
# Each entry is the mesh vertex nearest that point on average; the 68 layout's jaw points slide along the jaw with
# head pose, the mesh's do not, so the jaw is the least exact part (see tests/test_faces.py for the measured error).
MESH_TO_68 = np.array([
    162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389,  # jaw
    70, 63, 105, 66, 107,  # right brow
    336, 296, 334, 293, 300,  # left brow
    168, 197, 5, 4,  # nose bridge
    75, 97, 2, 326, 305,  # nose base
    33, 160, 158, 133, 153, 144,  # right eye
    362, 385, 387, 263, 373, 380,  # left eye
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,  # outer lips
    78, 82, 13, 312, 308, 317, 14, 87,  # inner lips
], dtype=np.int64)


def landmark_box(landmarks: np.ndarray) -> np.ndarray:
    """(4,) float32 x0, y0, x1, y1: the landmarks' bounding box."""
    return np.concatenate([landmarks.min(0), landmarks.max(0)]).astype(np.float32)


class FaceMesh:
    """mediapipe FaceMesh on a square crop around one face; returns the landmarks of the face at the crop's centre."""

    def __init__(self, static: bool = True, min_score: float = 0.5):
        self.static = static
        # Up to 3 faces per crop so that a neighbour inside the crop cannot take the place of the face we want.
        self._mp = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=static, max_num_faces=3 if static else 1, refine_landmarks=True,
            min_detection_confidence=min_score, min_tracking_confidence=min_score)

    def run(self, rgb: np.ndarray, center: np.ndarray, side: float, angle: float = 0.0,
            expect_box: np.ndarray | None = None, depth: bool = False) -> np.ndarray | None:
        """(478, 2) float32 frame-pixel landmarks of the face centred in the square crop, or None.

        `expect_box` (frame pixels), when given, must contain the found face's centre: a crop that holds only some
        other face (a detector false positive beside a real face) then yields nothing. `depth` adds the mesh's
        relative depth as a third column (frame pixels, smaller is nearer the camera).
        """
        matrix = square_crop_matrix(center, side, CROP_SIZE, angle)
        result = self._mp.process(crop(rgb, matrix, CROP_SIZE))
        if not result.multi_face_landmarks:
            return None
        candidates = [np.array([(p.x, p.y, p.z) for p in f.landmark], np.float64) * CROP_SIZE
                      for f in result.multi_face_landmarks]
        # The face we want is the one nearest the crop's centre.
        best = min(candidates, key=lambda pts: np.linalg.norm(pts[:, :2].mean(0) - CROP_SIZE / 2))
        inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]
        points = best[:, :2] @ inverse[:, :2].T + inverse[:, 2]
        if expect_box is not None:
            cx, cy = points.mean(0)
            x0, y0, x1, y1 = expect_box
            if not (x0 <= cx <= x1 and y0 <= cy <= y1):
                return None
        if depth:
            points = np.column_stack([points, best[:, 2] * side / CROP_SIZE])
        return points.astype(np.float32)

    def close(self) -> None:
        self._mp.close()
