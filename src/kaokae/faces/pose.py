"""Head pose (yaw, pitch, roll in degrees) from the 478 landmarks: cv2.solvePnP of the rigid landmarks against the 3-D
mean face, with a pinhole camera whose focal length is the image's longer side (a normal lens; the angles change
little with it).

Conventions (image axes: x right, y down): yaw > 0 when the face turns towards the image's right (the subject's left),
pitch > 0 when it looks up, roll > 0 when it tilts clockwise on screen. A frontal, upright face is (0, 0, 0).
"""

import cv2
import numpy as np

from kaokae.faces.align import ALIGN_POINTS
from kaokae.faces.mean_face import MEAN_FACE

_MODEL = MEAN_FACE[ALIGN_POINTS].astype(np.float64)


def _towards(direction: np.ndarray) -> np.ndarray:
    """The smallest rotation taking the optical axis (0, 0, 1) onto `direction`."""
    d = direction / np.linalg.norm(direction)
    axis = np.cross([0.0, 0.0, 1.0], d)
    sine, cosine = np.linalg.norm(axis), d[2]
    if sine < 1e-12:
        return np.eye(3)
    return cv2.Rodrigues(axis / sine * np.arctan2(sine, cosine))[0]


def head_pose(landmarks: np.ndarray, image_size: tuple[int, int]) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees for one face; image_size is (width, height) of the frame the landmarks are in."""
    width, height = image_size
    focal = float(max(width, height))
    camera = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]], np.float64)
    image_points = np.asarray(landmarks, np.float64)[ALIGN_POINTS, :2]
    ok, rvec, tvec = cv2.solvePnP(_MODEL, image_points, camera, None, flags=cv2.SOLVEPNP_SQPNP)
    if not ok:
        return float("nan"), float("nan"), float("nan")
    # Measure the pose against the line of sight to the face, not the optical axis: a face at the edge of the frame
    # that looks at the camera is frontal (it looks frontal in the picture, which is what pose means for training
    # data); against the axis it would read as turned by its angle off-centre.
    rotation = _towards(tvec.ravel()).T @ cv2.Rodrigues(rvec)[0]
    # rotation = Rz(c) @ Ry(a) @ Rx(b): a turns the face about its vertical axis, b nods it, and c, applied last in
    # the camera's frame, tilts it on screen; so turning the camera (or the image) changes only the roll.
    a = np.arcsin(np.clip(-rotation[2, 0], -1, 1))
    b = np.arctan2(rotation[2, 1], rotation[2, 2])
    c = np.arctan2(rotation[1, 0], rotation[0, 0])
    # The face looks along the model's -z: turning it to the image's right makes a negative and looking up makes b
    # negative, so both flip sign to match the conventions above.
    return float(-np.degrees(a)), float(-np.degrees(b)), float(np.degrees(c))
