"""Head pose (yaw, pitch, roll) from dlib's 68 landmarks: cv2.solvePnP against the project's 3-D mean face.

The 3-D points are `kaokae.faces`' measured mean face (x right, y down, z away from the camera; frontal and upright)
at the 68-point layout's positions (`MESH_TO_68`). It is a fixed table of numbers, so nothing at run time depends on
the mediapipe model that measured it: the 2-D points come from dlib. A face looking straight at the camera has zero
yaw, pitch and roll.
"""

import cv2
import numpy as np

from kaokae.faces import MESH_TO_68
from kaokae.faces.mean_face import MEAN_FACE

MEAN_FACE_68 = MEAN_FACE[MESH_TO_68].astype(np.float64)

# Points that move least with expression and whose 3-D position does not slide with pose: the nose, the eye
# corners and the mouth corners. The jaw is left out because dlib's jaw points follow the visible silhouette, the
# brows because they rise and fall with expression, the lids because they blink.
RIGID_POINTS = [27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 42, 45, 48, 54]


def camera_matrix(image_size: tuple[int, int]) -> np.ndarray:
    """A pinhole camera for an image of (height, width): focal length = the longer side (~53 deg field of view),
    principal point at the centre. Pose is insensitive to the exact focal length at portrait distances."""
    h, w = image_size
    f = float(max(h, w))
    return np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]], np.float64)


def rotation_to_angles(rotation: np.ndarray) -> np.ndarray:
    """(yaw, pitch, roll) in degrees of R = Rz(roll) @ Ry(yaw) @ Rx(pitch).

    Roll is applied last, about the camera's axis, so rotating the image in-plane changes roll alone.
    """
    r = rotation
    yaw = np.arcsin(np.clip(-r[2, 0], -1.0, 1.0))
    pitch = np.arctan2(r[2, 1], r[2, 2])
    roll = np.arctan2(r[1, 0], r[0, 0])
    return np.degrees([yaw, pitch, roll])


def head_pose(landmarks: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """(3,) yaw, pitch, roll in degrees of a face from its 68 landmarks (pixels) in an image of (height, width).

    Positive roll turns the face clockwise on screen; positive yaw turns it toward the image's left (the subject's
    right); positive pitch tilts the chin down.
    """
    landmarks = np.asarray(landmarks, np.float64)
    if landmarks.shape != (68, 2):
        raise ValueError(f"head_pose needs (68, 2) landmarks, got {landmarks.shape}")
    object_points = MEAN_FACE_68[RIGID_POINTS]
    image_points = landmarks[RIGID_POINTS]
    camera = camera_matrix(image_size)
    # EPnP gives a closed-form start; the iterative (Levenberg-Marquardt) refinement then minimises reprojection.
    ok, rvec, tvec = cv2.solvePnP(object_points, image_points, camera, None, flags=cv2.SOLVEPNP_EPNP)
    ok, rvec, tvec = cv2.solvePnP(object_points, image_points, camera, None, rvec, tvec, useExtrinsicGuess=ok,
                                  flags=cv2.SOLVEPNP_ITERATIVE)
    rotation, _ = cv2.Rodrigues(rvec)
    return rotation_to_angles(rotation)
