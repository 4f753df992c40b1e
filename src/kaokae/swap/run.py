"""`kaokae swap`: the classic swap over a whole image, folder of images or video, frames streamed one at a time."""

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kaokae.errors import KaokaeError
from kaokae.extract.person_map import check_map, map_paths, person_matcher
from kaokae.faces import FaceFinder
from kaokae.faces.identity import PersonFilter, PersonMatcher
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
    faces_skipped: int = 0  # faces left alone by --only, or matching no --map reference
    faces_per_person: list[tuple[str, int]] | None = None  # with --map: (person's label, faces swapped) per entry
    per_person: list[int] = field(default_factory=list)  # faces swapped per swapper, while it runs


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
    sources = list(sources or [])
    person_map = list(o.map)
    references = list(o.only)
    if bool(sources) == bool(person_map):
        raise KaokaeError("give either --source PHOTO... or --map REF=PHOTO, one of the two")
    if person_map:
        check_map(person_map, "photo")
    with open_media(target) as reader:
        media = reader.info
        check_output(media, output, o.overwrite, [*sources, *references, *map_paths(person_map), o.c2pa_cert,
                                                  o.c2pa_key])
        with o.finder() as finder:
            # one swapper per person (the same one where two people share photos); --source: one for everybody
            loaded: dict[tuple[Path, ...], FaceSwapper] = {}
            for photos in [tuple(Path(p) for p in sources)] if sources else [e.targets for e in person_map]:
                if photos not in loaded:
                    loaded[photos] = FaceSwapper(load_sources(list(photos), finder), settings, smooth_colour=o.smooth)
            swappers = list(loaded.values()) if sources else [loaded[e.targets] for e in person_map]
            # after load_sources, which reports a missing or unreadable photo in one line
            first = sources[0] if sources else person_map[0].targets[0]
            labeller = Labeller("kaokae swap", model_id=file_sha256(first), watermark=o.watermark,
                                c2pa_cert=o.c2pa_cert, c2pa_key=o.c2pa_key)
            identity = (PersonFilter(references, finder, o.threshold) if references else
                        person_matcher(person_map, finder, o.threshold) if person_map else None)
            report = SwapReport()
            frames = background(_swapped_frames(reader, finder, swappers, identity, report, o))
            with open_labelled_output(media, output, labeller, crf=o.crf, preset=o.preset,
                                      overwrite=o.overwrite) as writer:
                for frame in track(frames, total=media.frame_count, desc="swap"):
                    writer.write(frame.image, frame)
            report.frames = writer.frames
    option = "--map" if person_map else "--only"
    if report.faces_swapped == 0:
        warn(f"no face was swapped in {media.path.name}" + (f" (none matched {option})" if report.faces_skipped else ""))
    for swapper in dict.fromkeys(swappers):
        used = ", ".join(f"{s.name} {n}" for s, n in zip(swapper.sources, swapper.uses, strict=True) if n)
        if len(swapper.sources) > 1 and used:
            info(f"faces per source: {used}")
    if person_map:
        report.faces_per_person = [(e.label, n) for e, n in zip(person_map, report.per_person, strict=True)]
        per = ", ".join(f"{label}: {n}" for label, n in report.faces_per_person)
        left = f" ({per}; {report.faces_skipped} matched nobody and were left as they were)"
    else:
        left = f" ({report.faces_skipped} of other people left as they were)" if identity is not None else ""
    info(f"swapped {report.faces_swapped} face{'s' * (report.faces_swapped != 1)} in {report.frames_swapped} of "
         f"{report.frames} frame{'s' * (report.frames != 1)}{left} -> {output}")
    return report


def _swapped_frames(reader, finder: FaceFinder, swappers: FaceSwapper | list[FaceSwapper],
                    identity: PersonMatcher | None, report: SwapReport, o: SwapOptions) -> Iterator[Frame]:
    video = reader.info.kind == "video"
    swap_frame = FrameSwap(finder, swappers, identity, video=video, fps=float(reader.info.fps or 30), smooth=o.smooth,
                           redetect_every=o.redetect_every)
    for frame in reader:
        image, swapped, skipped = swap_frame(frame)
        report.faces_swapped += swapped
        report.faces_skipped += skipped
        report.frames_swapped += swapped > 0
        yield Frame(frame.index, frame.time, image, frame.name)
    report.per_person = swap_frame.per_person


class FrameSwap:
    """The classic swap of one frame after another (`swap_media`, and `kaokae live`): faces tracked on video (track
    ids, One-Euro smoothed landmarks, re-detection every `redetect_every` frames) or found afresh on stills, `--only`
    or `--map` applied, each face swapped. `frame_swap(frame) -> (image, faces swapped, faces skipped)`; the frame's
    own image is never changed (a copy is returned when a face was swapped).

    `swappers[i]` swaps person i's faces (identity's people, --map); one swapper swaps every face identity keeps.
    `per_person[i]` counts the faces swapper i swapped."""

    def __init__(self, finder: FaceFinder, swappers: FaceSwapper | list[FaceSwapper],
                 identity: PersonMatcher | None = None, *, video: bool = True, fps: float = 30.0, smooth: bool = True,
                 redetect_every: int = 10):
        self.finder, self.identity = finder, identity
        self.swappers = [swappers] if isinstance(swappers, FaceSwapper) else list(swappers)
        self.swapper = self.swappers[0]
        self.per_person = [0] * len(self.swappers)
        self.video = video
        self.faces = face_stream("video" if video else "image", finder, redetect_every, smooth, fps)

    def __call__(self, frame: Frame) -> tuple[np.ndarray, int, int]:
        faces = self.faces(frame.image, frame.time)
        if self.video:
            for swapper in dict.fromkeys(self.swappers):
                swapper.forget_except(key for key, _ in faces)
        image, swapped, skipped = frame.image, 0, 0
        for key, face in faces:
            person = self.identity.match(frame.image, face, key, frame.index).person if self.identity else 0
            if person is None:
                skipped += 1
                continue
            if image is frame.image:
                image = frame.image.copy()  # the untouched frame stays the reference for identity and colour
            done = self.swappers[person].swap(image, face.landmarks, key)
            self.per_person[person] += done
            swapped += done
        return image, swapped, skipped
