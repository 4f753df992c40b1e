"""How video is encoded: the options of every command that writes video."""

from dataclasses import dataclass

from kaokae.media.writer import PRESETS
from kaokae.options import option


@dataclass
class EncodeOptions:
    crf: int = option(18, "video: H.264 quality, lower is better and larger; 18 looks lossless", minimum=0,
                      maximum=51, group="output")
    # medium, x264's own default: at the same crf a faster preset only makes larger files, and video commands
    # spend far more time on faces than on encoding
    preset: str = option("medium", "video: H.264 speed preset; slower ones make smaller files at the same quality",
                         choices=PRESETS, metavar="PRESET", group="output")
