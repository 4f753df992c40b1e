"""The faceset format: round trip, refusals, crash-safe rearranging. Faces are real: found and aligned on
photos from the shared data (two people, and a second photo of one of them)."""

import json
import shutil
import zipfile

import numpy as np
import pytest

import kaokae.faceset as faceset_module
from kaokae.errors import KaokaeError
from kaokae.faces import FaceFinder, align_matrix, sharpness, warp_face
from kaokae.faceset import FaceEntry, FaceSet, FaceSetWriter, Source
from kaokae.media import probe, read_image

SIZE = 96
PHOTOS = ["face_recognition/examples/two_people.jpg", "face_recognition/examples/obama-480p.jpg",
          "face_recognition/examples/knn_examples/test/obama_and_biden.jpg"]


@pytest.fixture(scope="module")
def found():
    """[(source info, frame index, face, aligned, matrix)] for every face of PHOTOS (6 faces)."""
    from conftest import data_file

    out = []
    with FaceFinder() as finder:
        for rel in PHOTOS:
            path = data_file(rel)
            rgb = read_image(path)
            for face in finder.find(rgb):
                matrix = align_matrix(face.landmarks, SIZE, "face")
                out.append((probe(path), face, warp_face(rgb, matrix, SIZE), matrix))
    assert len(out) == 6
    return out


def write_faceset(path, found, mode="new", reject=()):
    writer = FaceSetWriter(path, SIZE, "face", mode)
    sources = {}
    for k, (info, face, aligned, matrix) in enumerate(found):
        if info.path not in sources:
            sources[info.path] = writer.add_source(info)
        entry = FaceEntry("", sources[info.path], 0, 0.0, None, face.score, sharpness(aligned),
                          float(k) if k != 4 else np.nan, -float(k), 0.5,
                          reason="other-person" if k in reject else None)
        writer.add(aligned, entry, landmarks=face.landmarks, matrix=matrix, box=face.box,
                   identity=np.full(128, k, np.float32) if k % 2 else None)
    return writer.commit()


def test_round_trip_keeps_every_array_and_face(tmp_path, found):
    written = write_faceset(tmp_path / "fs", found, reject={5})
    fs = FaceSet.open(tmp_path / "fs")
    kept = found[:5]
    assert (len(fs), fs.size, fs.centering, fs.version) == (5, SIZE, "face", 1)
    assert [s.kind for s in fs.sources] == ["image"] * 3 and fs.sources[0].fps is None
    assert [e.file for e in fs.entries] == [f"faces/{k:06d}.png" for k in range(5)]
    assert [(e.file, e.reason) for e in fs.rejected] == [("rejected/000005.png", "other-person")]
    np.testing.assert_array_equal(fs.landmarks, np.stack([f.landmarks for _, f, _, _ in kept]))
    np.testing.assert_array_equal(fs.boxes, np.stack([f.box for _, f, _, _ in kept]))
    np.testing.assert_array_equal(fs.matrices, np.stack([m for _, _, _, m in kept]))
    np.testing.assert_array_equal(fs.load_faces(), np.stack([a for _, _, a, _ in kept]))  # PNG is lossless
    for a, b in zip((written.landmarks, written.identity), (fs.landmarks, fs.identity), strict=True):
        np.testing.assert_array_equal(a, b)
    # identity: stored where given, NaN rows elsewhere
    assert [e.has_identity for e in fs.entries] == [False, True, False, True, False]
    assert np.isnan(fs.identity[0]).all() and (fs.identity[1] == 1).all()
    # face landmarks are the frame landmarks through the matrix, and the eyes land where alignment puts them
    for i in range(5):
        frame_points = fs.landmarks[i].astype(np.float64)
        expected = frame_points @ fs.matrices[i][:, :2].T + fs.matrices[i][:, 2]
        np.testing.assert_allclose(fs.face_landmarks[i], expected, atol=1e-3)
        assert (fs.face_landmarks[i][[33, 263]].min() > 0) and fs.face_landmarks[i][[33, 263]].max() < SIZE
    assert fs.face_landmarks.dtype == np.float32 and fs.matrices.dtype == np.float64
    # the two faces of two_people.jpg are on source 0, frame 0; obama-480p is source 1
    assert list(fs.frame_lookup(0, 0)) == [0, 1] and list(fs.frame_lookup(1, 0)) == [2]
    assert len(fs.frame_lookup(7, 0)) == 0
    assert fs.entries[3].yaw == 3.0 and fs.entries[3].pitch == -3.0
    assert np.isnan(fs.entries[4].yaw) and np.isnan(fs.poses[4, 0])  # unknown pose: null in strict JSON
    json.loads((tmp_path / "fs" / "alignments.json").read_text(), parse_constant=lambda c: 1 / 0)
    assert not list(tmp_path.glob(".fs.partial-*"))


