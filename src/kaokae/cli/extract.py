"""`kaokae extract` (media -> faceset) and `kaokae faceset info|sort|filter`."""

import argparse
from pathlib import Path

from kaokae.cli import add_quiet
from kaokae.progress import info


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "extract", help="find, align and save every face of videos, images and folders as a faceset",
        description="Find every face in videos, images and folders of images, align it and save it as a "
                    "faceset: faces/NNNNNN.png plus alignments.json/.npz (the training data of `kaokae "
                    "train` and the geometry `kaokae convert` reuses), and a contact_sheet.png to check at a "
                    "glance. Videos are tracked (every face keeps a track id); exit code 1 when no face is "
                    "found (nothing is written).")
    p.add_argument("inputs", nargs="+", metavar="INPUT", type=Path,
                   help="video files, image files or folders of images")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="FACESET",
                   help="faceset folder to write")
    p.add_argument("--size", type=int, default=256,
                   help="side of the aligned square faces in pixels (default 256)")
    p.add_argument("--centering", choices=["face", "head", "whole_face"], default="face",
                   help="face: the face fills the square (what swap models train on); head: zoomed out so "
                        "hair, ears and chin fit; whole_face: DeepFaceLab's whole-face crop, for models that will be "
                        "exported to .dfm and run in DeepFaceLive or FaceFusion (default face)")
    add_detection_arguments(p)
    p.add_argument("--every", type=int, default=1, metavar="N",
                   help="search every N-th frame of videos and image folders only (default 1)")
    p.add_argument("--identity", action="store_true",
                   help="store a 128-D identity embedding for every face (dlib ResNet; ~0.1-0.2 s per face)")
    p.add_argument("--only", nargs="+", type=Path, metavar="REF", default=[],
                   help="keep only faces of the person in these photos (give it after the inputs); other "
                        "people's faces go to rejected/. Checked on each track's first face and every 10 "
                        "searched frames")
    p.add_argument("--threshold", type=float, default=0.6,
                   help="--only: identity distance at or below which a face counts as the same person "
                        "(default 0.6)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--append", action="store_const", const="append", dest="mode",
                      help="add to an existing faceset (same --size and --centering)")
    mode.add_argument("--overwrite", action="store_const", const="overwrite", dest="mode",
                      help="replace an existing faceset (the old one stays until the new one is complete)")
    add_quiet(p)
    p.set_defaults(run=run_extract, mode="new")

    fs = subparsers.add_parser(
        "faceset", help="inspect, sort and filter a faceset",
        description="Inspect, sort and filter a faceset. Sorting renames faces into the new order; filtering "
                    "moves faces into rejected/ (nothing is deleted); the alignments follow every change.")
    actions = fs.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(fs))

    p = actions.add_parser("info", help="counts, pose and blur spread, and a yaw/pitch coverage plot",
                           description="Print counts (faces, sources, tracks, rejected), size and centering, "
                                       "pose and blur spread, and write a yaw/pitch coverage plot.")
    p.add_argument("faceset", type=Path, metavar="FACESET", help="faceset folder")
    p.add_argument("--plot", type=Path, metavar="FILE",
                   help="where to write the coverage plot PNG (default coverage.png in the faceset)")
    add_quiet(p)
    p.set_defaults(run=run_info)

    p = actions.add_parser("sort", help="reorder and rename faces by blur, identity or yaw",
                           description="Reorder the faces and rename them faces/000000.png... in the new "
                                       "order.")
    p.add_argument("faceset", type=Path, metavar="FACESET", help="faceset folder")
    p.add_argument("--by", choices=["blur", "identity", "yaw"], required=True,
                   help="blur: sharpest first; identity: closest first to the faceset's mean face identity "
                        "(or to --ref), so other people end up last; yaw: from one profile to the other")
    p.add_argument("--ref", nargs="+", type=Path, metavar="REF", default=[],
                   help="--by identity: sort by distance to the person in these photos")
    add_quiet(p)
    p.set_defaults(run=run_sort)

    p = actions.add_parser("filter", help="move blurry, wrong-person or near-duplicate faces into rejected/",
                           description="Move faces that match any criterion into rejected/ (nothing is "
                                       "deleted) and update the alignments.")
    p.add_argument("faceset", type=Path, metavar="FACESET", help="faceset folder")
    p.add_argument("--blur-below", type=float, metavar="X",
                   help="reject faces whose blur score (variance of the Laplacian; see `faceset info`) is "
                        "below X")
    p.add_argument("--not-like", nargs="+", type=Path, metavar="REF", default=[],
                   help="reject faces that are not the person in these photos (identity distance above "
                        "--threshold)")
    p.add_argument("--threshold", type=float, default=0.6,
                   help="--not-like: identity distance threshold (default 0.6)")
    p.add_argument("--near-duplicates", type=float, metavar="D",
                   help="reject a face that differs from a face kept before it by at most D grey levels (RMS "
                        "over 32x32 grey thumbnails, 0-255). Consecutive frames of a talking head are ~1-8 "
                        "apart (median ~3), frames seconds apart 10-30: D=5 keeps about half of a 30 fps "
                        "talking-head clip, D=8 a quarter")
    add_quiet(p)
    p.set_defaults(run=run_filter)

    p = actions.add_parser("repair", help="finish or drop a change to the faceset that a killed kaokae left",
                           description="Finish a sort, filter or append that was interrupted after it was "
                                       "committed (or drop one interrupted before), under the faceset's lock. "
                                       "Reading a faceset never does this itself: until it is repaired, "
                                       "commands that read it refuse it. Writers (extract --append, sort, "
                                       "filter) repair first on their own.")
    p.add_argument("faceset", type=Path, metavar="FACESET", help="faceset folder")
    add_quiet(p)
    p.set_defaults(run=run_repair)


