"""convert --follow-expression: the learned face's features warped onto A's landmarks, on a real face."""

import numpy as np
import pytest

from conftest import data_file
from kaokae.composite import FACE_OVAL, face_box, face_size
from kaokae.convert.expression import ExpressionWarp
from kaokae.faces import FaceFinder
from kaokae.faces.landmarks import FaceMesh, Roi
from kaokae.media import read_image
from kaokae.swap.mesh import warp_mesh

PHOTO = "face_recognition/examples/knn_examples/train/biden/biden.jpg"


@pytest.fixture(scope="module")
def face():
    """A real face, and the same face redrawn with a softened expression, as a briefly trained model draws it:
    brows, eyes, nose and lips pulled a tenth of the way towards the face's centre and the mouth shifted up."""
    image = read_image(data_file(PHOTO))
    with FaceFinder(max_faces=1) as finder:
        landmarks = finder.find(image)[0].landmarks
    inner = np.setdiff1d(np.arange(len(landmarks)), FACE_OVAL)
    centre = landmarks[inner].mean(0)
    drawn = landmarks.copy()
    drawn[inner] = centre + 0.9 * (landmarks[inner] - centre) + [0, -0.02 * face_size(landmarks)]
    box = face_box(landmarks, image.shape, 0.1)
    softened, covered = warp_mesh(image, landmarks, drawn, box)
    crop = np.where(covered[..., None], softened, image[box.slices])
    return {"image": image, "landmarks": landmarks, "box": box, "crop": crop}


def error(image: np.ndarray, crop: np.ndarray, box, landmarks: np.ndarray) -> float:
    """Mean distance of the mesh found on `image` with `crop` pasted at `box` from `landmarks`, over the face's
    size (the outline's points left out: the warp keeps them)."""
    pasted = image.copy()
    pasted[box.slices] = crop
    mesh = FaceMesh()
    try:
        found = mesh.run(pasted, Roi.from_landmarks(landmarks))
    finally:
        mesh.close()
    inner = np.setdiff1d(np.arange(len(landmarks)), FACE_OVAL)
    return float(np.linalg.norm(found[inner] - landmarks[inner], axis=1).mean() / face_size(landmarks))


def test_the_features_move_their_share_of_the_way_onto_the_frames_landmarks(face):
    image, landmarks, box, crop = face["image"], face["landmarks"], face["box"], face["crop"]
    alpha = np.ones(box.shape, np.float32)
    moved = {}
    for strength in (1.0, 0.5):
        warp = ExpressionWarp(strength, smoothing=0.0)
        try:
            moved[strength] = warp.apply(crop, alpha, image, landmarks, box)
        finally:
            warp.close()
    followed = moved[1.0]
    before, after, halfway = (error(image, f, box, landmarks) for f in (crop, followed, moved[0.5]))
    assert before > 0.02, "the softened face should stray from the landmarks"
    assert after < 0.4 * before, (before, after)
    assert after < halfway < before, (before, halfway, after)
    outline = np.zeros(box.shape, np.uint8)
    # the face's outline stays where it was drawn: pixels at the oval's points barely change
    for x, y in np.round(box.local(landmarks[FACE_OVAL])).astype(int):
        if 0 <= y < box.shape[0] and 0 <= x < box.shape[1]:
            outline[y, x] = 1
    change = np.abs(followed.astype(int) - crop.astype(int)).max(axis=2)[outline > 0]
    assert np.median(change) < 12, change


def test_offsets_are_smoothed_along_a_track_and_forgotten_when_it_ends(face):
    image, landmarks, box, crop = face["image"], face["landmarks"], face["box"], face["crop"]
    alpha = np.ones(box.shape, np.float32)
    warp = ExpressionWarp(smoothing=0.5)
    try:
        warp.apply(crop, alpha, image, landmarks, box, key=7)
        first = warp.offsets[7].copy()
        assert np.abs(first).max() > 1, "the softened face should need moving"
        # the same face again, now drawn on the landmarks: half of the first frame's offset is kept
        again = warp.apply(image[box.slices], alpha, image, landmarks, box, key=7)
        assert np.linalg.norm(warp.offsets[7] - 0.5 * first, axis=1).mean() < 0.2 * np.linalg.norm(first, axis=1).mean()
        assert again.shape == crop.shape
        warp.forget_except([8])
        assert warp.offsets == {}
    finally:
        warp.close()
