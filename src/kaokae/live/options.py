"""The options of `kaokae live`: its own (camera, output, pacing, badge), plus the detection, identity, composite,
label and model-running options it shares with swap and convert."""

import re
from dataclasses import dataclass, field
from pathlib import Path

from kaokae.composite.options import CompositeOptions
from kaokae.convert.options import RUNTIMES, device_problem
from kaokae.faces.options import DetectOptions, PersonOptions
from kaokae.media.options import OutputOptions
from kaokae.options import OptionError, option
from kaokae.provenance.options import LabelOptions
from kaokae.train.options import DirectionOptions
from kaokae.train.precision import PRECISIONS

STALL_TIMEOUT = 5.0  # seconds without a frame after which the camera counts as gone
SIZE = re.compile(r"\s*(\d+)\s*[xX]\s*(\d+)\s*")


def size_problem(text: str) -> str | None:
    match = SIZE.fullmatch(text)
    if match and int(match[1]) and int(match[2]):
        return None
    return f"must be WIDTHxHEIGHT like 1280x720, got {text!r}"


@dataclass
class LiveOptions(LabelOptions, OutputOptions, CompositeOptions, PersonOptions, DetectOptions, DirectionOptions):
    """What to swap with (`sources` or `model`: the command's inputs, --source / -m) and how."""

    sources: list[Path] = field(default_factory=list)  # classic swap from these photos, or
    model: Path | None = None  # a trained model folder or .onnx/.dfm file
    camera: str = option("0", "a camera number (0, 1...), a device (/dev/video0), a stream URL FFmpeg opens "
                              "(rtsp://, udp://, http://...) or a video file", metavar="CAMERA")
    size: str | None = option(None, "frame size, e.g. 1280x720: asked of a webcam, and what every frame is resized "
                                    "to", metavar="WxH", check=size_problem,
                              default_help="1280x720 for a webcam; a stream or file keeps its own")
    output: str = option("window", "window; virtualcam (pyvirtualcam: v4l2loopback on Linux, OBS's virtual camera "
                                   "elsewhere; virtualcam:/dev/videoN picks the device); a stream URL (udp://, "
                                   "rtmp://, rtsp://...); a video file that records the session (.mp4 .m4v .mov "
                                   ".mkv); none (measure only)", metavar="OUTPUT")
    realtime: bool = option(True, "a video file as --camera: replay it at its own frame rate, dropping frames the "
                                  "swap cannot keep up with (off: every frame, as fast as the swap goes)")
    badge: bool = option(True, "the visible \"synthetic\" badge in the corner (the invisible watermark follows "
                               "--no-watermark)")
    stall_timeout: float = option(STALL_TIMEOUT, "seconds without a frame after which the camera counts as gone "
                                                 "(exit 1)", above=0, flag="--timeout", metavar="S")
    device: str = option("auto", "-m: where the model runs: auto (a CUDA or Apple GPU when present, else the CPU), "
                                 "cpu, cuda, cuda:N, mps", check=device_problem, group="model")
    precision: str = option("auto", "-m: the model's number format", choices=PRECISIONS.names, group="model")
    runtime: str = option("torch", "-m: what runs a model folder: torch, or onnxruntime (its latest checkpoint "
                                   "exported once into MODEL/onnx/); model files always run in onnxruntime",
                          choices=RUNTIMES, group="model")
    max_frames: int | None = None  # stop after this many frames (benchmarks, tests)

    def validate(self) -> None:
        if self.sources and self.erode < 0:  # as `kaokae swap`: the photo covers the face mesh and nothing beyond
            raise OptionError("erode", f"must be from 0 to 0.5 of the face's size in a classic swap, not {self.erode} "
                                       "(the swap cannot grow past the face mesh's outline)")

    def frame_size(self) -> tuple[int, int] | None:
        if self.size is None:
            return None
        match = SIZE.fullmatch(self.size)
        return int(match[1]), int(match[2])
