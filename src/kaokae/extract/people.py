"""`kaokae people`: the distinct people in a video (or images), so a user can pick `--map` references without
searching for photos.

Faces are tracked like extract tracks them; each track's identity is the mean of dlib embeddings taken on its first
face and every RECHECK_EVERY frames after (at most SAMPLES_PER_TRACK). Tracks are grouped by average-linkage
clustering cut at CLUSTER_THRESHOLD, where two tracks seen on the same frame never join: they are two people. Each
person gets one representative face (the largest near-frontal sampled face near the group's mean that the detector
finds again), written as a photo with margin around the face, so that it works as a `--map` or `--only` reference,
and a row on the contact sheet.
"""

import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from kaokae import progress
from kaokae.errors import KaokaeError, NothingFoundError
from kaokae.extract.contact_sheet import COLUMNS, label_tile, sheet_of_blocks
from kaokae.extract.options import PeopleOptions
from kaokae.faces import Face, FaceFinder
from kaokae.faces.identity import RECHECK_EVERY, IdentityEncoder, identity_distance
from kaokae.faces.pose import head_pose
from kaokae.faces.track import face_stream
from kaokae.media import ImageFolderWriter, open_media, probe
from kaokae.options import check
from kaokae.paths import check_outputs

SAMPLES_PER_TRACK = 8  # embeddings (and face crops) kept per track: enough for a steady mean, cheap on a CPU
CROP_MARGIN = 2.2  # the representative photo's side, in face sizes: room around the face for the detector
PHOTO_SIZE = 256  # side of each person's representative photo in px
NEAR_MEAN = 0.4  # the representative face is the largest sample at most this far from its person's mean
FRONTAL = 30.0  # degrees of yaw and pitch within which a sample counts as near-frontal (a better reference)
# dlib's own face-clustering value: stricter than its same-pair line (0.6), because small, dark or blurred faces
# (an audience, a far shot) embed close to everyone and a 0.6 cut chains different people together.
CLUSTER_THRESHOLD = PeopleOptions.threshold  # the default cut (the one definition is the option's)


@dataclass
class Sample:
    """One embedded face of a track."""

    frame: int
    embedding: np.ndarray  # (128,) float32
    size: float  # the face's size in px
    frontal: bool  # yaw and pitch within FRONTAL degrees
    crop: np.ndarray  # (PHOTO_SIZE, PHOTO_SIZE, 3) uint8: the face with margin around it


@dataclass
class Track:
    key: object
    faces: int = 0
    first_frame: int = 0
    last_frame: int = 0
    last_sample: int = -(10**9)
    frames: set[int] = field(default_factory=set)  # where it was seen: tracks on one frame are different people
    samples: list[Sample] = field(default_factory=list)

    @property
    def embedding(self) -> np.ndarray:
        return np.mean([s.embedding for s in self.samples], axis=0)


@dataclass
class Person:
    """One distinct person: what `kaokae people` writes and what a UI shows to map a model or photo onto."""

    name: str  # person_01, person_02, ... by number of faces, most first
    photo: np.ndarray  # the representative face with margin: a usable --map reference
    embedding: np.ndarray  # (128,) mean identity of the person's tracks
    faces: int  # faces of this person found in the input
    tracks: int
    first_frame: int
    last_frame: int
    samples: list[np.ndarray]  # a few face crops over the person's tracks, for the contact sheet
    detectable: bool = True  # whether the detector finds a face in `photo` (else it cannot be a reference)
    path: Path | None = None  # the written photo, once written


@dataclass
class PeopleResult:
    people: list[Person]
    frames: int
    faces: int  # faces found in all
    left_out: int  # faces in groups smaller than min_faces
    seconds: float
    output: Path | None = None
    sheet: Path | None = None

    def summary(self) -> str:
        found = ", ".join(f"{p.name} {p.faces} faces" for p in self.people)
        left = f"; {self.left_out} faces in smaller groups left out" if self.left_out else ""
        where = f" -> {self.output}" if self.output else ""
        return (f"found {len(self.people)} {'person' if len(self.people) == 1 else 'people'} in {self.frames} frames "
                f"({found}{left}){where} ({self.seconds:.1f} s)")


