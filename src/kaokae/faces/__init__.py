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

from kaokae import lazy

# mediapipe and dlib load on first use, not when the CLI starts or reads the option definitions (kaokae.faces.options)
__getattr__, __all__ = lazy.exports("kaokae.faces", {
    "align": ["CENTERINGS", "align_matrix", "canonical_points", "sharpness", "transform_points", "warp_face"],
    "detect": ["DETECTORS"],
    "finder": ["Face", "FaceFinder"],
    "identity": ["DEFAULT_THRESHOLD", "IdentityEncoder", "identity_distance"],
    "landmarks": ["MESH_POINTS", "MESH_TO_68"],
    "pose": ["head_pose"],
    "track": ["FaceTracker", "OneEuroFilter", "TrackedFace", "face_stream"],
})
