"""`kaokae swap`: the classic swap over a whole image, folder of images or video, frames streamed one at a time."""

import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kaokae.errors import KaokaeError
from kaokae.faces import Face, FaceFinder
from kaokae.faces.identity import DEFAULT_THRESHOLD, IdentityEncoder, identity_distance
from kaokae.faces.track import FaceTracker
from kaokae.media import (
    VIDEO_EXTENSIONS,
    Frame,
    ImageFolderWriter,
    MediaInfo,
    VideoWriter,
    open_media,
    read_image,
    write_image,
)
from kaokae.media.image import check_image_extension, is_image_path
from kaokae.media.writer import check_video_extension, same_path
from kaokae.progress import info, track, warn
from kaokae.swap.swapper import FaceSwapper, SwapSettings, load_sources

REDETECT_EVERY = 10  # video: full detection every N frames picks up faces that enter; between, faces are tracked


@dataclass
class SwapReport:
    frames: int = 0  # frames written
    frames_swapped: int = 0  # frames with at least one face swapped
    faces_swapped: int = 0
    faces_skipped: int = 0  # faces left alone by --only


def check_output(info: MediaInfo, output: Path) -> None:
    """The output must be the same kind as the target: an image file, a folder, or a video file."""
    if same_path(info.path, output):
        raise KaokaeError(f"output {output} is the target itself; choose another path")
    if info.kind == "image":
        check_image_extension(output)
    elif info.kind == "folder":
        if output.suffix.lower() in VIDEO_EXTENSIONS or is_image_path(output):
            raise KaokaeError(f"the target {info.path} is a folder, so the output must be a folder too, not {output}")
    else:
        check_video_extension(output)


def write_frames(frames: Iterable[Frame], info: MediaInfo, output: Path, crf: int = 18, preset: str = "veryfast") -> int:
    """Write the swapped frames where they belong: an image, a folder of images (same names, PNG) or a video (same
    timing, the target's audio). The one place output is written. Returns the number of frames written."""
    count = 0
    if info.kind == "image":
        for frame in frames:
            write_image(output, frame.image)
            count += 1
    elif info.kind == "folder":
        used: set[str] = set()
        with ImageFolderWriter(output, "png") as writer:
            for frame in frames:
                name = Path(frame.name).stem
                if name in used:  # a.jpg and a.png both in the folder: keep both
                    name = frame.name.replace(".", "_")
                used.add(name)
                writer.write(frame.image, name)
                count += 1
    else:
        with VideoWriter(output, info.fps, audio_from=info.path if info.has_audio else None, crf=crf, preset=preset,
                         time_base=info.time_base) as writer:
            for frame in frames:
                writer.write(frame.image, time=frame.time)
                count += 1
    return count


class IdentityFilter:
    """--only: swap only faces of the person in a reference photo (dlib identity distance under a threshold)."""

    def __init__(self, reference: Path, finder: FaceFinder, threshold: float):
        self.encoder = IdentityEncoder()
        self.threshold = threshold
        image = read_image(reference)
        faces = finder.find(image)
        if not faces:
            raise KaokaeError(f"no face found in the --only reference photo {reference}")
        if len(faces) > 1:
            warn(f"{reference.name} shows {len(faces)} faces; using the largest as the person to swap")
        self.embedding = self.encoder.embed(image, max(faces, key=lambda f: f.size))
        self.decided: dict[object, bool] = {}

    def accepts(self, rgb: np.ndarray, face: Face, key: object = None) -> bool:
        """Whether this face is the reference person; on video decided once per track."""
        if key is not None and key in self.decided:
            return self.decided[key]
        same = identity_distance(self.encoder.embed(rgb, face), self.embedding) < self.threshold
        if key is not None:
            self.decided[key] = same
        return same


def swap_media(sources: list[str | Path], target: str | Path, output: str | Path, *, only: str | Path | None = None,
               only_threshold: float = DEFAULT_THRESHOLD, settings: SwapSettings | None = None, smooth: bool = True,
               crf: int = 18, preset: str = "veryfast") -> SwapReport:
    """Swap the faces of `target` (image, folder or video) with the source photos' face and write `output`.

    Frames without a face are written unchanged; a video keeps every frame, its timing and its audio. On video, faces
    are tracked: their landmarks are smoothed over time (One-Euro filter), and so is each face's colour correction
    when `smooth`.
    """
    output = Path(output)
    settings = settings or SwapSettings()
    if not 0 < only_threshold < 2:
        raise KaokaeError(f"--only-threshold must be between 0 and 2 (dlib's same-person line is 0.6), got {only_threshold}")
    with open_media(target) as reader:
        media = reader.info
        check_output(media, output)
        with FaceFinder(max_faces=10) as finder:
            swapper = FaceSwapper(load_sources(list(sources), finder), settings, smooth_colour=smooth)
            identity = IdentityFilter(Path(only), finder, only_threshold) if only else None
            report = SwapReport()
            frames = ahead(_swapped_frames(reader, finder, swapper, identity, report, smooth))
            report.frames = write_frames(track(frames, total=media.frame_count, desc="swap"), media, output,
                                         crf, preset)
    if report.faces_swapped == 0:
        warn(f"no face was swapped in {media.path.name}" + (" (none matched --only)" if report.faces_skipped else ""))
    used = ", ".join(f"{s.name} {n}" for s, n in zip(swapper.sources, swapper.uses, strict=True) if n)
    if len(swapper.sources) > 1 and used:
        info(f"faces per source: {used}")
    info(f"swapped {report.faces_swapped} face{'s' * (report.faces_swapped != 1)} in {report.frames_swapped} of "
         f"{report.frames} frame{'s' * (report.frames != 1)} -> {output}")
    return report


def ahead(items: Iterator, depth: int = 4) -> Iterator:
    """Yield from `items` while a thread computes up to `depth` more: decoding and swapping then overlap with
    encoding (the codecs, OpenCV and mediapipe release the GIL). Errors in the thread are raised here; stopping
    early stops and joins the thread."""
    fifo: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item) -> None:
        while not stop.is_set():
            try:
                return fifo.put(item, timeout=0.1)
            except queue.Full:
                pass

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    break
                put(item)
            put(done)
        except BaseException as e:  # noqa: B036 - handed to the consumer, which raises it
            put(e)
        finally:
            items.close()  # in this thread: a generator must be closed by the thread that runs it

    thread = threading.Thread(target=produce, name="kaokae-swap", daemon=True)
    thread.start()
    try:
        while (item := fifo.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def _swapped_frames(reader, finder: FaceFinder, swapper: FaceSwapper, identity: IdentityFilter | None,
                    report: SwapReport, smooth: bool) -> Iterator[Frame]:
    video = reader.info.kind == "video"
    tracker = FaceTracker(finder, redetect_every=REDETECT_EVERY, smoothing=smooth,
                          fps=float(reader.info.fps or 30)) if video else None
    for frame in reader:
        if tracker is not None:
            faces = [(t.track_id, t.face) for t in tracker.update(frame.image, frame.time)]
            swapper.forget_except(key for key, _ in faces)
        else:
            faces = [(None, face) for face in finder.find(frame.image)]
        image, swapped = frame.image, 0
        for key, face in faces:
            if identity is not None and not identity.accepts(frame.image, face, key):
                report.faces_skipped += 1
                continue
            if image is frame.image:
                image = frame.image.copy()  # the untouched frame stays the reference for identity and colour
            swapped += swapper.swap(image, face.landmarks, key)
        report.faces_swapped += swapped
        report.frames_swapped += swapped > 0
        yield Frame(frame.index, frame.time, image, frame.name)
