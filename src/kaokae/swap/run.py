"""`kaokae swap`: the classic swap over a whole image, folder of images or video, frames streamed one at a time."""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kaokae.errors import KaokaeError
from kaokae.faces import FaceFinder
from kaokae.faces.identity import DEFAULT_THRESHOLD, PersonFilter
from kaokae.faces.track import FaceTracker
from kaokae.media import Frame, open_media
from kaokae.media.output import check_output
from kaokae.progress import info, track, warn
from kaokae.provenance import Labeller, file_sha256
from kaokae.provenance.output import open_labelled_output
from kaokae.swap.swapper import FaceSwapper, SwapSettings, load_sources
from kaokae.threads import background

REDETECT_EVERY = 10  # video: full detection every N frames picks up faces that enter; between, faces are tracked


@dataclass
class SwapReport:
    frames: int = 0  # frames written
    frames_swapped: int = 0  # frames with at least one face swapped
    faces_swapped: int = 0
    faces_skipped: int = 0  # faces left alone by --only


def swap_media(sources: list[str | Path], target: str | Path, output: str | Path, *,
               only: str | Path | Sequence[str | Path] | None = None,
               only_threshold: float = DEFAULT_THRESHOLD, settings: SwapSettings | None = None, smooth: bool = True,
               crf: int = 18, preset: str = "veryfast", overwrite: bool = False, watermark: bool = True,
               c2pa_cert: str | Path | None = None, c2pa_key: str | Path | None = None) -> SwapReport:
    """Swap the faces of `target` (image, folder or video) with the source photos' face and write `output`.

    Frames without a face are written unchanged; a video keeps every frame, its timing and its audio. On video, faces
    are tracked: their landmarks are smoothed over time (One-Euro filter), and so is each face's colour correction
    when `smooth`. With `only` (one or more photos of one person), only that person's faces are swapped
    (kaokae.faces.identity.PersonFilter). The output is labelled as synthetic (kaokae.provenance): metadata, and the
    invisible watermark unless `watermark` is False; a C2PA manifest with `c2pa_cert`/`c2pa_key`. Its model id is the
    first source photo's sha256.
    """
    output = Path(output)
    settings = settings or SwapSettings()
    if not 0 < only_threshold < 2:
        raise KaokaeError(f"--only-threshold must be between 0 and 2 (dlib's same-person line is 0.6), got {only_threshold}")
    with open_media(target) as reader:
        media = reader.info
        references = [only] if isinstance(only, str | Path) else list(only or [])
        check_output(media, output, overwrite, [*sources, *references, c2pa_cert, c2pa_key])
        with FaceFinder(max_faces=10) as finder:
            swapper = FaceSwapper(load_sources(list(sources), finder), settings, smooth_colour=smooth)
            # after load_sources, which reports a missing or unreadable photo in one line
            labeller = Labeller("kaokae swap", model_id=file_sha256(sources[0]), watermark=watermark,
                                c2pa_cert=c2pa_cert, c2pa_key=c2pa_key)
            identity = PersonFilter(references, finder, only_threshold) if references else None
            report = SwapReport()
            frames = background(_swapped_frames(reader, finder, swapper, identity, report, smooth))
            with open_labelled_output(media, output, labeller, crf=crf, preset=preset, overwrite=overwrite) as writer:
                for frame in track(frames, total=media.frame_count, desc="swap"):
                    writer.write(frame.image, frame)
            report.frames = writer.frames
    if report.faces_swapped == 0:
        warn(f"no face was swapped in {media.path.name}" + (" (none matched --only)" if report.faces_skipped else ""))
    used = ", ".join(f"{s.name} {n}" for s, n in zip(swapper.sources, swapper.uses, strict=True) if n)
    if len(swapper.sources) > 1 and used:
        info(f"faces per source: {used}")
    left = f" ({report.faces_skipped} of other people left as they were)" if identity is not None else ""
    info(f"swapped {report.faces_swapped} face{'s' * (report.faces_swapped != 1)} in {report.frames_swapped} of "
         f"{report.frames} frame{'s' * (report.frames != 1)}{left} -> {output}")
    return report


def _swapped_frames(reader, finder: FaceFinder, swapper: FaceSwapper, identity: PersonFilter | None,
                    report: SwapReport, smooth: bool) -> Iterator[Frame]:
    video = reader.info.kind == "video"
    swap_frame = FrameSwap(finder, swapper, identity, video=video, fps=float(reader.info.fps or 30), smooth=smooth)
    for frame in reader:
        image, swapped, skipped = swap_frame(frame)
        report.faces_swapped += swapped
        report.faces_skipped += skipped
        report.frames_swapped += swapped > 0
        yield Frame(frame.index, frame.time, image, frame.name)


class FrameSwap:
    """The classic swap of one frame after another (`swap_media`, and `kaokae live`): faces tracked on video (track
    ids, One-Euro smoothed landmarks, re-detection every REDETECT_EVERY frames) or found afresh on stills, `--only`
    applied, each face swapped. `frame_swap(frame) -> (image, faces swapped, faces skipped)`; the frame's own image is
    never changed (a copy is returned when a face was swapped)."""

    def __init__(self, finder: FaceFinder, swapper: FaceSwapper, identity: PersonFilter | None = None, *,
                 video: bool = True, fps: float = 30.0, smooth: bool = True):
        self.finder, self.swapper, self.identity = finder, swapper, identity
        self.tracker = FaceTracker(finder, redetect_every=REDETECT_EVERY, smoothing=smooth, fps=fps) if video else None

    def __call__(self, frame: Frame) -> tuple[np.ndarray, int, int]:
        if self.tracker is not None:
            faces = [(t.track_id, t.face) for t in self.tracker.update(frame.image, frame.time)]
            self.swapper.forget_except(key for key, _ in faces)
        else:
            faces = [(None, face) for face in self.finder.find(frame.image)]
        image, swapped, skipped = frame.image, 0, 0
        for key, face in faces:
            if self.identity is not None and not self.identity.check(frame.image, face, key, frame.index).same:
                skipped += 1
                continue
            if image is frame.image:
                image = frame.image.copy()  # the untouched frame stays the reference for identity and colour
            swapped += self.swapper.swap(image, face.landmarks, key)
        return image, swapped, skipped
