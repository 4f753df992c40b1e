"""How a new face is composited into a frame: the options convert and swap share."""

from dataclasses import dataclass

from kaokae.composite.blend import BLENDS
from kaokae.composite.colour import COLOURS
from kaokae.options import option


@dataclass
class CompositeOptions:
    erode: float = option(0.0, "shrink the mask by F x the face's size; negative grows it", minimum=-0.5,
                          maximum=0.5, metavar="F", group="blending")
    feather: float = option(0.08, "soften the mask's edge over F x the face's size, inside the edge", minimum=0,
                            maximum=0.5, metavar="F", group="blending")
    colour: str = option("lab", "colour correction inside the mask", choices=COLOURS.names, aliases=("--color",),
                         group="blending")
    blend: str = option("poisson", "how the face goes in", choices=BLENDS.names, group="blending")
