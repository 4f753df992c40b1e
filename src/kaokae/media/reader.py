"""Reading media: a video file, a single image or a folder of images, one upright RGB frame at a time.

`probe(path)` gives the facts up front; `open_media(path)` gives a reader that streams frames (memory stays flat
however long the video is).
"""

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from kaokae import paths
from kaokae.errors import KaokaeError, StreamLostError
from kaokae.media.image import image_size, is_image_path, list_images, read_image
from kaokae.progress import warn


@dataclass(frozen=True)
class MediaInfo:
    path: Path
    kind: str  # 'video' | 'image' | 'folder'
    width: int  # upright, after rotation
    height: int
    fps: Fraction | None  # exact rational; None for a single image and for a folder read without a frame rate
    frame_count: int  # exact when the container indexes its frames (MP4/MOV), else estimated from the duration
    duration: float | None  # seconds; None for stills without a frame rate
    rotation: int = 0  # degrees counter-clockwise the stored picture is turned to display it upright
    has_audio: bool = False
    codec: str | None = None  # video codec (video) or image format (stills)
    audio_codec: str | None = None
    time_base: Fraction | None = None  # the video stream's time base: a VideoWriter given it keeps timestamps exact


@dataclass(frozen=True)
class Frame:
    index: int  # position in the source: frame number of the video, or of the image in the folder's order
    time: float  # seconds from the first frame (index / fps for folders with a frame rate, else 0.0)
    image: np.ndarray  # (H, W, 3) uint8 RGB, upright
    name: str | None = None  # file name for images and folders, None for video


def probe(path: str | os.PathLike, fps: Fraction | None = None) -> MediaInfo:
    """Media facts without reading the frames. `fps` is the frame rate to assume for a folder of images."""
    path = Path(path)
    if not path.exists():
        raise KaokaeError(f"no such file or folder: {path}")
    if path.is_dir():
        images = list_images(path)
        if not images:
            raise KaokaeError(f"no images in folder {path} (looked for .png, .jpg, .jpeg, .webp, .bmp, .tif, .tiff)")
        width, height = image_size(images[0])
        duration = float(len(images) / fps) if fps else None
        return MediaInfo(path, "folder", width, height, fps, len(images), duration, codec=images[0].suffix[1:].lower())
    if path.stat().st_size == 0:
        raise KaokaeError(f"{path} is empty (0 bytes)")
    if is_image_path(path):
        width, height = image_size(path)
        return MediaInfo(path, "image", width, height, None, 1, None, codec=path.suffix[1:].lower())
    return _probe_video(path)


def _open_container(path: Path) -> av.container.InputContainer:
    try:
        container = av.open(str(path), metadata_errors="replace")
    except av.error.FFmpegError as e:
        raise KaokaeError(f"cannot read {path}: not a video or image FFmpeg can open ({_reason(e)})") from None
    if not container.streams.video:
        container.close()
        raise KaokaeError(f"{path} has no video stream")
    if problem := _too_big(container.streams.video[0], path):
        container.close()
        raise KaokaeError(problem)
    return container


def _too_big(stream, name: object) -> str | None:
    """Frames bigger than `kaokae.paths.MAX_PIXELS` are refused from the stream's header, before any decoding: a
    header may claim a frame far larger than memory, as an image's can."""
    width, height = stream.codec_context.width, stream.codec_context.height
    if width * height <= paths.MAX_PIXELS:
        return None
    return (f"{name} has {width}x{height} video frames ({width * height / 1e6:.0f} megapixels): kaokae reads frames "
            f"of up to {paths.MAX_PIXELS / 1e6:.0f} megapixels")


def _reason(error: Exception) -> str:
    """FFmpeg's message without its errno prefix and repeated file name."""
    return getattr(error, "strerror", None) or str(error)


