"""`kaokae swap`: the classic, training-free face swap from one or more photos."""

from kaokae.cli import add_options, add_quiet
from kaokae.options import from_args
from kaokae.swap.options import SwapOptions


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
    add_options(p, "swap", SwapOptions)
    add_quiet(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from kaokae.swap import swap_media

    swap_media(args.source, args.target, args.output, options=from_args(SwapOptions, args))
    return 0
