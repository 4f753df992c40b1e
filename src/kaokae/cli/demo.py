"""`kaokae demo`: the whole pipeline on built-in portraits."""

from kaokae.cli import add_options, add_quiet
from kaokae.demo.options import DemoOptions
from kaokae.options import from_args


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole pipeline on two built-in public-domain portraits",
        description="Film a short clip of two public-domain portraits that ship inside kaokae's dependencies (Eileen "
                    "Collins from scikit-image, Grace Hopper from matplotlib) with a moving virtual camera, extract "
                    "both, train a model (5 minutes on the CPU; longer runs are better), convert Collins's clip with "
                    "Hopper's face (as the model draws it, and with the fine detail of Hopper's photo added), run the "
                    "classic swap too, and write everything into one folder. About 10 minutes "
                    "on 2 CPU cores.",
    )
    parser.add_argument("-o", "--output", default="kaokae-demo",
                        help="folder to write into (default: ./kaokae-demo); replaced as a whole when the demo succeeds")
    add_options(parser, "demo", DemoOptions, config=False)
    add_quiet(parser)
    parser.set_defaults(run=run)


def run(args) -> int:
    from kaokae.demo import run_demo

    o = from_args(DemoOptions, args)
    result = run_demo(args.output, quick=o.quick, device=o.device, watermark=o.watermark, c2pa_cert=o.c2pa_cert,
                      c2pa_key=o.c2pa_key)
    width = max(len(what) for what in result.files)
    for what, path in result.files.items():
        print(f"{what:<{width}}  {path}")
    for what, share in result.verified.items():
        shown = "no face found" if share is None else f"{share:.0%}"
        print(f"{what}: dlib verifies {shown} of the frames it checked as Grace Hopper (B)")
    print(f"demo finished in {result.seconds / 60:.1f} min: open {result.files['summary']} first")
    return 0