def test_new_faceset_refuses_non_empty_folder_and_modes_behave(tmp_path, found):
    fs = write_faceset(tmp_path / "fs", found[:2])
    with pytest.raises(KaokaeError, match="not empty: use --append .* or --overwrite"):
        FaceSetWriter(tmp_path / "fs", SIZE, "face", "new")
    other = tmp_path / "holiday"
    other.mkdir()
    (other / "photo.jpg").write_bytes(b"x")
    for mode in ("new", "append", "overwrite"):
        with pytest.raises(KaokaeError, match="not empty"):
            FaceSetWriter(other, SIZE, "face", mode)
    assert (other / "photo.jpg").exists()
    with pytest.raises(KaokaeError, match="same --size"):
        FaceSetWriter(tmp_path / "fs", SIZE * 2, "face", "append")

    appended = write_faceset(tmp_path / "fs", found[2:4], mode="append")
    assert len(appended) == 4 and len(appended.sources) == 3  # two_people + obama-480p + obama_and_biden
    assert [e.file for e in appended.entries][2:] == ["faces/000002.png", "faces/000003.png"]
    np.testing.assert_array_equal(appended.load_faces([0, 1]), fs.load_faces())
    np.testing.assert_array_equal(appended.load_faces([2, 3]), np.stack([a for _, _, a, _ in found[2:4]]))

    replaced = write_faceset(tmp_path / "fs", found[4:5], mode="overwrite")
    assert len(replaced) == 1 and len(list((tmp_path / "fs" / "faces").iterdir())) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fs", "holiday"]  # no temporary folders left


