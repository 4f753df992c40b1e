"""kaokae.faces on real photos: detection counts, landmarks at every size, the 68-point mapping, alignment, head pose."""

import importlib.util
from pathlib import Path

import cv2
import dlib
import numpy as np
import pytest

from kaokae.errors import KaokaeError
from kaokae.faces import (
    MESH_TO_68,
    FaceFinder,
    align_matrix,
    canonical_points,
    head_pose,
    sharpness,
    transform_points,
    warp_face,
)
from kaokae.faces.align import posed_points
from kaokae.faces.landmarks import LEFT_EYE_INNER, LEFT_EYE_OUTER, RIGHT_EYE_INNER, RIGHT_EYE_OUTER, Roi

RIGHT_EYE, LEFT_EYE = [RIGHT_EYE_OUTER, RIGHT_EYE_INNER], [LEFT_EYE_INNER, LEFT_EYE_OUTER]


def read_rgb(path: Path) -> np.ndarray:
    return cv2.imread(str(path))[:, :, ::-1].copy()


def rotate(rgb: np.ndarray, degrees: float, center=None) -> np.ndarray:
    """Rotate counter-clockwise on screen (OpenCV's sense) about `center` (default the image centre)."""
    h, w = rgb.shape[:2]
    center = (w / 2, h / 2) if center is None else (float(center[0]), float(center[1]))
    return cv2.warpAffine(rgb, cv2.getRotationMatrix2D(center, degrees, 1.0), (w, h), borderMode=cv2.BORDER_REPLICATE)


def eye_centres(points: np.ndarray) -> np.ndarray:
    return np.stack([points[RIGHT_EYE].mean(0), points[LEFT_EYE].mean(0)])


@pytest.fixture(scope="module")
def finder():
    with FaceFinder() as f:
        yield f


@pytest.mark.parametrize("path, count", [
    ("dlib/examples/faces/dogs.jpg", 0),
    ("face_recognition/examples/two_people.jpg", 2),
    ("face_recognition/examples/knn_examples/test/obama_and_biden.jpg", 3),  # two men and a child
    ("insightface_t1/src/utils/dependencies/insightface/data/images/t1.jpg", 6),  # small faces: needs the tiles
])
def test_every_face_is_found(finder, data, path, count):
    faces = finder.find(read_rgb(data(path)))
    assert len(faces) == count
    for face in faces:
        assert face.landmarks.shape == (478, 2) and face.landmarks.dtype == np.float32
        assert face.box.shape == (4,) and 0.5 <= face.score <= 1.0
        x0, y0, x1, y1 = face.box
        assert (face.landmarks >= [x0, y0]).all() and (face.landmarks <= [x1, y1]).all()


def test_one_pass_misses_small_faces_the_tiles_find(data):
    """Why the pyramid exists: the whole frame alone finds only some of t1.jpg's six ~110 px faces."""
    rgb = read_rgb(data("insightface_t1/src/utils/dependencies/insightface/data/images/t1.jpg"))
    with FaceFinder() as finder:
        whole_frame_only = [d for model in finder.detector.whole_models for d in model.detect(rgb)]
        assert len(finder.detector.tile_grid(rgb.shape[1], rgb.shape[0])) > 0
    assert len({tuple(np.round(d.box[:2] / 40)) for d in whole_frame_only}) < 6


def test_same_landmarks_at_every_resolution(finder, data):
    """One photo at 1080p down to 240p (a 67 px face): the landmarks agree once scaled, so small faces are right."""
    reference = None
    for name in ["obama-1080p", "obama-720p", "obama-480p", "obama-240p"]:
        rgb = read_rgb(data(f"face_recognition/examples/{name}.jpg"))
        faces = finder.find(rgb)
        assert len(faces) == 1
        normalised = faces[0].landmarks / rgb.shape[1]  # the ladder keeps the framing, so scale by width
        if reference is None:
            reference = normalised
            size = faces[0].size / rgb.shape[1]
            continue
        error = np.linalg.norm(normalised - reference, axis=1).mean() / size
        assert error < 0.03, f"{name}: landmarks differ by {error:.3f} of the face size from 1080p"


