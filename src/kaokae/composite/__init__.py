"""Compositing a new face into a frame, shared by the classic swap and convert: masks from landmarks, colour
correction inside the mask, and feathered or Poisson blending. Everything works on one face's box (`Box`)."""

from kaokae.composite.blend import BLENDS, blend, feather_blend, poisson_blend
from kaokae.composite.colour import (
    COLOURS,
    ColourCorrection,
    TableSmoother,
    colour_table,
    correct_colour,
    lab_mean_std,
)
from kaokae.composite.mask import (
    FACE_OVAL,
    INNER_LIPS,
    Box,
    face_box,
    face_mask,
    face_size,
    intersect,
    polygon_mask,
    soft_edge,
)

__all__ = [
    "BLENDS", "COLOURS", "ColourCorrection", "FACE_OVAL", "INNER_LIPS", "Box", "TableSmoother", "blend", "colour_table",
    "correct_colour", "face_box", "face_mask", "face_size", "feather_blend", "intersect", "lab_mean_std",
    "poisson_blend", "polygon_mask", "soft_edge",
]
