"""Identity: dlib's ResNet 128-D face embedding (the model face_recognition uses; LFW accuracy 99.38%), from the
weights that ship inside the `face_recognition_models` package.

Two faces are the same person when the Euclidean distance of their embeddings is under DEFAULT_THRESHOLD (0.6, dlib's
own). dlib aligns the face from 5 points (two corners of each eye and the base of the nose), which come from dlib's
5-point shape predictor run on the face box ("dlib5", the default) or straight from our 478 landmarks ("mesh").
"dlib5" tells labelled pairs apart best, "mesh" is steadier when the head is tilted (docs/benchmarks.md, "Design
experiments").

`PersonMatcher` tells which of several reference people a face is (`--map` in convert and swap): the distance
decision, and one check per face track every RECHECK_EVERY frames. `PersonFilter` is its one-person case, `--only
REF.jpg [REF2.jpg ...]` for extract, convert and swap.
"""

import importlib.util
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path

import dlib
import numpy as np

from kaokae import progress
from kaokae.errors import KaokaeError
from kaokae.faces.finder import Face, FaceFinder
from kaokae.faces.landmarks import LEFT_EYE_INNER, LEFT_EYE_OUTER, RIGHT_EYE_INNER, RIGHT_EYE_OUTER
from kaokae.media import read_image

DEFAULT_THRESHOLD = 0.6
METHODS = ("mesh", "dlib5")

# dlib's 5-point order: the subject's left eye (outer, inner corner), right eye (outer, inner), base of the nose.
NOSE_BASE = 2
MESH_TO_5 = np.array([LEFT_EYE_OUTER, LEFT_EYE_INNER, RIGHT_EYE_OUTER, RIGHT_EYE_INNER, NOSE_BASE])


