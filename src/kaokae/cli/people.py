"""`kaokae people`: the distinct people of a video, one reference photo each, to pick `--map` references from."""

from pathlib import Path

from kaokae.cli import add_quiet
from kaokae.cli.extract import add_detection_arguments


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "people", help="find the distinct people in a video: one reference photo each, plus a contact sheet",
        description="Track every face of INPUT, group the tracks by dlib identity (two faces on one frame are "
                    "always two people) and write DIR/person_01.png, person_02.png, ... (most faces first: one "
                    "representative face each, usable as a --map or --only reference) and DIR/contact_sheet.png "
                    "(one row per person: the representative, then faces from across the input).")
    p.add_argument("input", type=Path, metavar="INPUT", help="video file, image file or folder of images")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="DIR", help="folder to write (must be "
                   "empty or new)")
    p.add_argument("--threshold", type=float, default=0.5, metavar="D",
                   help="tracks whose identities are closer than D (dlib distance, average over the tracks) are one "
                        "person; lower splits more (default 0.5, dlib's face-clustering value)")
    p.add_argument("--min-faces", type=int, default=None, metavar="N",
                   help="leave out people seen in fewer than N faces (passers-by, false detections); default 5 for "
                        "a video, 1 for images")
    add_detection_arguments(p)
    p.add_argument("--overwrite", action="store_true", help="replace DIR if it holds files")
    add_quiet(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from kaokae.extract.people import PeopleOptions, people
    from kaokae.progress import info

    options = PeopleOptions(args.threshold, args.min_faces, args.detector, args.max_faces, args.min_size,
                            args.min_score, args.redetect_every, args.smooth, args.overwrite)
    result = people(args.input, args.output, options)
    info(f"contact sheet: {result.sheet}")
    info(result.summary())
    return 0
