"""hist: match each LAB channel's histogram inside the mask to the frame face's."""

import cv2
import numpy as np

from kaokae.composite.colour import COLOURS, LEVELS, ColourCorrection


@COLOURS.register("hist", "match the histograms of each LAB channel", rank=1)
class HistogramMatch(ColourCorrection):
    def fit(self, face_lab: np.ndarray, reference_lab: np.ndarray, inside: np.ndarray) -> np.ndarray:
        """Tables (3, 256) that map each channel's histogram inside the mask onto the reference's (cumulative
        distributions matched)."""
        tables = np.empty((3, 256), np.float32)
        for c in range(3):
            cdf_f = np.cumsum(cv2.calcHist([face_lab], [c], inside, [256], [0, 256]).ravel())
            cdf_r = np.cumsum(cv2.calcHist([reference_lab], [c], inside, [256], [0, 256]).ravel())
            cdf_f /= cdf_f[-1]
            cdf_r /= cdf_r[-1]
            # Midpoint rank of each level, so a level that holds many pixels maps to the middle of its range.
            rank = cdf_f - 0.5 * np.diff(cdf_f, prepend=0.0)
            tables[c] = np.interp(rank, cdf_r, LEVELS)
        return tables
