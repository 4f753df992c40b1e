"""The classic swap's fine detail over the learned face (`convert --detail-from PHOTO...`).

A model trained for minutes gets B's shading, pose and expression right but not B's pores, lashes and edges: its
64-128 px square is upscaled to a face of hundreds of pixels. The classic mesh warp of a photo of B (kaokae.swap)
has that detail at full resolution, on the same landmarks. The learned face is multiplied by the warp's luminance
over its own blur at the size of one model pixel: the ratio carries only what the model cannot draw, and a ratio
(not a difference) keeps the frame's lighting, whatever the photo's was; it is made zero-mean locally, so it adds
detail and never light. Its contrast is capped at the frame's own fine detail there, so a grainy or sharper photo
does not make the face sharper (and noisier) than the shot.
"""

import cv2
import numpy as np

from kaokae.composite import Box, face_size
from kaokae.swap.mesh import warp_mesh
from kaokae.swap.swapper import FaceSwapper, Source

# Detail ratios beyond this are specular highlights or the photo's own edges (glasses, hair) sharper than the frame's
# lighting allows: clipped so no pixel more than halves or doubles.
MAX_RATIO = 2.0


class ClassicDetail:
    """B's fine detail from photos of B (`kaokae.swap.swapper.load_sources`), warped onto each target face; the
    photo nearest the face's head pose."""

    def __init__(self, sources: list[Source]):
        self.swapper = FaceSwapper(sources, smooth_colour=False)

    def apply(self, face: np.ndarray, background: np.ndarray, landmarks: np.ndarray, box: Box,
              frame_shape: tuple[int, ...], model_pixel: float, key: object = None) -> np.ndarray:
        """`face` (the learned face warped back onto `box`, uint8) with the photo's detail finer than `model_pixel`
        frame pixels multiplied in, where the mesh covers the box; `background`: the frame's pixels of the box.
        (A band of 2-3 model pixels followed A's expression better but flickered more: docs/benchmarks.md.)"""
        index = self.swapper.choose(landmarks, frame_shape, key)
        image, points = self.swapper.sources[index].at_size(face_size(landmarks))
        warped, covered = warp_mesh(image, points, landmarks, box)
        if covered.sum() < 16:
            return face
        weight = covered.astype(np.float32)
        photo = fine_detail(warped, weight, model_pixel)
        inside = cv2.erode(weight, np.ones((3, 3), np.uint8)) > 0
        frame_level, photo_level = fine_detail(background, weight, model_pixel)[inside].std(), photo[inside].std()
        gain = min(1.0, frame_level / max(photo_level, 1e-6))
        ratio = 1.0 + photo * gain * inside
        return np.clip(face.astype(np.float32) * ratio[..., None], 0, 255).round().astype(np.uint8)


    def forget_except(self, keys) -> None:
        """Drop the photo chosen for tracks that ended."""
        self.swapper.forget_except(keys)


def fine_detail(rgb: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """Luminance over its blur (sigma px), minus 1, less its own blur (so it averages 0 everywhere: it adds detail,
    never light), where `weight` > 0."""
    luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) + 1.0
    ratio = np.clip(luma / np.maximum(_blur(luma, weight, sigma), 1.0), 1 / MAX_RATIO, MAX_RATIO) - 1.0
    return ratio - _blur(ratio, weight, sigma)


def _blur(image: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """The Gaussian blur of the weighted pixels alone (normalised): the mesh's edge and mouth hole are not image."""
    return cv2.GaussianBlur(image * weight, (0, 0), sigma) / np.maximum(cv2.GaussianBlur(weight, (0, 0), sigma), 1e-3)
