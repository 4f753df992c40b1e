"""One frame of a video by its index, without decoding from the start: seek to the key frame before it and
decode forward (what a UI's scrub bar needs; the readers stream every frame)."""

from pathlib import Path

import av

from kaokae.errors import KaokaeError
from kaokae.media.image import list_images, read_image
from kaokae.media.reader import Frame, MediaInfo, _open_container, _quarter_turns, _to_rgb


def frame_at(info: MediaInfo, index: int) -> Frame:
    """Frame `index` (0-based) of the video, image or folder `info` describes, upright RGB, with the same index
    and time the readers give it."""
    if not 0 <= index < max(1, info.frame_count):
        raise KaokaeError(f"{Path(info.path).name} has no frame {index} (it has {info.frame_count})")
    if info.kind != "video":
        paths = [info.path] if info.kind == "image" else list_images(info.path)
        return Frame(index, float(index / info.fps) if info.fps else 0.0, read_image(paths[index]), paths[index].name)
    container = _open_container(info.path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        start = stream.start_time or 0
        rate = info.fps or stream.average_rate
        target = start + int(index / rate / stream.time_base)
        container.seek(target, stream=stream, backward=True, any_frame=False)
        last = None
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            at = round(float((frame.pts - start) * stream.time_base * rate))
            last = (at, frame)
            if at >= index:
                break
        if last is None:
            raise KaokaeError(f"{Path(info.path).name}: frame {index} does not decode")
        at, frame = last
        return Frame(index, float((frame.pts - start) * stream.time_base), _to_rgb(frame, _quarter_turns(frame.rotation)))
    except av.error.FFmpegError as e:
        raise KaokaeError(f"{Path(info.path).name}: cannot seek to frame {index} ({e})") from None
    finally:
        container.close()
