"""How video is encoded: the options of every command that writes video."""

from dataclasses import dataclass

from kaokae.media.writer import PRESETS
from kaokae.options import option


@dataclass
class EncodeOptions:
    crf: int = option(18, "video: H.264 quality, lower is better and larger; 18 looks lossless", minimum=0,
                      maximum=51, group="output")
    # medium, x264's own default: at the same crf a faster preset only makes larger files, and video commands
    # spend far more time on faces than on encoding. Checked with the other options (not by argparse), so that a
    # wrong preset reads the same from the CLI, a config file and the library.
    preset: str = option("medium", f"video: H.264 speed preset ({', '.join(PRESETS)}); slower ones make smaller "
                                   "files at the same quality", choices=PRESETS, cli_choices=False,
                         metavar="PRESET", group="output")


@dataclass
class OutputOptions:
    overwrite: bool = option(False, "replace the output if it exists (the old one stays until the new one is "
                                    "complete)", group="output")


@dataclass
class InfoOptions:
    json: bool = option(False, "print one JSON object instead of aligned text")


@dataclass
class FramesOptions(OutputOptions):
    every: int = option(1, "keep every N-th frame: 0, N, 2N...", minimum=1, metavar="N")
    format: str = option("png", "image format: png is lossless, jpg is smaller", choices=("png", "jpg"))
    quality: int = option(95, "JPEG quality", minimum=1, maximum=100, metavar="Q")


@dataclass
class AssembleOptions(EncodeOptions):
    fps: str = option("25", "frame rate, a number or a ratio such as 30000/1001", metavar="R")
