"""Where the faces are on each frame: from a faceset's stored alignments of this very input, or found afresh with
the same detector, tracker and One-Euro smoothing as extract. Either way each face comes with its frame -> aligned
face matrix in the model's centering (for the stored faceset's size, or the model's faceset size), and a key that
stays the same along a face track (for the temporal smoothing of colour and prediction)."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kaokae.convert.geometry import compose
from kaokae.errors import KaokaeError
from kaokae.faces import Face, align_matrix
from kaokae.faces.align import FRAMING, PIVOT, reframe_matrix
from kaokae.faces.options import DetectOptions
from kaokae.faces.track import face_stream
from kaokae.faceset import FaceSet
from kaokae.media import MediaInfo


@dataclass
class FoundFace:
    face: Face  # box, score, (478, 2) landmarks in frame pixels (smoothed along a track)
    matrix: np.ndarray  # (2, 3) frame -> aligned face of `size` px in the model's centering
    size: int  # side of the aligned square `matrix` maps to (a faceset's face size)
    track: object  # the same value along one face track; None for stills
    identity: np.ndarray | None = None  # a stored 128-D embedding, when the alignments hold one


class DetectedFaces:
    """Faces found on each frame like extract finds them: videos through the tracker (track ids, One-Euro smoothed
    landmarks), images and folders one by one."""

    def __init__(self, info: MediaInfo, face_size: int, centering: str, options: DetectOptions):
        self.face_size, self.centering = face_size, centering
        self.finder = options.finder()
        self.find_faces = face_stream(info.kind, self.finder, options.redetect_every, options.smooth,
                                      float(info.fps or 30))

    def __call__(self, frame) -> list[FoundFace]:
        found = self.find_faces(frame.image, frame.time)
        return [FoundFace(face, align_matrix(face.landmarks, self.face_size, self.centering), self.face_size, track)
                for track, face in found]

    def close(self) -> None:
        self.finder.close()


class StoredFaces:
    """Faces of one source of a faceset, read from its alignments instead of detected again: the same landmarks,
    smoothing and matrices that extract saved (and trained on)."""

    def __init__(self, faceset: FaceSet, source_index: int, centering: str | None = None):
        self.faceset, self.source_index = faceset, source_index
        self.frames_without_faces = 0
        # another centering with the same pivot (face <-> whole_face): the same square scaled and shifted exactly
        self.reframe, self.size = None, faceset.size
        if centering is not None and centering != faceset.centering:
            scale = FRAMING[faceset.centering][0] / FRAMING[centering][0]
            self.size = int(np.ceil(faceset.size * scale - 1e-9))
            self.reframe = reframe_matrix(faceset.centering, centering, faceset.size, self.size)

    def __call__(self, frame) -> list[FoundFace]:
        fs = self.faceset
        rows = fs.frame_lookup(self.source_index, frame.index)
        if not len(rows):
            self.frames_without_faces += 1
        out = []
        for i in rows:
            entry = fs.entries[i]
            face = Face(fs.boxes[i].astype(np.float32), float(entry.score), fs.landmarks[i].astype(np.float32))
            track = None if entry.track_id is None else (self.source_index, entry.track_id)
            identity = fs.identity[i] if entry.has_identity and np.isfinite(fs.identity[i]).all() else None
            matrix = fs.matrices[i].astype(np.float64)
            if self.reframe is not None:
                matrix = compose(self.reframe, matrix)
            out.append(FoundFace(face, matrix, self.size, track, identity))
        return out

    def close(self) -> None:
        pass


def find_source(faceset: FaceSet, info: MediaInfo) -> int | None:
    """Index of the faceset source that is this input: the same file (by resolved path), or, when the file moved,
    the only source with its file name, kind, size and frame count."""
    path = Path(info.path).resolve()
    for i, source in enumerate(faceset.sources):
        if Path(source.path) == path:
            return i
    same = [i for i, s in enumerate(faceset.sources)
            if Path(s.path).name == path.name and s.kind == info.kind and (s.width, s.height) == (info.width, info.height)
            and s.frame_count == info.frame_count]
    return same[0] if len(same) == 1 else None


def stored_faces(alignments: Path, info: MediaInfo, centering: str) -> StoredFaces:
    """The faces of `info`'s input in the faceset `alignments` (a faceset folder or its alignments.json). Its face
    size may differ from the model's (the matrices are rescaled exactly); its centering may not."""
    alignments = Path(alignments)
    if alignments.name == "alignments.json":
        alignments = alignments.parent
    faceset = FaceSet.open(alignments)
    if faceset.centering != centering and PIVOT.get(faceset.centering) is not PIVOT.get(centering):
        raise KaokaeError(f"the alignments in {alignments} are of '{faceset.centering}'-centred faces but the model "
                          f"was trained on '{centering}'-centred faces: extract the input again with --centering "
                          f"{centering}, or convert without --alignments")
    source = find_source(faceset, info)
    if source is None:
        names = ", ".join(Path(s.path).name for s in faceset.sources[:5])
        raise KaokaeError(f"{alignments} holds no alignments for {Path(info.path).name} (its sources: {names})")
    return StoredFaces(faceset, source, centering)


def alignments_beside(path: Path) -> Path | None:
    """The faceset that `kaokae extract clip.mp4 -o clip.faceset` made, when it is there beside the input."""
    path = Path(path)
    candidate = path.parent / f"{path.name if path.is_dir() else path.stem}.faceset"
    return candidate if (candidate / "alignments.json").is_file() else None

