"""`kaokae extract` (media -> faceset) and `kaokae faceset info|sort|filter|restore|repair`."""

import argparse
from pathlib import Path

from kaokae.cli import add_options, add_quiet
from kaokae.extract.options import (
    ExtractOptions,
    FacesetInfoOptions,
    FilterOptions,
    RepairOptions,
    RestoreOptions,
    SortOptions,
)
from kaokae.options import from_args
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
    add_options(p, "extract", ExtractOptions)
    add_quiet(p)
    p.set_defaults(run=run_extract)

    fs = subparsers.add_parser(
        "faceset", help="inspect, sort and filter a faceset",
        description="Inspect, sort and filter a faceset. Sorting renames faces into the new order; filtering "
                    "moves faces into rejected/ (nothing is deleted); the alignments follow every change.")
    actions = fs.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(fs))

    for name, cls, run, short, description in (
        ("info", FacesetInfoOptions, run_info, "counts, pose and blur spread, and a yaw/pitch coverage plot",
         "Print counts (faces, sources, tracks, rejected), size and centering, pose and blur spread, and write a "
         "yaw/pitch coverage plot."),
        ("sort", SortOptions, run_sort, "reorder and rename faces by blur, identity or yaw",
         "Reorder the faces and rename them faces/000000.png... in the new order."),
        ("filter", FilterOptions, run_filter, "move blurry, wrong-person or near-duplicate faces into rejected/",
         "Move faces that match any criterion into rejected/ (nothing is deleted) and update the alignments."),
        ("restore", RestoreOptions, run_restore, "move rejected faces back into the faceset",
         "Move the named faces of rejected/ (or --all of them) back into faces/, after the kept faces, with "
         "their alignments: the undo of `faceset filter`."),
        ("repair", RepairOptions, run_repair, "finish or drop a change to the faceset that a killed kaokae left",
         "Finish a sort, filter or append that was interrupted after it was committed (or drop one interrupted "
         "before), under the faceset's lock. Reading a faceset never does this itself: until it is repaired, "
         "commands that read it refuse it. Writers (extract --append, sort, filter) repair first on their own.")):
        p = actions.add_parser(name, help=short, description=description)
        p.add_argument("faceset", type=Path, metavar="FACESET", help="faceset folder")
        if name == "restore":
            p.add_argument("names", nargs="*", metavar="NAME", help="rejected faces to restore, e.g. 000012.png")
        add_options(p, f"faceset {name}", cls, config=False)
        add_quiet(p)
        p.set_defaults(run=run)



def run_extract(args: argparse.Namespace) -> int:
    from kaokae.extract import extract

    result = extract(args.inputs, args.output, from_args(ExtractOptions, args))
    info(result.summary())
    return 0


def run_info(args: argparse.Namespace) -> int:
    from kaokae.extract import faceset_info

    print("\n".join(faceset_info(args.faceset, from_args(FacesetInfoOptions, args).plot).lines()))
    return 0


def run_sort(args: argparse.Namespace) -> int:
    from kaokae.extract import sort_faceset

    o = from_args(SortOptions, args)
    fs = sort_faceset(args.faceset, o.by, o.ref)
    info(f"sorted {len(fs)} faces by {o.by} in {fs.path}")
    return 0


def run_filter(args: argparse.Namespace) -> int:
    from kaokae.extract import filter_faceset

    o = from_args(FilterOptions, args)
    fs, counts = filter_faceset(args.faceset, o.blur_below, o.not_like, o.threshold, o.near_duplicates)
    moved = ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items())) or "none"
    info(f"moved {sum(counts.values())} faces into rejected/ ({moved}); {len(fs)} faces left in {fs.path}")
    return 0


def run_restore(args: argparse.Namespace) -> int:
    from kaokae.extract import restore_faceset

    o = from_args(RestoreOptions, args)
    fs, restored = restore_faceset(args.faceset, args.names, o.everything)
    info(f"restored {restored} faces from rejected/; {len(fs)} faces, {len(fs.rejected)} rejected in {fs.path}")
    return 0


def run_repair(args: argparse.Namespace) -> int:
    from kaokae.faceset import repair_faceset

    from_args(RepairOptions, args)
    done = repair_faceset(args.faceset)
    info(f"{args.faceset}: {done or 'nothing to repair'}")
    return 0

