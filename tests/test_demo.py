"""`kaokae demo --quick` end to end: every promised file exists and is what it says."""

import cv2

from kaokae.cli import main
from kaokae.demo import QUICK
from kaokae.media import probe
from kaokae.provenance import verify


def test_quick_demo_writes_every_promised_file(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "-o", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    for name in ["contact_sheet_A_collins.png", "contact_sheet_B_hopper.png", "training_preview.png",
                 "training_loss.png", "summary.png"]:
        image = cv2.imread(str(out / name))
        assert image is not None and image.shape[0] > 64 and image.std() > 5, name
        assert str(out / name) in printed
    for name in ["learned_swap.mp4", "learned_swap_photo_detail.mp4", "classic_swap.mp4"]:
        info = probe(out / name)
        assert info.frame_count == QUICK.frames and info.width == QUICK.clip_size, name
        assert str(out / name) in printed
    for name in ["learned_swap.mp4", "learned_swap_photo_detail.mp4", "classic_swap.mp4", "summary.png",
                 "training_preview.png"]:
        assert verify(out / name, frames=4).labelled, f"{name} is not labelled as synthetic"
    assert not list(tmp_path.glob(".demo.*")), "the demo's work folder was left behind"
    # the closing lines say how many frames of each swap dlib verifies as B (the classic swap: every one checked)
    assert "classic swap: dlib verifies 100% of the frames it checked as Grace Hopper (B)" in printed
    assert "learned swap: dlib verifies " in printed
    assert "learned swap + photo detail: dlib verifies " in printed