def test_constraints(data):
    rgb = read_rgb(data("insightface_t1/src/utils/dependencies/insightface/data/images/t1.jpg"))
    with FaceFinder(max_faces=3) as finder:
        three = finder.find(rgb)
    with FaceFinder() as finder:
        every = finder.find(rgb)
    assert len(three) == 3 and [f.score for f in three] == [f.score for f in every[:3]]
    with FaceFinder(min_size=120) as finder:
        large = finder.find(rgb)
    assert 0 < len(large) < 6 and all(f.size >= 120 for f in large)
    with FaceFinder(min_score=0.99) as finder:
        assert finder.find(rgb) == []
    with pytest.raises(KaokaeError, match="unknown detector"):
        FaceFinder(detector="huge")


def test_mesh_to_68_lands_on_dlib_68_points(finder, data):
    """The documented 68-point mapping agrees with dlib's own 68-point predictor on real faces."""
    models = Path(importlib.util.find_spec("face_recognition_models").submodule_search_locations[0]) / "models"
    predictor = dlib.shape_predictor(str(models / "shape_predictor_68_face_landmarks.dat"))
    errors = []
    for path in ["face_recognition/examples/two_people.jpg", "deepface/tests/unit/dataset/img1.jpg",
                 "deepface/tests/unit/dataset/img2.jpg", "face_recognition/examples/knn_examples/train/biden/biden.jpg"]:
        rgb = read_rgb(data(path))
        for face in finder.find(rgb):
            ours = face.landmarks[MESH_TO_68]
            x0, y0, x1, y1 = (int(v) for v in np.concatenate([ours.min(0), ours.max(0)]))
            theirs = np.array([(p.x, p.y) for p in predictor(rgb, dlib.rectangle(x0, y0, x1, y1)).parts()], float)
            eye_distance = np.linalg.norm(theirs[36:42].mean(0) - theirs[42:48].mean(0))
            errors.append(np.linalg.norm(ours - theirs, axis=1) / eye_distance)
    errors = np.array(errors)
    assert len(errors) == 5
    assert errors.mean() < 0.07
    assert errors[:, 36:48].mean() < 0.05  # eyes
    assert errors[:, 48:68].mean() < 0.06  # lips


def test_landmarks_warp_into_the_aligned_face_and_back(finder, data):
    rgb = read_rgb(data("face_recognition/examples/two_people.jpg"))
    for face in finder.find(rgb):
        for centering in ("face", "head"):
            matrix = align_matrix(face.landmarks, 256, centering)
            assert matrix.shape == (2, 3) and matrix.dtype == np.float64
            aligned_points = transform_points(face.landmarks, matrix)
            back = transform_points(aligned_points, cv2.invertAffineTransform(matrix))
            assert np.abs(back - face.landmarks).max() < 0.5
            assert (aligned_points > 0).all() and (aligned_points < 256).all()
            # The stronger check: landmarks found afresh on the aligned face image agree with the warped ones.
            aligned = warp_face(rgb, matrix, 256)
            assert aligned.shape == (256, 256, 3) and aligned.dtype == np.uint8
            refound = finder.mesh.run(aligned, Roi.from_landmarks(aligned_points))
            assert np.linalg.norm(refound - aligned_points, axis=1).mean() < 1.5


