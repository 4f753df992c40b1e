"""`kaokae verify`, and the label options that convert, swap and demo share (`add_label_arguments`)."""

import argparse

from kaokae.cli import add_quiet
from kaokae.provenance.verify import VIDEO_FRAMES, verify_files

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
    parser.add_argument("--json", action="store_true", help="print one JSON object per file instead of text")
    parser.add_argument("--frames", type=int, default=VIDEO_FRAMES, metavar="N",
                        help=f"video frames (from the first 300) whose watermark evidence is added up "
                             f"(default {VIDEO_FRAMES}; more is slower and finds weaker marks)")
    parser.add_argument("--metadata-only", action="store_true",
                        help="skip the watermark search (fast: reads only metadata and C2PA)")
    parser.add_argument("--c2pa-trust", metavar="PEM",
                        help="CA certificates (PEM) whose C2PA signers count as trusted; without it a good "
                             "signature shows as valid but not trusted")
    add_quiet(parser)
    parser.set_defaults(run=run_verify)


def run_verify(args) -> int:
    return verify_files(args.files, as_json=args.json, watermark=not args.metadata_only, frames=args.frames,
                        trust_path=args.c2pa_trust)


def add_label_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of every command that writes synthetic media (convert, swap, demo)."""
    group = parser.add_argument_group(
        "synthetic-media label", "Every output is labelled as synthetic: IPTC trainedAlgorithmicMedia in the "
        "metadata and an invisible watermark in the pixels. `kaokae verify` reads them back.")
    group.add_argument("--no-watermark", action="store_true",
                       help="do not add the invisible watermark (the metadata label is still written); "
                            "the watermark costs ~1-2 ms per 720p frame and changes pixels by at most 3 levels")
    group.add_argument("--c2pa-cert", metavar="PEM",
                       help="also embed a signed C2PA manifest, with this certificate chain (PEM, signer first, "
                            "issued by a CA, with digitalSignature and e.g. emailProtection usage); needs --c2pa-key")
    group.add_argument("--c2pa-key", metavar="PEM", help="the private key of --c2pa-cert (PEM, unencrypted)")
