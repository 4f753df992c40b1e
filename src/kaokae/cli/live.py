"""`kaokae live`: swap a webcam, stream or replayed file in real time."""

import argparse
from pathlib import Path

from kaokae.cli import add_quiet
from kaokae.cli.provenance import add_label_arguments
from kaokae.composite import BLEND_METHODS, COLOUR_METHODS


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
    p.add_argument("--camera", default="0", metavar="CAMERA",
                   help="a camera number (0, 1...), a device (/dev/video0), a stream URL FFmpeg opens (rtsp://, "
                        "udp://, http://...) or a video file (default 0)")
    p.add_argument("--size", metavar="WxH",
                   help="frame size, e.g. 1280x720: asked of a webcam, and what every frame is resized to (default: "
                        "1280x720 for a webcam; a stream or file keeps its own)")
    p.add_argument("--output", default="window", metavar="OUTPUT",
                   help="window (default); virtualcam (pyvirtualcam: v4l2loopback on Linux, OBS's virtual camera "
                        "elsewhere; virtualcam:/dev/videoN picks the device); a stream URL (udp://, rtmp://, "
                        "rtsp://...); a video file that records the session (.mp4 .m4v .mov .mkv); none (measure only)")
    p.add_argument("--realtime", action=argparse.BooleanOptionalAction, default=True,
                   help="a video file as --camera: replay it at its own frame rate, dropping frames the swap cannot "
                        "keep up with (default); --no-realtime swaps every frame as fast as it can")
    p.add_argument("--only", nargs="+", type=Path, default=[], metavar="REF",
                   help="swap only the faces of the person in these photos; others stay as they are")
    p.add_argument("--threshold", type=float, default=0.6,
                   help="--only: identity distance at or below which a face counts as that person (default 0.6)")
    p.add_argument("--blend", choices=BLEND_METHODS, default="poisson",
                   help="poisson: gradient-domain cloning, lighting follows the frame; feather: a plain soft-edged "
                        "paste (default poisson)")
    p.add_argument("--colour", "--color", choices=COLOUR_METHODS, default="lab",
                   help="colour correction inside the mask: lab, hist or none (default lab)")
    p.add_argument("--no-smooth", dest="smooth", action="store_false",
                   help="no temporal smoothing of landmarks and colour (smoothing steadies the face)")
    p.add_argument("--direction", choices=["a2b", "b2a"], default="a2b",
                   help="-m: a2b puts B's face (the second faceset of `kaokae train`) on the camera's faces, b2a A's "
                        "(default a2b)")
    p.add_argument("--device", default="auto",
                   help="-m: where the model runs: auto, cpu, cuda, cuda:N, mps (default auto)")
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                   help="-m: auto runs the model in bf16 where the device computes it natively, else fp32 (default auto)")
    p.add_argument("--runtime", choices=["torch", "onnxruntime"], default="torch",
                   help="-m: what runs a model folder: torch (default) or onnxruntime (its latest checkpoint exported "
                        "once into MODEL/onnx/); model files always run in onnxruntime")
    p.add_argument("--no-badge", dest="badge", action="store_false",
                   help="no visible \"synthetic\" badge in the corner (the invisible watermark stays)")
    p.add_argument("--timeout", type=float, default=5.0, metavar="S",
                   help="seconds without a frame after which the camera counts as gone (exit 1; default 5)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing recording file")
    add_label_arguments(p)
    add_quiet(p)
    p.set_defaults(run=run_live)


def run_live(args) -> int:
    from kaokae.live import LiveOptions, live, parse_size

    options = LiveOptions(
        sources=args.source or [], model=args.model, camera=args.camera,
        size=parse_size(args.size) if args.size else None, output=args.output, realtime=args.realtime,
        only=args.only, threshold=args.threshold, blend=args.blend, colour=args.colour, smooth=args.smooth,
        direction=args.direction, device=args.device, precision=args.precision, runtime=args.runtime,
        badge=args.badge,
        watermark=not args.no_watermark, c2pa_cert=args.c2pa_cert, c2pa_key=args.c2pa_key,
        overwrite=args.overwrite, stall_timeout=args.timeout)
    live(options)
    return 0
