"""kaokae convert on real faces, with a tiny model trained here in seconds (it swaps badly, but it swaps: what is
tested is the pipeline around it, not the model's quality)."""

import shutil
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from conftest import data_file, train_tiny_hd
from kaokae.cli import main
from kaokae.composite import FACE_OVAL, face_size
from kaokae.convert import Converter, ConvertOptions, SwapModel
from kaokae.convert.geometry import model_input
from kaokae.convert.locate import DetectedFaces, DetectOptions
from kaokae.convert.output import PREVIEW_HEIGHT
from kaokae.evaluate.metrics import detail_energy
from kaokae.extract import ExtractOptions, extract
from kaokae.faces import FaceFinder
from kaokae.faceset import FaceSet
from kaokae.media import VideoWriter, open_media, probe, read_image
from kaokae.media.tools import copy_first_frames
from kaokae.provenance import describe_payload, file_sha256, verify
from kaokae.train.photos import model_photos
from test_faces_identity import LIN, assert_only_lin_changed, hamilton_clip

CLIP = "real3dportrait/data/raw/examples/May_5s.mp4"  # 512x512, 25 fps, AAC audio
OTHER = "edtalk/test_data/pose_source2.mp4"
TWO_PEOPLE = "face_recognition/examples/knn_examples/test/obama_and_biden.jpg"
BIDEN = "face_recognition/examples/knn_examples/train/biden/biden.jpg"
NO_FACE = "dlib/examples/faces/dogs.jpg"
CLIP_FRAMES = 40


def audio_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        packets = [p for p in container.demux(stream) if p.dts is not None]
        return float((packets[-1].pts + packets[-1].duration - packets[0].pts) * stream.time_base)


def face_region(landmarks: np.ndarray, shape, grow: float) -> np.ndarray:
    """Bool mask of the face oval grown (or shrunk, grow < 0) by `grow` x the face's size."""
    region = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(region, [np.round(landmarks[FACE_OVAL]).astype(np.int32)], 1)
    k = 2 * int(abs(grow) * face_size(landmarks)) + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    return (cv2.dilate(region, kernel) if grow > 0 else cv2.erode(region, kernel)).astype(bool)


