"""none: keep the new face's own colours."""

from kaokae.composite.colour import COLOURS, ColourCorrection


@COLOURS.register("none", "keep the new face's own colours", rank=9)
class NoCorrection(ColourCorrection):
    def fit(self, face_lab, reference_lab, inside) -> None:
        return None
