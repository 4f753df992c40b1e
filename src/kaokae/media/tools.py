"""The media commands a user runs alone: `info`, `frames` (video -> stills) and `assemble` (stills -> video)."""

import math
import os
import shlex
from fractions import Fraction
from pathlib import Path

from kaokae.errors import KaokaeError
from kaokae.media.reader import MediaInfo, MediaReader, open_media, probe
from kaokae.media.writer import (
    ImageFolderWriter,
    VideoWriter,
    audio_codec,
    check_video_extension,
    parse_fps,
)
from kaokae.paths import check_outputs
from kaokae.progress import info as say
from kaokae.progress import track


def describe(media: MediaInfo) -> dict:
    """The media facts as plain JSON-ready values."""
    return {
        "path": str(media.path),
        "kind": media.kind,
        "width": media.width,
        "height": media.height,
        "fps": str(media.fps) if media.fps else None,
        "fps_float": round(float(media.fps), 6) if media.fps else None,
        "frame_count": media.frame_count,
        "duration": round(media.duration, 6) if media.duration is not None else None,
        "rotation": media.rotation,
        "has_audio": media.has_audio,
        "codec": media.codec,
        "audio_codec": media.audio_codec,
    }


def format_info(media: MediaInfo) -> str:
    """Human-readable media facts, one per line."""
    fps = "-" if not media.fps else f"{float(media.fps):.6g}" + (f" ({media.fps})" if media.fps.denominator > 1 else "")
    lines = [
        ("path", str(media.path)),
        ("kind", media.kind),
        ("size", f"{media.width}x{media.height}" + (" (upright)" if media.rotation else "")),
        ("fps", fps),
        ("frames", str(media.frame_count)),
        ("duration", f"{media.duration:.3f} s" if media.duration is not None else "-"),
        ("rotation", f"{media.rotation} degrees" + (" (frames are turned upright)" if media.rotation else "")),
        ("codec", media.codec or "-"),
        ("audio", media.audio_codec if media.has_audio else "none"),
    ]
    return "\n".join(f"{key:<9} {value}" for key, value in lines)


def extract_frames(source: str | os.PathLike, out_dir: str | os.PathLike, *, every: int = 1, fmt: str = "png",
                   quality: int = 95, overwrite: bool = False) -> int:
    """Write every `every`-th frame of `source` as `out_dir/NNNNNN.<fmt>` (NNNNNN = the source frame number)."""
    source, out_dir = Path(source), Path(out_dir)
    if every < 1:
        raise KaokaeError(f"--every must be 1 or more, got {every}")
    if fmt not in ("png", "jpg"):
        raise KaokaeError(f"unknown format '{fmt}' (use png or jpg)")
    if not 1 <= quality <= 100:
        raise KaokaeError(f"the JPEG quality must be 1 to 100, not {quality}")
    media = probe(source)
    check_outputs([source], [out_dir])
    count = 0
    with MediaReader(media) as reader, ImageFolderWriter(out_dir, fmt, overwrite=overwrite, quality=quality) as out:
        total = math.ceil(media.frame_count / every)
        for frame in track(reader.frames(every), total=total, desc="frames"):
            out.write(frame.image, name=f"{frame.index:06d}")
            count += 1
    say(f"wrote {count} frames to {out_dir}")
    if media.kind == "video" and media.fps:
        fps = media.fps / every
        audio = f" --audio-from {shlex.quote(str(source))}" if media.has_audio and every == 1 else ""
        say(f"rebuild the video with: kaokae assemble {shlex.quote(str(out_dir))} -o out.mp4 --fps {fps}{audio}")
    return count


def assemble_video(folder: str | os.PathLike, dest: str | os.PathLike, *, fps: str | Fraction = Fraction(25),
                   audio_from: str | os.PathLike | None = None, crf: int = 18, preset: str = "medium") -> int:
    """Encode a folder's images (natural order) into an H.264 video at `fps`, with the audio of `audio_from`."""
    folder, dest = Path(folder), Path(dest)
    check_video_extension(dest)
    fps = parse_fps(fps)
    if folder.exists() and not folder.is_dir():
        raise KaokaeError(f"{folder} is not a folder of images")
    check_outputs([folder, audio_from], [dest])
    media = probe(folder, fps=fps)
    if audio_from is not None and audio_codec(audio_from) is None:
        raise KaokaeError(f"{audio_from} has no audio stream")
    first_size = None
    with MediaReader(media) as reader, \
            VideoWriter(dest, fps, audio_from=audio_from, crf=crf, preset=preset) as writer:
        for frame in track(reader, total=media.frame_count, desc="assemble"):
            size = frame.image.shape[1], frame.image.shape[0]
            first_size = first_size or size
            if size != first_size:
                raise KaokaeError(f"{frame.name} is {size[0]}x{size[1]} but the first image is "
                                  f"{first_size[0]}x{first_size[1]}; all images must be the same size")
            writer.write(frame.image)
    say(f"wrote {dest} ({writer.frames_written} frames at {fps} fps)")
    return writer.frames_written


def copy_first_frames(source: str | os.PathLike, dest: str | os.PathLike, frames: int) -> None:
    """The first `frames` video packets of `source`, and its audio up to there, copied without re-encoding (a quick,
    lossless cut of a clip's start, for tests and benchmarks). Written atomically."""
    import av

    from kaokae.atomic import atomic_path

    with av.open(str(source)) as src, atomic_path(dest) as tmp, av.open(str(tmp), "w") as out:
        kept = (*src.streams.video[:1], *src.streams.audio[:1])
        streams = {s.index: out.add_stream_from_template(s) for s in kept}
        video = src.streams.video[0].index
        end, count = None, 0
        for packet in src.demux(*kept):
            if packet.dts is None:
                continue
            if packet.stream.index == video:
                if count == frames:
                    end = float(packet.pts * packet.time_base)
                    continue
                count += 1
            elif end is not None and packet.pts * packet.time_base >= end:
                break
            packet.stream = streams[packet.stream.index]
            out.mux(packet)


def write_y4m(source: str | os.PathLike, dest: str | os.PathLike, frames: int,
              size: tuple[int, int] | None = None) -> None:
    """The first `frames` frames of `source` (resized to `size`, width x height, when given) as raw I420 in a .y4m:
    what Chromium's fake camera plays (--use-file-for-fake-video-capture), for the web UI's live tests and
    benchmarks. Written atomically."""
    import av

    from kaokae.atomic import atomic_path

    with open_media(source) as reader, atomic_path(dest) as tmp, av.open(str(tmp), "w", format="yuv4mpegpipe") as out:
        stream = out.add_stream("wrapped_avframe", rate=Fraction(reader.info.fps or 25).limit_denominator(1001))
        stream.width, stream.height = size or (reader.info.width, reader.info.height)
        stream.pix_fmt = "yuv420p"
        for frame in reader:
            if frame.index >= frames:
                break
            picture = av.VideoFrame.from_ndarray(frame.image, format="rgb24")
            for packet in stream.encode(picture.reformat(stream.width, stream.height, format="yuv420p")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
