"""Where live frames go: a window (OpenCV), a virtual camera (pyvirtualcam: v4l2loopback on Linux, OBS's camera
elsewhere), a network stream, a video file that records the session, or nowhere (to measure speed).

Every output is a context manager with `write(rgb, frame, status)` (status: the fps/latency line, drawn by outputs a
person looks at) and `poll() -> key command | None` (only a window has keys). Frames arrive already labelled by the
session (badge, watermark); file and stream outputs add the label's metadata, a file also its C2PA manifest.
"""

import os
import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from kaokae.errors import KaokaeError
from kaokae.live.session import draw_status
from kaokae.media import VIDEO_EXTENSIONS, Frame, StreamWriter, VideoWriter
from kaokae.provenance import Labeller

WINDOW_TITLE = "kaokae live"
# Window keys -> commands: q or Esc quits, s toggles the swap, f the fps line, n pins the next source photo.
KEYS = {ord("q"): "quit", 27: "quit", ord("s"): "swap", ord("f"): "status", ord("n"): "source"}
KEY_HELP = "keys: q quit, s swap on/off, f fps line, n next source photo"


class Output:
    shows_status = False  # whether the fps/latency line is drawn (toggled with the f key)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()

    def write(self, rgb: np.ndarray, frame: Frame, status: str | None = None) -> None:
        raise NotImplementedError

    def poll(self) -> str | None:
        return None

    def close(self) -> None:
        pass


class NullOutput(Output):
    """Frames go nowhere (speed measurements)."""

    def write(self, rgb, frame, status=None) -> None:
        pass


class WindowOutput(Output):
    shows_status = True

    def __init__(self, title: str = WINDOW_TITLE):
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise KaokaeError("--output window needs a display (DISPLAY is not set); use --output virtualcam, a "
                              "video file or a stream URL")
        self.title = title
        try:
            cv2.namedWindow(title, cv2.WINDOW_AUTOSIZE)
        except cv2.error as e:
            raise KaokaeError(f"cannot open a window: {e.err or e}") from None
        self.shown = False

    def write(self, rgb, frame, status=None) -> None:
        if status:
            draw_status(rgb, status)
        cv2.imshow(self.title, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        self.shown = True

    def poll(self) -> str | None:
        key = cv2.waitKey(1)
        if self.shown and cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            return "quit"  # closed with the window's own button
        return KEYS.get(key & 0xFF) if key != -1 else None

    def close(self) -> None:
        cv2.destroyWindow(self.title)
        cv2.waitKey(1)  # lets the window system process the close


def missing_virtualcam_message(reason: str) -> str:
    if sys.platform.startswith("linux"):
        return ("no virtual camera device: install and load v4l2loopback (Debian/Ubuntu: sudo apt install "
                "v4l2loopback-dkms && sudo modprobe v4l2loopback exclusive_caps=1 card_label=kaokae), then run "
                f"again (pyvirtualcam: {reason})")
    return ("no virtual camera: install OBS Studio (obsproject.com) and start its Virtual Camera once, then run "
            f"again (pyvirtualcam: {reason})")


class VirtualCamOutput(Output):
    """A virtual camera that video-call programs list like a webcam."""

    def __init__(self, size: tuple[int, int], fps: float, device: str | None = None):
        try:
            import pyvirtualcam
        except ImportError:
            raise KaokaeError("--output virtualcam needs pyvirtualcam: pip install pyvirtualcam") from None
        try:
            self.camera = pyvirtualcam.Camera(size[0], size[1], fps, fmt=pyvirtualcam.PixelFormat.RGB, device=device)
        except RuntimeError as e:
            raise KaokaeError(missing_virtualcam_message(str(e).rstrip("."))) from None
        self.size = size

    def write(self, rgb, frame, status=None) -> None:
        if (rgb.shape[1], rgb.shape[0]) != self.size:
            rgb = cv2.resize(rgb, self.size, interpolation=cv2.INTER_AREA)
        self.camera.send(np.ascontiguousarray(rgb))

    def close(self) -> None:
        self.camera.close()


class FileOutput(Output):
    """Records the session into a video file (H.264, labelled like `kaokae convert`'s output: container tags and,
    with a certificate, C2PA), renamed into place when the session ends (quit, Ctrl-C, the stream ended or the
    camera was lost); an error leaves nothing. Frames keep their capture times, so dropped frames leave gaps rather than speeding up."""

    def __init__(self, path: Path, fps: float, labeller: Labeller, overwrite: bool = False):
        if path.exists() and not overwrite:
            raise KaokaeError(f"output {path} exists (use --overwrite to replace it)")
        self.path, self.labeller = path, labeller
        self.writer = VideoWriter(path, Fraction(fps).limit_denominator(1001), metadata=labeller.tags,
                                  preset="veryfast", time_base=Fraction(1, 1000))

    def __enter__(self):
        self.writer.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.writer.__exit__(exc_type, exc, tb)
        if exc_type is None:
            self.labeller.sign(self.path)

    def write(self, rgb, frame, status=None) -> None:
        self.writer.write(rgb, time=frame.time)


class StreamOutput(Output):
    def __init__(self, url: str, fps: float, labeller: Labeller):
        self.writer = StreamWriter(url, Fraction(fps).limit_denominator(1001), metadata=labeller.tags)

    def write(self, rgb, frame, status=None) -> None:
        self.writer.write(rgb, time=frame.time)

    def close(self) -> None:
        self.writer.close()


def recording_path(spec: str) -> Path | None:
    """The video file `spec` records into, or None when it names a window, virtual camera, stream or nothing."""
    if spec in ("window", "none", "virtualcam") or spec.startswith("virtualcam:") or "://" in spec:
        return None
    path = Path(spec)
    if path.suffix.lower() not in VIDEO_EXTENSIONS:
        raise KaokaeError(f"--output {spec}: use window, virtualcam, none, a stream URL, or a video file "
                          f"({', '.join(VIDEO_EXTENSIONS)})")
    return path


def open_output(spec: str, size: tuple[int, int], fps: float, labeller: Labeller, overwrite: bool = False) -> Output:
    """`spec`: window, virtualcam (or virtualcam:/dev/videoN), none, a stream URL, or a video file."""
    if (path := recording_path(spec)) is not None:
        return FileOutput(path, fps, labeller, overwrite)
    if spec == "window":
        return WindowOutput()
    if spec == "none":
        return NullOutput()
    if "://" in spec:
        return StreamOutput(spec, fps, labeller)
    return VirtualCamOutput(size, fps, spec.partition(":")[2] or None)
