"""Writing media: H.264 video with the source's audio carried over, and folders of images; both atomic."""

import contextlib
import os
import shutil
import tempfile
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from kaokae.atomic import atomic_path, fsync_dir
from kaokae.errors import KaokaeError
from kaokae.media.image import check_image_extension, write_image
from kaokae.paths import remove_stale_partials
from kaokae.progress import info

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv")
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
# Audio codecs that players handle inside MP4; anything else (PCM, Vorbis...) is re-encoded to AAC there.
# MOV and MKV take whatever their muxer accepts.
MP4_AUDIO_CODECS = {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"}
# Layouts the AAC encoder takes, by channel count (a source may say just "2 channels"); more than 8 -> stereo
AAC_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "4.0", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}
MAX_FPS = 1000  # H.264 levels stop far below; a bigger rate is a typo (1e12) that the encoder cannot represent
BT709 = 1  # AVCOL_PRI_BT709 / AVCOL_TRC_BT709 / AVCOL_SPC_BT709
LIMITED_RANGE = 1  # AVCOL_RANGE_MPEG


def check_video_extension(dest: str | os.PathLike) -> None:
    suffix = Path(dest).suffix.lower()
    if suffix not in VIDEO_EXTENSIONS:
        raise KaokaeError(f"unknown video extension '{suffix or '(none)'}' for {dest} "
                          f"(use {', '.join(VIDEO_EXTENSIONS)})")


def parse_fps(value: str | int | float | Fraction) -> Fraction:
    """A frame rate as an exact fraction: 25, '29.97', '30000/1001' -> Fraction; KaokaeError when not positive."""
    try:
        fps = Fraction(value)
    except (ValueError, TypeError, ZeroDivisionError):
        fps = None
    if fps is None or fps <= 0:
        raise KaokaeError(f"frame rate must be a positive number or a ratio like 30000/1001, got '{value}'")
    if not Fraction(1, 1000) <= fps <= MAX_FPS:
        raise KaokaeError(f"frame rate must be from 0.001 to {MAX_FPS} frames per second, got '{value}'")
    return fps.limit_denominator(1001) if fps.denominator > 1001 else fps  # floats like 29.97002997 -> 30000/1001


def audio_codec(path: str | os.PathLike) -> str | None:
    """The codec of the first audio stream of any media file (video or audio-only), None when it has no audio."""
    path = Path(path)
    if not path.is_file():
        raise KaokaeError(f"no such file: {path}")
    if path.stat().st_size == 0:
        raise KaokaeError(f"{path} is empty (0 bytes)")
    try:
        with av.open(str(path), metadata_errors="replace") as container:
            return container.streams.audio[0].codec_context.name if container.streams.audio else None
    except av.error.FFmpegError as e:
        raise KaokaeError(f"cannot read audio from {path}: {getattr(e, 'strerror', None) or e}") from None


