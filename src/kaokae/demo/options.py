"""The options of `kaokae demo`."""

from dataclasses import dataclass

from kaokae.options import option
from kaokae.provenance.options import LabelOptions


@dataclass
class DemoOptions(LabelOptions):
    quick: bool = option(False, "a much shorter run (short clips, 60 training iterations): a first look in about a "
                                "minute; the learned swap is still a blur")
    device: str = option("auto", "where to train and convert: auto, the GPU when there is one",
                         choices=("auto", "cpu", "cuda"))
