"""`kaokae demo`: the whole pipeline on built-in portraits."""

from kaokae.cli import add_quiet
from kaokae.cli.provenance import add_label_arguments


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole pipeline on two built-in public-domain portraits",
        description="Film a short clip of two public-domain portraits that ship inside kaokae's dependencies (Eileen "
                    "Collins from scikit-image, Grace Hopper from matplotlib) with a moving virtual camera, extract "
                    "both, train a model (5 minutes on the CPU; longer runs are better), convert Collins's clip with "
                    "Hopper's face, run the classic swap too, and write everything into one folder. About 10 minutes "
                    "on 2 CPU cores.",
    )
    parser.add_argument("-o", "--output", default="kaokae-demo",
                        help="folder to write into (default: ./kaokae-demo); replaced as a whole when the demo succeeds")
    parser.add_argument("--quick", action="store_true",
                        help="a much shorter run (short clips, 60 training iterations): a first look in about a "
                             "minute; the learned swap is still a blur")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="where to train and convert (default: auto, the GPU when there is one)")
    add_label_arguments(parser)
    add_quiet(parser)
    parser.set_defaults(run=run)


def run(args) -> int:
    from kaokae.demo import run_demo

    result = run_demo(args.output, quick=args.quick, device=args.device, watermark=not args.no_watermark,
                      c2pa_cert=args.c2pa_cert, c2pa_key=args.c2pa_key)
    width = max(len(what) for what in result.files)
    for what, path in result.files.items():
        print(f"{what:<{width}}  {path}")
    for what, share in result.verified.items():
        shown = "no face found" if share is None else f"{share:.0%}"
        print(f"{what}: dlib verifies {shown} of the frames it checked as Grace Hopper (B)")
    print(f"demo finished in {result.seconds / 60:.1f} min: open {result.files['summary']} first")
    return 0