def face_crop(rgb: np.ndarray, face: Face, size: int = PHOTO_SIZE) -> np.ndarray:
    """A square `size` px photo of the face with CROP_MARGIN face sizes around it (black beyond the frame)."""
    cx, cy = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
    side = CROP_MARGIN * face.size
    scale = size / side
    matrix = np.array([[scale, 0, size / 2 - scale * cx], [0, scale, size / 2 - scale * cy]], np.float64)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.warpAffine(rgb, matrix, (size, size), flags=interpolation, borderMode=cv2.BORDER_CONSTANT)


def find_people(input_path: str | Path, options: PeopleOptions | None = None) -> PeopleResult:
    """The distinct people in `input_path` (video, image or folder of images), most faces first. Raises
    NothingFoundError when it shows no face."""
    options = options or PeopleOptions()
    check(options)
    start = time.perf_counter()
    info = probe(input_path)
    min_faces = options.min_faces or (5 if info.kind == "video" else 1)
    encoder = IdentityEncoder()
    tracks: dict[object, Track] = {}
    frames = 0
    with options.finder() as finder, open_media(info.path) as reader:
        find_faces = face_stream(info.kind, finder, options.redetect_every, options.smooth, float(info.fps or 30))
        for frame in progress.track(reader, total=info.frame_count, desc="people"):
            faces = find_faces(frame.image, frame.time)
            if info.kind != "video":  # stills: every face is its own track
                faces = [((frame.index, k), face) for k, (_, face) in enumerate(faces)]
            for key, face in faces:
                track = tracks.get(key)
                if track is None:
                    track = tracks[key] = Track(key, first_frame=frame.index)
                track.faces += 1
                track.last_frame = frame.index
                track.frames.add(frame.index)
                if len(track.samples) < SAMPLES_PER_TRACK and frame.index - track.last_sample >= RECHECK_EVERY:
                    track.last_sample = frame.index
                    track.samples.append(_sample(encoder, frame.image, frame.index, face))
            frames += 1
        found = sum(t.faces for t in tracks.values())
        if not tracks:
            raise NothingFoundError(f"no face found in {frames} frames of {Path(info.path).name}")
        people, left_out = _group(list(tracks.values()), options.threshold, min_faces, finder)
    return PeopleResult(people, frames, found, left_out, time.perf_counter() - start)


def _sample(encoder: IdentityEncoder, rgb: np.ndarray, frame: int, face: Face) -> Sample:
    yaw, pitch, _ = head_pose(face.landmarks, (rgb.shape[1], rgb.shape[0]))
    return Sample(frame, encoder.embed(rgb, face), face.size, max(abs(yaw), abs(pitch)) <= FRONTAL,
                  face_crop(rgb, face))


def cluster_tracks(embeddings: np.ndarray, apart: np.ndarray, threshold: float) -> list[list[int]]:
    """Average-linkage clustering of (N, 128) track embeddings cut at `threshold`, where `apart[i, j]` (tracks seen
    on one frame) keeps tracks i and j in different clusters. scipy's linkage has no such constraint, hence this
    small loop: O(N^2) per merge, fine for the hundreds of tracks of a video."""
    distance = np.linalg.norm(embeddings[:, None] - embeddings[None], axis=-1).astype(np.float64)
    distance[apart] = np.inf
    np.fill_diagonal(distance, np.inf)
    members = [[i] for i in range(len(embeddings))]
    alive = np.ones(len(embeddings), bool)
    while alive.sum() > 1:
        flat = int(np.argmin(distance))
        a, b = divmod(flat, len(distance))
        if distance[a, b] > threshold:
            break
        na, nb = len(members[a]), len(members[b])
        merged = (na * distance[a] + nb * distance[b]) / (na + nb)  # inf stays inf: "apart" is inherited
        distance[a], distance[:, a] = merged, merged
        distance[a, a] = np.inf
        distance[b], distance[:, b] = np.inf, np.inf
        members[a] += members[b]
        members[b] = []
        alive[b] = False
    return [m for m in members if m]


