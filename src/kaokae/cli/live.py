"""`kaokae live`: swap a webcam, stream or replayed file in real time."""

import dataclasses
from pathlib import Path

from kaokae.cli import add_options, add_quiet
from kaokae.live.options import LiveOptions
from kaokae.options import from_args


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "live", help="swap a webcam, stream or video file in real time, into a window, virtual camera, stream or file",
        description="Real-time swap: frames from a webcam, a network stream or a video file (replayed at its own "
                    "frame rate, as if it were a camera) are swapped, with the classic swap from photos or a "
                    "trained model, and shown in a window, sent to a virtual camera or a stream, or recorded. "
                    "Capture, swap and output run in separate threads; when the swap is slower than the camera, "
                    "old frames are dropped, never queued, so latency stays bounded. Every frame carries the "
                    "invisible watermark and a small visible \"synthetic\" badge. Window keys: q (or Esc) quit, s "
                    "swap on/off, f fps/latency line, n next source photo. Exit code 0 when the user quits or the "
                    "stream ends, 1 when the camera vanishes.")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--source", nargs="+", type=Path, metavar="PHOTO",
                      help="classic swap: photo(s) of the face to put in; with several, each face takes the one "
                           "nearest its head pose (the n key pins one photo after another)")
    what.add_argument("-m", "--model", type=Path, metavar="MODEL",
                      help="a model folder from `kaokae train`, or an exported .onnx/.dfm model file")
    add_options(p, "live", LiveOptions, config=False)
    add_quiet(p)
    p.set_defaults(run=run_live)


def run_live(args) -> int:
    from kaokae.live import live

    live(dataclasses.replace(from_args(LiveOptions, args), sources=args.source or [], model=args.model))
    return 0
