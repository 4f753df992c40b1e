"""Several people in one input: `kaokae people` finds them, `--map` gives each their own photo (swap) or model
(convert), on real multi-person media."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import data_file
from kaokae.cli import main
from kaokae.extract import ExtractOptions, extract
from kaokae.extract.people import PeopleOptions, people
from kaokae.extract.person_map import MapEntry, map_from_table, map_to_table, parse_map
from kaokae.faces import FaceFinder
from kaokae.faces.identity import IdentityEncoder, identity_distance, reference_embeddings
from kaokae.media import read_image
from kaokae.train import Run, train

KNN = "face_recognition/examples/knn_examples/"
GROUP = KNN + "test/obama_and_biden.jpg"  # Biden (left), Obama, and a girl nobody maps
OBAMA = [KNN + "train/obama/obama.jpg", KNN + "train/obama/obama2.jpg"]
BIDEN = KNN + "train/biden/biden.jpg"
KIT = KNN + "train/kit_harington/john1.jpeg"  # Obama's new face
ROSE = KNN + "train/rose_leslie/img1.jpg"  # Biden's new face
HAMILTON = "face_recognition/examples/short_hamilton_clip.mp4"
# the two people face_recognition's facerec_from_video_file.py names in the clip, by these photos
LIN = "face_recognition/examples/lin-manuel-miranda.png"
ALEX = "face_recognition/examples/alex-lacamoire.png"


def cli(capsys, *args) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def largest(finder: FaceFinder, rgb: np.ndarray):
    return max(finder.find(rgb), key=lambda f: f.size)


@pytest.fixture(scope="module")
def group_faces():
    """The group photo's three faces, left to right (Biden, Obama, the girl), and embeddings of the people."""
    encoder = IdentityEncoder()
    with FaceFinder() as finder:
        original = read_image(data_file(GROUP))
        faces = sorted(finder.find(original), key=lambda f: f.box[0])
        embed = {name: reference_embeddings([data_file(path)], finder, encoder)[0]
                 for name, path in [("kit", KIT), ("rose", ROSE), ("obama", OBAMA[0]), ("biden", BIDEN)]}
    assert len(faces) == 3
    return original, faces, embed, encoder


def changed_in(before: np.ndarray, after: np.ndarray, face) -> np.ndarray:
    x0, y0, x1, y1 = np.round(face.box).astype(int)
    return np.abs(before[y0:y1, x0:x1].astype(int) - after[y0:y1, x0:x1]).max(axis=2) > 0


def test_map_values_parse_and_round_trip_through_a_table():
    entries = parse_map(["a1.jpg,a2.jpg=models/a", "b.png=models/b"])
    assert entries == [MapEntry((Path("a1.jpg"), Path("a2.jpg")), (Path("models/a"),)),
                       MapEntry((Path("b.png"),), (Path("models/b"),))]
    assert entries[0].label == "a1.jpg +1 -> a"
    table = map_to_table(entries)
    assert table == {"a1.jpg,a2.jpg": "models/a", "b.png": "models/b"}
    assert map_from_table(table) == entries
    assert map_from_table({"c.jpg": ["d1.jpg", "d2.jpg"]})[0].targets == (Path("d1.jpg"), Path("d2.jpg"))


def test_swap_map_gives_each_person_their_own_face(group_faces, tmp_path, capsys):
    original, faces, embed, encoder = group_faces
    out = tmp_path / "mapped.png"  # PNG: lossless, so untouched pixels can be compared exactly
    code, err = cli(capsys, "swap", "--target", data_file(GROUP), "-o", out, "--no-watermark",
                    "--map", ",".join(str(data_file(p)) for p in OBAMA) + f"={data_file(KIT)}",
                    "--map", f"{data_file(BIDEN)}={data_file(ROSE)}")
    assert code == 0, err
    summary = err.strip().splitlines()[-1]
    assert ("swapped 2 faces in 1 of 1 frame (obama.jpg +1 -> john1.jpeg: 1, biden.jpg -> img1.jpg: 1; 1 matched "
            "nobody and were left as they were)") in summary
    swapped = read_image(out)
    biden, obama, girl = faces
    with FaceFinder() as finder:
        for face, own, other in [(obama, "kit", "rose"), (biden, "rose", "kit")]:
            new = min(finder.find(swapped), key=lambda f: np.abs(f.box - face.box).sum())
            embedding = encoder.embed(swapped, new)
            # measured: Obama 0.45 to Kit, 0.73 to Rose; Biden 0.50 to Rose, 0.76 to Kit
            assert identity_distance(embedding, embed[own]) < 0.6 < identity_distance(embedding, embed[other])
    for face in (biden, obama):
        assert changed_in(original, swapped, face).mean() > 0.5
    assert not changed_in(original, swapped, girl).any()  # nobody's face: exactly as it was
    outside = np.ones(original.shape[:2], bool)
    for face in (biden, obama):
        x0, y0, x1, y1 = np.round(face.box).astype(int)
        pad = int(0.3 * face.size)
        outside[max(y0 - pad, 0):y1 + pad, max(x0 - pad, 0):x1 + pad] = False
    assert (original[outside] == swapped[outside]).all()


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    """Two tiny models trained for a few iterations: Obama -> Kit and Obama -> Rose (the faces they make are
    bad; what matters is which one made which face)."""
    root = tmp_path_factory.mktemp("models")
    a = root / "a"
    extract([data_file(p) for p in OBAMA], a, ExtractOptions(size=64))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model on a busy 2-core machine trains faster on one thread
    try:
        for name, photos in [("kit", [KIT, KNN + "train/kit_harington/john2.jpeg"]),
                             ("rose", [ROSE, KNN + "train/rose_leslie/img2.jpg"])]:
            extract([data_file(p) for p in photos], root / f"{name}.faceset", ExtractOptions(size=64))
            train(Run(a, root / f"{name}.faceset", root / name, architecture="hd", size=32, width=0.125,
                      iterations=4, save_every=4, preview_every=1000, settings={"batch_size": 2}))
    finally:
        torch.set_num_threads(threads)
    return root


