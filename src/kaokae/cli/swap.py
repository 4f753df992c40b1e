"""`kaokae swap`: the classic, training-free face swap from one or more photos."""

from pathlib import Path

from kaokae.cli import add_quiet
from kaokae.cli.provenance import add_label_arguments
from kaokae.composite import BLEND_METHODS, COLOUR_METHODS
from kaokae.media import PRESETS


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "swap",
        help="classic swap: paste a photo's face onto every face in an image, folder or video (no training)",
        description="Training-free swap: the source photo's face is warped triangle by triangle onto each target "
                    "face's 478-point face mesh, colour-matched and blended in. The target's open mouth (teeth, "
                    "tongue) is kept. Frames without a face are written unchanged; a video keeps every frame and "
                    "its audio. Instant, but it copies the photo's lighting and expression details: a trained model "
                    "(extract, train, convert) looks better.",
    )
    p.add_argument("--source", nargs="+", default=[], metavar="PHOTO",
                   help="photo(s) of the face to put in (the largest face of each is used). With several photos "
                        "each target face takes the one whose head pose (the direction the face points: yaw and "
                        "pitch) is closest to its own; a video face keeps its photo unless another is clearly closer "
                        "(or give --map instead)")
    p.add_argument("--target", required=True, metavar="MEDIA",
                   help="the image, folder of images or video whose faces are replaced")
    p.add_argument("-o", "--output", required=True, metavar="OUTPUT",
                   help="where to write the result: an image file for an image target (.png, .jpg...), a folder "
                        "for a folder (PNG, same names), a video file for a video (.mp4, .mov, .mkv, .m4v)")
    p.add_argument("--only", nargs="+", type=Path, metavar="REF", default=[],
                   help="swap only the faces of the person in these photos (dlib face identity); others stay as "
                        "they are")
    p.add_argument("--map", action="append", default=[], metavar="REFS=PHOTOS",
                   help="several people, each their own face, in one pass: each target face goes to the person of "
                        "the nearest reference (dlib identity, as --only) and gets that person's photo(s); faces "
                        "matching no reference stay untouched. REFS and PHOTOS: one photo or several separated by "
                        "commas (REFS may also be a faceset), e.g. --map a1.jpg,a2.jpg=b1.jpg --map c.png=d.jpg "
                        "(`kaokae people` writes reference photos). Repeat per person; replaces --source")
    p.add_argument("--only-threshold", type=float, default=0.6, metavar="D",
                   help="with --only or --map: identity distance at or below which a face counts as that person (lower is stricter; default 0.6)")
    p.add_argument("--blend", choices=BLEND_METHODS, default="poisson",
                   help="poisson: the face takes the frame's lighting at its edge (gradient-domain cloning); "
                        "feather: a plain soft-edged paste (default poisson)")
    p.add_argument("--colour", choices=COLOUR_METHODS, default="lab",
                   help="colour correction inside the mask: lab moves the face's mean and spread of each LAB "
                        "channel to the target face's; hist matches their histograms; none keeps the photo's colours (default lab)")
    p.add_argument("--erode", type=float, default=0.0, metavar="F",
                   help="shrink the mask from the face mesh's outline by this fraction of the face's size (0 to 0.3, default 0)")
    p.add_argument("--feather", type=float, default=0.08, metavar="F",
                   help="width of the mask's soft edge as a fraction of the face's size (0 to 0.3, default 0.08)")
    p.add_argument("--no-smooth", dest="smooth", action="store_false",
                   help="video: do not smooth the face landmarks (One-Euro filter) and colour correction over time")
    p.add_argument("--crf", type=int, default=18, help="video: H.264 quality, 0-51, lower is better (default 18)")
    p.add_argument("--preset", choices=PRESETS, default="veryfast", metavar="PRESET",
                   help="video: H.264 speed preset: ultrafast ... veryslow (slower ones make smaller files at the same quality; default veryfast)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    add_label_arguments(p)
    add_quiet(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from kaokae.extract.person_map import parse_map
    from kaokae.swap import SwapSettings, swap_media

    settings = SwapSettings(blend=args.blend, colour=args.colour, erode=args.erode, feather=args.feather)
    swap_media(args.source, args.target, args.output, only=args.only, person_map=parse_map(args.map),
               only_threshold=args.only_threshold,
               settings=settings, smooth=args.smooth, crf=args.crf, preset=args.preset, overwrite=args.overwrite,
               watermark=not args.no_watermark, c2pa_cert=args.c2pa_cert, c2pa_key=args.c2pa_key)
    return 0
