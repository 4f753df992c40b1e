"""Blending a new face into a frame crop: each method is one module here, a function
`(background, face, alpha) -> blended` registered in BLENDS (feather: a plain alpha blend; poisson: gradient-domain
cloning).

Both take and return crops of one box (see `mask.Box`), so the work is proportional to the face, not the frame.
Pixels where alpha is 0 come back exactly as they were.
"""

import numpy as np

from kaokae.registry import Registry

BLENDS = Registry("blend", "kaokae.composite.blend")


def blend(background: np.ndarray, face: np.ndarray, alpha: np.ndarray, method: str = "poisson") -> np.ndarray:
    return BLENDS.get(method)(background, face, alpha)


from kaokae.composite.blend.feather import feather_blend  # noqa: E402  (the methods register into BLENDS above)
from kaokae.composite.blend.poisson import poisson_blend  # noqa: E402

__all__ = ["BLENDS", "blend", "feather_blend", "poisson_blend"]
