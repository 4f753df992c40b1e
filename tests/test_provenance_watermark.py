"""The invisible watermark on real footage: invisible enough (PSNR), robust to the re-encoding, resizing, JPEG and
cropping a published video goes through, and silent on real photos and videos (no false positives)."""

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from conftest import data_file
from kaokae.media import VideoWriter, open_media
from kaokae.provenance import Watermarker, detect_watermark, ecc, make_label, verify

CLIP_720P = "hieubkvn123_face_recognition/videos/biden.mp4"
LABEL = make_label("kaokae convert", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")

REAL_PHOTOS = [
    "deepface/tests/unit/dataset/img1.jpg", "deepface/tests/unit/dataset/img11.jpg",
    "deepface/tests/unit/dataset/couple.jpg", "deepface/tests/unit/dataset/selfie-many-people.jpg",
    "face_recognition/examples/obama-1080p.jpg", "face_recognition/examples/two_people.jpg",
    "face_recognition/examples/alex-lacamoire.png", "face_recognition/examples/lin-manuel-miranda.png",
    "dlib/examples/faces/2008_001009.jpg", "dlib/examples/faces/bald_guys.jpg", "dlib/examples/faces/dogs.jpg",
    "openface_cmu/images/examples/adams.jpg", "openface_cmu/images/examples/lennon-1.jpg",
    "3ddfa_v2/examples/inputs/emma.jpg", "3ddfa_v2/examples/inputs/trump_hillary.jpg",
    "prnet_aflw2000/TestImages/AFLW2000/image00050.jpg", "face_alignment/test/assets/aflw-test.jpg",
    "insightface_t1/src/utils/dependencies/insightface/data/images/t1.jpg", "facenet_pytorch/data/multiface.jpg",
]
REAL_VIDEOS = [
    "edtalk/test_data/mouth_source.mp4", "styletalk/samples/source_video/video/KristiNoem.mp4",
    "real3dportrait/data/raw/examples/May_5s.mp4", "video_retalking/examples/face/5.mp4",
    "zumbalamambo_emotion_morphing/src-videos/obama.mp4", "liveportrait/assets/examples/driving/d10.mp4",
    "face_recognition/examples/short_hamilton_clip.mp4", CLIP_720P,
]


def frames_of(path, count: int, every: int = 30) -> list[np.ndarray]:
    with open_media(path) as reader:
        return [f.image for f, _ in zip(reader.frames(every), range(count), strict=False)]


def jpeg(rgb: np.ndarray, quality: int = 75) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def half(rgb: np.ndarray) -> np.ndarray:
    return cv2.resize(rgb, (rgb.shape[1] // 2, rgb.shape[0] // 2), interpolation=cv2.INTER_AREA)


def crop10(rgb: np.ndarray) -> np.ndarray:
    """Keep 90% of width and height, off-centre, so the tile grid is shifted as well as cut."""
    h, w = rgb.shape[:2]
    return rgb[round(h * 0.03): round(h * 0.93), round(w * 0.07): round(w * 0.97)]


def reencode(frames: list[np.ndarray], crf: int, dest) -> list[np.ndarray]:
    with VideoWriter(dest, 30, crf=crf) as writer:
        for frame in frames:
            writer.write(frame)
    return frames_of(dest, len(frames), every=1)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255**2 / np.mean((a.astype(np.float64) - b) ** 2)))


@pytest.fixture(scope="module")
def marked_720p():
    frames = frames_of(data_file(CLIP_720P), 3)
    marker = Watermarker(LABEL.payload)
    return frames, [marker.embed(f) for f in frames]


def test_mark_is_within_psnr_budget_and_changes_flat_areas_least(marked_720p):
    frames, marked = marked_720p
    assert frames[0].shape == (720, 1280, 3)
    for original, mark in zip(frames, marked, strict=True):
        assert psnr(original, mark) >= 40.0
        change = mark.astype(int) - original
        assert np.abs(change).max() <= 5  # at most TEXTURE_STRENGTH, rounded
        unclipped = ((mark > 0) & (mark < 255)).all(axis=2)
        assert unclipped.mean() > 0.9
        for channel in (1, 2):  # luma only: R, G and B move together (except where one hits 0 or 255)
            assert np.array_equal(change[..., 0][unclipped], change[..., channel][unclipped])
    # flat parts of the picture (where a mark would show) change less than busy ones: 16 px blocks ranked by detail
    gray = cv2.cvtColor(frames[0], cv2.COLOR_RGB2GRAY).astype(float)
    blocks = lambda a: a[:720, :1280].reshape(45, 16, 80, 16).swapaxes(1, 2).reshape(3600, 256)  # noqa: E731
    detail = blocks(np.abs(gray - cv2.GaussianBlur(gray, (0, 0), 2))).mean(axis=1)
    change = blocks(np.abs(marked[0][..., 1].astype(float) - frames[0][..., 1])).mean(axis=1)
    order = np.argsort(detail)
    assert change[order[:720]].mean() < 0.6 * change[order[-720:]].mean()


@pytest.mark.parametrize("attack", ["none", "jpeg75", "resize0.5", "crop10", "resize0.5+jpeg75"])
def test_payload_survives_image_attacks(marked_720p, attack):
    transform = {"none": lambda x: x, "jpeg75": jpeg, "resize0.5": half, "crop10": crop10,
                 "resize0.5+jpeg75": lambda x: jpeg(half(x))}[attack]
    for mark in marked_720p[1]:
        result = detect_watermark(transform(mark))
        assert result.found and result.payload == LABEL.payload, result
        assert result.bit_agreement >= 0.95  # raw coded-bit accuracy before error correction
        assert result.confidence > 0.999


@pytest.mark.parametrize("crf", [23, 28])
def test_payload_survives_h264_reencode(marked_720p, crf, tmp_path):
    encoded = reencode(marked_720p[1], crf, tmp_path / f"crf{crf}.mp4")
    for frame in encoded:  # every frame on its own...
        result = detect_watermark(frame)
        assert result.payload == LABEL.payload, result
        assert np.mean(result.bits[:48] == ecc.add_crc(LABEL.payload)[:48]) == 1.0
    vote = detect_watermark(encoded)  # ...and all of them together, as verify reads a video
    assert vote.found and vote.payload == LABEL.payload and vote.frames == len(encoded)
    assert vote.sync_z > 6


def test_no_false_positives_on_real_photos_and_videos(data):
    paths = [data(p) for p in REAL_PHOTOS + REAL_VIDEOS]
    assert len(paths) >= 20
    for path in paths:
        report = verify(path)
        assert report.watermark is not None and not report.watermark.found, (path, report.watermark)
        assert report.watermark.sync_z < 6.5
        assert not report.labelled and not report.metadata and report.c2pa is None, path


def test_unmarked_and_other_key_frames_are_not_found(marked_720p):
    frames, _ = marked_720p
    assert not detect_watermark(frames[0]).found
    other = make_label("kaokae swap")  # another payload is found as itself, never as this one
    result = detect_watermark(Watermarker(other.payload).embed(frames[0]))
    assert result.found and result.payload == other.payload == bytes([2, 0, 0, 0, 0, 0])


def test_tiny_and_odd_sized_frames(marked_720p):
    marker = Watermarker(LABEL.payload)
    tiny = marker.embed(np.full((40, 50, 3), 128, np.uint8))
    assert tiny.shape == (40, 50, 3) and not detect_watermark(tiny).found  # too small to carry a mark
    odd = marked_720p[0][0][:333, :501]
    assert detect_watermark(marker.embed(odd)).payload == LABEL.payload


def test_error_correction_and_crc():
    rng = np.random.default_rng(0)
    payload = bytes(rng.integers(0, 256, 6, dtype=np.uint8))
    coded = ecc.conv_encode(ecc.add_crc(payload))
    assert len(coded) == ecc.coded_length(64) == 210
    soft = (coded * 2.0 - 1) + rng.normal(0, 0.8, len(coded))  # ~10% of the hard decisions wrong
    assert np.mean((soft > 0) != coded) > 0.05
    assert ecc.check_crc(ecc.viterbi_decode(soft, 64)) == payload
    passes = sum(ecc.check_crc(ecc.viterbi_decode(rng.normal(0, 1, 210), 64)) is not None for _ in range(200))
    assert passes == 0  # noise decodes to something whose CRC-16 fails (chance 2^-16 each)
