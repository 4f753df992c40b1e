"""What swaps a live frame: the classic swap (kaokae.swap) or a trained model (kaokae.convert), one frame at a time,
with the same tracking, One-Euro smoothing, masks, colour correction and blending as `kaokae swap` / `kaokae convert`.

An engine is `swap(frame) -> rgb` (the frame's own image is never changed), `next_source() -> str | None` (what the
cycle key switched to; None when there is nothing to cycle), `model_id` (what the label names by hash),
`model_names` (whose face replaces whose, from a model card; or None) and `close()`.
"""

from fractions import Fraction
from pathlib import Path

import numpy as np

from kaokae.composite.options import CompositeOptions
from kaokae.faces.identity import DEFAULT_THRESHOLD, PersonFilter
from kaokae.faces.options import DetectOptions
from kaokae.media import Frame, MediaInfo
from kaokae.options import check
from kaokae.provenance import file_sha256


class ClassicEngine:
    """The classic swap from one or more source photos (kaokae.swap.FrameSwap on a tracked video). With several
    photos each face takes the one nearest its head pose, until the cycle key pins one photo after another."""

    def __init__(self, sources: list[str | Path], *, only: list[str | Path] = (), threshold: float = DEFAULT_THRESHOLD,
                 blend: str = "poisson", colour: str = "lab", erode: float = 0.0, feather: float = 0.08,
                 smooth: bool = True, fps: float = 30.0, detect: DetectOptions | None = None):
        from kaokae.swap import FaceSwapper, FrameSwap, SwapSettings, load_sources

        check(CompositeOptions(erode=erode, feather=feather, colour=colour, blend=blend))
        detect = detect or DetectOptions(smooth=smooth)
        check(detect)
        self.finder = detect.finder()
        try:
            self.swapper = FaceSwapper(load_sources(list(sources), self.finder),
                                       SwapSettings(blend=blend, colour=colour, erode=erode, feather=feather),
                                       smooth_colour=smooth)
            identity = PersonFilter(list(only), self.finder, threshold) if only else None
        except BaseException:
            self.finder.close()
            raise
        self.step = FrameSwap(self.finder, self.swapper, identity, video=True, fps=fps, smooth=detect.smooth,
                              redetect_every=detect.redetect_every)
        self.model_id = file_sha256(sources[0])  # as `kaokae swap` labels its output
        self.model_names = None

    def swap(self, frame: Frame) -> np.ndarray:
        return self.step(frame)[0]

    def next_source(self) -> str | None:
        """Pin the next photo; after the last, back to choosing by head pose."""
        sources = self.swapper.sources
        if len(sources) == 1:
            return None
        pinned = self.swapper.pinned
        pinned = 0 if pinned is None else pinned + 1
        self.swapper.pinned = pinned if pinned < len(sources) else None
        self.swapper.chosen.clear()
        return "photo by head pose" if self.swapper.pinned is None else sources[self.swapper.pinned].name

    def close(self) -> None:
        self.finder.close()


def load_runner(model: str | Path, direction: str = "a2b", device: str = "auto", precision: str = "auto",
                runtime: str = "torch"):
    """The one place live picks what runs a trained model: convert's own choice (kaokae.convert.model.open_model):
    a model folder through PyTorch or, with runtime="onnxruntime", its exported graph; a .onnx/.dfm file through
    ONNX Runtime."""
    from kaokae.convert.model import open_model

    return open_model(model, direction, device, precision, runtime)


class LearnedEngine:
    """A trained model (kaokae.convert.Converter.swap_frame): faces tracked like extract, the model run on each
    frame's faces as soon as they are found (no batching across frames: that would add their wait to the latency)."""

    def __init__(self, model_dir: str | Path, *, direction: str = "a2b", device: str = "auto",
                 precision: str = "auto", runtime: str = "torch", only: list[str | Path] = (), threshold: float = DEFAULT_THRESHOLD,
                 blend: str = "poisson", colour: str = "lab", erode: float = 0.0, feather: float = 0.08,
                 smooth: bool = True, fps: float = 30.0, size: tuple[int, int] = (0, 0),
                 detect: DetectOptions | None = None):
        from kaokae.convert import Converter, ConvertOptions
        from kaokae.convert.locate import DetectedFaces
        from kaokae.convert.model import label_model_id
        from kaokae.train.card import model_names

        # no photo detail nor expression warp: a landmark pass and two mesh warps more per face, not yet measured
        # against live's latency
        options = ConvertOptions(direction=direction, colour=colour, blend=blend, erode=erode, feather=feather,
                                 batch_size=1, detect=detect or DetectOptions(smooth=smooth), model_photos=False)
        check(options)  # before the model loads
        self.model = load_runner(model_dir, direction, device, precision, runtime)
        self.converter = Converter(self.model, options)
        if only:
            with options.detect.finder() as finder:
                self.converter.only = PersonFilter(list(only), finder, threshold)
        # The tracker reads the frame rate (One-Euro timing) from a video's MediaInfo; a camera is such a video.
        info = MediaInfo(Path(str(model_dir)), "video", size[0], size[1], Fraction(fps).limit_denominator(1001), 0, None)
        self.locate = DetectedFaces(info, self.model.face_size, self.model.centering, options.detect)
        self.model_id = label_model_id(self.model)  # as `kaokae convert` labels its output
        card = getattr(self.model, "card", {})
        self.model_names = model_names(card, card.get("direction", direction))

    def swap(self, frame: Frame) -> np.ndarray:
        return self.converter.swap_frame(frame, self.locate).image

    def next_source(self) -> str | None:
        return None  # one model, one face

    def close(self) -> None:
        self.locate.close()
        self.converter.close()
