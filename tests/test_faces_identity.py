"""kaokae.faces.identity on the 300 labelled pairs of deepface's test set (real photos of 13 people)."""

import csv

import cv2
import numpy as np
import pytest

from conftest import data_file
from kaokae.faces import DEFAULT_THRESHOLD, FaceFinder, IdentityEncoder, identity_distance

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