def _video_fps(stream) -> Fraction | None:
    # average_rate is frames / duration (what a constant-rate copy needs to keep the length); base_rate is the
    # container's nominal rate and the fallback when the average is unknown
    for rate in (stream.average_rate, stream.base_rate, stream.guessed_rate):
        if rate:
            return Fraction(rate)
    return None


def _probe_video(path: Path) -> MediaInfo:
    container = _open_container(path)
    try:
        stream = container.streams.video[0]
        fps = _video_fps(stream)
        duration = _video_duration(container, stream)
        frame_count = stream.frames or (round(duration * fps) if duration and fps else 0)
        # Rotation lives in the display-matrix side data, which PyAV exposes on decoded frames: decode one.
        first = _first_frame(container, stream)
        if first is None:
            raise KaokaeError(f"cannot read {path}: no video frame decodes")
        rotation = _quarter_turns(first.rotation) * 90
        width, height = (first.height, first.width) if rotation in (90, 270) else (first.width, first.height)
        audio = container.streams.audio[0] if container.streams.audio else None
        return MediaInfo(path, "video", width, height, fps, frame_count, duration, rotation, audio is not None,
                         codec=stream.codec_context.name, audio_codec=audio.codec_context.name if audio else None,
                         time_base=stream.time_base)
    finally:
        container.close()


