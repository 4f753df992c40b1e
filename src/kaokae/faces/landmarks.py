"""478-point landmarks: mediapipe's face-landmark model (refined eyes, lips and irises) run on a region of interest.

mediapipe's FaceMesh solution finds faces with its own short-range detector first (slow, and blind to small faces).
Here the landmark model runs as its own graph (mediapipe's `FaceLandmarkCpu` subgraph) on a rotated square we give
it: from our detector's box for a new face, from the previous frame's landmarks when tracking. That is ~3x faster
than the FaceMesh solution and works for every face in the frame, whatever its size.
"""

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
from google.protobuf import text_format
from mediapipe.framework import calculator_pb2
from mediapipe.framework.formats import rect_pb2
from mediapipe.python import solution_base

from kaokae.faces.detect import Detection, Solution

MESH_POINTS = 478  # 468 mesh points + 2 x 5 iris points (refine_landmarks=True)
MODEL_INPUT = 192  # the landmark model sees the region of interest at 192x192
# mediapipe pads a face box (or the landmarks' box) by this much to make the region of interest.
ROI_SCALE = 1.5

# Named points of the mesh ("right" and "left" are the subject's: the subject's right eye is on the image's left).
RIGHT_EYE_OUTER, RIGHT_EYE_INNER, LEFT_EYE_INNER, LEFT_EYE_OUTER = 33, 133, 362, 263
RIGHT_IRIS, LEFT_IRIS = 468, 473  # iris centres (refined points)
NOSE_TIP, CHIN, FOREHEAD = 1, 152, 10
MOUTH_RIGHT, MOUTH_LEFT = 61, 291

