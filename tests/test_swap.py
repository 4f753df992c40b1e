"""The classic swap on real faces: `kaokae swap` on photos, folders and a video, identity, pose choice, --only."""

import shutil

import cv2
import numpy as np
import pytest

from conftest import data_file
from kaokae.cli import main
from kaokae.composite import FACE_OVAL, INNER_LIPS, face_box, polygon_mask
from kaokae.faces import FaceFinder
from kaokae.faces.identity import IdentityEncoder, identity_distance
from kaokae.media import open_media, probe, read_image, write_image
from kaokae.provenance import verify
from kaokae.swap import FaceSwapper, load_sources, mesh_triangles, warp_mesh
from kaokae.swap.mesh import _signed_area
from test_faces_identity import LIN, assert_only_lin_changed, hamilton_clip

KNN = "face_recognition/examples/knn_examples/train/"
OBAMA, OBAMA2 = KNN + "obama/obama.jpg", KNN + "obama/obama2.jpg"  # obama.jpg smiles with his teeth showing
BIDEN = KNN + "biden/biden2.jpg"
NO_FACE = "dlib/examples/faces/dogs.jpg"
VIDEO = "real3dportrait/data/raw/examples/May_5s.mp4"  # 512x512, 25 fps, 5 s, AAC


@pytest.fixture(scope="module")
def finder():
    with FaceFinder(max_faces=10) as f:
        yield f


def only_face(finder, rgb):
    faces = finder.find(rgb)
    assert len(faces) == 1
    return faces[0]


def face_region(landmarks, shape, grow: int) -> np.ndarray:
    """The face-oval polygon grown by `grow` pixels, as a bool mask of the whole frame."""
    box = face_box(landmarks, shape, margin=0.0)
    full = np.zeros(shape[:2], bool)
    full[box.slices] = polygon_mask(box.local(landmarks)[FACE_OVAL], box.shape)
    return cv2.dilate(full.astype(np.uint8), np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)).astype(bool)


def run_cli(capsys, *args) -> tuple[int, str]:
    """(exit code, stderr) of `kaokae swap ARGS`; argparse's own errors exit through SystemExit."""
    try:
        code = main(["swap", *map(str, args)])
    except SystemExit as e:
        code = e.code
    return code, capsys.readouterr().err


