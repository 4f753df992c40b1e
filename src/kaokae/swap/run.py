"""`kaokae swap`: the classic swap over a whole image, folder of images or video, frames streamed one at a time."""

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kaokae.faces.identity import PersonFilter
from kaokae.faces.track import face_stream
from kaokae.media import Frame, open_media
from kaokae.media.output import check_output
from kaokae.options import check
from kaokae.progress import info, track, warn
from kaokae.provenance import Labeller, file_sha256
from kaokae.provenance.output import open_labelled_output
from kaokae.swap.options import SwapOptions
from kaokae.swap.swapper import FaceSwapper, SwapSettings, load_sources
from kaokae.threads import background


@dataclass
class SwapReport:
    frames: int = 0  # frames written
    frames_swapped: int = 0  # frames with at least one face swapped
    faces_swapped: int = 0
    faces_skipped: int = 0  # faces left alone by --only


def swap_media(sources: list[str | Path], target: str | Path, output: str | Path,
               options: SwapOptions | None = None, **values) -> SwapReport:
    """Swap the faces of `target` (image, folder or video) with the source photos' face and write `output`.

    `options` (or its fields as keywords: `preset="veryfast"`) say how. Frames without a face are written unchanged;
    a video keeps every frame, its timing and its audio. On video, faces are tracked: their landmarks are smoothed
    over time (One-Euro filter), and so is each face's colour correction, unless `smooth` is off. With `only` (one
    or more photos of one person), only that person's faces are swapped (kaokae.faces.identity.PersonFilter). The
    output is labelled as synthetic (kaokae.provenance): metadata, and the invisible watermark unless `watermark`
    is off; a C2PA manifest with `c2pa_cert`/`c2pa_key`. Its model id is the first source photo's sha256.
    """
    o = dataclasses.replace(options or SwapOptions(), **values)
    if isinstance(o.only, str | Path):
        o.only = [o.only]
    check(o)
    settings = SwapSettings(blend=o.blend, colour=o.colour, erode=o.erode, feather=o.feather)
    output = Path(output)
    with open_media(target) as reader:
        media = reader.info
        check_output(media, output, o.overwrite)
        with o.finder() as finder:
            swapper = FaceSwapper(load_sources(list(sources), finder), settings, smooth_colour=o.smooth)
            # after load_sources, which reports a missing or unreadable photo in one line
            labeller = Labeller("kaokae swap", model_id=file_sha256(sources[0]), watermark=o.watermark,
                                c2pa_cert=o.c2pa_cert, c2pa_key=o.c2pa_key)
            references = [o.only] if isinstance(o.only, str | Path) else list(o.only or [])
            identity = PersonFilter(references, finder, o.threshold) if references else None
            report = SwapReport()
            faces = face_stream(media.kind, finder, o.redetect_every, o.smooth, float(media.fps or 30))
            frames = background(_swapped_frames(reader, faces, swapper, identity, report))
            with open_labelled_output(media, output, labeller, crf=o.crf, preset=o.preset,
                                      overwrite=o.overwrite) as writer:
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


def _swapped_frames(reader, find_faces, swapper: FaceSwapper, identity: PersonFilter | None,
                    report: SwapReport) -> Iterator[Frame]:
    video = reader.info.kind == "video"
    for frame in reader:
        faces = find_faces(frame.image, frame.time)
        if video:
            swapper.forget_except(key for key, _ in faces)
        image, swapped = frame.image, 0
        for key, face in faces:
            if identity is not None and not identity.check(frame.image, face, key, frame.index).same:
                report.faces_skipped += 1
                continue
            if image is frame.image:
                image = frame.image.copy()  # the untouched frame stays the reference for identity and colour
            swapped += swapper.swap(image, face.landmarks, key)
        report.faces_swapped += swapped
        report.frames_swapped += swapped > 0
        yield Frame(frame.index, frame.time, image, frame.name)
