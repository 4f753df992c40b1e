"""The options of `kaokae extract`."""

from dataclasses import dataclass

from kaokae.faces.align import CENTERINGS
from kaokae.faces.options import DetectOptions, PersonOptions
from kaokae.options import option


@dataclass
class ExtractOptions(DetectOptions, PersonOptions):
    size: int = option(256, "side of the aligned square faces in pixels", minimum=16, fixed=True)
    centering: str = option("face", "face: the face fills the square (what swap models train on); head: zoomed out "
                                    "so hair, ears and chin fit", choices=CENTERINGS, fixed=True)
    every: int = option(1, "search every N-th frame of videos and image folders only", minimum=1, metavar="N")
    identity: bool = option(False, "store a 128-D identity embedding for every face (dlib ResNet; ~0.1-0.2 s per "
                                   "face)")
    mode: str = option("new", "into an existing faceset", choices=("new", "append", "overwrite"), consts=(
        ("--append", "append", "add to an existing faceset (same --size and --centering)"),
        ("--overwrite", "overwrite", "replace an existing faceset (the old one stays until the new one is "
                                     "complete)")))
