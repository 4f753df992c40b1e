"""lab: move the mean and spread of each LAB channel onto the frame face's (Reinhard et al. 2001)."""

import numpy as np

from kaokae.composite.colour import COLOURS, LEVELS, MAX_SCALE, ColourCorrection, mean_std


@COLOURS.register("lab", "match mean and spread of each LAB channel", rank=0)
class LabStats(ColourCorrection):
    max_scale = MAX_SCALE

    def fit(self, face_lab: np.ndarray, reference_lab: np.ndarray, inside: np.ndarray) -> np.ndarray:
        """Tables (3, 256) that move each channel's mean and standard deviation inside the mask onto the
        reference's, the spread scaled by at most `max_scale` either way."""
        mean_f, std_f = mean_std(face_lab, inside)
        mean_r, std_r = mean_std(reference_lab, inside)
        scale = np.clip(std_r / np.maximum(std_f, 1e-3), 1 / self.max_scale, self.max_scale)
        return ((LEVELS[None, :] - mean_f[:, None]) * scale[:, None] + mean_r[:, None]).astype(np.float32)

