"""`kaokae evaluate`: measure what a swap achieved (identity, pose, expression, reconstruction, flicker)."""

import argparse

from kaokae.cli import add_options, add_quiet
from kaokae.errors import KaokaeError
from kaokae.evaluate.options import EvaluateOptions
from kaokae.options import from_args


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate", help="measure a swap: identity, pose, expression, reconstruction, flicker",
        description="Measure what a swap achieved, with dlib's models (independent of the mediapipe models that "
                    "made the swap). Either give a trained model and A's media (--model, --source, --target: the "
                    "frames are converted here) or a finished swap and its source (--swapped, --source). Prints a "
                    "Markdown table; --json and --png write the full report. Metrics: identity distance of the "
                    "swapped faces to B and to A (dlib 128-D; below 0.6 is the same person, 'verified as B'), "
                    "ID retrieval among a gallery; head-pose error (degrees) and expression error (NME of eyes and mouth) "
                    "against the source; SSIM/PSNR of A->A and B->B reconstructions (with --model); flicker in "
                    "the face region relative to the source (1.0 = no added flicker). A 'no swap' row scores the "
                    "source frames themselves, the reference.")
    mode = p.add_argument_group("what to evaluate (one of the two forms)")
    mode.add_argument("--model", metavar="MODEL_DIR",
                      help="form (a): a trained model folder; A's frames are converted to B with it")
    mode.add_argument("--swapped", metavar="VIDEO",
                      help="form (b): a swapped video made from --source (frame i against frame i)")
    p.add_argument("--source", metavar="MEDIA", required=True,
                   help="A: the source video (form b), or A's video, photos or faceset (form a); use frames the "
                        "model was not trained on for honest reconstruction numbers")
    p.add_argument("--target", metavar="FACESET_OR_PHOTOS",
                   help="B: a faceset, photo, folder of photos or video of the person swapped in (required with "
                        "--model; with --swapped it enables the distance to B and retrieval)")
    p.add_argument("--gallery", metavar="DIR",
                   help="folder with one sub-folder of photos (or a faceset) per person, at least 4 people other "
                        "than A and B: enables ID retrieval, the share of swapped faces whose nearest identity "
                        "is B")
    add_options(p, "evaluate", EvaluateOptions, config=False)
    add_quiet(p)
    p.set_defaults(run=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    from kaokae.evaluate import check_outputs, evaluate_model, evaluate_video

    o = from_args(EvaluateOptions, args)
    if (args.model is None) == (args.swapped is None):
        raise KaokaeError("give either --model (with --source and --target) or --swapped (with --source)")
    check_outputs(o.json, o.png, [args.model, args.swapped, args.source, args.target, args.gallery])
    if args.model is not None:
        if args.target is None:
            raise KaokaeError("--model needs --target: B's faceset or photos")
        report = evaluate_model(args.model, args.source, args.target, gallery=args.gallery, start=o.start,
                                frames=o.frames, with_source_row=o.reference_row, device=o.device)
    else:
        report = evaluate_video(args.swapped, args.source, target=args.target, gallery=args.gallery,
                                start=o.start, frames=o.frames, with_source_row=o.reference_row)
    print(report.markdown())
    if o.json:
        report.write_json(o.json)
    if o.png:
        report.write_png(o.png)
    return 0