def test_aborted_writer_leaves_nothing(tmp_path, found):
    with pytest.raises(RuntimeError):
        with FaceSetWriter(tmp_path / "fs", SIZE) as writer:
            writer.add_source(Source("x.png", "image", 10, 10, None, 1))
            _, face, aligned, matrix = found[0]
            writer.add(aligned, FaceEntry("", 0, 0, 0, None, 1, 1, 0, 0, 0), landmarks=face.landmarks,
                       matrix=matrix, box=face.box)
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_reader_refuses_unknown_version_and_damaged_files(tmp_path, found):
    good = tmp_path / "good"
    write_faceset(good, found[:3])

    def broken(name):
        path = tmp_path / name
        shutil.copytree(good, path)
        return path

    path = broken("v2")
    meta = json.loads((path / "alignments.json").read_text())
    meta["version"] = 2
    (path / "alignments.json").write_text(json.dumps(meta))
    with pytest.raises(KaokaeError, match="version 2, newer than this kaokae reads"):
        FaceSet.open(path)
    meta["version"] = "1"
    (path / "alignments.json").write_text(json.dumps(meta))
    with pytest.raises(KaokaeError, match="not an integer"):
        FaceSet.open(path)

    path = broken("truncated_npz")
    blob = (path / "alignments.npz").read_bytes()
    (path / "alignments.npz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(KaokaeError, match="alignments.npz is damaged"):
        FaceSet.open(path)

    path = broken("swapped_npz")  # an npz that is valid by itself but belongs to another faceset
    other = write_faceset(tmp_path / "other", found[3:5])
    shutil.copy(other.path / "alignments.npz", path / "alignments.npz")
    with pytest.raises(KaokaeError, match="does not belong"):
        FaceSet.open(path)

    path = broken("json_garbage")
    (path / "alignments.json").write_text('{"format": "kaokae-faceset", "version": 1, "si')
    with pytest.raises(KaokaeError, match="alignments.json is damaged"):
        FaceSet.open(path)

    path = broken("missing_key")
    meta = json.loads((path / "alignments.json").read_text())
    del meta["faces"][1]["frame_index"]
    (path / "alignments.json").write_text(json.dumps(meta))
    with pytest.raises(KaokaeError, match="alignments.json is damaged"):
        FaceSet.open(path)

    path = broken("pickled")  # an npz whose array needs pickle is refused, never unpickled
    with zipfile.ZipFile(path / "alignments.npz", "w") as z, z.open("landmarks.npy", "w") as f:
        np.lib.format.write_array(f, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    meta = json.loads((path / "alignments.json").read_text())
    import hashlib

    meta["arrays_sha256"] = hashlib.sha256((path / "alignments.npz").read_bytes()).hexdigest()
    (path / "alignments.json").write_text(json.dumps(meta))
    with pytest.raises(KaokaeError, match="damaged"):
        FaceSet.open(path)

    path = broken("png_missing")
    (path / "faces" / "000001.png").unlink()
    fs = FaceSet.open(path)
    with pytest.raises(KaokaeError, match="000001.png"):
        fs.load_faces()

    with pytest.raises(KaokaeError, match="not a faceset"):
        FaceSet.open(tmp_path)
    assert len(FaceSet.open(good)) == 3


def test_rearrange_moves_files_and_alignments_together(tmp_path, found):
    fs = write_faceset(tmp_path / "fs", found)
    faces = fs.load_faces()
    landmarks = fs.landmarks.copy()
    sorted_fs = fs.rearrange([4, 2, 0, 5, 3], reject={1: "blurry"}, renumber=True)
    assert [e.file for e in sorted_fs.entries] == [f"faces/{k:06d}.png" for k in range(5)]
    np.testing.assert_array_equal(sorted_fs.load_faces(), faces[[4, 2, 0, 5, 3]])
    np.testing.assert_array_equal(sorted_fs.landmarks, landmarks[[4, 2, 0, 5, 3]])
    assert [(e.file, e.reason) for e in sorted_fs.rejected] == [("rejected/000001.png", "blurry")]
    np.testing.assert_array_equal(sorted_fs.rejected_arrays["landmarks"][0], landmarks[1])
    assert len(list((tmp_path / "fs" / "faces").iterdir())) == 5
    # a second rejection whose name is taken in rejected/ gets a fresh name; nothing is overwritten
    again = sorted_fs.rearrange([0, 2, 3, 4], reject={1: "near-duplicate"})
    assert [e.file for e in again.rejected] == ["rejected/000001.png", "rejected/000005.png"]
    np.testing.assert_array_equal(FaceSet.open(tmp_path / "fs").load_faces(), faces[[4, 0, 5, 3]])
    with pytest.raises(ValueError):
        again.rearrange([0, 1])
    # a change computed from a faceset that another process changed meanwhile is refused, not merged
    stale = FaceSet.open(tmp_path / "fs")
    FaceSet.open(tmp_path / "fs").rearrange([3, 2, 1, 0], renumber=True)
    with pytest.raises(KaokaeError, match="changed by another kaokae"):
        stale.rearrange([0, 1, 2, 3], renumber=True)
    np.testing.assert_array_equal(FaceSet.open(tmp_path / "fs").load_faces(), faces[[3, 5, 0, 4]])
    writer = FaceSetWriter(tmp_path / "fs", SIZE, "face", "append")
    FaceSet.open(tmp_path / "fs").rearrange([0, 1, 2], reject={3: "blurry"})
    with pytest.raises(KaokaeError, match="changed by another kaokae"):
        with writer:
            _, face, aligned, matrix = found[0]
            writer.add(aligned, FaceEntry("", 0, 9, 0, None, 1, 1, 0, 0, 0), landmarks=face.landmarks,
                       matrix=matrix, box=face.box)
    assert len(FaceSet.open(tmp_path / "fs")) == 3 and len(list((tmp_path / "fs" / "faces").iterdir())) == 3


@pytest.mark.parametrize("fail_at", [1, 3, 4, 9, 10, 11, 14, 17, 18])
def test_interrupted_rearrange_is_finished_by_repair_not_by_reading(tmp_path, found, monkeypatch, fail_at):
    """Kill the sort at the n-th rename (os.replace: the staged npz, json and plan are calls 1-3, then 6 moves
    into .pending, 6 out of it, and the new npz and json): reading refuses a committed, unfinished change and
    writes nothing; repair finishes it (the plan written) or keeps the old faceset, and files and alignments
    always agree."""
    fs = write_faceset(tmp_path / "fs", found)
    faces = fs.load_faces()
    order = [5, 4, 3, 2, 1]
    real_replace = faceset_module.os.replace
    calls = []

    def dying_replace(src, dst):
        calls.append(src)
        if len(calls) == fail_at:
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(faceset_module.os, "replace", dying_replace)
    with pytest.raises(KeyboardInterrupt):
        fs.rearrange(order, reject={0: "blurry"}, renumber=True)
    monkeypatch.setattr(faceset_module.os, "replace", real_replace)
    if fail_at > 3:
        before = sorted(str(p) for p in (tmp_path / "fs").rglob("*"))
        with pytest.raises(KaokaeError, match="faceset repair"):
            FaceSet.open(tmp_path / "fs")
        assert sorted(str(p) for p in (tmp_path / "fs").rglob("*")) == before  # reading wrote nothing
    faceset_module.repair_faceset(tmp_path / "fs")
    reopened = FaceSet.open(tmp_path / "fs")
    assert not (tmp_path / "fs" / ".pending").exists()
    if fail_at <= 3:  # killed before the plan was committed: the old faceset stands
        assert len(reopened) == 6
        np.testing.assert_array_equal(reopened.load_faces(), faces)
    else:
        np.testing.assert_array_equal(reopened.load_faces(), faces[order])
        np.testing.assert_array_equal(reopened.landmarks, fs.landmarks[order])
        assert reopened.rejected[0].file == "rejected/000000.png"
