"""kaokae live on real clips replayed as cameras: the recording is swapped and labelled, a window closes on its quit
key, bad cameras and outputs are one line, a slow swap drops frames instead of queueing them, a stream that goes
silent ends the run with exit code 1."""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import data_file, train_tiny_hd
from kaokae.cli import main
from kaokae.extract import ExtractOptions, extract
from kaokae.faces import FaceFinder
from kaokae.live import ClassicEngine, LivePipeline, LiveSession, open_camera
from kaokae.live.outputs import NullOutput
from kaokae.live.session import badge_box
from kaokae.media import StreamWriter, open_media
from kaokae.media.tools import copy_first_frames
from kaokae.provenance import Labeller, detect_watermark, file_sha256
from kaokae.train.checkpoint import MODEL_FILE, latest_checkpoint
from test_convert import face_region

KNN = "face_recognition/examples/knn_examples/train/"
OBAMA, BIDEN = KNN + "obama/obama.jpg", KNN + "biden/biden.jpg"
CLIP = "real3dportrait/data/raw/examples/May_5s.mp4"  # 512x512, 25 fps, 5 s: one woman facing the camera
LONG_CLIP = "edtalk/test_data/pose_source2.mp4"  # 256x256, 25 fps, 60 s


def run_cli(capfd, *args) -> tuple[int, str]:
    try:
        code = main(["live", *map(str, args)])
    except SystemExit as e:
        code = e.code
    return code, capfd.readouterr().err


def small(rgb: np.ndarray) -> np.ndarray:
    return cv2.resize(rgb, (64, 64), interpolation=cv2.INTER_AREA).astype(np.float32)


def test_recording_of_a_replayed_clip_is_swapped_and_labelled(tmp_path, capfd):
    clip, out = data_file(CLIP), tmp_path / "live.mp4"
    code, err = run_cli(capfd, "--source", data_file(OBAMA), "--camera", clip, "--output", out)
    assert code == 0, err
    assert "replayed at its frame rate" in err and "stream ended" in err
    assert main(["verify", str(out)]) == 0
    assert f"model {file_sha256(data_file(OBAMA))[:10]}" in capfd.readouterr().out

    with open_media(clip) as reader:
        source = [frame.image for frame in reader]
    with open_media(out) as reader:
        recorded = [frame.image for frame in reader]
    assert 0.5 * len(source) <= len(recorded) <= len(source)
    thumbs = [small(image) for image in source]
    with FaceFinder(max_faces=1) as finder:
        for image in recorded[5::20]:
            # the source frame it was made from: the nearest one (the recording keeps capture times, not indices)
            match = source[int(np.argmin([np.abs(small(image) - t).mean() for t in thumbs]))]
            landmarks = finder.find(match)[0].landmarks
            difference = np.abs(image.astype(int) - match.astype(int)).max(axis=2)
            inside = face_region(landmarks, image.shape, -0.1)
            assert difference[inside].mean() > 12, "the face did not change"
            x0, y0, x1, y1 = badge_box(*image.shape[:2])
            far = ~face_region(landmarks, image.shape, 0.3)
            far[y0:y1, x0:x1] = False
            assert difference[far].mean() < 4, "pixels far from the face changed"
            assert difference[y0:y1, x0:x1].mean() > 40, "no synthetic badge in the corner"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A tiny hd model trained in seconds on the clip's woman (A) and another man (B): it swaps badly, but it swaps."""
    root = tmp_path_factory.mktemp("live-model")
    copy_first_frames(data_file(CLIP), root / "a.mp4", 40)
    extract([root / "a.mp4"], root / "a", ExtractOptions(size=64))
    extract([data_file(LONG_CLIP)], root / "b", ExtractOptions(size=64, every=25))
    train_tiny_hd(root / "a", root / "b", root / "model")
    return root / "model"


