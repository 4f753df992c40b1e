"""`kaokae info / frames / assemble` as a user runs them: real clips, and every bad input ends in one line and exit 2."""

import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction

import av
import numpy as np
import pytest

from kaokae.cli import main
from kaokae.media import open_media, probe, read_image, write_image

CLIP = "real3dportrait/data/raw/examples/May_5s.mp4"  # 512x512, 25 fps, 125 frames, AAC
BIDEN = "hieubkvn123_face_recognition/videos/biden.mp4"
PHOTO = "face_recognition/examples/obama-480p.jpg"


def run(argv, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def psnr(a, b) -> float:
    return float(10 * np.log10(255**2 / max(np.mean((a.astype(np.float64) - b) ** 2), 1e-10)))


def audio_packets(path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]


def test_info_prints_the_facts(data, capsys):
    code, out, _ = run(["info", data(BIDEN), "--json"], capsys)
    facts = json.loads(out)
    assert code == 0
    assert (facts["kind"], facts["width"], facts["height"], facts["fps"], facts["frame_count"]) == \
        ("video", 1280, 720, "30", 210)
    assert facts["has_audio"] is True and facts["duration"] == pytest.approx(7.0, abs=0.01)
    code, out, _ = run(["info", data(BIDEN)], capsys)
    assert "1280x720" in out and "210" in out and "aac" in out


def test_frames_then_assemble_gives_back_an_equivalent_video(data, tmp_path, capsys):
    src, stills, rebuilt = data(CLIP), tmp_path / "stills", tmp_path / "rebuilt.mp4"
    assert run(["frames", src, "-o", stills, "-q"], capsys)[0] == 0
    names = sorted(p.name for p in stills.iterdir())
    assert len(names) == 125 and names[0] == "000000.png" and names[-1] == "000124.png"
    code, _, err = run(["assemble", stills, "-o", rebuilt, "--fps", "25", "--audio-from", src, "--preset", "veryfast"],
                       capsys)
    assert code == 0, err
    before, after = probe(src), probe(rebuilt)
    assert (after.frame_count, after.fps, after.width, after.height) == (125, Fraction(25), 512, 512)
    assert audio_packets(rebuilt) == audio_packets(src)
    with open_media(src) as a, open_media(rebuilt) as b:
        scores = [psnr(fa.image, fb.image) for fa, fb in zip(a, b, strict=True)]
    assert np.mean(scores) >= 35
    assert after.duration == pytest.approx(before.duration, abs=0.05)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rebuilt.mp4", "stills"]


def test_frames_every_n_as_jpeg(data, tmp_path, capsys):
    stills = tmp_path / "every"
    assert run(["frames", data(CLIP), "-o", stills, "--every", "40", "--format", "jpg", "-q"], capsys)[0] == 0
    assert sorted(p.name for p in stills.iterdir()) == ["000000.jpg", "000040.jpg", "000080.jpg", "000120.jpg"]
    with open_media(data(CLIP)) as reader:
        frame_40 = next(f for f in reader if f.index == 40).image
    assert psnr(read_image(stills / "000040.jpg"), frame_40) > 35


def test_assemble_orders_images_naturally_at_a_rational_rate(data, tmp_path, capsys):
    photo = read_image(data(PHOTO))
    crops = {n: np.ascontiguousarray(photo[100 + n * 12:196 + n * 12, 250 + n * 30:378 + n * 30]) for n in (1, 2, 10)}
    for n, crop in crops.items():
        write_image(tmp_path / "in" / f"face{n}.png", crop)
    dest = tmp_path / "out.mov"
    assert run(["assemble", tmp_path / "in", "-o", dest, "--fps", "30000/1001", "--preset", "ultrafast", "-q"],
               capsys)[0] == 0
    assert probe(dest).fps == Fraction(30000, 1001)
    with open_media(dest) as reader:
        frames = [f.image for f in reader]
    assert len(frames) == 3
    for frame, n in zip(frames, (1, 2, 10), strict=True):  # each frame is its own image, not a neighbour
        assert max(crops, key=lambda m: psnr(frame, crops[m])) == n


@pytest.fixture
def bad(tmp_path, data):
    """Files a careless user might hand kaokae."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.mp4").write_text("this is not a video\n")
    (tmp_path / "zero.mp4").write_bytes(b"")
    (tmp_path / "stills").mkdir()
    write_image(tmp_path / "stills" / "1.png", read_image(data(PHOTO))[:64, :64])
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(data(CLIP).read_bytes())
    return tmp_path


BAD_INPUTS = {
    "missing path": (["info", "{d}/nope.mp4"], "no such file or folder"),
    "missing video for frames": (["frames", "{d}/nope.mp4", "-o", "{d}/out"], "no such file or folder"),
    "empty folder": (["assemble", "{d}/empty", "-o", "{d}/out.mp4"], "no images in folder"),
    "text file named .mp4": (["info", "{d}/notes.mp4"], "cannot read"),
    "text file as audio": (["assemble", "{d}/stills", "-o", "{d}/out.mp4", "--audio-from", "{d}/notes.mp4"],
                           "cannot read audio"),
    "zero-byte file": (["frames", "{d}/zero.mp4", "-o", "{d}/out"], "empty (0 bytes)"),
    "unknown output extension": (["assemble", "{d}/stills", "-o", "{d}/out.xyz"], "unknown video extension"),
    "output is the input": (["frames", "{d}/clip.mp4", "-o", "{d}/clip.mp4"], "is the input"),
    "output is the audio source": (["assemble", "{d}/stills", "-o", "{d}/clip.mp4", "--audio-from", "{d}/clip.mp4"],
                                   "is the input"),
    "bad frame rate": (["assemble", "{d}/stills", "-o", "{d}/out.mp4", "--fps", "0"], "frame rate"),
    "bad format": (["frames", "{d}/clip.mp4", "-o", "{d}/out", "--format", "gif"], "invalid choice"),
    "non-empty output folder": (["frames", "{d}/clip.mp4", "-o", "{d}/stills"], "not empty"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_and_exit_2(bad, capsys, case):
    argv, message = BAD_INPUTS[case]
    before = sorted(p.name for p in bad.rglob("*"))
    try:
        code = main([a.format(d=bad) for a in argv])
    except SystemExit as e:  # argparse's own errors (choices) exit from inside parse_args
        code = e.code
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("kaokae: error: ") and message in err, err
    assert sorted(p.name for p in bad.rglob("*")) == before  # nothing written, nothing half-written


def test_console_script_error_has_no_traceback(tmp_path):
    (tmp_path / "notes.mp4").write_text("hello")
    done = subprocess.run([sys.executable, "-m", "kaokae", "info", str(tmp_path / "notes.mp4")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith("kaokae: error: cannot read") and done.stderr.count("\n") == 1


def test_ctrl_c_during_frames_leaves_nothing(data, tmp_path):
    out = tmp_path / "stills"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "kaokae", "frames", str(data(BIDEN)), "-o", str(out)],
                            stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    partial = []
    while time.monotonic() < deadline and proc.poll() is None:
        partial = [p for p in tmp_path.iterdir() if p.name.startswith(".stills.partial-")]
        if partial and any(partial[0].iterdir()):
            break  # frames are being written
        time.sleep(0.05)
    assert partial and proc.poll() is None, "frames finished or never started before the interrupt"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
