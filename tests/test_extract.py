"""`kaokae extract` and `kaokae faceset info|sort|filter|restore` on real video and photos from the shared data."""

import shutil

import numpy as np
import pytest

from conftest import data_file
from kaokae.cli import main
from kaokae.errors import KaokaeError
from kaokae.extract import (
    ExtractOptions,
    extract,
    faceset_info,
    filter_faceset,
    restore_faceset,
    sort_faceset,
)
from kaokae.faceset import FaceSet
from kaokae.media import probe, read_image

PAIR_1 = ["dfl_wef_pair/workspace/data_src.mp4", "dfl_wef_pair/workspace/data_dst.mp4"]
EVERY = 20  # ~53 frames of each ~1100-frame clip: enough to measure the one-face rate, fast enough for CI


def one_face_rate(fs: FaceSet, source_index: int, frames: int) -> float:
    """Fraction of the searched frames that yielded exactly one face."""
    exactly_one = sum(len(fs.frame_lookup(source_index, f)) == 1 for f in range(0, frames, EVERY))
    return exactly_one / -(-frames // EVERY)


@pytest.fixture(scope="module")
def pair_1(tmp_path_factory):
    """Faceset of every EVERY-th frame of data_src.mp4 (source 0) and data_dst.mp4 (source 1)."""
    paths = [data_file(rel) for rel in PAIR_1]
    out = tmp_path_factory.mktemp("pair1") / "faceset"
    result = extract(paths, out, ExtractOptions(size=128, every=EVERY))
    return result, [probe(p).frame_count for p in paths]


def test_extract_finds_one_face_per_frame_on_pair_1(pair_1):
    result, frame_counts = pair_1
    fs = result.faceset
    assert result.frames == sum(-(-n // EVERY) for n in frame_counts)
    for source_index, frames in enumerate(frame_counts):
        assert one_face_rate(fs, source_index, frames) >= 0.98
    assert len(fs) == result.kept and result.rejected == 0
    assert [s.kind for s in fs.sources] == ["video", "video"] and fs.sources[0].fps == "25/1"
    assert all(e.frame_index % EVERY == 0 for e in fs.entries)
    assert all(e.track_id is not None for e in fs.entries)
    # one person per clip: a handful of tracks at most (a new id after a lost face is allowed)
    tracks = {(e.source_index, e.track_id) for e in fs.entries}
    assert 2 <= len(tracks) <= 8
    # aligned faces are upright and consistently framed: the eyes sit level at the same place in every face
    eyes = fs.face_landmarks[:, [468, 473]]  # iris centres (subject's right, left)
    assert np.abs(eyes[:, 0, 1] - eyes[:, 1, 1]).max() < 0.06 * fs.size
    assert np.ptp(eyes.mean(1), axis=0).max() < 0.1 * fs.size
    # the stored matrix reproduces the saved face from the source frame
    with_time = fs.entries[3]
    from kaokae.faces import warp_face
    from kaokae.media import open_media

    with open_media(fs.sources[0].path) as reader:
        frame = next(f for f in reader.frames() if f.index == with_time.frame_index)
    rewarped = warp_face(frame.image, fs.matrices[3], fs.size).astype(np.int16)
    assert np.abs(rewarped - fs.load_face(3)).mean() < 1.0
    assert abs(with_time.frame_time - with_time.frame_index / 25) < 1e-3


def test_contact_sheet_shows_samples(pair_1):
    fs = pair_1[0].faceset
    sheet = read_image(fs.path / "contact_sheet.png")
    assert sheet.shape[1] == 8 * 130 + 2 and sheet.shape[0] > 6 * 142  # 8 columns, 6 rows of 128 px faces
    assert sheet[30:-10].std() > 20  # faces, not an empty grid


def test_info_counts_and_coverage_plot(pair_1, tmp_path):
    fs = pair_1[0].faceset
    summary = faceset_info(fs.path, tmp_path / "cover.png")
    assert summary.faces == len(fs) and len(summary.sources) == 2 and summary.rejected == {}
    assert summary.tracks == len({(e.source_index, e.track_id) for e in fs.entries})
    plot = read_image(tmp_path / "cover.png")
    assert plot.shape[0] > 300 and plot.shape[1] > 500
    assert -40 < summary.yaw[1] < 40 and summary.blur[0] > 0
    text = "\n".join(summary.lines())
    assert f"faces     {len(fs)} (128 px, face centering)" in text and "data_src.mp4" in text


def faces_by_key(fs: FaceSet) -> dict:
    return {(e.source_index, e.frame_index, e.track_id): fs.load_face(i) for i, e in enumerate(fs.entries)}


def test_sort_and_filter_keep_files_and_alignments_consistent(pair_1, tmp_path):
    path = tmp_path / "fs"
    shutil.copytree(pair_1[0].faceset.path, path)
    before = FaceSet.open(path)
    images = faces_by_key(before)
    landmarks = {(e.source_index, e.frame_index, e.track_id): before.landmarks[i]
                 for i, e in enumerate(before.entries)}

    def consistent(fs: FaceSet) -> None:
        assert sorted(p.name for p in (path / "faces").iterdir()) == sorted(e.file[6:] for e in fs.entries)
        for i, e in enumerate(fs.entries):
            key = (e.source_index, e.frame_index, e.track_id)
            np.testing.assert_array_equal(fs.load_face(i), images[key])
            np.testing.assert_array_equal(fs.landmarks[i], landmarks[key])

    by_yaw = sort_faceset(path, "yaw")
    assert np.all(np.diff(by_yaw.poses[:, 0]) >= 0)
    assert [e.file for e in by_yaw.entries] == [f"faces/{k:06d}.png" for k in range(len(by_yaw))]
    consistent(by_yaw)
    by_blur = sort_faceset(path, "blur")
    assert np.all(np.diff(by_blur.blur) <= 0)
    consistent(by_blur)

    threshold = float(np.median(by_blur.blur))
    filtered, counts = filter_faceset(path, blur_below=threshold)
    expected = int((by_blur.blur < threshold).sum())
    assert counts == {"blurry": expected} and len(filtered) == len(by_blur) - expected
    assert all(e.reason == "blurry" and e.blur < threshold for e in filtered.rejected)
    assert len(list((path / "rejected").iterdir())) == expected
    assert all(e.blur >= threshold for e in filtered.entries)
    consistent(filtered)
    for e, landmarks_row in zip(filtered.rejected, filtered.rejected_arrays["landmarks"], strict=True):
        key = (e.source_index, e.frame_index, e.track_id)
        np.testing.assert_array_equal(read_image(path / e.file), images[key])  # moved, not lost
        np.testing.assert_array_equal(landmarks_row, landmarks[key])


def test_restore_moves_rejected_faces_back_with_their_alignments(pair_1, tmp_path, capsys):
    path = tmp_path / "fs"
    shutil.copytree(pair_1[0].faceset.path, path)
    before = FaceSet.open(path)
    images, arrays = faces_by_key(before), {}
    for i, e in enumerate(before.entries):
        arrays[(e.source_index, e.frame_index, e.track_id)] = {k: a[i] for k, a in before.arrays.items()}
    filtered, counts = filter_faceset(path, blur_below=float(np.median(before.blur)))
    rejected = [e.file for e in filtered.rejected]
    assert len(rejected) >= 3 and len(filtered) + len(rejected) == len(before)

    def consistent(fs: FaceSet) -> None:
        for folder, entries in (("faces", fs.entries), ("rejected", fs.rejected)):
            on_disk = sorted(p.name for p in (path / folder).iterdir()) if (path / folder).is_dir() else []
            assert on_disk == sorted(e.file.split("/")[1] for e in entries), folder
        for i, e in enumerate(fs.entries):
            key = (e.source_index, e.frame_index, e.track_id)
            np.testing.assert_array_equal(fs.load_face(i), images[key])
            for name, a in fs.arrays.items():
                np.testing.assert_array_equal(a[i], arrays[key][name])

    # two named faces back through the CLI, one by its bare name, one as rejected/NAME.png
    picked = [rejected[0].split("/")[1], rejected[2]]
    assert main(["faceset", "restore", str(path), *picked]) == 0
    assert "restored 2 faces from rejected/" in capsys.readouterr().err
    fs = FaceSet.open(path)
    assert len(fs) == len(filtered) + 2 and len(fs.rejected) == len(rejected) - 2
    assert [e.reason for e in fs.entries[-2:]] == [None, None] and all(e.reason == "blurry" for e in fs.rejected)
    assert {e.file for e in fs.entries[-2:]} == {f"faces/{rejected[0][9:]}", f"faces/{rejected[2][9:]}"}
    consistent(fs)
    # a name that is not a rejected face, and neither names nor --all: one line, nothing changes
    for argv in (["nothere.png"], ["../faces/000000.png"], [], [rejected[1], "--all"]):
        assert main(["faceset", "restore", str(path), *argv]) == 2
        assert capsys.readouterr().err.startswith("kaokae: error: ")
    assert len(FaceSet.open(path).rejected) == len(rejected) - 2
    # the rest at once: the faceset is whole again, every face with its own image and arrays
    fs, restored = restore_faceset(path, everything=True)
    assert restored == len(rejected) - 2 and len(fs) == len(before) and not fs.rejected
    consistent(fs)
    assert sorted(faces_by_key(fs)) == sorted(images)


def test_near_duplicates_rejects_only_close_faces(pair_1, tmp_path):
    path = tmp_path / "fs"
    shutil.copytree(pair_1[0].faceset.path, path)
    fs, counts = filter_faceset(path, near_duplicates=0.0)
    assert counts == {}  # no two faces of different frames are identical
    fs, counts = filter_faceset(path, near_duplicates=1000.0)
    # every face is within 1000 grey levels of the first
    assert counts == {"near-duplicate": len(fs.rejected)} and len(fs) == 1


def test_only_keeps_the_reference_person(tmp_path, capsys):
    clip = data_file("face_recognition/examples/short_hamilton_clip.mp4")
    lin = data_file("face_recognition/examples/lin-manuel-miranda.png")
    alex = data_file("face_recognition/examples/alex-lacamoire.png")
    result = extract([clip], tmp_path / "lin", ExtractOptions(size=128, every=10, only=[lin]))
    fs = result.faceset
    assert result.kept >= 8 and result.rejected >= 5
    assert len(fs) == result.kept and len(fs.rejected) == result.rejected
    assert all(e.reason == "other-person" for e in fs.rejected)
    # judged against both enrollment photos, the faces kept are Lin-Manuel Miranda, not Alex Lacamoire
    from kaokae.faces import FaceFinder
    from kaokae.faces.identity import IdentityEncoder

    encoder = IdentityEncoder()
    with FaceFinder() as finder:
        refs = {}
        for name, path in (("lin", lin), ("alex", alex)):
            rgb = read_image(path)
            refs[name] = encoder.embed(rgb, finder.find(rgb)[0])
    kept = fs.identity[[e.has_identity for e in fs.entries]]
    assert len(kept) >= 3
    assert np.all(np.linalg.norm(kept - refs["lin"], axis=1) < np.linalg.norm(kept - refs["alex"], axis=1))
    rejected = fs.rejected_arrays["identity"][[e.has_identity for e in fs.rejected]]
    assert np.all(np.linalg.norm(rejected - refs["lin"], axis=1) > 0.6)

    # sorting by identity to the reference: Lin-Manuel Miranda's aligned faces, nearest first
    fs = sort_faceset(fs.path, "identity", refs=[lin])
    assert len(fs) == result.kept and all(e.has_identity for e in fs.entries)
    assert np.all(np.diff(np.linalg.norm(fs.identity - refs["lin"], axis=1)) >= -1e-4)

    # filtering by identity, face by face on the aligned faces, agrees with extract's per-track decision
    fs, counts = filter_faceset(fs.path, not_like=[lin])
    assert counts.get("other-person", 0) <= 0.1 * result.kept and len(fs) >= 0.9 * result.kept
    assert all(e.has_identity for e in fs.entries)  # the embeddings the filter computed are kept
    lin_faces = len(fs)
    fs, counts = filter_faceset(fs.path, not_like=[alex])  # none of them is Alex Lacamoire
    assert len(fs) == 0 and counts == {"other-person": lin_faces}

    # a reference that is missing or shows no face: one line, exit 2, nothing written
    capsys.readouterr()
    for ref, message in [(tmp_path / "nobody.png", "--only: no such file: "),
                         (data_file("dlib/examples/faces/dogs.jpg"), "no face found in the --only reference photo ")]:
        assert main(["extract", str(clip), "-o", str(tmp_path / "none"), "-q", "--only", str(ref)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"kaokae: error: {message}") and err.count("\n") == 1, err
        assert not (tmp_path / "none").exists()


def test_no_face_leaves_nothing_and_exits_1(tmp_path, capsys):
    dogs = data_file("dlib/examples/faces/dogs.jpg")
    code = main(["extract", str(dogs), "-o", str(tmp_path / "dogs"), "-q"])
    err = capsys.readouterr().err
    assert code == 1
    assert "no face found: 1 frame of 1 input searched" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_bad_input_is_one_line_exit_2(tmp_path, capsys, pair_1):
    assert main(["extract", str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kaokae: error: ") and "missing.mp4" in err and err.count("\n") == 1
    # extracting into a non-empty faceset refuses without --append/--overwrite, before any work
    photo = data_file("face_recognition/examples/obama-480p.jpg")
    assert main(["extract", str(photo), "-o", str(pair_1[0].faceset.path), "-q"]) == 2
    assert "--append" in capsys.readouterr().err
    with pytest.raises(KaokaeError, match="--every"):
        extract([photo], tmp_path / "x", ExtractOptions(every=0))
    assert main(["faceset", "sort", str(tmp_path), "--by", "blur"]) == 2
    assert "not a faceset" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_cli_extract_append_images_and_folders(tmp_path, capsys):
    two = data_file("face_recognition/examples/two_people.jpg")
    folder = data_file("face_recognition/examples/knn_examples/train/biden")
    out = tmp_path / "fs"
    assert main(["extract", str(two), "-o", str(out), "--size", "64"]) == 0
    assert "saved 2 faces" in capsys.readouterr().err.splitlines()[-1]
    assert main(["extract", str(folder), "-o", str(out), "--size", "64", "--append", "--identity"]) == 0
    fs = FaceSet.open(out)
    assert len(fs) == 4 and [s.kind for s in fs.sources] == ["image", "folder"]
    assert [e.track_id for e in fs.entries] == [None] * 4
    assert [e.has_identity for e in fs.entries] == [False, False, True, True]
    assert np.linalg.norm(fs.identity[2] - fs.identity[3]) < 0.6  # the two Biden photos: one person
    assert main(["faceset", "info", str(out)]) == 0
    assert "faces     4 (64 px" in capsys.readouterr().out and (out / "coverage.png").exists()