def test_a_trained_model_swaps_live(tiny_model, tmp_path, capfd):
    clip, out = data_file(CLIP), tmp_path / "learned.mp4"
    code, err = run_cli(capfd, "-m", tiny_model, "--camera", clip, "--output", out, "--no-realtime", "--size",
                        "256x256")
    assert code == 0, err
    assert main(["verify", str(out)]) == 0
    weights = file_sha256(latest_checkpoint(tiny_model) / MODEL_FILE)
    assert f"model {weights[:10]}" in capfd.readouterr().out
    with open_media(clip) as source, open_media(out) as recorded:
        assert recorded.info.frame_count == source.info.frame_count  # --no-realtime: every frame, none dropped
        assert (recorded.info.width, recorded.info.height) == (256, 256)
        with FaceFinder(max_faces=1) as finder:
            for original, swapped in zip(source, recorded, strict=True):
                if original.index % 40 == 10:
                    small_original = cv2.resize(original.image, (256, 256), interpolation=cv2.INTER_AREA)
                    landmarks = finder.find(small_original)[0].landmarks
                    inside = face_region(landmarks, swapped.image.shape, -0.1)
                    difference = np.abs(swapped.image.astype(int) - small_original).max(axis=2)
                    assert difference[inside].mean() > 8, f"frame {original.index}: the face did not change"


def test_one_line_errors(tmp_path, capfd):
    photo = data_file(OBAMA)
    cases = [
        (["--camera", "7"], "no camera 7"),
        (["--camera", "http://127.0.0.1:9/stream"], "cannot open stream http://127.0.0.1:9/stream"),
        (["--camera", str(tmp_path / "none.mp4")], "no such file"),
        (["--camera", data_file(CLIP), "--output", "virtualcam"], "v4l2loopback"),
        (["--camera", data_file(CLIP), "--output", "virtualcam:/dev/video63"], "v4l2loopback"),
        (["--camera", data_file(CLIP), "--output", tmp_path / "out.avi"], "--output"),
    ]
    if sys.platform.startswith("linux") and any(Path("/dev").glob("video*")):
        cases = cases[1:]  # this machine has cameras: camera 7 may exist
    for args, message in cases:
        code, err = run_cli(capfd, "--source", photo, *args)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("kaokae: error: "), (args, err)
        assert message in lines[0], (args, err)
    code, err = run_cli(capfd, "--camera", data_file(CLIP))  # neither --source nor -m
    assert code == 2 and len(err.strip().splitlines()) == 1


class SlowEngine:
    """The real classic engine, made slower than the camera by a sleep before each swap."""

    def __init__(self, engine, delay: float):
        self.engine, self.delay = engine, delay
        self.model_id = engine.model_id
        self.frames_seen: list[int] = []

    def swap(self, frame):
        time.sleep(self.delay)
        self.frames_seen.append(frame.index)
        return self.engine.swap(frame)

    def next_source(self):
        return self.engine.next_source()

    def close(self):
        self.engine.close()


def test_a_slow_swap_drops_frames_instead_of_growing_latency():
    camera = open_camera(data_file(CLIP), realtime=True)  # 25 fps
    delay = 0.12  # a swap of 3 frame intervals
    engine = SlowEngine(ClassicEngine([data_file(OBAMA)], fps=camera.fps), delay)
    session = LiveSession(engine, Labeller("kaokae live", engine.model_id))
    try:
        report = LivePipeline(camera, session, NullOutput(), max_frames=75).run()  # 3 s of the clip
    finally:
        session.close()
        camera.close()
    assert report.end == "ended"
    assert report.captured == 75
    assert report.dropped_share > 0.5, report.summary()  # ~2 of every 3 frames cannot be swapped in time
    assert report.delivered + report.dropped == report.captured
    skipped = np.diff(engine.frames_seen)
    assert (skipped >= 1).all() and skipped.max() >= 2  # the swap always takes the newest frame, skipping old ones
    latencies = np.array(report.latencies)
    # bounded: one swap plus at most one capture interval of waiting, never a growing backlog
    assert np.median(latencies) < delay + 0.1, report.summary()
    assert latencies[-5:].mean() < latencies[:5].mean() + 0.1, report.summary()


def test_session_keys_toggle_the_swap_and_cycle_the_photos():
    photos = [data_file(OBAMA), data_file(BIDEN)]
    engine = ClassicEngine(photos, fps=25)
    session = LiveSession(engine, Labeller("kaokae live", engine.model_id, watermark=False), badge=False)
    try:
        with open_media(data_file(CLIP)) as reader:
            frames = [f for f, _ in zip(reader, range(3), strict=False)]
        swapped = session.process(frames[0])
        assert np.abs(swapped.astype(int) - frames[0].image).mean() > 0.5
        session.command("swap")
        assert np.array_equal(session.process(frames[1]), frames[1].image)  # off, no badge, no watermark
        session.command("swap")
        session.command("source")
        session.process(frames[2])
        assert engine.swapper.pinned == 0 and engine.swapper.uses[0] >= 1
        assert engine.next_source() == photos[1].name
        assert engine.next_source() == "photo by head pose" and engine.swapper.pinned is None
    finally:
        session.close()


