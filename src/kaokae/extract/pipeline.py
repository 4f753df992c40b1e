"""media -> faceset: find every face in videos, images and folders, align it and save it with its geometry.

Videos go through the tracker (track ids, smoothed landmarks); stills through the finder. Decoding runs in a
background thread ahead of detection, aligning and measuring each face in two worker threads beside it, and
PNGs are written by the faceset writer's own small pool, so the slow step (detection and landmarks) is the one
the run waits for.
"""

import math
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from kaokae import progress
from kaokae.errors import NothingFoundError
from kaokae.extract.contact_sheet import SHEET_FACES, TILE, contact_sheet, label_tile
from kaokae.extract.options import ExtractOptions
from kaokae.extract.sample import EvenSample
from kaokae.faces import Face, FaceFinder, align_matrix, sharpness, warp_face
from kaokae.faces.identity import IdentityEncoder, PersonFilter
from kaokae.faces.pose import head_pose
from kaokae.faces.track import face_stream
from kaokae.faceset import FaceEntry, FaceSet, FaceSetWriter
from kaokae.media import open_media, probe, write_image
from kaokae.options import check
from kaokae.paths import check_outputs
from kaokae.threads import background

REJECT_OTHER_PERSON = "other-person"


@dataclass
class ExtractResult:
    faceset: FaceSet
    frames: int  # frames searched
    kept: int  # faces saved in faces/
    rejected: int  # faces set aside in rejected/ (other people, with --only)
    seconds: float
    inputs: int
    only: bool  # whether --only was used

    def summary(self) -> str:
        """The final line of `kaokae extract`."""
        saved = f"saved {plural(self.kept, 'face')}"
        if self.only:
            saved += (f" (kept {self.kept} like the reference, rejected {self.rejected} of other people "
                      "into rejected/)")
        return (f"searched {plural(self.frames, 'frame')} of {plural(self.inputs, 'input')} in "
                f"{self.seconds:.1f} s: {saved} to {self.faceset.path}")


def extract(inputs: list[str | Path], output: str | Path,
            options: ExtractOptions | None = None) -> ExtractResult:
    """Extract every face of `inputs` into the faceset folder `output`. Raises NothingFoundError (nothing
    written) when no face is kept, KaokaeError on bad input."""
    options = options or ExtractOptions()
    check(options)
    infos = [probe(path) for path in inputs]  # every input is checked before any work starts
    output = Path(output)
    check_outputs([*inputs, *options.only], [output])
    total = sum(math.ceil(info.frame_count / options.every) for info in infos)
    start = time.perf_counter()

    with (FaceSetWriter(output, options.size, options.centering, options.mode) as writer,
          options.finder() as finder):
        only = PersonFilter(options.only, finder, options.threshold) if options.only else None
        encoder = only.encoder if only else IdentityEncoder() if options.identity else None
        run = _Run(options, finder, encoder, only)
        with progress.bar(total=total, desc="extract", unit="frame") as bar:
            for info in infos:
                run.source(writer, info, bar)
        if not run.kept:
            raise NothingFoundError(run.nothing_found_message(len(infos)))  # the writer leaves nothing behind
        faceset = writer.commit()
    write_image(faceset.path / "contact_sheet.png", run.sheet(len(infos)))
    return ExtractResult(faceset, run.frames, run.kept, run.rejected, time.perf_counter() - start, len(infos),
                         bool(options.only))


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


@dataclass
class _Found:
    """A face waiting for its measurements (computed in a worker thread) before it goes to the writer."""

    measured: Future  # -> (aligned, matrix, blur, (yaw, pitch, roll))
    source_index: int
    frame_index: int
    frame_time: float
    track_id: int | None
    face: Face
    identity: np.ndarray | None
    reason: str | None


def measure(rgb: np.ndarray, landmarks: np.ndarray, size: int, centering: str):
    """Align one face and measure it: (aligned face, frame->face matrix, blur score, (yaw, pitch, roll))."""
    matrix = align_matrix(landmarks, size, centering)
    aligned = warp_face(rgb, matrix, size)
    return aligned, matrix, sharpness(aligned), head_pose(landmarks, (rgb.shape[1], rgb.shape[0]))


