"""hull: the convex hull of the landmarks' face oval."""

import numpy as np

from kaokae.composite import face_mask
from kaokae.convert.masks import MASKS, Mask, MaskInputs


@MASKS.register("hull", "the landmarks' face outline", rank=1)
class Hull(Mask):
    def alpha(self, i: MaskInputs) -> np.ndarray:
        return face_mask(i.landmarks, i.box, i.erode, i.feather, i.keep_mouth)