def run_cli(capsys, *args) -> tuple[int, str]:
    code = main(["convert", *map(str, args)])
    return code, capsys.readouterr().err


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A 40-frame real clip with audio, its faceset (A), a faceset of another man (B) and a tiny hd model."""
    root = tmp_path_factory.mktemp("convert")
    clip = root / "may.mp4"
    copy_first_frames(data_file(CLIP), clip, CLIP_FRAMES)
    faceset_a = extract([clip], root / "a", ExtractOptions(size=64)).faceset
    extract([data_file(OTHER)], root / "b", ExtractOptions(size=64, every=25))
    train_tiny_hd(root / "a", root / "b", root / "model")
    return {"root": root, "clip": clip, "faceset_a": faceset_a, "model": root / "model"}


def test_video_keeps_frames_fps_audio_and_changes_only_the_face(setup, capsys):
    root, clip, faceset = setup["root"], setup["clip"], setup["faceset_a"]
    out = root / "swapped.mp4"
    # lossless H.264, so that "unchanged up to codec noise" can be checked exactly against a plain lossless copy
    code, err = run_cli(capsys, clip, "-m", setup["model"], "-o", out, "--crf", 0, "--preset", "ultrafast",
                        "--preview", 3, "--no-watermark")
    assert code == 0, err
    assert f"converted {CLIP_FRAMES} frames: {CLIP_FRAMES} faces swapped on {CLIP_FRAMES} frames" in err
    source, swapped = probe(clip), probe(out)
    assert swapped.frame_count == source.frame_count == CLIP_FRAMES
    assert swapped.fps == source.fps
    assert swapped.has_audio and abs(audio_seconds(out) - audio_seconds(clip)) < 0.03

    plain = root / "plain.mp4"
    with open_media(clip) as reader, VideoWriter(plain, source.fps, crf=0, preset="ultrafast",
                                                 time_base=source.time_base) as writer:
        for frame in reader:
            writer.write(frame.image, time=frame.time)
    decoded = 0
    with open_media(out) as a, open_media(plain) as b:
        for fa, fb in zip(a, b, strict=True):
            assert np.isfinite(fa.image).all()
            landmarks = faceset.landmarks[faceset.frame_lookup(0, fa.index)[0]]
            difference = np.abs(fa.image.astype(int) - fb.image.astype(int)).max(axis=2)
            outside = ~face_region(landmarks, fa.image.shape, 0.05)
            assert difference[outside].max() == 0, f"frame {fa.index}: pixels changed outside the face"
            inside = face_region(landmarks, fa.image.shape, -0.1)
            assert difference[inside].mean() > 3, f"frame {fa.index}: the face did not change"
            decoded += 1
    assert decoded == CLIP_FRAMES

    # the preview: 3 frames as rows of original | swapped | mask tiles, 4 px apart
    preview = read_image(root / "swapped.preview.png")
    tile = PREVIEW_HEIGHT  # the clip is square, so tiles are too
    assert preview.shape == (3 * tile + 2 * 4, 3 * tile + 2 * 4, 3)
    original, swapped_tile, mask = (preview[:tile, k * (tile + 4):k * (tile + 4) + tile] for k in range(3))
    assert np.abs(original.astype(int) - swapped_tile).max() > 20  # the face changed
    assert mask.max() == 255 and mask.min() == 0


def test_stored_alignments_are_reused(setup, capsys):
    root, clip = setup["root"], setup["clip"]
    out = root / "aligned.mp4"
    code, err = run_cli(capsys, clip, "-m", setup["model"], "-o", out, "--alignments", root / "a", "--preset",
                        "ultrafast", "--blend", "feather", "--colour", "hist", "--mask", "hull", "--precision", "fp32")
    assert code == 0, err
    assert f"{CLIP_FRAMES} faces swapped on {CLIP_FRAMES} frames" in err
    # every output is labelled as synthetic: metadata and the watermark, naming convert and the model's weights
    report = verify(out)
    assert report.metadata_synthetic and report.metadata["tool"] == "kaokae convert"
    weights = next(setup["model"].glob("checkpoints/*/model.safetensors"))
    assert report.metadata["model_id"] == file_sha256(weights)
    assert report.watermark.found
    assert describe_payload(report.watermark.payload) == f"kaokae convert, model {file_sha256(weights)[:10]}"
    # a faceset of another video holds no alignments for this one
    code, err = run_cli(capsys, clip, "-m", setup["model"], "-o", root / "x.mp4", "--alignments", root / "b")
    assert code == 2 and "holds no alignments for may.mp4" in err and "Traceback" not in err
    # found beside the input when named after it
    shutil.copytree(root / "a", root / "may.faceset")
    code, err = run_cli(capsys, clip, "-m", setup["model"], "-o", root / "beside.mp4", "--preset", "ultrafast")
    assert code == 0 and "using the alignments in" in err


def test_only_leaves_the_other_people_untouched(setup, tmp_path, capsys):
    from kaokae.faces.identity import IdentityEncoder, identity_distance

    image = data_file(TWO_PEOPLE)  # Biden, Obama and a girl
    out = tmp_path / "only.png"
    code, err = run_cli(capsys, image, "-m", setup["model"], "-o", out, "--only", data_file(BIDEN), "--no-watermark")
    assert code == 0, err
    assert "1 faces swapped on 1 frames (2 of other people left as they were)" in err
    original, swapped = read_image(image), read_image(out)
    with FaceFinder() as finder:
        faces = finder.find(original)
        reference = read_image(data_file(BIDEN))
        reference_face = finder.find(reference)[0]
    assert len(faces) == 3
    encoder = IdentityEncoder()
    target = encoder.embed(reference, reference_face)
    biden = int(np.argmin([identity_distance(encoder.embed(original, f), target) for f in faces]))
    changed = np.abs(original.astype(int) - swapped.astype(int)).max(axis=2) > 0
    touched = [changed[face_region(f.landmarks, original.shape, -0.1)].mean() for f in faces]
    assert touched[biden] > 0.5
    assert all(t == 0.0 for i, t in enumerate(touched) if i != biden), touched  # the others exactly as they were
    assert not changed[~face_region(faces[biden].landmarks, original.shape, 0.02)].any()
    # a reference photo without a face: one line, exit 2, nothing written
    code, err = run_cli(capsys, image, "-m", setup["model"], "-o", tmp_path / "x.png", "--only", data_file(NO_FACE))
    assert code == 2 and err == f"kaokae: error: no face found in the --only reference photo {data_file(NO_FACE)}\n"
    assert not (tmp_path / "x.png").exists()


def test_only_on_video_swaps_his_tracks_and_leaves_the_others_exactly(setup, tmp_path, capsys):
    clip = hamilton_clip(tmp_path)
    out = tmp_path / "frames"
    code, err = run_cli(capsys, clip, "-m", setup["model"], "-o", out, "--only", data_file(LIN), "--no-watermark")
    assert code == 0, err
    assert_only_lin_changed(clip, out, err)


def test_folder_keeps_names_and_passes_faceless_images_through(setup, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(data_file(TWO_PEOPLE), folder / "people.jpg")
    shutil.copy(data_file(NO_FACE), folder / "dogs.jpg")
    out = tmp_path / "out"
    code, err = run_cli(capsys, folder, "-m", setup["model"], "-o", out, "--blend", "feather", "--no-watermark",
                        "--direction", "b2a")
    assert code == 0, err
    assert "3 faces swapped on 1 frames" in err
    assert sorted(p.name for p in out.iterdir()) == ["dogs.png", "people.png"]
    assert np.array_equal(read_image(out / "dogs.png"), read_image(folder / "dogs.jpg"))
    assert not np.array_equal(read_image(out / "people.png"), read_image(folder / "people.jpg"))


def test_model_output_and_masks_are_finite_and_bounded(setup):
    """No NaN anywhere: the model's faces and masks, and the blend masks, on real frames; the learned mask only
    ever removes pixels from the landmark mask."""
    model = SwapModel(setup["model"], "a2b", "cpu")
    assert model.has_mask and model.size == 32 and model.face_size == 64
    with open_media(setup["clip"]) as reader:
        frames = [f for f in reader.frames(every=10)]
    results = {}
    for mask in ("hull", "both"):
        locate = DetectedFaces(probe(setup["clip"]), model.face_size, model.centering, DetectOptions())
        converter = Converter(model, ConvertOptions(mask=mask, batch_size=3))
        results[mask] = list(converter.run(frames, locate, preview_frames={f.index for f in frames}))
        locate.close()
    for hull, both in zip(results["hull"], results["both"], strict=True):
        assert hull.faces == both.faces == 1
        for alpha in (hull.alpha, both.alpha):
            assert np.isfinite(alpha).all() and alpha.min() >= 0 and alpha.max() <= 1
        assert hull.alpha.max() == pytest.approx(1.0)
        assert (both.alpha <= hull.alpha + 1e-6).all()
    faces = np.stack([cv2.resize(f, (32, 32), interpolation=cv2.INTER_AREA)
                      for f in FaceSet.open(setup["root"] / "a").load_faces(range(8))])
    rgb, learned = model(faces)
    assert rgb.shape == (8, 32, 32, 3) and rgb.dtype == np.uint8
    assert learned.shape == (8, 32, 32) and np.isfinite(learned).all()
    assert learned.min() >= 0 and learned.max() <= 1


def test_faces_are_found_and_aligned_exactly_like_extract(setup):
    """Detection in convert is extract's (same tracker, same One-Euro smoothing): the same landmarks and matrices;
    and warping with them gives back the faceset's own aligned faces, pixel for pixel."""
    faceset, clip = setup["faceset_a"], setup["clip"]
    locate = DetectedFaces(probe(clip), faceset.size, faceset.centering, DetectOptions())
    with open_media(clip) as reader:
        for frame in reader:
            found = locate(frame)
            (row,) = faceset.frame_lookup(0, frame.index)
            assert len(found) == 1
            assert np.abs(found[0].face.landmarks - faceset.landmarks[row]).max() < 1e-3
            assert np.allclose(found[0].matrix, faceset.matrices[row], atol=1e-6)
            if frame.index % 10 == 0:
                aligned = model_input(frame.image, faceset.matrices[row], faceset.size, faceset.size)
                assert np.array_equal(aligned, faceset.load_face(row))
    locate.close()


