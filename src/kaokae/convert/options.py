"""The options of `kaokae convert`: its own, plus the detection, composite, encoder and label options it shares
with extract and swap."""

import re
from dataclasses import dataclass, field
from pathlib import Path

from kaokae.composite.options import CompositeOptions
from kaokae.convert.masks import MASKS
from kaokae.extract.options import map_option
from kaokae.extract.person_map import MapEntry
from kaokae.faces.options import DetectOptions, PersonOptions
from kaokae.media.options import EncodeOptions, OutputOptions
from kaokae.options import OptionError, option
from kaokae.provenance.options import LabelOptions
from kaokae.train.options import DIRECTIONS, DirectionOptions  # noqa: F401  (DIRECTIONS: kept importable here)
from kaokae.train.precision import PRECISIONS

# --follow-expression's default with the photos' detail (which keeps the frame's open mouth, where the warped lips
# open onto): it won pair 2 on every metric and the demo on expression (docs/benchmarks.md)
DETAIL_EXPRESSION = 0.5
RUNTIMES = ("torch", "onnxruntime")  # what runs a model folder (see kaokae.convert.model.open_model)


def device_problem(name: str) -> str | None:
    if re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", name):
        return None
    return f"must be auto, cpu, cuda, cuda:N or mps, not {name!r}"


@dataclass
class ConvertOptions(LabelOptions, OutputOptions, EncodeOptions, PersonOptions, CompositeOptions, DirectionOptions):
    mask: str | None = option(None, "which pixels take the new face", choices=MASKS.names, group="blending",
                              default_help="both for a model with a learned mask, else hull")
    keep_mouth: bool = option(False, "keep the frame's own open mouth (teeth, tongue) instead of the model's "
                                     "(on with --detail-from)",
                              group="blending")
    prediction_ema: float = option(0.0, "steady a flickering model: blend each face's prediction with the previous "
                                        "frames' along its track, W being the previous frames' share (0: off)",
                                   minimum=0, below=1, metavar="W", group="blending")
    detail_from: list[Path] = option([], "photos of B whose fine detail (pores, lashes, edges), warped onto each face "
                                         "as the classic swap does, is added over the model's face, which a small "
                                         "or briefly trained model draws soft; like the classic swap it keeps the "
                                         "frame's own open mouth (--keep-mouth), and the face follows the frame's "
                                         f"expression (--follow-expression {DETAIL_EXPRESSION}); without it the model "
                                         "folder's own photos of B are used (--no-model-photos)", metavar="PHOTO",
                                 group="blending")
    model_photos: bool = option(True, "without --detail-from, add the detail of the photos of B that the model "
                                      "folder keeps (a few of B's sharpest training faces, saved by kaokae train), "
                                      "as --detail-from does; an exported model file has none",
                                flag="--no-model-photos", group="blending")
    follow_expression: float | None = option(None, "move the model's eyes, brows, nose and lips this share of the "
                                                   "way onto the frame's (a briefly trained model copies an "
                                                   "expression only partly): 0 the face as the model draws it, 1 "
                                                   "exactly onto the frame's landmarks, which also gives B A's "
                                                   "proportions", minimum=0, maximum=1, metavar="S",
                                             default_help=f"{DETAIL_EXPRESSION} with --detail-from or the model's photos, "
                                                          "else 0",
                                             group="blending")
    map: list[MapEntry] = map_option()
    alignments: Path | None = option(None, "reuse the faces stored by `kaokae extract` for this input instead of "
                                           "detecting them; the faceset's sources must include INPUT",
                                     metavar="FACESET", default_help="a faceset named after the input beside it",
                                     group="faces")
    use_alignments: bool = option(True, "use the faceset named after the input (clip.faceset) when it lies beside "
                                        "it", flag="--no-alignments", group="faces")
    detect: DetectOptions = field(default_factory=DetectOptions)
    preview: int = option(0, "also write OUTPUT-name.preview.png: N frames spread over the input, each as "
                             "original | swapped | mask", minimum=0, metavar="N", group="output")
    batch_size: int = option(8, "faces per model call", minimum=1, metavar="N", group="output")
    device: str = option("auto", "where the model runs: auto (a CUDA or Apple GPU when present, else the CPU), cpu, "
                                 "cuda, cuda:N, mps", check=device_problem, group="output")
    precision: str = option("auto", "the model's number format", choices=PRECISIONS.names, group="output")
    runtime: str = option("torch", "what runs a model folder: torch (measured faster on CPUs with native bf16, and "
                                   "as fast elsewhere), or onnxruntime (the folder's latest checkpoint exported once "
                                   "into MODEL/onnx/, again when it changes); model files always run in onnxruntime",
                          choices=RUNTIMES, group="output")

    def validate(self) -> None:
        if self.only and self.map:
            raise OptionError("map", "does not go with --only: the map already says whose faces change")
        if self.detail_from and self.map:
            raise OptionError("detail_from", "does not go with --map: its photos are of one person")
