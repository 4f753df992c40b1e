"""both: pixels that hull and learned both take."""

import numpy as np

from kaokae.composite import intersect
from kaokae.convert.masks import MASKS, Mask, MaskInputs
from kaokae.convert.masks.hull import Hull
from kaokae.convert.masks.learned import Learned


@MASKS.register("both", "the intersection of hull and learned", rank=0)
class Both(Mask):
    learned = True

    def alpha(self, i: MaskInputs) -> np.ndarray:
        return intersect(Hull().alpha(i), Learned().alpha(i))