def test_a_stream_that_goes_silent_exits_1(tmp_path, capfd):
    """A real UDP stream (MPEG-TS) sent by StreamWriter stops after 40 frames: live gives up after --timeout."""
    url = "udp://127.0.0.1:23417"
    sent = threading.Event()

    def send():
        writer = StreamWriter(url + "?pkt_size=1316", 25)
        start = time.perf_counter()
        with open_media(data_file(CLIP)) as reader:
            for frame in reader:
                if frame.index >= 40:
                    break
                time.sleep(max(0.0, start + frame.time - time.perf_counter()))
                writer.write(frame.image, frame.time)
        writer.close()
        sent.set()

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    out = tmp_path / "received.mp4"
    started = time.perf_counter()
    code, err = run_cli(capfd, "--source", data_file(OBAMA), "--camera", url, "--output", out, "--timeout", "1")
    assert time.perf_counter() - started < 30
    sender.join(5)
    assert sent.is_set()
    lines = err.strip().splitlines()
    assert code == 1, err
    assert lines[-1].startswith("kaokae: error: ") and "sent no frame for" in lines[-1], err
    # what arrived before the stream went silent was recorded and labelled
    with open_media(out) as reader:
        frames = [frame.image for frame in reader]
    assert 10 <= len(frames) <= 40
    assert detect_watermark(frames[len(frames) // 2]).found


def _display_tools() -> None:
    missing = [tool for tool in ("Xvfb", "xdotool") if shutil.which(tool) is None]
    if missing:
        message = f"{' and '.join(missing)} not installed (apt-get install -y xvfb xdotool)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def test_window_opens_and_closes_on_the_quit_key(tmp_path):
    _display_tools()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", "1", "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        display = f":{xvfb.stdout.readline().strip()}"
        env = {**os.environ, "DISPLAY": display, "PYTHONPATH": os.pathsep.join(sys.path)}
        live = subprocess.Popen([sys.executable, "-m", "kaokae", "live", "--source", str(data_file(OBAMA)),
                                 "--camera", str(data_file(LONG_CLIP)), "--output", "window"],
                                env=env, stderr=subprocess.PIPE, text=True)
        try:
            window = ""
            deadline = time.monotonic() + 60
            while not window and time.monotonic() < deadline and live.poll() is None:
                time.sleep(0.5)
                found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "kaokae live"],
                                       env=env, capture_output=True, text=True)
                window = found.stdout.split()[0] if found.stdout.split() else ""
            assert window, f"no window appeared: {live.stderr.read() if live.poll() is not None else ''}"
            time.sleep(1.0)  # a few frames shown
            subprocess.run(["xdotool", "windowfocus", "--sync", window, "key", "q"], env=env, check=True,
                           timeout=10)
            code = live.wait(timeout=15)
            err = live.stderr.read()
        finally:
            if live.poll() is None:
                live.kill()
        assert code == 0, err
        assert "keys: q quit" in err and "stream ended" not in err and "Traceback" not in err
        assert "frames shown" in err
    finally:
        xvfb.terminate()
        xvfb.wait(5)


def test_ctrl_c_ends_a_recording_cleanly(tmp_path):
    """Without a window, Ctrl-C is how a session is stopped: exit 0 and a complete, labelled recording."""
    out = tmp_path / "session.mp4"
    live = subprocess.Popen([sys.executable, "-m", "kaokae", "live", "--source", str(data_file(OBAMA)), "--camera",
                             str(data_file(LONG_CLIP)), "--output", str(out)],
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, stderr=subprocess.PIPE,
                            text=True)
    try:
        started = ""
        while not started.startswith("live: "):  # mediapipe may log lines of its own first
            line = live.stderr.readline()
            assert line, f"live ended before it started: {started}"
            started = line if line.startswith("live: ") else started + line
        time.sleep(2.0)
        live.send_signal(signal.SIGINT)
        code = live.wait(timeout=15)
        err = started + live.stderr.read()
    finally:
        if live.poll() is None:
            live.kill()
    assert code == 0, err
    assert "frames shown" in err and "Traceback" not in err
    assert main(["verify", str(out)]) == 0
