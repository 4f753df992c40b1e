"""`kaokae evaluate` as a user runs it: real videos in, table on stdout, JSON and PNG out, one-line errors."""

import json

import pytest

from conftest import data_file
from kaokae.cli import main
from kaokae.media import read_image
from kaokae.provenance import verify

OBAMA_CLIP = "styletalk/samples/source_video/video/Obama_clip1.mp4"  # 256x256
OBAMA_UNCROPPED = "edtalk/test_data/uncrop_Obama.mp4"  # 450x450


def test_a_video_against_itself_scores_as_its_own_source(tmp_path, capsys):
    clip = str(data_file(OBAMA_CLIP))
    code = main(["evaluate", "--swapped", clip, "--source", clip, "--frames", "5", "--start", "2",
                 "--json", str(tmp_path / "report.json"), "--png", str(tmp_path / "report.png"), "-q"])
    assert code == 0
    table = capsys.readouterr().out
    assert table.startswith("| system |") and "| swap | 5 |" in table and "| no swap | 5 |" in table

    report = json.loads((tmp_path / "report.json").read_text())
    assert report["format"] == "kaokae-evaluation" and report["version"] == 1
    swap = report["systems"]["swap"]
    assert swap["frames"] == 5 and swap["faces"] == 5 and swap["swapped_face_detected"] == 1.0
    assert swap["flicker"] == 1.0
    assert swap["pose_error_deg"] == {"yaw": 0.0, "pitch": 0.0, "roll": 0.0}
    assert swap["expression_error"] < 1e-9
    # A's reference is the centroid over the whole clip: these frames are near it, but not on it.
    assert 0.02 < swap["identity"]["distance_to_source"] < 0.3
    assert "distance_to_target" not in swap["identity"]  # no --target given
    assert len(report["frames"]["swap"]) == 5 and "dlib" in report["models"]["identity"]

    png = read_image(tmp_path / "report.png")
    assert png.shape[1] == 1100 and png.shape[0] > 400
    assert png.std() > 20  # faces and bars, not a blank canvas
    assert verify(tmp_path / "report.png").labelled  # it shows (what may be) swapped faces: labelled synthetic


def run_error(capsys, argv: list[str]) -> str:
    """The error line (warnings may come before it)."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    last = err.splitlines()[-1]
    assert last.startswith("kaokae: error: ")
    return err


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    clip, other = str(data_file(OBAMA_CLIP)), str(data_file(OBAMA_UNCROPPED))
    assert "256x256" in run_error(capsys, ["evaluate", "--swapped", clip, "--source", other])
    assert "either --model" in run_error(capsys, ["evaluate", "--source", clip])
    assert "--target" in run_error(capsys, ["evaluate", "--model", str(tmp_path), "--source", clip])
    assert ".png" in run_error(capsys, ["evaluate", "--swapped", clip, "--source", clip, "--png", "x.jpg"])
    assert "no such file" in run_error(capsys, ["evaluate", "--swapped", str(tmp_path / "nope.mp4"),
                                                "--source", clip])


def test_a_gallery_needs_four_people_other_than_a_and_b(tmp_path, capsys):
    clip = str(data_file(OBAMA_CLIP))
    train = data_file("face_recognition/examples/knn_examples/train")
    gallery = tmp_path / "gallery"
    for person in ("biden", "alex_lacamoire", "kit_harington"):
        (gallery / person).mkdir(parents=True)
        for photo in (train / person).iterdir():
            (gallery / person / photo.name).symlink_to(photo)
    argv = ["evaluate", "--swapped", clip, "--source", clip, "--frames", "2", "-q", "--gallery", str(gallery),
            "--target", str(data_file("openface_cmu/images/examples/carell.jpg"))]
    assert "3 sub-folders" in run_error(capsys, argv)  # refused before any work

    # A fourth folder of A himself (Obama) does not count: retrieving him is not a failure of the swap.
    (gallery / "barack").mkdir()
    for photo in (train / "obama").iterdir():
        (gallery / "barack" / photo.name).symlink_to(photo)
    err = run_error(capsys, argv)
    assert "barack looks like A" in err and "3 usable people, need at least 4" in err


@pytest.mark.parametrize("argv", [["evaluate", "--help"]])
def test_help_explains_every_option(argv, capsys):
    with pytest.raises(SystemExit):
        main(argv)
    text = capsys.readouterr().out
    for option in ("--model", "--swapped", "--source", "--target", "--gallery", "--start", "--frames", "--json",
                   "--png", "--no-reference-row", "--quiet"):
        assert option in text