def test_prediction_moving_average_follows_each_track(setup):
    model = SwapModel(setup["model"], "a2b", "cpu")
    converter = Converter(model, ConvertOptions(prediction_ema=0.75))
    dark, bright = np.full((32, 32, 3), 40, np.uint8), np.full((32, 32, 3), 200, np.uint8)
    mask = np.ones((32, 32), np.float32)
    assert converter._smooth("t", dark, mask)[0].max() == 40  # a track starts from its own prediction
    rgb, smoothed_mask = converter._smooth("t", bright, mask * 0)
    assert rgb.min() == rgb.max() == 80 and np.allclose(smoothed_mask, 0.75)  # 0.75 * 40 + 0.25 * 200
    assert converter._smooth("other", bright, mask)[0].max() == 200  # tracks do not mix
    converter._forget_ended([])
    assert converter.ema == {}


def test_classic_detail_sharpens_the_face_and_keeps_its_shading(setup, capsys):
    """--detail-from: the same model's face gains a photo of B's fine detail; its shading and everything outside the
    face stay as they were (against --keep-mouth, which --detail-from implies)."""
    root, clip, faceset = setup["root"], setup["clip"], setup["faceset_a"]
    photo = data_file(BIDEN)  # a sharp photo: its fine detail is what the model's soft face lacks
    outputs = {}
    for name, extra in (("plain", ("--keep-mouth",)), ("detail", ("--detail-from", photo))):
        outputs[name] = root / f"detail_{name}.mp4"
        code, err = run_cli(capsys, clip, "-m", setup["model"], "-o", outputs[name], "--crf", 0, "--preset",
                            "ultrafast", "--no-watermark", *extra)
        assert code == 0, err
    gains = []
    with open_media(outputs["plain"]) as a, open_media(outputs["detail"]) as b:
        for plain, detailed in zip(a, b, strict=True):
            landmarks = faceset.landmarks[faceset.frame_lookup(0, plain.index)[0]]
            outside = ~face_region(landmarks, plain.image.shape, 0.05)
            assert np.array_equal(plain.image[outside], detailed.image[outside])
            box = np.array([*landmarks.min(0), *landmarks.max(0)])
            gains.append(detail_energy(detailed.image, box) / detail_energy(plain.image, box))
            inside = face_region(landmarks, plain.image.shape, -0.1)
            blur = [cv2.GaussianBlur(f.image, (0, 0), 12).astype(int) for f in (plain, detailed)]
            change = (blur[1] - blur[0])[inside]
            assert np.abs(change).mean() < 4 and abs(change.mean()) < 2.5, "the detail changed the face's shading"
    assert len(gains) == CLIP_FRAMES and min(gains) > 1.5, gains