def same_path(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    a, b = Path(a), Path(b)
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


class VideoWriter:
    """H.264 (libx264, yuv420p, BT.709) video, written to a temporary file beside `dest` and renamed on success.

        with VideoWriter("out.mp4", info.fps, audio_from=src, time_base=info.time_base) as writer:
            for frame in reader:
                writer.write(frame.image, time=frame.time)

    `audio_from`: the first audio stream of that file is copied unchanged (re-encoded to AAC where the container
    cannot hold it); its timing is kept relative to that file's first video frame, so a source's own audio stays in
    sync. `time_base` (the source's, from MediaInfo) with `write(..., time=)` keeps every frame's timestamp, so
    variable-frame-rate sources keep their length; without times frames are spaced 1/fps apart. `metadata`: container
    tags (MP4/MOV keep custom keys). After an error or Ctrl-C nothing is left at `dest`.
    """

    def __init__(self, dest: str | os.PathLike, fps: Fraction | int | float | str, *,
                 audio_from: str | os.PathLike | None = None, crf: int = 18, preset: str = "medium",
                 metadata: dict[str, str] | None = None, time_base: Fraction | None = None):
        self.dest = Path(dest)
        check_video_extension(self.dest)
        self.fps = parse_fps(fps)
        if not 0 <= crf <= 51:
            raise KaokaeError(f"crf must be 0-51 (lower is better quality, 18 looks lossless), got {crf}")
        if preset not in PRESETS:
            raise KaokaeError(f"unknown preset '{preset}' (use one of {', '.join(PRESETS)})")
        if self.dest.is_dir():
            raise KaokaeError(f"output {self.dest} is a folder")
        if audio_from is not None:
            audio_from = Path(audio_from)
            if same_path(audio_from, self.dest):
                raise KaokaeError(f"output {self.dest} is the same file as the input")
            audio_codec(audio_from)  # unreadable audio fails now, not after the frames are encoded
        self.audio_from = audio_from
        self.crf, self.preset = crf, preset
        self.metadata = dict(metadata or {})
        self.time_base = Fraction(time_base) if time_base else 1 / self.fps
        self.frames_written = 0
        self._container = None
        self._video = None
        self._size = None  # (width, height) of the frames given; the encoded size is padded to even
        self._last_pts = -1
        self._audio = None  # _AudioCopy once the first frame fixed the stream layout
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> "VideoWriter":
        try:
            tmp = self._stack.enter_context(atomic_path(self.dest))
        except OSError as e:
            raise KaokaeError(f"cannot write {self.dest}: {e.strerror or e}") from None
        options = {}
        if self.dest.suffix.lower() in (".mp4", ".m4v", ".mov"):
            # use_metadata_tags keeps custom keys (e.g. the synthetic-media label), which MP4 drops otherwise;
            # faststart puts the index first so players can start before the whole file arrives.
            options["movflags"] = "+faststart+use_metadata_tags"
        try:
            self._container = av.open(str(tmp), "w", options=options)
        except av.error.FFmpegError as e:
            self._stack.close()
            raise KaokaeError(f"cannot write {self.dest}: {e}") from None
        for key, value in self.metadata.items():
            self._container.metadata[key] = value
        return self

    def write(self, rgb: np.ndarray, time: float | None = None) -> None:
        """Append one (H, W, 3) uint8 RGB frame; `time` (seconds from the start) keeps the source's timing."""
        rgb = np.asarray(rgb)
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise KaokaeError(f"VideoWriter expects (H, W, 3) uint8 RGB frames, got {rgb.shape} {rgb.dtype}")
        height, width = rgb.shape[:2]
        if self._video is None:
            self._open_streams(width, height)
        elif (width, height) != self._size:
            raise KaokaeError(f"frame {self.frames_written} is {width}x{height} but the video is "
                              f"{self._size[0]}x{self._size[1]}; all frames must be the same size")
        if width % 2 or height % 2:
            rgb = np.pad(rgb, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
        pts = self.frames_written / self.fps / self.time_base if time is None else time / self.time_base
        pts = max(round(pts), self._last_pts + 1)  # strictly increasing, whatever rounding did
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame = frame.reformat(format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG")
        frame.pts, frame.time_base = pts, self.time_base
        try:
            self._mux(self._video.encode(frame))
            if self._audio:
                self._audio.copy_until(float(pts * self.time_base))
        except av.error.FFmpegError as e:  # a full disk, a vanished folder: one line, not a traceback
            raise KaokaeError(f"cannot write {self.dest}: {e}") from None
        self._last_pts = pts
        self.frames_written += 1

    def _open_streams(self, width: int, height: int) -> None:
        self._size = (width, height)
        even = (width + width % 2, height + height % 2)
        if even != self._size:
            repeated = " and ".join(name for name, odd in (("column", width % 2), ("row", height % 2)) if odd)
            info(f"{self.dest.name}: frames are {width}x{height} and H.264 4:2:0 needs even sizes: padded to "
                 f"{even[0]}x{even[1]} by repeating the last {repeated}")
        stream = self._container.add_stream("libx264", rate=self.fps)
        stream.width, stream.height = even
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(self.crf), "preset": self.preset}
        context = stream.codec_context
        context.time_base = self.time_base
        context.thread_count = 0  # let x264 pick its threads
        # Tag what we encode (BT.709, limited range) so players and our own reader convert back the same way
        context.color_primaries = context.color_trc = context.colorspace = BT709
        context.color_range = LIMITED_RANGE
        self._video = stream
        if self.audio_from is not None:
            self._audio = _AudioCopy.open(self.audio_from, self._container, self._stack)

    def _mux(self, packets) -> None:
        for packet in packets:
            self._container.mux(packet)

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._abort(exc)
            return  # the exception goes on
        try:
            if not self.frames_written:
                raise KaokaeError(f"no frames to write to {self.dest}")
            self._mux(self._video.encode(None))
            if self._audio:
                self._audio.copy_until(None)
                self._audio.check_length(float((self._last_pts * self.time_base) + 1 / self.fps), self.dest)
            self._container.close()
        except BaseException as e:
            self._abort(e)
            if isinstance(e, av.error.FFmpegError):
                raise KaokaeError(f"cannot write {self.dest}: {e}") from None
            raise
        self._stack.close()  # fsync and rename onto dest

    def _abort(self, error: BaseException) -> None:
        """Close what is open and remove the temporary file; nothing reaches dest."""
        with contextlib.suppress(Exception):
            self._container.close()
        self._stack.__exit__(type(error), error, error.__traceback__)


class _AudioCopy:
    """Feeds the audio of a file into an output container alongside the video, packet by packet, so the two stay
    interleaved and memory stays flat. Packets are copied unchanged when the container takes the codec, else the
    audio is decoded and re-encoded to AAC."""

    def __init__(self, source, stream, output, container, transcode: bool):
        self.source, self.stream, self.output, self.container = source, stream, output, container
        self.transcode = transcode
        video = source.streams.video[0] if source.streams.video else None
        # Time zero is the source's first video frame (our first frame), so audio keeps its offset from the picture
        if video is not None and video.start_time is not None:
            self.offset = float(video.start_time * video.time_base)
        else:
            self.offset = 0.0
        self.packets = source.demux(stream)
        self.pending = None  # a packet read but not yet due
        self.end = 0.0  # end time of the audio written so far, seconds

    @classmethod
    def open(cls, path: Path, container, stack: contextlib.ExitStack) -> "_AudioCopy | None":
        try:
            source = av.open(str(path), metadata_errors="replace")
        except av.error.FFmpegError as e:
            raise KaokaeError(f"cannot read audio from {path}: {e}") from None
        stack.callback(source.close)
        if not source.streams.audio:
            info(f"{path.name} has no audio; the video will be silent")
            return None
        stream = source.streams.audio[0]
        name = stream.codec_context.name
        suffix = Path(container.name).suffix.lower()
        copy_ok = name in container.supported_codecs and (suffix not in (".mp4", ".m4v") or name in MP4_AUDIO_CODECS)
        if copy_ok:
            output = container.add_stream_from_template(stream)
        else:
            info(f"{path.name}: {name} audio cannot go into {suffix} unchanged; re-encoding it to AAC")
            channels = stream.codec_context.layout.nb_channels
            output = container.add_stream("aac", rate=stream.codec_context.sample_rate or 48000,
                                          layout=AAC_LAYOUTS.get(channels, "stereo"))
            output.bit_rate = 192_000
        if stream.language:
            output.metadata["language"] = stream.language
        return cls(source, stream, output, container, transcode=not copy_ok)

    def copy_until(self, until: float | None) -> None:
        """Write the audio that starts before `until` seconds (all that is left when None)."""
        while True:
            packet = self.pending or self._next_packet()
            self.pending = None
            if packet is None:
                if until is None and self.transcode:
                    self._encode(None)
                return
            start = float(packet.pts * packet.time_base) - self.offset if packet.pts is not None else self.end
            if until is not None and start > until:
                self.pending = packet
                return
            if self.transcode:
                self._transcode(packet)
            else:
                self._shift(packet)
                packet.stream = self.output
                self.container.mux(packet)
            if packet.duration:
                self.end = max(self.end, start + float(packet.duration * packet.time_base))

    def _next_packet(self):
        try:
            for packet in self.packets:
                if packet.dts is not None:  # skip the empty flush packets the demuxer adds at the end
                    return packet
        except av.error.FFmpegError:
            pass  # damaged audio at the end of the source: keep what was read
        return None

    def _shift(self, packet) -> None:
        shift = round(self.offset / packet.time_base)
        if packet.pts is not None:
            packet.pts -= shift
        packet.dts -= shift

    def _transcode(self, packet) -> None:
        try:
            frames = self.stream.decode(packet)
        except av.error.InvalidDataError:
            return
        for frame in frames:
            if frame.pts is not None:
                # the encoder counts in samples; drop what falls before the first video frame
                frame.pts = round((float(frame.pts * frame.time_base) - self.offset) * frame.sample_rate)
                frame.time_base = Fraction(1, frame.sample_rate)
                if frame.pts < 0:
                    continue
            self._encode(frame)

    def _encode(self, frame) -> None:
        for packet in self.output.encode(frame):
            self.container.mux(packet)

    def check_length(self, video_end: Fraction, dest: Path) -> None:
        if self.end > float(video_end) + 1.0:
            info(f"{dest.name}: the audio ({self.end:.1f} s) runs {self.end - float(video_end):.1f} s past the "
                 f"video ({float(video_end):.1f} s)")


class ImageFolderWriter:
    """Writes frames as numbered images (000000.png, ...) into a folder that appears only when the writer finishes.

    Images go into a hidden temporary folder beside `folder`, each written atomically, and the folder is renamed into
    place on success; on error or Ctrl-C it is removed. An existing non-empty `folder` is refused unless `overwrite`
    (then it is replaced only once the new one is complete). Images are compressed on a few threads (the PNG and
    JPEG encoders release the GIL), with at most a couple of frames per thread waiting, so memory stays flat.
    """

    def __init__(self, folder: str | os.PathLike, fmt: str = "png", *, overwrite: bool = False, quality: int = 95,
                 xmp: bytes | None = None, threads: int | None = None):
        self.folder = Path(os.path.abspath(folder))  # "." has no name to put a hidden folder beside
        self.ext = "." + fmt.lower().lstrip(".")
        check_image_extension(self.folder / f"x{self.ext}")
        if self.folder.exists() and not self.folder.is_dir():
            raise KaokaeError(f"output {self.folder} exists and is not a folder")
        if self.folder.is_dir() and any(self.folder.iterdir()) and not overwrite:
            raise KaokaeError(f"output folder {self.folder} is not empty (choose another folder or --overwrite it)")
        self.overwrite, self.quality, self.xmp = overwrite, quality, xmp
        self.threads = threads or min(4, os.cpu_count() or 1)
        self.count = 0
        self._tmp: Path | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[Future] = deque()

    def __enter__(self) -> "ImageFolderWriter":
        parent = self.folder.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            remove_stale_partials(parent)
            self._tmp = Path(tempfile.mkdtemp(prefix=f".{self.folder.name}.partial-", dir=parent))
        except OSError as e:
            raise KaokaeError(f"cannot write {self.folder}: {e.strerror or e}") from None
        self._tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the result should be an ordinary folder
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="kaokae-images")
        return self

    def write(self, rgb: np.ndarray, name: str | None = None) -> Path:
        """Queue one image, named `name` + the folder's extension, or the next number (000000, 000001, ...)."""
        path = self._tmp / f"{name if name is not None else f'{self.count:06d}'}{self.ext}"
        rgb = np.array(rgb, dtype=np.uint8, copy=True)  # the caller may reuse its buffer while we compress
        self._pending.append(self._pool.submit(write_image, path, rgb, xmp=self.xmp, quality=self.quality,
                                               png_compression=1))
        while len(self._pending) > 2 * self.threads:
            self._pending.popleft().result()  # raises the first write error here
        self.count += 1
        return self.folder / path.name

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            while self._pending:
                future = self._pending.popleft()
                if exc_type is None:
                    future.result()
                else:
                    future.cancel()
        except BaseException:
            self._discard()
            raise
        if exc_type is not None:
            self._discard()
            return
        self._pool.shutdown()
        old = None
        if self.folder.is_dir():
            if any(self.folder.iterdir()):
                old = self.folder.with_name(f".{self.folder.name}.old-{os.getpid()}")
                os.replace(self.folder, old)
            else:
                self.folder.rmdir()
        os.replace(self._tmp, self.folder)
        fsync_dir(self.folder.absolute().parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def _discard(self) -> None:
        self._pool.shutdown(cancel_futures=True)
        shutil.rmtree(self._tmp, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


STREAM_FORMATS = {"rtmp": "flv", "rtmps": "flv", "rtsp": "rtsp"}  # URL scheme -> muxer; anything else: MPEG-TS


class StreamWriter:
    """H.264 to a network stream FFmpeg writes (udp://, tcp://, srt://, rtmp://, rtsp://...), tuned for latency
    (x264 ultrafast + zerolatency: no frame is held back for look-ahead). `write(rgb, time)` as VideoWriter."""

    def __init__(self, url: str, fps: Fraction | int | float | str, *, metadata: dict[str, str] | None = None,
                 crf: int = 23, timeout: float = 10.0):
        self.url, self.fps = url, parse_fps(fps)
        scheme = url.split("://", 1)[0].lower()
        try:
            self._container = av.open(url, "w", format=STREAM_FORMATS.get(scheme, "mpegts"),
                                      timeout=(timeout, timeout))
        except av.error.FFmpegError as e:
            raise KaokaeError(f"cannot open output stream {url}: {getattr(e, 'strerror', None) or e}") from None
        for key, value in (metadata or {}).items():
            self._container.metadata[key] = value
        self.crf = crf
        self._video = None
        self._last_pts = -1
        self.frames_written = 0

    def write(self, rgb: np.ndarray, time: float | None = None) -> None:
        height, width = rgb.shape[:2]
        if self._video is None:
            self._video = self._container.add_stream("libx264", rate=self.fps)
            self._video.width, self._video.height = width - width % 2, height - height % 2
            self._video.pix_fmt = "yuv420p"
            self._video.options = {"preset": "ultrafast", "tune": "zerolatency", "crf": str(self.crf)}
            self._video.codec_context.time_base = Fraction(1, 1000)
        rgb = rgb[:self._video.height, :self._video.width]
        pts = round((time if time is not None else self.frames_written / self.fps) * 1000)
        pts = max(pts, self._last_pts + 1)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(format="yuv420p")
        frame.pts, frame.time_base = pts, Fraction(1, 1000)
        try:
            for packet in self._video.encode(frame):
                self._container.mux(packet)
        except av.error.FFmpegError as e:
            raise KaokaeError(f"cannot send to {self.url}: {getattr(e, 'strerror', None) or e}") from None
        self._last_pts = pts
        self.frames_written += 1

    def close(self) -> None:
        with contextlib.suppress(av.error.FFmpegError):
            if self._video is not None:
                for packet in self._video.encode(None):
                    self._container.mux(packet)
        with contextlib.suppress(av.error.FFmpegError):
            self._container.close()