def test_mesh_covers_face_and_eyes_but_not_mouth(finder):
    triangles = mesh_triangles()
    assert len(triangles) > 852 and triangles.max() < 468  # the mesh's 852 plus the eye fills; no iris points
    obama = read_image(data_file(OBAMA))
    landmarks = only_face(finder, obama).landmarks
    box = face_box(landmarks, obama.shape)
    assert (_signed_area(box.local(landmarks)[triangles]) > 0).mean() > 0.95  # one winding for a frontal face
    face, covered = warp_mesh(obama, landmarks, landmarks, box)
    points = box.local(landmarks)
    oval = polygon_mask(points[FACE_OVAL], box.shape)
    mouth = polygon_mask(points[INNER_LIPS], box.shape)
    want = oval & ~mouth
    assert (covered & want).sum() / (covered | want).sum() > 0.98
    assert covered[polygon_mask(points[[33, 160, 158, 133, 153, 144]], box.shape)].all()  # an eye is covered
    # Warping a face onto its own landmarks gives it back.
    inside = cv2.erode(covered.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert np.abs(face[inside].astype(int) - obama[box.slices][inside]).mean() < 2


def test_swap_photo_changes_only_the_face_and_keeps_the_open_mouth(finder, tmp_path, capsys):
    out = tmp_path / "swapped.png"
    # --no-watermark: the watermark touches every pixel a little; here we check exactly which pixels the swap changes
    code, err = run_cli(capsys, "--source", data_file(BIDEN), "--target", data_file(OBAMA), "-o", out, "--no-watermark")
    assert code == 0
    assert err.strip().splitlines()[-1] == f"swapped 1 face in 1 of 1 frame -> {out}"
    target, swapped = read_image(data_file(OBAMA)), read_image(out)
    assert swapped.shape == target.shape
    landmarks = only_face(finder, target).landmarks
    region = face_region(landmarks, target.shape, grow=2)
    assert np.array_equal(swapped[~region], target[~region])  # not a pixel changed outside the face
    inside = face_region(landmarks, target.shape, grow=0)
    assert np.abs(swapped[inside].astype(int) - target[inside]).mean() > 12  # the face did change
    # The teeth are the target's: the inner-lip polygon (shrunk by 2 px for rasterising) is untouched.
    box = face_box(landmarks, target.shape)
    mouth = cv2.erode(polygon_mask(box.local(landmarks)[INNER_LIPS], box.shape).astype(np.uint8),
                      np.ones((5, 5), np.uint8)).astype(bool)
    assert mouth.sum() > 500
    assert np.array_equal(swapped[box.slices][mouth], target[box.slices][mouth])


@pytest.mark.parametrize("blend", ["poisson", "feather"])
def test_swapped_face_is_the_source_person_to_dlib(finder, blend):
    encoder = IdentityEncoder()
    source, target = read_image(data_file(BIDEN)), read_image(data_file(OBAMA))
    target_face = only_face(finder, target)
    swapper = FaceSwapper(load_sources([data_file(BIDEN)], finder))
    swapper.settings.blend = blend
    swapped = target.copy()
    assert swapper.swap(swapped, target_face.landmarks)
    embedding = encoder.embed(swapped, only_face(finder, swapped))
    to_source = identity_distance(embedding, encoder.embed(source, only_face(finder, source)))
    to_target = identity_distance(embedding, encoder.embed(target, target_face))
    other = read_image(data_file(OBAMA2))
    to_target_elsewhere = identity_distance(embedding, encoder.embed(other, only_face(finder, other)))
    # Measured: 0.30 to Biden, 0.83-0.85 to Obama (this photo and another).
    assert to_source < 0.6 < min(to_target, to_target_elsewhere)


def test_several_sources_each_face_takes_the_nearest_pose(finder):
    frontal, turned = data_file(OBAMA), data_file("prnet_aflw2000/TestImages/AFLW2000/image00081.jpg")
    swapper = FaceSwapper(load_sources([frontal, turned], finder))
    # (yaw, pitch) measured: (2, 3) and (-18, 6); the targets: Biden (3, 4), Kit Harington (-21, -1).
    assert abs(swapper.sources[0].pose[0]) < 5 and swapper.sources[1].pose[0] < -12
    biden, kit = read_image(data_file(BIDEN)), read_image(data_file(KNN + "kit_harington/john2.jpeg"))
    biden_face, kit_face = only_face(finder, biden).landmarks, only_face(finder, kit).landmarks
    assert swapper.choose(biden_face, biden.shape) == 0
    assert swapper.choose(kit_face, kit.shape) == 1
    # A video face (key) keeps its source unless another is clearly nearer.
    assert swapper.choose(kit_face, kit.shape, key="track") == 1
    assert swapper.choose(biden_face, biden.shape, key="track") == 0  # 1 degree against 21: switch
    same_twice = FaceSwapper(load_sources([frontal, frontal], finder))
    same_twice.chosen["track"] = 1
    assert same_twice.choose(biden_face, biden.shape, key="track") == 1
    assert same_twice.choose(biden_face, biden.shape) == 0


def test_folder_frames_without_a_face_pass_through_unchanged(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(data_file(OBAMA), folder / "a.jpg")
    shutil.copy(data_file(NO_FACE), folder / "b.jpg")
    write_image(folder / "b.png", read_image(data_file(NO_FACE))[::2, ::2])  # same stem as b.jpg
    out = tmp_path / "out"
    code, err = run_cli(capsys, "--source", data_file(BIDEN), "--target", folder, "-o", out, "--blend", "feather",
                        "--no-watermark")
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "b_png.png"]
    assert np.array_equal(read_image(out / "b.png"), read_image(folder / "b.jpg"))
    assert np.array_equal(read_image(out / "b_png.png"), read_image(folder / "b.png"))
    assert not np.array_equal(read_image(out / "a.png"), read_image(folder / "a.jpg"))
    assert err.strip().splitlines()[-1] == f"swapped 1 face in 1 of 3 frames -> {out}"


def test_only_swaps_the_reference_person(finder, tmp_path, capsys):
    group = data_file("face_recognition/examples/knn_examples/test/obama_and_biden.jpg")
    out = tmp_path / "only.png"
    code, err = run_cli(capsys, "--no-watermark", "--source", data_file(KNN + "kit_harington/john1.jpeg"), "--target", group,
                        "-o", out, "--only", data_file(KNN + "biden/biden.jpg"))
    assert code == 0
    assert f"swapped 1 face in 1 of 1 frame (2 of other people left as they were) -> {out}" in err
    before, after = read_image(group), read_image(out)
    changed = np.abs(after.astype(int) - before).max(axis=2) > 0
    encoder = IdentityEncoder()
    biden = encoder.embed(read_image(data_file(KNN + "biden/biden.jpg")),
                          only_face(finder, read_image(data_file(KNN + "biden/biden.jpg"))))
    faces = finder.find(before)
    assert len(faces) == 3
    distances = identity_distance(biden, encoder.embed_many(before, faces))
    for face, distance in zip(faces, distances, strict=True):
        region = face_region(face.landmarks, before.shape, grow=2)
        if distance < 0.6:
            assert changed[region].mean() > 0.5  # Biden's face was swapped
        else:
            assert not changed[region].any()  # Obama and the third man were not
    assert (distances < 0.6).sum() == 1


def test_only_on_video_swaps_his_tracks_and_leaves_the_others_exactly(tmp_path, capsys):
    clip = hamilton_clip(tmp_path)
    out = tmp_path / "frames"
    code, err = run_cli(capsys, "--no-watermark", "--source", data_file(BIDEN), "--target", clip, "-o", out,
                        "--only", data_file(LIN))
    assert code == 0, err
    assert_only_lin_changed(clip, out, err)


def test_video_keeps_every_frame_and_the_audio(finder, tmp_path, capsys):
    clip = data_file(VIDEO)
    out = tmp_path / "swapped.mp4"
    code, err = run_cli(capsys, "--source", data_file(BIDEN), "--target", clip, "-o", out, "--preset", "ultrafast")
    assert code == 0
    before, after = probe(clip), probe(out)
    assert after.frame_count == before.frame_count == 125
    assert after.has_audio and after.fps == before.fps
    assert abs(after.duration - before.duration) < 0.05
    assert f"in {before.frame_count} of {before.frame_count} frames -> {out}" in err  # she is in every frame

    # Middle frame: the face changed, the rest only by the re-encoding and the watermark (a few levels).
    with open_media(clip) as a, open_media(out) as b:
        frames = list(zip(a, b, strict=True))
    assert len(frames) == 125
    original, swapped = frames[62][0].image, frames[62][1].image
    landmarks = only_face(finder, original).landmarks
    inside = face_region(landmarks, original.shape, grow=0)
    outside = ~face_region(landmarks, original.shape, grow=8)
    diff = np.abs(swapped.astype(int) - original).mean(axis=2)
    assert diff[inside].mean() > 8 > 3 > diff[outside].mean()

    report = verify(out)  # labelled as synthetic: container tags and the watermark
    assert report.metadata_synthetic and report.metadata["tool"] == "kaokae swap"
    assert report.watermark is not None and report.watermark.found


@pytest.mark.parametrize("args, message", [
    (["--source", NO_FACE, "--target", OBAMA, "-o", "{tmp}/x.png"], "no face found in source photo"),
    (["--source", BIDEN, "--target", OBAMA, "-o", "{tmp}/x.mp4"], "image input becomes an image"),
    (["--source", BIDEN, "--target", VIDEO, "-o", "{tmp}/x.png"], "a video becomes a video file or a folder of images"),
    (["--source", BIDEN, "--target", "{tmp}/missing.mp4", "-o", "{tmp}/x.mp4"], "no such file"),
    (["--source", "{tmp}/missing.jpg", "--target", OBAMA, "-o", "{tmp}/x.png"], "no such file"),
    (["--source", BIDEN, "--target", OBAMA, "-o", "{tmp}/x.png", "--erode", "-0.1"], "erode must be from 0"),
    (["--source", BIDEN, "--target", OBAMA, "-o", "{tmp}/x.png", "--blend", "smudge"], "invalid choice"),
    (["--source", BIDEN, "--target", OBAMA, "-o", "{tmp}/x.png", "--only", NO_FACE], "no face found in the --only"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    resolved = [a.replace("{tmp}", str(tmp_path)) if "{tmp}" in a else str(data_file(a)) if "/" in a else a
                for a in args]
    code, err = run_cli(capsys, *resolved)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kaokae: error: ") and message in lines[0]
    assert not list(tmp_path.glob("x.*"))  # nothing written