def test_a_face_the_landmark_model_cannot_find_is_left_as_drawn(setup, capsys):
    """--follow-expression on this tiny model's blur: the landmark model finds no face on it, so there is no
    expression to move and every frame is exactly what it is without the option (tests/test_convert_expression.py
    moves a real face)."""
    root, clip = setup["root"], setup["clip"]
    outputs = {}
    for name, extra in (("followed", ("--no-model-photos", "--follow-expression", 1)), ("drawn", ("--no-model-photos",))):
        outputs[name] = root / f"expression_{name}.mp4"
        code, err = run_cli(capsys, clip, "-m", setup["model"], "-o", outputs[name], "--crf", 0, "--preset",
                            "ultrafast", "--no-watermark", *extra)
        assert code == 0, err
    with open_media(outputs["followed"]) as a, open_media(outputs["drawn"]) as b:
        assert all(np.array_equal(f.image, d.image) for f, d in zip(a, b, strict=True))


def test_the_model_folders_photos_of_b_are_the_default_detail(setup, capsys):
    """kaokae train keeps a few of B's training faces in MODEL/photos/b; convert adds their detail as --detail-from
    those photos does (the same frames), and --no-model-photos leaves the face as the model draws it."""
    root, clip, model = setup["root"], setup["clip"], setup["model"]
    photos = model_photos(model, "b")
    faceset_b = FaceSet.open(root / "b")
    assert 1 <= len(photos) <= 5 and len(model_photos(model, "a")) >= 1
    for photo in photos:  # each is one of B's faces, as the faceset holds it
        index = int(photo.stem.split("_")[1])
        assert np.array_equal(read_image(photo), faceset_b.load_face(index))
    outputs = {}
    for name, extra in (("default", ()), ("given", ("--detail-from", *photos)), ("plain", ("--no-model-photos",))):
        outputs[name] = root / f"photos_{name}.mp4"
        code, err = run_cli(capsys, clip, "-m", model, "-o", outputs[name], "--crf", 0, "--preset", "ultrafast",
                            "--no-watermark", *extra)
        assert code == 0, err
    faceset = setup["faceset_a"]
    with open_media(outputs["default"]) as d, open_media(outputs["given"]) as g, open_media(outputs["plain"]) as p:
        differs = []
        for default, given, plain in zip(d, g, p, strict=True):
            assert np.array_equal(default.image, given.image)
            landmarks = faceset.landmarks[faceset.frame_lookup(0, default.index)[0]]
            outside = ~face_region(landmarks, default.image.shape, 0.05)
            assert np.array_equal(default.image[outside], plain.image[outside])
            differs.append(np.abs(default.image.astype(int) - plain.image.astype(int)).max() > 8)
    assert np.mean(differs) > 0.9, "the photos' detail should change the face"


