"""A moving virtual camera over a still photo: turns one portrait into a short clip with pan, zoom, slight roll and
perspective, so the demo has video to extract, train on and convert without any footage from the user."""

import math
from collections.abc import Iterator

import cv2
import numpy as np


def camera_homography(t: float, center: tuple[float, float], face_size: float, out_size: int) -> np.ndarray:
    """3x3 map from photo pixels to clip pixels at time t in [0, 1].

    The face (centre `center`, about `face_size` px wide) is framed to about 40% of the clip width; over time the camera
    pans by a few percent, zooms by +-12%, rolls by +-6 degrees and tilts slightly in perspective. Sums of sines with
    different periods keep the motion smooth and the first and last frames different.
    """
    phase = 2 * math.pi * t
    zoom = (0.4 * out_size / face_size) * (1.0 + 0.12 * math.sin(phase * 1.3))
    roll = math.radians(6.0 * math.sin(phase * 0.9 + 0.5))
    pan_x = 0.06 * out_size * math.sin(phase * 1.1)
    pan_y = 0.04 * out_size * math.sin(phase * 1.7 + 1.0)
    tilt_x = 0.0004 * math.sin(phase * 0.8) * 256 / out_size  # keystone: a small yaw-like perspective change
    tilt_y = 0.0003 * math.sin(phase * 1.2 + 2.0) * 256 / out_size

    to_origin = np.array([[1, 0, -center[0]], [0, 1, -center[1]], [0, 0, 1]], dtype=np.float64)
    cos, sin = math.cos(roll) * zoom, math.sin(roll) * zoom
    rotate_scale = np.array([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]], dtype=np.float64)
    perspective = np.array([[1, 0, 0], [0, 1, 0], [tilt_x, tilt_y, 1]], dtype=np.float64)
    to_clip = np.array([[1, 0, out_size / 2 + pan_x], [0, 1, out_size / 2 + pan_y], [0, 0, 1]], dtype=np.float64)
    return to_clip @ perspective @ rotate_scale @ to_origin


def virtual_camera_clip(photo: np.ndarray, center: tuple[float, float], face_size: float, frame_count: int,
                        out_size: int = 320) -> Iterator[np.ndarray]:
    """Yield `frame_count` RGB frames of `out_size`x`out_size` filmed by the moving camera over `photo`."""
    for i in range(frame_count):
        t = i / max(frame_count - 1, 1)
        homography = camera_homography(t, center, face_size, out_size)
        yield cv2.warpPerspective(photo, homography, (out_size, out_size), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REFLECT101)
