"""Face geometry every stage shares: detection, 478-point landmarks, alignment, tracking, identity, head pose.

    from kaokae.faces import Face, FaceFinder, align_matrix, warp_face, transform_points, MESH_TO_68

    with FaceFinder(max_faces=10) as finder:
        for face in finder.find(rgb):                     # every face: box, score, (478, 2) landmarks
            matrix = align_matrix(face.landmarks, 256, "face")   # (2, 3) frame -> aligned face
            aligned = warp_face(rgb, matrix, 256)
"""

from kaokae.faces.align import (
    CENTERINGS,
    align_matrix,
    canonical_points,
    sharpness,
    transform_points,
    warp_face,
)
from kaokae.faces.detect import DETECTORS
from kaokae.faces.finder import Face, FaceFinder
from kaokae.faces.landmarks import MESH_POINTS, MESH_TO_68

__all__ = [
    "CENTERINGS", "DETECTORS", "MESH_POINTS", "MESH_TO_68", "Face", "FaceFinder", "align_matrix", "canonical_points",
    "sharpness", "transform_points", "warp_face",
]