def test_aligned_faces_are_upright_and_consistently_framed(finder, data):
    """Aligned faces are upright whatever their roll, and the eyes land where the (pose-turned) mean face has them:
    for "face" centering that is the frontal mean face's eye positions, within a few pixels, for any face that is
    not turned far away."""
    paths = ["face_recognition/examples/two_people.jpg", "deepface/tests/unit/dataset/img1.jpg",
             "deepface/tests/unit/dataset/img5.jpg", "face_recognition/examples/obama-240p.jpg",
             "face_recognition/examples/knn_examples/test/obama_and_biden.jpg",
             "prnet_aflw2000/TestImages/AFLW2000/image00251.jpg"]  # the last two hold faces turned 55-65 degrees
    frontal_offsets, posed_offsets = [], []
    for path in paths:
        rgb = read_rgb(data(path))
        for image in (rgb, rotate(rgb, 30)):
            faces = finder.find(image)
            assert faces
            for face in faces:
                yaw, _, _ = head_pose(face.landmarks, image.shape[1::-1])
                for centering in ("face", "head"):
                    points = transform_points(face.landmarks, align_matrix(face.landmarks, 256, centering))
                    _, _, roll = head_pose(points, (256, 256))
                    assert abs(roll) < (5 if abs(yaw) < 45 else 10)  # upright, also for faces turned far away
                    eyes = eye_centres(points)
                    posed = eye_centres(posed_points(face.landmarks, 256, centering))
                    posed_offsets.append(np.linalg.norm(eyes - posed, axis=1).max())
                    if centering == "face" and abs(yaw) < 25:
                        dx, dy = eyes[1] - eyes[0]
                        assert abs(np.degrees(np.arctan2(dy, dx))) < 4  # turned faces' eyes are not level on screen
                        frontal = eye_centres(canonical_points(256, centering))
                        frontal_offsets.append(np.linalg.norm(eyes - frontal, axis=1).max())
    assert len(frontal_offsets) > 10
    assert max(frontal_offsets) < 8 and np.mean(frontal_offsets) < 4  # pixels in a 256 px aligned face
    assert max(posed_offsets) < 12 and np.mean(posed_offsets) < 4  # the worst: the 63-degree profile
    # "head" is zoomed out from "face": the eyes are closer together.
    face_eyes, head_eyes = eye_centres(canonical_points(256, "face")), eye_centres(canonical_points(256, "head"))
    assert np.linalg.norm(head_eyes[1] - head_eyes[0]) < 0.8 * np.linalg.norm(face_eyes[1] - face_eyes[0])
    with pytest.raises(KaokaeError, match="unknown centering"):
        align_matrix(np.zeros((478, 2)), 256, "body")


def test_sharpness_ranks_blur(finder, data):
    rgb = read_rgb(data("face_recognition/examples/obama-720p.jpg"))
    aligned = warp_face(rgb, align_matrix(finder.find(rgb)[0].landmarks, 256), 256)
    blurred = cv2.GaussianBlur(aligned, (0, 0), 2.0)
    assert sharpness(aligned) > 2 * sharpness(blurred) > 0


def test_head_pose(finder, data):
    rgb = read_rgb(data("deepface/tests/unit/dataset/img1.jpg"))
    size = rgb.shape[1::-1]
    face = finder.find(rgb)[0]
    yaw, pitch, roll = head_pose(face.landmarks, size)
    assert abs(yaw) < 10 and abs(roll) < 5  # a frontal, upright portrait
    center = (face.box[:2] + face.box[2:]) / 2
    _, _, rolled = head_pose(finder.find(rotate(rgb, 30, center))[0].landmarks, size)
    assert rolled == pytest.approx(roll - 30, abs=4)  # counter-clockwise on screen is negative roll
    # A face turned to the image's right has positive yaw, its mirror image negative; looking up is positive pitch.
    turned = read_rgb(data("prnet_aflw2000/TestImages/AFLW2000/image00251.jpg"))
    yaw, _, _ = head_pose(finder.find(turned)[0].landmarks, turned.shape[1::-1])
    mirrored = np.ascontiguousarray(turned[:, ::-1])
    mirrored_yaw, _, _ = head_pose(finder.find(mirrored)[0].landmarks, mirrored.shape[1::-1])
    assert yaw > 40 and mirrored_yaw < -40
    up = read_rgb(data("prnet_aflw2000/TestImages/AFLW2000/image00430.jpg"))
    _, pitch, _ = head_pose(finder.find(up)[0].landmarks, up.shape[1::-1])
    assert pitch > 15
