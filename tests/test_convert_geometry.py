"""Convert's geometry: a face taken out of the frame into the model's square and pasted back lands where it was.

The path under test is the one convert uses: warp to the faceset's square (like extract), resize to the model's size
(like training), then warp the model's square back onto the frame's box with the inverse of the composed matrix.
"""

import cv2
import numpy as np
import pytest

from kaokae.composite import Box
from kaokae.convert.geometry import coverage, model_input, paste_box, resize_matrix, warp_back
from kaokae.convert.paste import model_matrix
from kaokae.faces import FaceFinder, align_matrix, transform_points


def similarity(scale: float, angle_deg: float, tx: float, ty: float) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    return np.array([[scale * np.cos(a), -scale * np.sin(a), tx], [scale * np.sin(a), scale * np.cos(a), ty]])


def blob_centroids(image: np.ndarray, centres: np.ndarray, radius: float) -> np.ndarray:
    """Intensity-weighted centroid of `image` (float, one channel) around each rough centre."""
    out = []
    ys, xs = np.mgrid[0:image.shape[0], 0:image.shape[1]]
    for cx, cy in centres:
        near = (xs - cx) ** 2 + (ys - cy) ** 2 <= radius**2
        w = image * near
        out.append([(w * xs).sum() / w.sum(), (w * ys).sum() / w.sum()])
    return np.array(out)


def test_resize_matrix_matches_cv2_resize():
    # A smooth blob resized the way training resizes faces lands where resize_matrix says; a plain scale
    # (x * dst / src) would be off by up to half a pixel.
    for src, dst, interpolation in ((128, 64, cv2.INTER_AREA), (64, 128, cv2.INTER_CUBIC), (256, 96, cv2.INTER_AREA)):
        x, y = 41.3, 0.6 * src
        ys, xs = np.mgrid[0:src, 0:src].astype(np.float32)
        sigma = 3.0 * max(1, src / dst)
        image = np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))
        resized = cv2.resize(image, (dst, dst), interpolation=interpolation)
        expected = transform_points(np.array([[x, y]], np.float64), resize_matrix(src, dst))[0]
        found = blob_centroids(np.clip(resized, 0, None), [expected], 4 * sigma * dst / src)[0]
        assert np.abs(found - expected).max() < 0.05, (src, dst, found, expected)


@pytest.mark.parametrize("scale, angle, face_size, model_size", [
    (0.5, 12.0, 256, 64),    # a 512 px face into a 64 px model
    (1.6, -30.0, 128, 128),  # a small face enlarged, model at the faceset's size
    (0.9, 95.0, 256, 128),   # upside-down-ish, downscaled
])
def test_synthetic_points_out_and_back_within_half_a_pixel(scale, angle, face_size, model_size):
    rng = np.random.default_rng(0)
    height, width = 720, 1280
    # frame -> faceset square: centre of the square on a point of the frame
    centre = np.array([700.3, 380.7])
    matrix = similarity(scale, angle, 0, 0)
    matrix[:, 2] = face_size / 2 - matrix[:, :2] @ centre
    # Gaussian blobs on a grid with sub-pixel jitter in the square's middle, wide enough to survive the downscale
    sigma = 1.5 / scale * face_size / model_size
    grid = np.stack(np.meshgrid([0.3, 0.5, 0.7], [0.3, 0.5, 0.7]), -1).reshape(-1, 2) * face_size
    inner = grid + rng.uniform(-0.5, 0.5, grid.shape)
    points = transform_points(inner, cv2.invertAffineTransform(matrix))
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    frame = np.zeros((height, width), np.float32)
    for px, py in points:
        frame += np.exp(-((xs - px) ** 2 + (ys - py) ** 2) / (2 * sigma**2))
    frame_rgb = np.repeat((frame / frame.max() * 250)[..., None], 3, axis=2).astype(np.uint8)

    square = model_input(frame_rgb, matrix, face_size, model_size)  # what the model would see
    to_model = model_matrix(matrix, face_size, model_size)
    box = paste_box(to_model, model_size, frame_rgb.shape)
    back = warp_back(square, to_model, box).astype(np.float32)[..., 0]  # an identity model, pasted back
    found = blob_centroids(back, points - [box.x0, box.y0], 3 * sigma) + [box.x0, box.y0]
    assert np.abs(found - points).max() < 0.5, np.abs(found - points).max()
    # and the points themselves go out and back through the composed matrix exactly
    there = transform_points(points, to_model)
    assert np.allclose(transform_points(there, cv2.invertAffineTransform(to_model)), points, atol=1e-6)


def test_real_face_out_and_back_within_half_a_pixel(data):
    """A real face: aligned as convert aligns it, pasted back by an identity model, lands within 0.5 px."""
    from kaokae.media import read_image

    rgb = read_image(data("face_recognition/examples/obama-720p.jpg"))
    with FaceFinder(max_faces=1) as finder:
        face = finder.find(rgb)[0]
    for face_size, model_size in ((256, 64), (256, 128), (128, 128)):
        matrix = align_matrix(face.landmarks, face_size, "face")
        to_model = model_matrix(matrix, face_size, model_size)
        square = model_input(rgb, matrix, face_size, model_size)
        box = paste_box(to_model, model_size, rgb.shape)
        back = warp_back(square, to_model, box)
        original = rgb[box.slices]
        # Compare inside the face, where there is texture: the landmarks' box shrunk a little.
        x0, y0, x1, y1 = (face.box + np.array([1, 1, -1, -1]) * 0.1 * face.size).round().astype(int)
        a = cv2.cvtColor(original, cv2.COLOR_RGB2GRAY)[y0 - box.y0:y1 - box.y0, x0 - box.x0:x1 - box.x0]
        b = cv2.cvtColor(back, cv2.COLOR_RGB2GRAY)[y0 - box.y0:y1 - box.y0, x0 - box.x0:x1 - box.x0]
        # the round trip is blurred (the model's square is smaller than the face): blur the original the same way
        blur = face.size / model_size / 2
        a = cv2.GaussianBlur(a.astype(np.float32), (0, 0), blur)
        b = b.astype(np.float32)
        window = cv2.createHanningWindow(a.shape[::-1], cv2.CV_32F)
        (dx, dy), response = cv2.phaseCorrelate(a, b, window)
        assert response > 0.3, response  # a real match, not noise
        assert np.hypot(dx, dy) < 0.5, (face_size, model_size, dx, dy)


def test_coverage_is_the_square_and_the_box_holds_it():
    matrix = similarity(0.5, 20.0, 0, 0)
    matrix[:, 2] = 64 - matrix[:, :2] @ np.array([300.0, 200.0])
    box = paste_box(matrix, 128, (480, 640, 3))
    inside = coverage(matrix, 128, box, inset=0.0)
    # every pixel whose centre maps inside the square is in the box: the box's border pixels are outside the square
    assert inside.any() and not inside[0].any() and not inside[-1].any()
    assert not inside[:, 0].any() and not inside[:, -1].any()
    # the square's area in frame pixels (128 / 0.5)^2 is what coverage counts, to the edge pixels
    assert abs(inside.sum() - (128 / 0.5) ** 2) < 4 * 128 / 0.5 + 4
    # a box cut by the frame's edge is clipped to the frame
    assert paste_box(matrix, 128, (200, 640, 3)) == Box(box.x0, box.y0, box.x1, 200)
