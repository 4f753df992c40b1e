"""`kaokae verify`: whether images and videos are labelled as synthetic."""

import argparse

from kaokae.cli import add_options, add_quiet
from kaokae.options import from_args
from kaokae.provenance.options import VerifyOptions
from kaokae.provenance.verify import verify_files

VERIFY_HELP = """\
Read every synthetic-media label a file may carry and print what was found:
  metadata   the IPTC digital source type in XMP (images) or container tags (video), with tool, model and date;
  watermark  kaokae's invisible watermark (tool and model hash prefix), which survives re-encoding, resizing
             and cropping after the metadata is gone;
  c2pa       a C2PA manifest ("Content Credentials") and whether its signature is valid.
Exit code: 0 when every file carries a synthetic-media label, 1 when at least one carries none, 2 when a file
cannot be read (not an image or video, or too damaged to decode); the other files are still reported."""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "verify", help="tell whether images/videos are labelled as synthetic (metadata, watermark, C2PA)",
        description=VERIFY_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="images or videos to check; a folder means every image in it")
    add_options(parser, "verify", VerifyOptions, config=False)
    add_quiet(parser)
    parser.set_defaults(run=run_verify)


def run_verify(args) -> int:
    o = from_args(VerifyOptions, args)
    return verify_files(args.files, as_json=o.json, watermark=not o.metadata_only, frames=o.frames,
                        trust_path=o.c2pa_trust)
