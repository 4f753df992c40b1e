"""kaokae.composite on real faces: masks from the 478 landmarks, colour correction inside the mask, blending."""

import cv2
import numpy as np
import pytest
from mediapipe.python.solutions import face_mesh_connections

from conftest import data_file
from kaokae.composite import (
    FACE_OVAL,
    INNER_LIPS,
    TableSmoother,
    blend,
    correct_colour,
    face_box,
    face_mask,
    face_size,
    feather_blend,
    intersect,
    lab_mean_std,
    poisson_blend,
    polygon_mask,
)
from kaokae.composite.mask import signed_distance
from kaokae.faces import FaceFinder

OBAMA = "face_recognition/examples/knn_examples/train/obama/obama.jpg"  # smiling, teeth showing
BIDEN = "face_recognition/examples/knn_examples/train/biden/biden2.jpg"
TURNED = "prnet_aflw2000/TestImages/AFLW2000/image00251.jpg"


def read_rgb(relative: str) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(data_file(relative))), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def faces():
    """{name: (rgb, landmarks)} for two real portraits."""
    with FaceFinder(max_faces=1) as finder:
        out = {}
        for name, path in [("obama", OBAMA), ("biden", BIDEN), ("turned", TURNED)]:
            rgb = read_rgb(path)
            out[name] = (rgb, finder.find(rgb)[0].landmarks)
    return out


def closed_loop(indices):
    return {tuple(sorted(pair)) for pair in zip(indices, indices[1:] + indices[:1], strict=True)}


def test_loops_match_mediapipe_mesh():
    assert closed_loop(FACE_OVAL) == {tuple(sorted(e)) for e in face_mesh_connections.FACEMESH_FACE_OVAL}
    lips = {tuple(sorted(e)) for e in face_mesh_connections.FACEMESH_LIPS}
    assert closed_loop(INNER_LIPS) <= lips and len(closed_loop(INNER_LIPS)) == 20


def test_face_mask_is_zero_outside_one_inside_and_ramps_monotonically(faces):
    rgb, landmarks = faces["obama"]
    box = face_box(landmarks, rgb.shape)
    size = face_size(landmarks)
    alpha = face_mask(landmarks, box, erode=0.02, feather=0.1, keep_mouth=False)
    assert alpha.shape == box.shape and alpha.dtype == np.float32
    hull = polygon_mask(box.local(landmarks)[FACE_OVAL], box.shape, convex=True)  # the default outline
    distance = signed_distance(hull)
    assert alpha[distance <= 0].max() == 0.0  # nothing outside the face outline
    assert alpha[distance <= 0.02 * size].max() == 0.0  # nor in the eroded band
    assert alpha[distance >= 0.12 * size + 1].min() == 1.0  # solid beyond erode + feather
    ramp = (distance > 0.02 * size) & (distance < 0.12 * size)
    assert 0 < alpha[ramp].mean() < 1
    order = np.argsort(distance, axis=None, kind="stable")
    assert np.all(np.diff(alpha.ravel()[order]) >= -1e-6)  # never decreases going inwards (float32 rounding aside)



def test_convex_false_follows_the_oval_of_a_turned_face(faces):
    rgb, landmarks = faces["turned"]  # yaw about 60 degrees: the projected oval is far from convex
    box = face_box(landmarks, rgb.shape)
    oval = polygon_mask(box.local(landmarks)[FACE_OVAL], box.shape)
    hull = face_mask(landmarks, box, feather=0.05, keep_mouth=False)
    exact = face_mask(landmarks, box, feather=0.05, keep_mouth=False, convex=False)
    assert exact[~oval].max() == 0.0 and np.all(exact <= hull)
    assert exact.sum() < 0.9 * hull.sum()


