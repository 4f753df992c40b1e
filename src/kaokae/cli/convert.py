"""`kaokae convert`: a video, image or folder of images with every face swapped by a trained model."""

from pathlib import Path

from kaokae.cli import add_options, add_quiet
from kaokae.convert.options import ConvertOptions
from kaokae.options import from_args
from kaokae.progress import info


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "convert", help="swap the faces of a video, image or folder with a trained model",
        description="Put the other person's face on every face of INPUT with a model from `kaokae train`, and write "
                    "OUTPUT: a video keeps its frame rate, frame count and audio; images and folders keep their "
                    "names. Faces are found like `kaokae extract` finds them (same detector, tracking and "
                    "smoothing), or read from stored alignments: --alignments, or the faceset `kaokae extract "
                    "clip.mp4 -o clip.faceset` left beside the input. Frames without a face are copied unchanged.")
    p.add_argument("input", type=Path, metavar="INPUT", help="video file, image file or folder of images")
    p.add_argument("-m", "--model", type=Path, metavar="MODEL",
                   help="model folder written by `kaokae train`, or a model file: a .onnx from `kaokae export` or "
                        "a DeepFaceLab .dfm (run by ONNX Runtime); or give --map instead")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="OUTPUT",
                   help="video (.mp4 .m4v .mov .mkv), image (.png .jpg ...) or folder of PNGs (no extension)")
    add_options(p, "convert", ConvertOptions)
    add_quiet(p)
    p.set_defaults(run=run_convert)


def run_convert(args) -> int:
    from kaokae.convert import convert

    result = convert(args.input, args.model, args.output, from_args(ConvertOptions, args))
    if result.frames_without_alignments:
        info(f"{result.frames_without_alignments} frames have no face in the stored alignments and were left as "
             f"they were (--no-alignments detects faces afresh)")
    if result.preview:
        info(f"preview: {result.preview}")
    info(result.summary())
    return 0