def test_convert_map_sends_each_person_through_their_own_model(group_faces, two_models, tmp_path, capsys):
    original, (biden, obama, girl), _, _ = group_faces
    models = {name: two_models / name for name in ("kit", "rose")}
    # --map takes no model's photos (their detail is one person's): the single-model runs leave theirs out too
    common = ["--no-watermark", "--precision", "fp32", "--no-model-photos"]
    mapped = tmp_path / "mapped.png"
    code, err = cli(capsys, "convert", data_file(GROUP), "-o", mapped, *common,
                    "--map", ",".join(str(data_file(p)) for p in OBAMA) + f"={models['kit']}",
                    "--map", f"{data_file(BIDEN)}={models['rose']}")
    assert code == 0, err
    assert ("2 faces swapped on 1 frames (obama.jpg +1 -> kit: 1, biden.jpg -> rose: 1; 1 matched nobody and "
            "were left as they were)") in err
    # the same faces, one model at a time (--only): the mapped output is each person's own model's face exactly
    singles = {}
    for name, ref in [("kit", OBAMA[0]), ("rose", BIDEN)]:
        singles[name] = tmp_path / f"{name}.png"
        code, err = cli(capsys, "convert", data_file(GROUP), "-o", singles[name], "-m", models[name], *common,
                        "--only", data_file(ref))
        assert code == 0, err
    mapped, kit, rose = read_image(mapped), read_image(singles["kit"]), read_image(singles["rose"])
    for face, own, other in [(obama, kit, rose), (biden, rose, kit)]:
        x0, y0, x1, y1 = np.round(face.box).astype(int)
        assert (mapped[y0:y1, x0:x1] == own[y0:y1, x0:x1]).all()
        assert changed_in(other, mapped, face).mean() > 0.5  # the other model made a different face
        assert changed_in(original, mapped, face).mean() > 0.5
    assert not changed_in(original, mapped, girl).any()


def test_a_faceset_is_a_reference_too(group_faces, two_models, tmp_path, capsys):
    original, (biden, obama, girl), _, _ = group_faces
    out = tmp_path / "faceset.png"
    # two_models / "a": Obama's faces from two photos, without stored identities (embedded from the aligned faces)
    code, err = cli(capsys, "swap", "--target", data_file(GROUP), "-o", out, "--no-watermark",
                    "--map", f"{two_models / 'a'}={data_file(KIT)}")
    assert code == 0, err
    assert "swapped 1 face in 1 of 1 frame (a -> john1.jpeg: 1; 2 matched nobody and were left as they were)" in err
    swapped = read_image(out)
    assert changed_in(original, swapped, obama).mean() > 0.5
    assert not changed_in(original, swapped, biden).any() and not changed_in(original, swapped, girl).any()


def test_people_on_the_hamilton_clip_finds_lin_and_alex_once_each(tmp_path):
    result = people(data_file(HAMILTON), tmp_path / "people", PeopleOptions())
    encoder = IdentityEncoder()
    with FaceFinder() as finder:
        lin, alex = reference_embeddings([data_file(LIN), data_file(ALEX)], finder, encoder)
        to_lin = np.array([identity_distance(p.embedding, lin) for p in result.people])
        # Lin: his two shots (frames 0-19 and 82-210) are one person, 0.37 from his photo; everyone else 0.64+
        assert (to_lin < 0.6).sum() == 1
        him = result.people[int(np.argmin(to_lin))]
        assert him.tracks >= 2 and him.faces > 100 and him.first_frame == 0 and him.last_frame > 150
        # Alex: the other face of the first shot, 30 pixels wide. dlib puts him 0.49-0.52 from Lin's tracks (and a
        # dark, blurred audience face nearer his photo than he is), so identity alone would merge him into Lin;
        # seen on the same frames as Lin, he stays his own person.
        first_shot = [p for p in result.people if p.first_frame == 0]
        assert len(first_shot) == 2 and him in first_shot
        them = next(p for p in first_shot if p is not him)
        assert them.faces >= 15 and them.last_frame < 30 and identity_distance(them.embedding, alex) < 0.65
        # their photos are references kaokae can use, and they are them
        for person in (him, them):
            assert person.path == tmp_path / "people" / f"{person.name}.png" and person.detectable
            photo = read_image(person.path)
            assert identity_distance(encoder.embed(photo, largest(finder, photo)), person.embedding) < 0.4
    sheet = read_image(tmp_path / "people" / "contact_sheet.png")
    assert sheet.shape[0] > 24 + len(result.people) * 128  # one row per person
    assert result.frames > 250 and result.summary().startswith(f"found {len(result.people)} people in {result.frames}")