def test_negative_erode_dilates_and_sizes_are_relative_to_the_face(faces):
    rgb, landmarks = faces["obama"]
    box = face_box(landmarks, rgb.shape, margin=0.2)
    oval = polygon_mask(box.local(landmarks)[FACE_OVAL], box.shape, convex=True)
    grown = face_mask(landmarks, box, erode=-0.05, feather=0.0, keep_mouth=False)
    outside = signed_distance(oval)[grown > 0]
    assert outside.min() == pytest.approx(-0.05 * face_size(landmarks), abs=1.5)

    # The same face at twice the resolution gets the same mask, twice as large.
    small = face_mask(landmarks, box, erode=0.03, feather=0.1)
    big_box = face_box(landmarks * 2, (rgb.shape[0] * 2, rgb.shape[1] * 2), margin=0.2)
    big = face_mask(landmarks * 2, big_box, erode=0.03, feather=0.1)
    down = cv2.resize(big, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_AREA)
    assert np.abs(down - small).mean() < 0.01


def test_open_mouth_is_cut_out_of_the_mask(faces):
    rgb, landmarks = faces["obama"]
    box = face_box(landmarks, rgb.shape)
    mouth = polygon_mask(box.local(landmarks)[INNER_LIPS], box.shape)
    assert mouth.sum() > 500  # he smiles with his teeth showing
    with_mouth = face_mask(landmarks, box, keep_mouth=True)
    without = face_mask(landmarks, box, keep_mouth=False)
    assert with_mouth[mouth].max() == 0.0
    assert without[mouth].min() == 1.0
    # Only the mouth and a thin ramp around it differ.
    differs = np.abs(with_mouth - without) > 0
    assert differs.sum() < 3 * mouth.sum()


def test_given_polygon_and_intersection(faces):
    rgb, landmarks = faces["obama"]
    box = face_box(landmarks, rgb.shape)
    x0, y0, x1, y1 = landmarks.min(0)[0], landmarks.min(0)[1], landmarks.max(0)[0], landmarks.mean(0)[1]
    upper = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)
    alpha = face_mask(landmarks, box, feather=0.0, polygon=upper, keep_mouth=False)
    assert alpha[box.local(upper)[:, 1].max().astype(int) + 2:].max() == 0  # nothing below the polygon
    full = face_mask(landmarks, box, keep_mouth=False)
    both = intersect(full, alpha)
    assert np.all(both <= full) and np.all(both <= alpha) and both.sum() > 0


def test_lab_transfer_moves_mean_and_std_to_the_reference_inside_the_mask(faces):
    obama, landmarks = faces["obama"]
    biden, _ = faces["biden"]
    box = face_box(landmarks, obama.shape)
    alpha = face_mask(landmarks, box)
    face = obama[box.slices]
    # Biden's photo, cut to the same size, as the "frame" whose colours we want.
    reference = cv2.resize(biden, (obama.shape[1], obama.shape[0]))[box.slices]
    want_mean, want_std = lab_mean_std(reference, alpha)
    have_mean, have_std = lab_mean_std(face, alpha)
    assert np.abs(have_mean - want_mean).max() > 10  # the test is not trivial

    mean, std = lab_mean_std(correct_colour(face, reference, alpha, "lab"), alpha)
    assert np.abs(mean - want_mean).max() < 2.0
    assert np.abs(std / want_std - 1).max() < 0.1

    matched = correct_colour(face, reference, alpha, "hist")
    mean, std = lab_mean_std(matched, alpha)
    assert np.abs(mean - want_mean).max() < 3.0
    assert np.abs(std / want_std - 1).max() < 0.15
    # Histogram matching also moves the quantiles, not only the first two moments.
    inside = alpha > 0.5
    q = [5, 25, 50, 75, 95]
    lum = [np.percentile(cv2.cvtColor(img, cv2.COLOR_RGB2LAB)[..., 0][inside], q) for img in (matched, reference, face)]
    assert np.abs(lum[0] - lum[1]).max() < 4 < np.abs(lum[2] - lum[1]).max()

    assert correct_colour(face, reference, alpha, "none") is face