def run_extract(args: argparse.Namespace) -> int:
    from kaokae.extract import ExtractOptions, extract

    options = ExtractOptions(
        size=args.size, centering=args.centering, detector=args.detector, max_faces=args.max_faces,
        min_size=args.min_size, min_score=args.min_score, every=args.every,
        redetect_every=args.redetect_every, smooth=args.smooth, identity=args.identity, only=args.only,
        threshold=args.threshold, mode=args.mode)
    result = extract(args.inputs, args.output, options)
    info(result.summary())
    return 0


def run_info(args: argparse.Namespace) -> int:
    from kaokae.extract import faceset_info

    print("\n".join(faceset_info(args.faceset, args.plot).lines()))
    return 0


def run_sort(args: argparse.Namespace) -> int:
    from kaokae.extract import sort_faceset

    fs = sort_faceset(args.faceset, args.by, args.ref)
    info(f"sorted {len(fs)} faces by {args.by} in {fs.path}")
    return 0


def run_filter(args: argparse.Namespace) -> int:
    from kaokae.extract import filter_faceset

    fs, counts = filter_faceset(args.faceset, args.blur_below, args.not_like, args.threshold,
                                args.near_duplicates)
    moved = ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items())) or "none"
    info(f"moved {sum(counts.values())} faces into rejected/ ({moved}); {len(fs)} faces left in {fs.path}")
    return 0


def run_repair(args: argparse.Namespace) -> int:
    from kaokae.faceset import repair_faceset

    done = repair_faceset(args.faceset)
    info(f"{args.faceset}: {done or 'nothing to repair'}")
    return 0


def add_detection_arguments(parser) -> None:
    """How faces are found and tracked: the same options, and the same code, for extract and convert."""
    parser.add_argument("--detector", choices=["auto", "short", "full"], default="auto",
                        help="BlazeFace model: short range (near faces), full range (far faces), or auto (both on "
                             "the whole frame, plus the full-range model on tiles to find small faces; default)")
    parser.add_argument("--max-faces", type=int, default=10, metavar="N",
                        help="at most N faces per frame (default 10)")
    parser.add_argument("--min-size", type=float, default=0.0, metavar="PX",
                        help="ignore faces smaller than PX pixels (longer side of the face box; default 0). A "
                             "larger value also skips the tile passes that look for small faces, which is faster")
    parser.add_argument("--min-score", type=float, default=0.5, metavar="S",
                        help="detector confidence threshold, 0-1 (default 0.5)")
    parser.add_argument("--redetect-every", type=int, default=10, metavar="N",
                        help="videos: run the detector every N frames (and at scene cuts); in between faces are "
                             "tracked from the previous frame's landmarks, which is faster (default 10)")
    parser.add_argument("--no-smooth", dest="smooth", action="store_false",
                        help="videos: no temporal smoothing of landmarks (smoothing steadies the aligned faces)")
