"""kaokae.faces.identity on the 300 labelled pairs of deepface's test set (real photos of 13 people), and the one
`--only` person filter on real photos of Obama and Biden."""

import csv
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import data_file
from kaokae.errors import KaokaeError
from kaokae.faces import DEFAULT_THRESHOLD, FaceFinder, IdentityEncoder, identity_distance
from kaokae.faces.identity import PersonFilter, reference_embeddings
from kaokae.media import open_media, read_image
from kaokae.media.tools import copy_first_frames

DATASET = "deepface/tests/unit/dataset"


@pytest.fixture(scope="module")
def pairs_and_embeddings():
    """Every image of master.csv embedded once per method (the biggest face in each)."""
    rows = list(csv.DictReader(open(data_file(f"{DATASET}/master.csv"))))
    names = sorted({r["file_x"] for r in rows} | {r["file_y"] for r in rows})
    encoders = {method: IdentityEncoder(method) for method in ("dlib5", "mesh")}
    embeddings = {method: {} for method in encoders}
    with FaceFinder() as finder:
        for name in names:
            rgb = cv2.imread(str(data_file(f"{DATASET}/{name}")))[:, :, ::-1].copy()
            face = max(finder.find(rgb), key=lambda f: f.size)
            for method, encoder in encoders.items():
                embeddings[method][name] = encoder.embed(rgb, face)
    return rows, embeddings


@pytest.mark.parametrize("method", ["dlib5", "mesh"])
def test_same_and_different_people_are_told_apart(pairs_and_embeddings, method):
    rows, embeddings = pairs_and_embeddings
    assert len(rows) == 300
    vectors = embeddings[method]
    distances = np.array([identity_distance(vectors[r["file_x"]], vectors[r["file_y"]]) for r in rows])
    same = np.array([r["Decision"] == "Yes" for r in rows])
    assert 0 < same.sum() < len(rows)
    accuracy = ((distances < DEFAULT_THRESHOLD) == same).mean()
    assert accuracy >= 0.97, f"{method}: {accuracy:.1%}"


def test_embedding_shape_batch_and_distance(data):
    rgb = cv2.imread(str(data("face_recognition/examples/two_people.jpg")))[:, :, ::-1].copy()
    with FaceFinder() as finder:
        faces = finder.find(rgb)
    encoder = IdentityEncoder()
    one = encoder.embed(rgb, faces[0])
    many = encoder.embed_many(rgb, faces)
    assert one.shape == (128,) and one.dtype == np.float32
    assert many.shape == (2, 128)
    np.testing.assert_allclose(many[0], one, atol=1e-5)
    distances = identity_distance(one, many)
    assert distances.shape == (2,) and distances[0] < 1e-5
    assert identity_distance(many[0], many[1]) > DEFAULT_THRESHOLD  # two different people
    assert encoder.embed_many(rgb, []).shape == (0, 128)


# ---- PersonFilter: the one `--only` filter of extract, convert and swap

KNN = "face_recognition/examples/knn_examples/"
LIN = "face_recognition/examples/lin-manuel-miranda.png"


def hamilton_clip(folder: Path, frames: int = 90) -> Path:
    """The first `frames` frames of short_hamilton_clip.mp4 (640x360): Lin-Manuel Miranda and other people."""
    clip = folder / "hamilton.mp4"
    copy_first_frames(data_file("face_recognition/examples/short_hamilton_clip.mp4"), clip, frames)
    return clip


def assert_only_lin_changed(clip: Path, frames: Path, err: str) -> None:
    """Checks `convert`/`swap` `--only LIN` on `clip`, written as PNG frames into `frames` (a face left alone is
    exactly as decoded) with `err` on stderr: his faces changed, the others are untouched, both counted."""
    summary = err.strip().splitlines()[-1]
    swapped, left = (int(n) for n in re.search(r"(\d+) faces? .*\((\d+) of other people left", summary).groups())
    assert swapped >= 10 and left >= 10, summary
    checked = 0
    with FaceFinder() as finder, open_media(clip) as reader:
        person = PersonFilter([data_file(LIN)], finder)
        for frame in reader:
            if frame.index % 5:
                continue
            changed = np.abs(read_image(frames / f"{frame.index:06d}.png").astype(int) - frame.image).max(axis=2) > 0
            for face in finder.find(frame.image):
                x0, y0, x1, y1 = np.round(face.box).astype(int)
                touched = changed[max(y0, 0):y1, max(x0, 0):x1].mean()
                distance = person.check(frame.image, face).distance
                if distance <= 0.55:  # clearly him
                    assert touched > 0.5, (frame.index, distance, touched)
                    checked += 1
                elif distance > 0.7:  # clearly someone else
                    assert touched == 0, (frame.index, distance, touched)
                    checked += 1
    assert checked >= 5