def test_bad_models_and_inputs_are_one_line_errors(setup, tmp_path, capsys):
    clip, model = setup["clip"], setup["model"]
    out = tmp_path / "out.mp4"
    damaged = tmp_path / "damaged"
    shutil.copytree(model, damaged)
    weights = next(damaged.glob("checkpoints/*/model.safetensors"))
    weights.write_bytes(weights.read_bytes()[:1000])
    head = tmp_path / "head"
    extract([data_file(BIDEN)], head, ExtractOptions(size=64, centering="head"))
    capsys.readouterr()
    taken = tmp_path / "taken.mp4"
    taken.write_bytes(b"not overwritten without --overwrite")
    cases = [
        ((clip, "-m", tmp_path / "nothing", "-o", out), "no such model folder"),
        ((clip, "-m", tmp_path, "-o", out), "not a kaokae model folder"),
        ((clip, "-m", damaged, "-o", out), "is damaged or does not fit this model"),
        ((clip, "-m", model, "-o", out, "--alignments", head), "'head'-centred faces but the model"),
        ((tmp_path / "missing.mp4", "-m", model, "-o", out), "no such file"),
        ((clip, "-m", model, "-o", tmp_path / "out.png"), "a video becomes a video file or a folder"),
        ((clip, "-m", model, "-o", clip), "is the input"),
        ((clip, "-m", model, "-o", taken), "exists (use --overwrite"),
        ((clip, "-m", model, "-o", out, "--preset", "quick"), "unknown --preset"),
        ((clip, "-m", model, "-o", out, "--feather", "2"), "--feather must be between"),
        ((clip, "-m", model, "-o", out, "--follow-expression", "1.5"), "--follow-expression must be between"),
        ((clip, "-m", model, "-o", out, "--detail-from", data_file(NO_FACE)), "no face found in source photo"),
        ((clip, "-o", out, "--map", f"{data_file(BIDEN)}={model}", "--detail-from", data_file(BIDEN)),
         "--detail-from does not go with --map"),
    ]
    for args, message in cases:
        code, err = run_cli(capsys, *args)
        assert code == 2, (args, err)
        assert message in err and err.startswith("kaokae: error: ") and len(err.strip().splitlines()) == 1, err
    assert not out.exists() and taken.read_bytes() == b"not overwritten without --overwrite"
