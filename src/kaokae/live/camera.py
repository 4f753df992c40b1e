"""Where live frames come from: a webcam (OpenCV: V4L2 on Linux, the platform's camera API elsewhere), a network
stream FFmpeg opens (kaokae.media.StreamReader), or a video file replayed at its own frame rate as if it were a camera.

`open_camera(spec)` checks the source before anything else starts: a missing camera or a stream that does not open
is one KaokaeError line. Then `for frame in camera` yields Frames until the source ends (a file, a stream that
finished) or raises StreamLostError (a camera that vanished, a stream that broke off).
"""

import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from kaokae.errors import KaokaeError, StreamLostError
from kaokae.media import Frame, StreamReader, open_media

DEFAULT_CAMERA_SIZE = (1280, 720)  # asked of a webcam when --size is not given; files and streams keep theirs


def parse_size(text: str) -> tuple[int, int]:
    """'1280x720' -> (1280, 720)."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text or "")
    if not match or not int(match[1]) or not int(match[2]):
        raise KaokaeError(f"--size must be WIDTHxHEIGHT like 1280x720, got {text!r}")
    return int(match[1]), int(match[2])


def _fit(rgb: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    if size is None or (rgb.shape[1], rgb.shape[0]) == size:
        return rgb
    shrink = size[0] < rgb.shape[1]
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


class Camera:
    """A live source. name: what the user gave; kind: 'device' | 'stream' | 'file'; fps: its frame rate (a guess
    for some webcams); size: (width, height) of the frames it yields; realtime: frames come at the source's pace
    (dropping is then the way to keep up), else as fast as they are read."""

    name: str
    kind: str
    fps: float
    size: tuple[int, int]
    realtime: bool = True

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class FileCamera(Camera):
    """A video file as a camera: frames at their own timestamps from the moment iteration starts (realtime), or as
    fast as they decode (realtime=False: every frame reaches the swap, as in `kaokae swap`)."""

    kind = "file"

    def __init__(self, path: Path, size: tuple[int, int] | None, realtime: bool):
        self.name = str(path)
        self.reader = open_media(path)
        if self.reader.info.kind != "video":
            self.reader.close()
            raise KaokaeError(f"--camera {path} is {'an image' if self.reader.info.kind == 'image' else 'a folder'}; "
                              "give a video file, a camera (0, /dev/video0) or a stream URL")
        info = self.reader.info
        self.fps = float(info.fps or 30)
        self.size = size or (info.width, info.height)
        self.resize_to = size
        self.realtime = realtime

    def __iter__(self) -> Iterator[Frame]:
        start = time.perf_counter()
        for frame in self.reader:
            if self.realtime:
                wait = start + frame.time - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
            yield Frame(frame.index, frame.time, _fit(frame.image, self.resize_to))

    def close(self) -> None:
        self.reader.close()


class StreamCamera(Camera):
    """An RTSP/UDP/HTTP/... stream: frames as they arrive."""

    kind = "stream"

    def __init__(self, url: str, size: tuple[int, int] | None, timeout: float):
        self.name = url
        self.reader = StreamReader(url, timeout=timeout)  # a read gives up with the pipeline: no thread left stuck
        self.fps = float(self.reader.fps or 30)
        self.size = size or (self.reader.width, self.reader.height)
        self.resize_to = size

    def __iter__(self) -> Iterator[Frame]:
        for frame in self.reader:
            yield Frame(frame.index, frame.time, _fit(frame.image, self.resize_to))

    def close(self) -> None:
        self.reader.close()


class DeviceCamera(Camera):
    """A webcam through OpenCV's capture (V4L2 on Linux, AVFoundation on macOS, Media Foundation on Windows)."""

    kind = "device"

    def __init__(self, device: int | str, size: tuple[int, int] | None):
        self.name = str(device)
        if sys.platform.startswith("linux"):
            path = Path(f"/dev/video{device}" if isinstance(device, int) else device)
            if not path.exists():
                present = sorted(str(p) for p in Path("/dev").glob("video*"))
                found = f"cameras here: {', '.join(present)}" if present else "this machine has no /dev/video* device"
                raise KaokaeError(f"no camera {device}: {path} does not exist ({found})")
        cv2.setLogLevel(0)  # OpenCV's own warnings would add lines to the one-line error below
        self.capture = cv2.VideoCapture(device)
        if not self.capture.isOpened():
            raise KaokaeError(f"cannot open camera {device} (in use by another program, or not a camera)")
        width, height = size or DEFAULT_CAMERA_SIZE
        self.capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        self.capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self.fps = float(self.capture.get(cv2.CAP_PROP_FPS) or 30)
        self.size = (int(self.capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self.capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self.resize_to = size  # a camera that cannot give the size asked for is resized to it

    def __iter__(self) -> Iterator[Frame]:
        start = time.perf_counter()
        index = 0
        while True:
            ok, bgr = self.capture.read()
            if not ok:
                raise StreamLostError(f"camera {self.name} stopped delivering frames (unplugged or taken by "
                                      "another program?)")
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            yield Frame(index, time.perf_counter() - start, _fit(rgb, self.resize_to))
            index += 1

    def close(self) -> None:
        self.capture.release()


def open_camera(spec: str, size: tuple[int, int] | None = None, realtime: bool = True,
                timeout: float = 5.0) -> Camera:
    """`spec`: a camera number (0), a device path (/dev/video0), a stream URL (rtsp://, udp://, http://...) or a
    video file. `size` (width, height): asked of a webcam, and what every frame is resized to when given. A stream
    that sends no frame for `timeout` seconds counts as lost."""
    spec = str(spec)
    if spec.isdigit():
        return DeviceCamera(int(spec), size)
    if spec.startswith("/dev/"):
        return DeviceCamera(spec, size)
    if "://" in spec:
        return StreamCamera(spec, size, timeout)
    path = Path(spec)
    if not path.exists():
        raise KaokaeError(f"--camera {spec}: no such file (give a camera number like 0, a device like /dev/video0, "
                          "a stream URL or a video file)")
    return FileCamera(path, size, realtime)
