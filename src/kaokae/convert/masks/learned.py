"""learned: the mask the model drew with its face (hd models)."""

import numpy as np

from kaokae.composite import soft_edge
from kaokae.convert.masks import MASKS, Mask, MaskInputs


@MASKS.register("learned", "the model's own mask (hd models)", rank=2)
class Learned(Mask):
    learned = True

    def alpha(self, i: MaskInputs) -> np.ndarray:
        return soft_edge(i.learned() > 0.5, i.erode * i.face_px, i.feather * i.face_px)
