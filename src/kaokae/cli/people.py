"""`kaokae people`: the distinct people of a video, one reference photo each, to pick `--map` references from."""

from pathlib import Path

from kaokae.cli import add_options, add_quiet
from kaokae.extract.options import PeopleOptions
from kaokae.options import from_args


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
    add_options(p, "people", PeopleOptions, config=False)
    add_quiet(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from kaokae.extract.people import people
    from kaokae.progress import info

    result = people(args.input, args.output, from_args(PeopleOptions, args))
    info(f"contact sheet: {result.sheet}")
    info(result.summary())
    return 0