class _Run:
    """The state of one extract: counters, --only decisions per track, the contact-sheet samples.

    The main thread runs the tracker (the slow part); aligning and measuring each face runs in two worker
    threads beside it (OpenCV releases the GIL), and faces reach the writer in the order they were found.
    """

    def __init__(self, options: ExtractOptions, finder: FaceFinder, encoder, only: PersonFilter | None):
        self.options = options
        self.finder = finder
        self.encoder = encoder
        self.only = only
        self.frames = self.kept = self.rejected = 0
        self.sample = EvenSample(SHEET_FACES)
        self.rejected_sample = EvenSample(8)
        self.pending: deque[_Found] = deque()

    def source(self, writer: FaceSetWriter, info, bar) -> None:
        o = self.options
        source_index = writer.add_source(info)
        find_faces = face_stream(info.kind, self.finder, o.redetect_every, o.smooth, float(info.fps or 30))
        if self.only:
            self.only.forget_tracks()
        found = searched = 0
        with (open_media(info.path) as reader,
              ThreadPoolExecutor(2, thread_name_prefix="kaokae-align") as pool):
            for frame in background(reader.frames(every=o.every), depth=8, name="kaokae-decode"):
                rgb = frame.image
                faces = find_faces(rgb, frame.time)
                for track_id, face in faces:
                    identity, reason = self._identity(rgb, face, track_id)
                    measured = pool.submit(measure, rgb, face.landmarks, o.size, o.centering)
                    self.pending.append(_Found(measured, source_index, frame.index, frame.time, track_id,
                                               face, identity, reason))
                # hand finished faces to the writer in order; wait only when too many frames are held in
                # memory
                while self.pending and (self.pending[0].measured.done() or len(self.pending) > 16):
                    self._save(writer, self.pending.popleft())
                found += len(faces)
                searched += 1
                self.frames += 1
                bar.update(1)
                bar.set_postfix(faces=self.kept, refresh=False)
            while self.pending:
                self._save(writer, self.pending.popleft())
        bar.clear()  # the status line goes above the bar, not into it
        progress.info(f"{Path(info.path).name}: {plural(found, 'face')} in {plural(searched, 'frame')}")
        bar.refresh()

    def _identity(self, rgb, face, track_id) -> tuple[np.ndarray | None, str | None]:
        """(embedding if computed for this face, rejection reason or None)."""
        embedding = self.encoder.embed(rgb, face) if self.options.identity else None
        if self.only is None:
            return embedding, None
        check = self.only.check(rgb, face, track_id, self.frames, embedding)
        return check.embedding, (None if check.same else REJECT_OTHER_PERSON)

    def _save(self, writer: FaceSetWriter, found: _Found) -> None:
        aligned, matrix, blur, (yaw, pitch, roll) = found.measured.result()
        face = found.face
        entry = FaceEntry("", found.source_index, found.frame_index, found.frame_time, found.track_id,
                          float(face.score), float(blur), float(yaw), float(pitch), float(roll), reason=found.reason)
        writer.add(aligned, entry, landmarks=face.landmarks, matrix=matrix, box=face.box, identity=found.identity)
        sample = self.rejected_sample if found.reason else self.sample
        label = f"s{found.source_index} f{found.frame_index}"
        if found.track_id is not None:
            label += f" t{found.track_id}"
        if sample.wants():  # a small copy: the sheet is drawn at the end, when the sample is final
            tile = cv2.resize(aligned, (TILE, TILE), interpolation=cv2.INTER_AREA)
            sample.add((tile, label, bool(found.reason)))
        else:
            sample.add()
        if found.reason:
            self.rejected += 1
        else:
            self.kept += 1

    def sheet(self, sources: int) -> np.ndarray:
        kept = [label_tile(*item) for item in self.sample.result()]
        rejected = [label_tile(*item) for item in self.rejected_sample.result()]
        return contact_sheet(kept, rejected, self.sheet_title(sources))

    def nothing_found_message(self, sources: int) -> str:
        where = f"{plural(self.frames, 'frame')} of {plural(sources, 'input')} searched"
        if self.rejected:
            return (f"no face like the --only reference: {where}, all {plural(self.rejected, 'face')} found "
                    f"were other people (identity distance above {self.options.threshold}); nothing written")
        return f"no face found: {where}; nothing written"

    def sheet_title(self, sources: int) -> str:
        title = (f"{plural(self.kept, 'face')} from {plural(self.frames, 'frame')} of "
                 f"{plural(sources, 'input')}")
        if self.options.only:
            title += f"; {self.rejected} other-person faces in rejected/ (red)"
        return title