def _video_duration(container, stream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    # Matroska/WebM keep no stream duration but tag each track with "HH:MM:SS.nnnnnnnnn"; the container's own
    # duration would include a longer audio track
    tag = stream.metadata.get("DURATION") or stream.metadata.get("duration")
    if tag and tag.count(":") == 2:
        with contextlib.suppress(ValueError):
            hours, minutes, seconds = tag.split(":")
            return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return container.duration / av.time_base if container.duration else None


def _first_frame(container, stream) -> av.VideoFrame | None:
    try:
        for packet in container.demux(stream):  # the last, empty packet flushes the decoder
            with contextlib.suppress(av.error.InvalidDataError):  # a damaged packet: the next may decode
                for frame in stream.decode(packet):
                    return frame
    except av.error.FFmpegError:
        pass
    return None


def _quarter_turns(rotation: float) -> int:
    """Display rotation (degrees, counter-clockwise) as a number of quarter turns 0-3."""
    return round(rotation / 90) % 4


def open_media(path: str | os.PathLike, fps: Fraction | None = None) -> "MediaReader":
    """A reader for a video file, an image file or a folder of images (natural order). `fps`: for folders."""
    return MediaReader(probe(path, fps=fps))


class MediaReader:
    """Streams upright RGB frames. Iterate it (every frame) or call `frames(every=N)`; use it as a context manager."""

    def __init__(self, info: MediaInfo):
        self.info = info
        self._iterators: list[Iterator[Frame]] = []

    def __enter__(self) -> "MediaReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for iterator in self._iterators:
            iterator.close()  # closes a video container left open by a loop that stopped early
        self._iterators.clear()

    def __iter__(self) -> Iterator[Frame]:
        return self.frames()

    def __len__(self) -> int:
        return self.info.frame_count

    def frames(self, every: int = 1) -> Iterator[Frame]:
        """Every `every`-th frame (0, N, 2N...); the skipped ones are decoded but never converted to RGB."""
        if every < 1:
            raise KaokaeError(f"every must be 1 or more, got {every}")
        kind = self.info.kind
        iterator = self._video(every) if kind == "video" else self._images(every)
        self._iterators.append(iterator)
        return iterator

    def _images(self, every: int) -> Iterator[Frame]:
        paths = [self.info.path] if self.info.kind == "image" else list_images(self.info.path)
        fps = self.info.fps
        for index in range(0, len(paths), every):
            time = float(index / fps) if fps else 0.0
            yield Frame(index, time, read_image(paths[index]), paths[index].name)

    def _video(self, every: int) -> Iterator[Frame]:
        info = self.info
        container = _open_container(info.path)
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"  # frame + slice threads: decoding is most of the cost
            start = stream.start_time or 0
            turns = None
            index = 0
            damaged = False
            packets = container.demux(stream)  # ends with an empty packet that flushes the decoder
            while True:
                try:
                    packet = next(packets, None)
                except av.error.FFmpegError:
                    damaged = True  # the demuxer cannot go on (cut or broken file): keep what decoded
                    break
                if packet is None:
                    break
                try:
                    decoded = stream.decode(packet)
                except av.error.InvalidDataError:
                    damaged = True  # a damaged packet: the frames after the next key frame still decode
                    continue
                for frame in decoded:
                    if index % every == 0:
                        if turns is None:
                            turns = _quarter_turns(frame.rotation)
                        if frame.pts is not None and stream.time_base:
                            time = float((frame.pts - start) * stream.time_base)
                        else:
                            time = float(index / info.fps) if info.fps else 0.0
                        yield Frame(index, time, _to_rgb(frame, turns))
                    index += 1
            expected = info.frame_count
            # An MP4/MOV index counts every frame exactly; elsewhere the count is duration x average rate, so
            # allow a little slack before calling the file short
            slack = 0 if (damaged or stream.frames) else max(2, expected // 50)
            short = index < expected - slack
            if expected and short:
                warn(f"{info.path.name}: video ended early: {index} of {expected} frames decoded "
                     f"(file truncated or damaged)")
        finally:
            container.close()


def _to_rgb(frame: av.VideoFrame, quarter_turns: int) -> np.ndarray:
    # Convert with the frame's own colour matrix and range (BT.709 HD, BT.601 SD, full-range JPEG-style video);
    # PyAV defaults the range to limited, which would wash out full-range sources.
    rgb = frame.to_ndarray(format="rgb24", src_color_range=frame.color_range or None)
    if quarter_turns:
        rgb = np.ascontiguousarray(np.rot90(rgb, quarter_turns))
    return rgb


class StreamReader:
    """A network stream FFmpeg opens (RTSP, UDP, HTTP, RTMP, SRT...): upright RGB frames as they arrive, timed from
    its first frame. Iteration ends when the stream ends; a stream that errors or sends nothing for `timeout` seconds
    raises StreamLostError. Opening waits at most `open_timeout` seconds."""

    def __init__(self, url: str, timeout: float = 5.0, open_timeout: float = 10.0):
        self.url, self.timeout = url, timeout
        try:
            self._container = av.open(url, timeout=(open_timeout, timeout), metadata_errors="replace")
        except av.error.ExitError:  # FFmpeg's answer to its own timeout
            raise KaokaeError(f"cannot open stream {url}: nothing arrived within {open_timeout:g} s") from None
        except av.error.FFmpegError as e:
            raise KaokaeError(f"cannot open stream {url}: {_reason(e)}") from None
        if not self._container.streams.video:
            self._container.close()
            raise KaokaeError(f"stream {url} has no video")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        context = self._stream.codec_context
        self.fps = _video_fps(self._stream)
        self.width, self.height = context.width, context.height  # 0 until known for some formats
        if problem := _too_big(self._stream, f"stream {url}"):
            self._container.close()
            raise KaokaeError(problem)

    def __iter__(self) -> Iterator[Frame]:
        start, turns, index = None, None, 0
        try:
            for frame in self._container.decode(self._stream):
                if turns is None:
                    turns = _quarter_turns(frame.rotation)
                seconds = float(frame.pts * self._stream.time_base) if frame.pts is not None else None
                start = seconds if start is None else start
                time = seconds - start if seconds is not None and start is not None else index / float(self.fps or 30)
                yield Frame(index, time, _to_rgb(frame, turns))
                index += 1
        except av.error.ExitError:
            raise StreamLostError(f"stream {self.url} sent no frame for {self.timeout:g} s") from None
        except av.error.FFmpegError as e:
            raise StreamLostError(f"stream {self.url} broke off: {_reason(e)}") from None

    def close(self) -> None:
        self._container.close()
