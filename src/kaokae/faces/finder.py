"""FaceFinder: every face in one image, detected and landmarked."""

from dataclasses import dataclass

import numpy as np

from kaokae.errors import KaokaeError
from kaokae.faces.detect import Detection, Detector, MultiPassDetector
from kaokae.faces.landmarks import FaceMesh, Landmarker, Roi, landmark_box


def check_detection(max_faces: int, min_size: float, min_score: float) -> None:
    """The detection options' ranges (extract and convert check them before any work; FaceFinder again)."""
    if not max_faces >= 1:
        raise KaokaeError(f"the maximum number of faces per frame must be 1 or more, not {max_faces}")
    if not 0 <= min_size <= 100_000:
        raise KaokaeError(f"the minimum face size must be 0 or more pixels, not {min_size}")
    if not 0 <= min_score <= 1:
        raise KaokaeError(f"the detector confidence threshold must be between 0 and 1, not {min_score}")


@dataclass
class Face:
    box: np.ndarray  # (4,) float32 x0, y0, x1, y1 in frame pixels: the landmarks' bounding box
    score: float  # detector confidence
    landmarks: np.ndarray  # (478, 2) float32 mediapipe face-mesh points (refined eyes/lips) in frame pixels

    @property
    def size(self) -> float:
        """The face's size in pixels: the longer side of its box (what --min-size compares with)."""
        return float(max(self.box[2] - self.box[0], self.box[3] - self.box[1]))


class FaceFinder:
    """Every face in an RGB image: multi-pass BlazeFace detection, then 478 landmarks per face from the landmark
    model run on the face's own (rotated) region, which also drops detector false positives.

    max_faces: keep at most this many (the highest-scoring); min_size: drop faces smaller than this (pixels, the
    longer side of the landmarks' box); min_score: detector confidence threshold; detector: "auto", "short" or "full"
    (see `kaokae.faces.detect.MultiPassDetector`), or any `Detector`; landmarker: any `Landmarker` (default the
    478-point FaceMesh). The finder and the tracker use only these two interfaces.
    """

    def __init__(self, max_faces: int = 10, min_size: float = 0.0, min_score: float = 0.5,
                 detector: str | Detector = "auto", landmarker: Landmarker | None = None):
        check_detection(max_faces, min_size, min_score)
        self.max_faces = max_faces
        self.min_size = min_size
        self.min_score = min_score
        self.detector: Detector = (MultiPassDetector(detector, min_score, min_face=min_size)
                                   if isinstance(detector, str) else detector)
        self.landmarker: Landmarker = landmarker or FaceMesh()

    @property
    def mesh(self) -> Landmarker:
        return self.landmarker

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Detections only (boxes, scores, 6 keypoints), best first; `find` adds the landmarks."""
        return self.detector.detect(rgb)

    def landmarks_for(self, rgb: np.ndarray, detection: Detection, depth: bool = False) -> np.ndarray | None:
        """478 landmarks for one detection, or None when the mesh sees no face there (a detector false positive).

        A second pass from the first pass's landmarks frames the face the way tracking does, so a face found in a
        photo and the same face tracked in video get the same landmarks.
        """
        landmarks = self.landmarker.run(rgb, Roi.from_detection(detection))
        if landmarks is None:
            return None
        return self.landmarker.run(rgb, Roi.from_landmarks(landmarks), depth=depth)

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
        self.landmarker.close()

    def __enter__(self) -> "FaceFinder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
