"""Face geometry every stage shares: detection, 478-point landmarks, alignment, tracking, identity, head pose.

    from kaokae.faces import Face, FaceFinder, align_matrix, warp_face, transform_points, MESH_TO_68

    with FaceFinder(max_faces=10) as finder:
        for face in finder.find(rgb):                            # every face: box, score, (478, 2) landmarks
            matrix = align_matrix(face.landmarks, 256, "face")   # (2, 3) frame -> aligned face
            aligned = warp_face(rgb, matrix, 256)

Video: `FaceTracker(finder).update(rgb)` per frame -> [TrackedFace(track_id, face, raw_landmarks)].
Identity: `IdentityEncoder().embed(rgb, face)` -> (128,); `identity_distance(a, b) < DEFAULT_THRESHOLD` is the same person.
Head pose: `head_pose(face.landmarks, (width, height))` -> (yaw, pitch, roll) degrees.
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
from kaokae.faces.identity import DEFAULT_THRESHOLD, IdentityEncoder, identity_distance
from kaokae.faces.landmarks import MESH_POINTS, MESH_TO_68
from kaokae.faces.pose import head_pose
from kaokae.faces.track import FaceTracker, OneEuroFilter, TrackedFace

__all__ = [
    "CENTERINGS", "DEFAULT_THRESHOLD", "DETECTORS", "MESH_POINTS", "MESH_TO_68", "Face", "FaceFinder", "FaceTracker",
    "IdentityEncoder", "OneEuroFilter", "TrackedFace", "align_matrix", "canonical_points", "head_pose",
    "identity_distance", "sharpness", "transform_points", "warp_face",
]