@pytest.fixture(scope="module")
def finder():
    with FaceFinder() as finder:
        yield finder


@pytest.fixture(scope="module")
def biden_filter(finder):
    return PersonFilter([data_file(KNN + "train/biden/biden.jpg")], finder)


def test_person_filter_keeps_the_reference_person_only(finder, biden_filter):
    group = read_image(data_file(KNN + "test/obama_and_biden.jpg"))  # Obama, Biden and a third man
    faces = finder.find(group)
    assert len(faces) == 3
    checks = [biden_filter.check(group, face) for face in faces]  # no track: each face embedded and judged
    assert [c.same for c in checks].count(True) == 1
    for check in checks:
        assert check.embedding.shape == (128,)
        assert check.distance == pytest.approx(biden_filter.distance(check.embedding))
        assert check.same == (check.distance <= DEFAULT_THRESHOLD)
    # a second photo of him is the same person too; several references: the nearest counts
    again = read_image(data_file(KNN + "train/biden/biden2.jpg"))
    assert biden_filter.check(again, finder.find(again)[0]).same
    both = PersonFilter([data_file(KNN + "train/obama/obama.jpg"), data_file(KNN + "train/biden/biden.jpg")], finder,
                        encoder=biden_filter.encoder)
    assert both.references.shape == (2, 128)
    assert [both.check(group, face).same for face in faces].count(True) == 2


def test_person_filter_checks_a_track_once_per_recheck_every_frames(finder, biden_filter):
    group = read_image(data_file(KNN + "test/obama_and_biden.jpg"))
    faces = finder.find(group)
    embeddings = biden_filter.encoder.embed_many(group, faces)
    biden = int(np.argmin(biden_filter.distance(embeddings)))
    other = 1 - biden if biden < 2 else 0
    person = PersonFilter([data_file(KNN + "train/biden/biden.jpg")], finder, recheck_every=3,
                          encoder=biden_filter.encoder)
    first = person.check(group, faces[biden], track=7, frame=0)
    assert first.same and first.embedding is not None
    # frames 1 and 2 follow the track's check without embedding (even were the tracker to jump to someone else)
    for frame in (1, 2):
        follow = person.check(group, faces[other], track=7, frame=frame)
        assert follow.same and follow.embedding is None and follow.distance == first.distance
    recheck = person.check(group, faces[other], track=7, frame=3)  # 3 frames on: embedded again
    assert not recheck.same and recheck.embedding is not None
    assert not person.check(group, faces[biden], track=7, frame=4).same  # now following the new check
    # a face whose embedding is given is judged on it at once; a face without a track every time
    given = person.check(group, faces[biden], track=7, frame=5, embedding=embeddings[biden])
    assert given.same and np.array_equal(given.embedding, embeddings[biden])
    assert not person.check(group, faces[other]).same and person.check(group, faces[biden]).same
    # a new video numbers its tracks from 0 again: forgotten, track 7 is checked afresh
    person.forget_tracks()
    assert person.check(group, faces[other], track=7, frame=6).embedding is not None


def test_person_filter_references(finder, biden_filter, tmp_path, capsys):
    two = data_file("face_recognition/examples/two_people.jpg")
    capsys.readouterr()
    person = PersonFilter([two], finder, encoder=biden_filter.encoder)
    assert "two_people.jpg shows 2 faces; using the largest as the reference" in capsys.readouterr().err
    rgb = read_image(two)
    largest = max(finder.find(rgb), key=lambda f: f.size)
    assert identity_distance(person.references[0], biden_filter.encoder.embed(rgb, largest)) < 1e-5
    # one clear line for a missing file, a folder, a file that is not an image, a photo without a face
    (tmp_path / "notes.jpg").write_text("not a photo")
    for path, message in [(tmp_path / "missing.jpg", "--only: no such file: "),
                          (tmp_path, "--only: "),
                          (tmp_path / "notes.jpg", "--only: cannot read image "),
                          (data_file("dlib/examples/faces/dogs.jpg"), "no face found in the --only reference photo ")]:
        with pytest.raises(KaokaeError) as error:
            PersonFilter([path], finder, encoder=biden_filter.encoder)
        text = str(error.value)
        assert text.startswith(message) and str(path) in text and "\n" not in text, text
    with pytest.raises(KaokaeError, match="--not-like: no such file"):
        reference_embeddings([tmp_path / "missing.jpg"], finder, biden_filter.encoder, "--not-like")
    with pytest.raises(KaokaeError, match="at least one reference photo"):
        PersonFilter([], finder, encoder=biden_filter.encoder)