def _group(tracks: list[Track], threshold: float, min_faces: int, finder: FaceFinder) -> tuple[list[Person], int]:
    """Tracks -> people, most faces first; groups of fewer than `min_faces` faces are left out (and counted)."""
    means = np.stack([t.embedding for t in tracks])
    apart = np.array([[bool(a.frames & b.frames) for b in tracks] for a in tracks])
    groups = [[tracks[i] for i in g] for g in cluster_tracks(means, apart, threshold)]
    groups.sort(key=lambda g: -sum(t.faces for t in g))
    people, left_out = [], 0
    for group in groups:
        faces = sum(t.faces for t in group)
        if faces < min_faces:
            left_out += faces
            continue
        samples = [s for t in sorted(group, key=lambda t: t.first_frame) for s in t.samples]
        # weighted by faces: a long track says more about who this is than a glimpse
        mean = np.average([t.embedding for t in group], axis=0, weights=[t.faces for t in group])
        best, detectable = _representative(samples, identity_distance(mean, np.stack([s.embedding for s in samples])),
                                           finder)
        shown = [samples[int(i)] for i in np.linspace(0, len(samples) - 1, min(len(samples), COLUMNS)).round()]
        people.append(Person(f"person_{len(people) + 1:02d}", best.crop, mean.astype(np.float32), faces, len(group),
                             min(t.first_frame for t in group), max(t.last_frame for t in group),
                             [s.crop for s in shown if s is not best][:COLUMNS - 1], detectable))
    return people, left_out


def _representative(samples: list[Sample], distances: np.ndarray, finder: FaceFinder) -> tuple[Sample, bool]:
    """Near the person's mean, near-frontal and large first; the first whose photo the detector finds again (so that
    it works as a reference), else the nearest to the mean."""
    order = sorted(range(len(samples)),
                   key=lambda i: (distances[i] > NEAR_MEAN, not samples[i].frontal, -samples[i].size))
    for i in order[:3 * SAMPLES_PER_TRACK]:
        if finder.find(samples[i].crop):
            return samples[i], True
    return samples[int(np.argmin(distances))], False


def write_people(result: PeopleResult, output: str | Path, overwrite: bool = False) -> PeopleResult:
    """Each person's representative photo as OUTPUT/person_NN.png and OUTPUT/contact_sheet.png (one row per
    person: the representative first, then faces from across the video), in a folder that appears complete."""
    output = Path(output)
    with ImageFolderWriter(output, "png", overwrite=overwrite) as writer:
        for person in result.people:
            person.path = writer.write(person.photo, person.name)
            if not person.detectable:
                progress.warn(f"{person.name}: the detector finds no face in its photo (too small, dark or "
                              "turned away), so it cannot be a --map reference; use a photo of that person instead")
        result.sheet = writer.write(people_sheet(result), "contact_sheet")
    result.output = output
    return result


def people_sheet(result: PeopleResult) -> np.ndarray:
    blocks = []
    for person in result.people:
        tiles = [label_tile(person.photo, f"{person.name} {person.faces}f")]
        tiles += [label_tile(crop, f"{person.name}") for crop in person.samples[:COLUMNS - 1]]
        blocks.append(tiles)
    left = f", {result.left_out} faces in small groups left out" if result.left_out else ""
    title = f"{len(result.people)} people in {result.frames} frames (first face of each row: the --map reference{left})"
    return sheet_of_blocks(blocks, title)


def people(input_path: str | Path, output: str | Path, options: PeopleOptions | None = None) -> PeopleResult:
    """find_people + write_people: `kaokae people INPUT -o DIR`."""
    options = options or PeopleOptions()
    output = Path(output)
    check_outputs([input_path], [output])
    if output.exists() and not output.is_dir():
        raise KaokaeError(f"output {output} exists and is not a folder")
    if output.is_dir() and any(output.iterdir()) and not options.overwrite:
        raise KaokaeError(f"output folder {output} is not empty (choose another folder or --overwrite it)")
    return write_people(find_people(input_path, options), output, options.overwrite)
