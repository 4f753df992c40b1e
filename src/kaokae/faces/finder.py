"""FaceFinder: every face in one image, detected and landmarked."""

from dataclasses import dataclass

import numpy as np

from kaokae.faces.detect import Detection, MultiPassDetector
from kaokae.faces.landmarks import FaceMesh, landmark_box

# The crop the mesh runs on is this many times the detector's box (which spans roughly brows to mouth): the mesh's
# own detector wants the face at about a third to a half of its input.
CROP_SCALE = 2.2


@dataclass
class Face:
    box: np.ndarray  # (4,) float32 x0, y0, x1, y1 in frame pixels: the landmarks' bounding box
    score: float  # detector confidence
    landmarks: np.ndarray  # (478, 2) float32 mediapipe face-mesh points (refined eyes/lips) in frame pixels

    @property
    def size(self) -> float:
        """The face's size in pixels: the longer side of its box (what --min-size compares with)."""
        return float(max(self.box[2] - self.box[0], self.box[3] - self.box[1]))


def roll_from_eyes(right_eye: np.ndarray, left_eye: np.ndarray) -> float:
    """In-plane rotation (radians) of the line from the subject's right eye (image left) to the left eye."""
    dx, dy = np.asarray(left_eye, np.float64) - np.asarray(right_eye, np.float64)
    return float(np.arctan2(dy, dx))


class FaceFinder:
    """Every face in an RGB image: multi-pass BlazeFace detection, then 478 landmarks per face on an upright crop.

    max_faces: keep at most this many (the highest-scoring); min_size: drop faces smaller than this (pixels, the
    longer side of the landmarks' box); min_score: detector confidence threshold; detector: "auto", "short" or "full"
    (see `kaokae.faces.detect.MultiPassDetector`).
    """

    def __init__(self, max_faces: int = 10, min_size: float = 0.0, min_score: float = 0.5, detector: str = "auto"):
        self.max_faces = max_faces
        self.min_size = min_size
        self.min_score = min_score
        self.detector = MultiPassDetector(detector, min_score)
        self.mesh = FaceMesh(static=True)

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        return self.detector.detect(rgb)

    def landmarks_for(self, rgb: np.ndarray, detection: Detection, depth: bool = False) -> np.ndarray | None:
        """478 landmarks for one detection, or None when the mesh finds no face there (a detector false positive)."""
        box = detection.box
        center = (box[:2] + box[2:]) / 2
        side = CROP_SCALE * float(max(box[2] - box[0], box[3] - box[1]))
        angle = roll_from_eyes(detection.keypoints[0], detection.keypoints[1])
        return self.mesh.run(rgb, center, side, angle, expect_box=box, depth=depth)

    def find(self, rgb: np.ndarray) -> list[Face]:
        """Every face, largest score first, at most max_faces."""
        faces = []
        for detection in self.detect(rgb):
            landmarks = self.landmarks_for(rgb, detection)
            if landmarks is None:
                continue
            face = Face(landmark_box(landmarks), detection.score, landmarks)
            if face.size >= self.min_size:
                faces.append(face)
        faces.sort(key=lambda f: -f.score)
        return faces[: self.max_faces]

    def close(self) -> None:
        self.detector.close()
        self.mesh.close()

    def __enter__(self) -> "FaceFinder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