@pytest.mark.parametrize("args, message", [
    (["--map", "{biden}"], "--map '{biden}': no '=' (write --map REF[,REF...]=TARGET"),
    (["--map", "{tmp}/missing.jpg={kit}"], "--map: no such reference photo or faceset: {tmp}/missing.jpg"),
    (["--map", "{biden}={tmp}/missing.jpg"], "--map: no such photo: {tmp}/missing.jpg"),
    (["--map", "{biden}={kit}", "--map", "{biden}={rose}"], "--map: the reference {biden} is given twice"),
    (["--map", "{biden},{biden}={kit}"], "--map: the reference {biden} is given twice"),
    (["--map", "{biden}={kit}", "--source", "{kit}"], "give either --source PHOTO... or --map REF=PHOTO"),
])
def test_bad_swap_map_values_are_one_line_errors(tmp_path, capsys, args, message):
    names = {"biden": data_file(BIDEN), "kit": data_file(KIT), "rose": data_file(ROSE), "tmp": tmp_path}
    args = [a.format(**names) for a in args]
    code, err = cli(capsys, "swap", "--target", data_file(GROUP), "-o", tmp_path / "x.png", *args)
    assert code == 2 and err.startswith("kaokae: error: " + message.format(**names)), err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "x.png").exists()


def test_bad_convert_map_values_are_one_line_errors(tmp_path, capsys):
    not_a_model = tmp_path / "empty.model"
    not_a_model.mkdir()
    (not_a_model / "config.json").write_text("{not json")
    group, biden, obama = data_file(GROUP), data_file(BIDEN), data_file(OBAMA[0])
    reference = tmp_path / "reference.jpg"
    shutil.copy(biden, reference)
    for args, message in [
        (["--map", f"{biden}={not_a_model}"], f"--map {not_a_model}: "),
        (["--map", f"{biden}={tmp_path}/nothing"], f"--map: no such model: {tmp_path}/nothing"),
        (["--map", f"{biden}"], "--map"),
        (["--map", f"{biden}={not_a_model}", "--map", f"{obama},{biden}={not_a_model}"], "--map: the reference"),
        (["--map", f"{biden}={not_a_model}", "-m", not_a_model], "give either a model (-m MODEL_DIR) or --map"),
        (["--map", f"{group}={not_a_model}", "-o", group], f"output {group} is the input"),
        (["--map", f"{reference}={not_a_model}", "-o", reference, "--overwrite"],
         f"output {reference} is the input {reference}"),
        (["--map", f"{biden}={not_a_model}", "-o", tmp_path, "--overwrite"],
         f"output {tmp_path} holds the input {not_a_model}"),
    ]:
        out = [] if "-o" in args else ["-o", tmp_path / "x.png"]
        code, err = cli(capsys, "convert", group, *out, *args)
        assert code == 2 and err.startswith(f"kaokae: error: {message}"), (args, err)
        assert len(err.strip().splitlines()) == 1 and not (tmp_path / "x.png").exists()


def test_swap_output_never_replaces_a_map_reference_or_photo(tmp_path, capsys):
    """--map's references and photos are inputs like --source: an output that is one, or a folder holding one, is
    refused before any work, --overwrite or not."""
    refs, photos = tmp_path / "refs", tmp_path / "photos"
    refs.mkdir()
    photos.mkdir()
    reference, photo = Path(shutil.copy(data_file(BIDEN), refs)), Path(shutil.copy(data_file(ROSE), photos))
    before = {p: p.read_bytes() for p in (reference, photo)}
    for output, message in [(reference, f"output {reference} is the input {reference}"),
                            (photo, f"output {photo} is the input {photo}"),
                            (refs, f"output {refs} holds the input {reference}"),
                            (photos, f"output {photos} holds the input {photo}")]:
        code, err = cli(capsys, "swap", "--target", data_file(GROUP), "--map", f"{reference}={photo}", "-o", output,
                        "--overwrite")
        assert code == 2 and err.startswith(f"kaokae: error: {message}"), (output, err)
        assert len(err.strip().splitlines()) == 1
    assert {p: p.read_bytes() for p in (reference, photo)} == before
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(["refs", "photos", reference.name, photo.name])
