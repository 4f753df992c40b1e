"""The mkl colour correction (one file in kaokae/composite/colour/) on real faces: mean and covariance of the LAB
colours inside the mask move onto the frame face's, the cross-channel terms too, which per-channel lab cannot."""

import cv2
import numpy as np

from conftest import data_file
from kaokae.composite import TableSmoother, correct_colour, face_box, face_mask
from kaokae.faces import FaceFinder

OBAMA = "face_recognition/examples/knn_examples/train/obama/obama.jpg"
BIDEN = "face_recognition/examples/knn_examples/train/biden/biden2.jpg"


def lab_colours(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)[alpha > 0.5].astype(np.float64)


def test_mkl_moves_mean_and_covariance_onto_the_reference():
    obama = cv2.cvtColor(cv2.imread(str(data_file(OBAMA))), cv2.COLOR_BGR2RGB)
    biden = cv2.resize(cv2.cvtColor(cv2.imread(str(data_file(BIDEN))), cv2.COLOR_BGR2RGB), obama.shape[1::-1])
    with FaceFinder(max_faces=1) as finder:
        landmarks = finder.find(obama)[0].landmarks
    box = face_box(landmarks, obama.shape)
    alpha = face_mask(landmarks, box)
    face, reference = obama[box.slices], biden[box.slices]
    want = lab_colours(reference, alpha)
    before = lab_colours(face, alpha)
    assert np.abs(before.mean(0) - want.mean(0)).max() > 10  # the test is not trivial

    def covariance_error(rgb):
        return np.abs(np.cov(lab_colours(rgb, alpha), rowvar=False) - np.cov(want, rowvar=False)).max()

    corrected = correct_colour(face, reference, alpha, "mkl")
    assert np.abs(lab_colours(corrected, alpha).mean(0) - want.mean(0)).max() < 2.0
    assert covariance_error(corrected) < 0.1 * np.abs(np.cov(want, rowvar=False)).max()
    assert covariance_error(corrected) < covariance_error(correct_colour(face, reference, alpha, "lab"))
    # the same temporal smoothing as the table methods: a steady reference gives the same correction
    smoother = TableSmoother()
    for _ in range(3):
        smoothed = correct_colour(face, reference, alpha, "mkl", smoother, key=1)
    assert np.abs(smoothed.astype(int) - corrected).max() <= 1
