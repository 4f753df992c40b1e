"""`kaokae convert`: a video, image or folder of images with every face swapped by a trained model."""

from pathlib import Path

from kaokae.cli import add_quiet
from kaokae.cli.extract import add_detection_arguments
from kaokae.cli.provenance import add_label_arguments
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
    p.add_argument("--direction", choices=["a2b", "b2a"], default="a2b",
                   help="a2b: INPUT shows person A (the first faceset of `kaokae train`) and gets B's face; "
                        "b2a: the other way (default a2b)")
    g = p.add_argument_group("blending")
    g.add_argument("--mask", choices=["both", "hull", "learned"], default=None,
                   help="which pixels take the new face: hull (the landmarks' face outline), learned (the model's "
                        "own mask; hd models), or both (their intersection). Default: both for a model with a "
                        "learned mask, else hull")
    g.add_argument("--erode", type=float, default=0.0, metavar="F",
                   help="shrink the mask by F x the face's size; negative grows it (default 0)")
    g.add_argument("--feather", type=float, default=0.08, metavar="F",
                   help="soften the mask's edge over F x the face's size, inside the edge (default 0.08)")
    g.add_argument("--colour", "--color", choices=["lab", "hist", "none"], default="lab",
                   help="colour correction inside the mask: lab (match mean and spread of each LAB channel), hist "
                        "(match histograms), none (default lab)")
    g.add_argument("--blend", choices=["poisson", "feather"], default="poisson",
                   help="poisson: gradient-domain cloning, so lighting follows the frame; feather: plain alpha "
                        "blend with the soft mask (default poisson)")
    g.add_argument("--keep-mouth", action="store_true",
                   help="keep the frame's own open mouth (teeth, tongue) instead of the model's")
    g.add_argument("--prediction-ema", type=float, default=0.0, metavar="W",
                   help="steady a flickering model: blend each face's prediction with the previous frames' along "
                        "its track, W being the previous frames' share (0-0.9; default 0: off)")
    g = p.add_argument_group("faces")
    g.add_argument("--only", nargs="+", type=Path, default=[], metavar="REF",
                   help="swap only faces of the person in these photos; other faces are left untouched")
    g.add_argument("--map", action="append", default=[], metavar="REFS=MODEL",
                   help="several people, each their own model, in one pass: each face goes to the person of the "
                        "nearest reference (dlib identity, as --only) and through that person's model (a folder, .onnx or .dfm); faces matching "
                        "no reference stay untouched. REFS: a photo, a faceset, or several separated by commas (e.g. "
                        "--map a1.jpg,a2.jpg=models/a --map b.png=models/b; `kaokae people` writes such photos). "
                        "Repeat per person; replaces -m")
    g.add_argument("--threshold", type=float, default=0.6,
                   help="--only, --map: identity distance at or below which a face counts as that person (default "
                        "0.6)")
    g.add_argument("--alignments", type=Path, metavar="FACESET",
                   help="reuse the faces stored by `kaokae extract` for this input instead of detecting them; "
                        "the faceset's sources must include INPUT (same file, or the same name and frame count)")
    g.add_argument("--no-alignments", dest="use_alignments", action="store_false",
                   help="detect faces afresh even when a faceset named after the input (clip.faceset) lies beside it")
    add_detection_arguments(g)
    g = p.add_argument_group("output and speed")
    g.add_argument("--preview", type=int, default=0, metavar="N",
                   help="also write OUTPUT-name.preview.png: N frames spread over the input, each as "
                        "original | swapped | mask")
    g.add_argument("--crf", type=int, default=18,
                   help="video quality, 0-51: lower is better and larger; 18 looks lossless (default 18)")
    g.add_argument("--preset", default="medium",
                   help="x264 speed preset, ultrafast ... veryslow: slower makes smaller files (default medium)")
    g.add_argument("--batch-size", type=int, default=8, metavar="N", help="faces per model call (default 8)")
    g.add_argument("--device", default="auto",
                   help="where the model runs: auto (a CUDA or Apple GPU when present, else the CPU), cpu, cuda, "
                        "cuda:N, mps (default auto)")
    g.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                   help="auto (default): the model runs in bf16 where the device computes bf16 natively (NVIDIA Ampere "
                        "or newer; CPUs with AMX or AVX512-BF16), as training does, else fp32; fp32: full precision "
                        "everywhere (slower)")
    g.add_argument("--runtime", choices=["torch", "onnxruntime"], default="torch",
                   help="what runs a model folder: torch (default: measured faster on CPUs with native bf16, and as "
                        "fast elsewhere), or onnxruntime (the folder's latest checkpoint exported once into "
                        "MODEL/onnx/, again when it changes). Model files always run in onnxruntime")
    g.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    add_label_arguments(p)
    add_quiet(p)
    p.set_defaults(run=run_convert)


def run_convert(args) -> int:
    from kaokae.convert import ConvertOptions, DetectOptions, convert
    from kaokae.extract.person_map import parse_map

    detect = DetectOptions(args.detector, args.max_faces, args.min_size, args.min_score, args.redetect_every,
                           args.smooth)
    options = ConvertOptions(
        direction=args.direction, mask=args.mask, erode=args.erode, feather=args.feather, colour=args.colour,
        blend=args.blend, keep_mouth=args.keep_mouth, batch_size=args.batch_size, prediction_ema=args.prediction_ema,
        only=args.only, threshold=args.threshold, map=parse_map(args.map), alignments=args.alignments,
        use_alignments=args.use_alignments,
        detect=detect, preview=args.preview, crf=args.crf, preset=args.preset, device=args.device, precision=args.precision,
        runtime=args.runtime, overwrite=args.overwrite, watermark=not args.no_watermark, c2pa_cert=args.c2pa_cert, c2pa_key=args.c2pa_key)
    result = convert(args.input, args.model, args.output, options)
    if result.frames_without_alignments:
        info(f"{result.frames_without_alignments} frames have no face in the stored alignments and were left as "
             f"they were (--no-alignments detects faces afresh)")
    if result.preview:
        info(f"preview: {result.preview}")
    info(result.summary())
    return 0