def models_dir() -> Path:
    """The folder of dlib models inside face_recognition_models, found without importing the package (its
    __init__ imports pkg_resources, which recent setuptools no longer has)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise KaokaeError("face_recognition_models is not installed (pip install face-recognition-models==0.3.0)")
    return Path(spec.submodule_search_locations[0]) / "models"


def identity_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
    """Euclidean distance between embeddings: (128,) and (128,) -> float; (128,) and (N, 128) -> (N,)."""
    distance = np.linalg.norm(np.asarray(a, np.float32) - np.asarray(b, np.float32), axis=-1)
    return float(distance) if np.ndim(distance) == 0 else distance


def _rectangle(box: np.ndarray) -> dlib.rectangle:
    x0, y0, x1, y1 = (int(round(float(v))) for v in box)
    return dlib.rectangle(x0, y0, x1, y1)


class IdentityEncoder:
    """`embed(rgb, face) -> (128,) float32`; `embed_many(rgb, faces) -> (N, 128)` for faces of one image."""

    def __init__(self, method: str = "dlib5"):
        if method not in METHODS:
            raise KaokaeError(f"unknown identity method {method!r}: choose from {', '.join(METHODS)}")
        self.method = method
        folder = models_dir()
        self.model = dlib.face_recognition_model_v1(str(folder / "dlib_face_recognition_resnet_model_v1.dat"))
        self.predictor = (dlib.shape_predictor(str(folder / "shape_predictor_5_face_landmarks.dat"))
                          if method == "dlib5" else None)

    def five_points(self, rgb: np.ndarray, face: Face) -> dlib.full_object_detection:
        if self.predictor is not None:
            return self.predictor(rgb, _rectangle(face.box))
        points = face.landmarks[MESH_TO_5]
        return dlib.full_object_detection(_rectangle(face.box),
                                          [dlib.point(int(round(x)), int(round(y))) for x, y in points])

    def embed_many(self, rgb: np.ndarray, faces: list[Face]) -> np.ndarray:
        if not faces:
            return np.zeros((0, 128), np.float32)
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        shapes = dlib.full_object_detections()
        for face in faces:
            shapes.append(self.five_points(rgb, face))
        return np.array(self.model.compute_face_descriptor(rgb, shapes), np.float32).reshape(len(faces), 128)

    def embed(self, rgb: np.ndarray, face: Face) -> np.ndarray:
        return self.embed_many(rgb, [face])[0]


# ---- one person: `--only REF.jpg [REF2.jpg ...]` in extract, convert and swap, `faceset sort/filter` references

# A track is checked on its first face and again every this many frames: an embedding costs 0.1-0.2 s on a CPU,
# too slow for every face of every frame; faces in between follow the track's last check.
RECHECK_EVERY = 10


def reference_embeddings(paths: Sequence[str | Path], finder: FaceFinder, encoder: IdentityEncoder,
                         option: str = "--only") -> np.ndarray:
    """(R, 128): the embedding of the largest face in each reference photo. A file that cannot be read or a
    photo without a face is a KaokaeError naming `option`; a photo with several faces a warning."""
    vectors = []
    for path in paths:
        path = Path(path)
        try:
            rgb = read_image(path)
        except KaokaeError as e:
            raise KaokaeError(f"{option}: {e}") from None
        faces = finder.find(rgb)
        if not faces:
            raise KaokaeError(f"no face found in the {option} reference photo {path}")
        if len(faces) > 1:
            progress.warn(f"{path.name} shows {len(faces)} faces; using the largest as the reference")
        vectors.append(encoder.embed(rgb, max(faces, key=lambda f: f.size)))
    return np.array(vectors, np.float32).reshape(len(vectors), 128)


def nearest_distance(embeddings: np.ndarray, references: np.ndarray) -> np.ndarray | float:
    """Distance to the nearest of the (R, 128) references: (128,) -> float; (N, 128) -> (N,)."""
    distances = np.linalg.norm(np.asarray(embeddings, np.float32)[..., None, :] - references, axis=-1)
    nearest = distances.min(axis=-1)
    return float(nearest) if np.ndim(nearest) == 0 else nearest


@dataclass(frozen=True)
class Check:
    """The verdict on one face."""

    same: bool  # the reference person: distance at or below the threshold
    distance: float  # to the nearest reference, at this face or at its track's last check
    embedding: np.ndarray | None  # this face's embedding; None when its track's last check was followed


@dataclass(frozen=True)
class Match:
    """Which of several reference people one face is."""

    person: int | None  # index of the nearest person when at or below the threshold, else None (nobody)
    distance: float  # to that nearest person's nearest reference, at this face or at its track's last check
    embedding: np.ndarray | None  # this face's embedding; None when its track's last check was followed


class PersonMatcher:
    """Tells which of several people (each a (R_i, 128) array of reference embeddings) a face is: the person with
    the nearest reference, when that distance is at or below `threshold`; nobody otherwise.

    `match(rgb, face, track, frame)` embeds a tracked face on its track's first frame and again once `frame` (any
    number that goes up by one per frame searched) is `recheck_every` past the track's last check; faces in between
    follow that check. A face without a track (`track=None`, stills) is checked every time; a face whose embedding
    the caller already has (`embedding=`) is judged on it, for free. `--only` is the one-person case (PersonFilter),
    `--map` the general one.
    """

    def __init__(self, people: Sequence[np.ndarray], threshold: float = DEFAULT_THRESHOLD,
                 recheck_every: int = RECHECK_EVERY, encoder: IdentityEncoder | None = None):
        if not people or any(len(p) == 0 for p in people):
            raise KaokaeError("every person needs at least one reference embedding")
        self.encoder = encoder or IdentityEncoder()
        self.people = [np.asarray(p, np.float32).reshape(-1, 128) for p in people]
        self.threshold = threshold
        self.recheck_every = recheck_every
        self.tracks: dict[Hashable, tuple[int, int, float]] = {}  # track -> (frame of its last check, person, distance)

    def distances(self, embedding: np.ndarray) -> np.ndarray:
        """(P,): the distance of one (128,) embedding to each person's nearest reference."""
        return np.array([nearest_distance(embedding, references) for references in self.people], np.float32)

    def match(self, rgb: np.ndarray, face: Face, track: Hashable | None = None, frame: int = 0,
              embedding: np.ndarray | None = None) -> Match:
        last = self.tracks.get(track) if track is not None else None
        if embedding is None and last is not None and frame - last[0] < self.recheck_every:
            return self._verdict(last[1], last[2], None)
        if embedding is None:
            embedding = self.encoder.embed(rgb, face)
        distances = self.distances(embedding)
        person = int(np.argmin(distances))
        if track is not None:
            self.tracks[track] = (frame, person, float(distances[person]))
        return self._verdict(person, float(distances[person]), embedding)

    def _verdict(self, person: int, distance: float, embedding: np.ndarray | None) -> Match:
        return Match(person if distance <= self.threshold else None, distance, embedding)

    def forget_tracks(self) -> None:
        """For a new video: its tracker numbers its tracks from 0 again."""
        self.tracks.clear()


class PersonFilter(PersonMatcher):
    """Keeps the faces of the person in the reference photos (identity distance at or below `threshold`): the
    one-person PersonMatcher, with `check(...) -> Check` for `--only`."""

    def __init__(self, references: Sequence[str | Path], finder: FaceFinder, threshold: float = DEFAULT_THRESHOLD,
                 recheck_every: int = RECHECK_EVERY, encoder: IdentityEncoder | None = None, option: str = "--only"):
        if not references:
            raise KaokaeError(f"{option}: give at least one reference photo")
        encoder = encoder or IdentityEncoder()
        super().__init__([reference_embeddings(references, finder, encoder, option)], threshold, recheck_every,
                         encoder)
        self.references = self.people[0]

    def distance(self, embeddings: np.ndarray) -> np.ndarray | float:
        return nearest_distance(embeddings, self.references)

    def check(self, rgb: np.ndarray, face: Face, track: Hashable | None = None, frame: int = 0,
              embedding: np.ndarray | None = None) -> Check:
        match = self.match(rgb, face, track, frame, embedding)
        return Check(match.person is not None, match.distance, match.embedding)
