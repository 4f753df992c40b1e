"""The options of `kaokae swap`: the detection, identity, composite, encoder and label options it shares with
extract and convert."""

from dataclasses import dataclass

from kaokae.composite.options import CompositeOptions
from kaokae.extract.options import map_option
from kaokae.extract.person_map import MapEntry
from kaokae.faces.options import DetectOptions, PersonOptions
from kaokae.media.options import EncodeOptions, OutputOptions
from kaokae.options import OptionError
from kaokae.provenance.options import LabelOptions


@dataclass
class SwapOptions(LabelOptions, OutputOptions, EncodeOptions, CompositeOptions, PersonOptions, DetectOptions):
    map: list[MapEntry] = map_option()

    def validate(self) -> None:
        if self.erode < 0:  # the warped photo covers the face mesh's outline and nothing beyond it
            raise OptionError("erode", f"must be from 0 to 0.5 of the face's size in a swap, not {self.erode} (the "
                                       "swap cannot grow past the face mesh's outline)")
        if self.only and self.map:
            raise OptionError("map", "does not go with --only: the map already says whose faces change")