# The classic 68-point layout (iBUG 300-W, as dlib's shape_predictor_68 uses) as mesh indices, in 68-point order:
#   0-16 jaw from the subject's right ear to left ear, 17-21 right brow, 22-26 left brow, 27-30 nose bridge,
#   31-35 nose base, 36-41 right eye, 42-47 left eye, 48-59 outer lips, 60-67 inner lips.
# Chosen by measurement: on 85 real faces (deepface, knn and openface images) each entry is the mesh vertex nearest
# dlib's point on average, kept left/right symmetric, with the true eye corners (133, 362) for 39 and 42. Mean distance
# to dlib's points: 0.05 of the inter-ocular distance (eyes, nose and lips 0.02-0.04; brows 0.04-0.08; the jaw
# 0.06-0.12, because the 68 layout's jaw points slide along the silhouette with head pose and the mesh's do not).
MESH_TO_68 = np.array([
    127, 234, 177, 215, 172, 136, 149, 148, 152, 377, 378, 365, 397, 435, 401, 454, 356,  # jaw
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
    landmarks = np.asarray(landmarks)[:, :2]
    return np.concatenate([landmarks.min(0), landmarks.max(0)]).astype(np.float32)


def roll_angle(right_eye: np.ndarray, left_eye: np.ndarray) -> float:
    """In-plane rotation (radians, clockwise on screen) of the line from the subject's right eye to the left eye."""
    dx, dy = np.asarray(left_eye, np.float64)[:2] - np.asarray(right_eye, np.float64)[:2]
    return float(np.arctan2(dy, dx))


@dataclass
class Roi:
    """A rotated square in frame pixels: where the landmark model looks."""

    center: np.ndarray  # (2,) x, y
    side: float
    angle: float  # radians, the face's roll

    @classmethod
    def from_detection(cls, detection: Detection) -> "Roi":
        box = detection.box
        side = ROI_SCALE * float(max(box[2] - box[0], box[3] - box[1]))
        return cls((box[:2] + box[2:]) / 2, side, roll_angle(detection.keypoints[0], detection.keypoints[1]))

    @classmethod
    def from_landmarks(cls, landmarks: np.ndarray) -> "Roi":
        """mediapipe's tracking ROI: the landmarks' box in the face's upright frame, padded, rotated back."""
        points = np.asarray(landmarks, np.float64)[:, :2]
        angle = roll_angle(points[RIGHT_EYE_OUTER], points[LEFT_EYE_OUTER])
        c, s = np.cos(angle), np.sin(angle)
        to_upright = np.array([[c, s], [-s, c]])
        upright = points @ to_upright.T
        lo, hi = upright.min(0), upright.max(0)
        center = ((lo + hi) / 2) @ to_upright  # the inverse of a rotation is its transpose
        return cls(center, ROI_SCALE * float((hi - lo).max()), angle)


_GRAPH = """
input_stream: "IMAGE:image"
input_stream: "ROI:roi"
output_stream: "LANDMARKS:face_landmarks"
node {
  calculator: "FaceLandmarkCpu"
  input_stream: "IMAGE:image"
  input_stream: "ROI:roi"
  input_side_packet: "WITH_ATTENTION:with_attention"
  output_stream: "LANDMARKS:face_landmarks"
}
"""


class Landmarker(Protocol):
    """What the finder and the tracker ask of a landmark model (FaceMesh here; another backend implements it)."""

    def run(self, rgb: np.ndarray, roi: Roi, depth: bool = False) -> np.ndarray | None: ...

    def close(self) -> None: ...


class FaceMesh:
    """478 landmarks of the face inside a region of interest, or None when the model sees no face there (its face
    presence score is under 0.5): that is also how a detector's false positive or a lost track shows up."""

    def __init__(self):
        graph = text_format.Parse(_GRAPH, calculator_pb2.CalculatorGraphConfig())
        self._mp = Solution(lambda: solution_base.SolutionBase(
            graph_config=graph, side_inputs={"with_attention": True}, outputs=["face_landmarks"],
            stream_type_hints={"roi": solution_base.PacketDataType.PROTO}))

    def run(self, rgb: np.ndarray, roi: Roi, depth: bool = False) -> np.ndarray | None:
        """(478, 2) float32 frame-pixel landmarks, or (478, 3) with `depth`: the mesh's relative depth in frame
        pixels (larger is farther from the camera)."""
        height, width = rgb.shape[:2]
        # Hand mediapipe only a square patch around the ROI (copying a whole 1080p frame into a packet costs more
        # than the model). Square, padded with black where it leaves the frame, because mediapipe maps a rotated
        # ROI's landmarks back correctly only in a square image; shrunk when the face is large, so the model's
        # bilinear sampling does not alias.
        side = int(np.ceil(roi.side * 1.4143)) + 4  # the rotated square fits whatever its angle
        x0, y0 = int(np.floor(roi.center[0] - side / 2)), int(np.floor(roi.center[1] - side / 2))
        inside_x0, inside_y0 = max(x0, 0), max(y0, 0)
        inside_x1, inside_y1 = min(x0 + side, width), min(y0 + side, height)
        if inside_x1 - inside_x0 < 2 or inside_y1 - inside_y0 < 2:
            return None
        patch = rgb[inside_y0:inside_y1, inside_x0:inside_x1]
        if patch.shape[:2] != (side, side):
            patch = cv2.copyMakeBorder(patch, inside_y0 - y0, y0 + side - inside_y1, inside_x0 - x0,
                                       x0 + side - inside_x1, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        if roi.side > 2 * MODEL_INPUT:
            shrunk = max(2, round(side * 2 * MODEL_INPUT / roi.side))
            patch = cv2.resize(patch, (shrunk, shrunk), interpolation=cv2.INTER_AREA)
        rect = rect_pb2.NormalizedRect(x_center=(roi.center[0] - x0) / side, y_center=(roi.center[1] - y0) / side,
                                       width=roi.side / side, height=roi.side / side, rotation=roi.angle)
        result = self._mp.process({"image": np.ascontiguousarray(patch), "roi": rect}).face_landmarks
        if result is None:
            return None
        # Normalised patch coordinates; the patch is `side` frame pixels square whatever it was resized to.
        points = np.array([(p.x, p.y, p.z) for p in result.landmark], np.float64) * side
        points[:, 0] += x0
        points[:, 1] += y0
        return (points if depth else points[:, :2]).astype(np.float32)

    def close(self) -> None:
        self._mp.close()
