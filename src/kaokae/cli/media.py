"""`kaokae info`, `kaokae frames`, `kaokae assemble`: the media tools (the seed's steps 1 and 4) run alone."""

import argparse
import json

from kaokae.cli import add_options, add_quiet
from kaokae.media import probe
from kaokae.media.options import AssembleOptions, FramesOptions, InfoOptions
from kaokae.media.tools import assemble_video, describe, extract_frames, format_info
from kaokae.options import from_args


def register(subparsers) -> None:
    p = subparsers.add_parser("info", help="print the facts of a video, image or image folder",
                              description="Print size, frame rate (exact), frame count, duration, rotation and "
                                          "audio of a video file, an image, or a folder of images.")
    p.add_argument("media", metavar="MEDIA", help="a video file, an image file, or a folder of images")
    add_options(p, "info", InfoOptions, config=False)
    p.set_defaults(run=run_info)

    p = subparsers.add_parser("frames", help="write the frames of a video as images",
                              description="Write the frames of a video as numbered stills (000000.png, ...; the "
                                          "number is the source frame number), upright, into a new folder. The "
                                          "folder appears only once every frame is written.")
    p.add_argument("video", metavar="VIDEO", help="the video to read (any container/codec FFmpeg decodes)")
    p.add_argument("-o", "--output", metavar="DIR", required=True,
                   help="folder to create; it must not exist or be empty unless --overwrite")
    add_options(p, "frames", FramesOptions, config=False)
    add_quiet(p)
    p.set_defaults(run=run_frames)

    p = subparsers.add_parser("assemble", help="build an H.264 video from a folder of images",
                              description="Encode a folder of images (natural order: 2 before 10) into an H.264 "
                                          "video, optionally with the audio of another file. The video is written "
                                          "to a temporary file and renamed only when complete.")
    p.add_argument("folder", metavar="DIR", help="folder of images (.png .jpg .jpeg .webp .bmp .tif .tiff)")
    p.add_argument("-o", "--output", metavar="VIDEO", required=True,
                   help="video to write: .mp4, .m4v, .mov or .mkv (an existing file is replaced once the new one is done)")
    p.add_argument("--audio-from", metavar="MEDIA",
                   help="copy the audio of this file (video or audio) unchanged; re-encoded to AAC only where the "
                        "container cannot hold it")
    add_options(p, "assemble", AssembleOptions, config=False)
    add_quiet(p)
    p.set_defaults(run=run_assemble)


def run_info(args: argparse.Namespace) -> int:
    media = probe(args.media)
    print(json.dumps(describe(media), indent=2) if from_args(InfoOptions, args).json else format_info(media))
    return 0


def run_frames(args: argparse.Namespace) -> int:
    o = from_args(FramesOptions, args)
    extract_frames(args.video, args.output, every=o.every, fmt=o.format, quality=o.quality, overwrite=o.overwrite)
    return 0


def run_assemble(args: argparse.Namespace) -> int:
    o = from_args(AssembleOptions, args)
    assemble_video(args.folder, args.output, fps=o.fps, audio_from=args.audio_from, crf=o.crf, preset=o.preset)
    return 0