def test_table_smoother_follows_slowly_and_forgets_ended_tracks(faces):
    obama, landmarks = faces["obama"]
    box = face_box(landmarks, obama.shape)
    alpha = face_mask(landmarks, box)
    face = obama[box.slices]
    darker = (face * 0.7).astype(np.uint8)
    smoother = TableSmoother(weight=0.25)
    first = correct_colour(face, face, alpha, "lab", smoother, key=1)
    assert np.abs(first.astype(int) - face).mean() < 1.5  # identity correction (8-bit LAB round trip)
    target_l = lab_mean_std(darker, alpha)[0][0]
    steps = [lab_mean_std(correct_colour(face, darker, alpha, "lab", smoother, key=1), alpha)[0][0] for _ in range(12)]
    start_l = lab_mean_std(face, alpha)[0][0]
    assert start_l > steps[0] > steps[1] > steps[-1]  # moves towards the darker reference step by step
    assert abs(steps[0] - (start_l + 0.25 * (target_l - start_l))) < 2.0
    assert abs(steps[-1] - target_l) < 3.0
    smoother.keep_only([])
    assert smoother.tables == {}


def test_feather_blend_keeps_zero_alpha_pixels_exactly(faces):
    obama, landmarks = faces["obama"]
    biden, _ = faces["biden"]
    box = face_box(landmarks, obama.shape)
    alpha = face_mask(landmarks, box)
    background = obama[box.slices]
    face = cv2.resize(biden, (obama.shape[1], obama.shape[0]))[box.slices]
    out = feather_blend(background, face, alpha)
    assert np.array_equal(out[alpha == 0], background[alpha == 0])
    assert np.array_equal(out[alpha == 1], face[alpha == 1])


def test_poisson_blend_lands_on_the_same_pixels_and_keeps_outside_exact(faces):
    obama, landmarks = faces["obama"]
    box = face_box(landmarks, obama.shape)
    alpha = face_mask(landmarks, box)
    background = obama[box.slices]
    # Cloning the frame onto itself must give the frame back: a one-pixel shift would not.
    for trim in [(0, 0), (1, 0), (0, 1), (1, 1)]:  # odd and even sizes
        bg = np.ascontiguousarray(background[trim[0]:, trim[1]:])
        out = poisson_blend(bg, bg.copy(), alpha[trim[0]:, trim[1]:])
        assert np.abs(out.astype(int) - bg).max() <= 2
    shifted = np.roll(background, 1, axis=1)
    assert np.abs(poisson_blend(background, shifted, alpha).astype(int) - background).mean() > 1

    # The same face with its colour shifted: Poisson keeps its gradients and takes the colour from the frame around
    # it, so the frame comes back (a plain paste keeps the shift). Also with a hard mask, and with the mouth cut out.
    shift = np.array([-30, 20, -10])
    face = np.clip(background.astype(int) + shift, 0, 255).astype(np.uint8)
    for mask in (alpha, (alpha > 0).astype(np.float32)):
        inside = mask > 0
        out = blend(background, face, mask, "poisson")
        assert np.array_equal(out[~inside], background[~inside])
        assert np.abs(out[inside].astype(int) - background[inside]).mean() < 2.5
        pasted = blend(background, face, mask, "feather")
        assert np.abs(pasted[inside].astype(int) - background[inside]).mean() > 10


def test_poisson_blend_with_mask_touching_the_crop_border(faces):
    obama, landmarks = faces["obama"]
    box = face_box(landmarks, obama.shape, margin=0.0)
    background = np.ascontiguousarray(obama[box.slices])
    alpha = np.ones(box.shape, np.float32)
    alpha[:, : box.shape[1] // 2] = 0  # touches top, bottom and right sides
    face = np.ascontiguousarray(np.flipud(background))
    out = poisson_blend(background, face, alpha)
    assert out.shape == background.shape
    assert np.array_equal(out[alpha == 0], background[alpha == 0])
    assert np.abs(out.astype(int) - face)[alpha == 1].mean() > 0  # the border rows took the frame's values


def test_unknown_methods_are_refused(faces):
    obama, _ = faces["obama"]
    crop = obama[:32, :32]
    with pytest.raises(ValueError, match="blend method"):
        blend(crop, crop, np.ones((32, 32), np.float32), "smudge")
    with pytest.raises(ValueError, match="colour method"):
        correct_colour(crop, crop, np.ones((32, 32), np.float32), "sepia")
