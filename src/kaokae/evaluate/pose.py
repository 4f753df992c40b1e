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
    """A pinhole camera for an image of (width, height): focal length = the longer side (a normal lens),
    principal point at the centre. Pose changes little with the exact focal length at portrait distances."""
    w, h = image_size
    f = float(max(w, h))
    return np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]], np.float64)


def head_pose(landmarks: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """(3,) yaw, pitch, roll in degrees of a face from its 68 dlib landmarks (pixels) in an image of (width, height).

    Same conventions as `kaokae.faces.pose` (which does this for the 478 mediapipe points): yaw > 0 when the face
    turns towards the image's right, pitch > 0 when it looks up, roll > 0 when it tilts clockwise on screen.
    """
    landmarks = np.asarray(landmarks, np.float64)
    if landmarks.shape != (68, 2):
        raise ValueError(f"head_pose needs (68, 2) landmarks, got {landmarks.shape}")
    ok, rvec, _ = cv2.solvePnP(MEAN_FACE_68[RIGID_POINTS], landmarks[RIGID_POINTS], camera_matrix(image_size), None,
                               flags=cv2.SOLVEPNP_SQPNP)
    if not ok:
        return np.full(3, np.nan)
    rotation = cv2.Rodrigues(rvec)[0]
    # rotation = Rz(roll) @ Ry(a) @ Rx(b): roll is applied last, in the camera's frame, so turning the image in-plane
    # changes roll alone. The mean face looks along -z: turning right makes a negative, looking up makes b negative.
    a = np.arcsin(np.clip(-rotation[2, 0], -1.0, 1.0))
    b = np.arctan2(rotation[2, 1], rotation[2, 2])
    roll = np.arctan2(rotation[1, 0], rotation[0, 0])
    return np.degrees([-a, -b, roll])
