"""The web UI's Live tab in a real headless Chromium whose camera is a real clip (Chromium's fake capture device
playing a .y4m that kaokae.media.tools.write_y4m makes from ../shared/data at test time): frames go to `kaokae ui`
and come back swapped, watermarked and badged; swap off gives the camera's frame back, still labelled; the page
shows fps and latency; the live endpoints keep to the workspace and refuse what is not a live frame. Screenshots go
to KAOKAE_UI_SCREENSHOTS."""

import base64
import http.client
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import data_file
from kaokae.faces import FaceFinder
from kaokae.live.session import badge_box
from kaokae.media.tools import write_y4m
from kaokae.provenance import detect_watermark, file_sha256
from kaokae.provenance.label import describe_payload
from kaokae.ui import live
from kaokae.ui.workspace import Workspace, copy_in
from test_convert import face_region
from test_ui_browser import CHROMIUM, Server, _need, sync_playwright

CLIP = "real3dportrait/data/raw/examples/May_5s.mp4"  # 512x512, 25 fps: one woman facing the camera
KNN = "face_recognition/examples/knn_examples/train/"
OBAMA, BIDEN = KNN + "obama/obama.jpg", KNN + "biden/biden.jpg"
CAMERA_FRAMES = 50  # 2 s of the clip, looped by Chromium
TIMEOUT_MS = 120_000


def jpeg_rgb(data: bytes) -> np.ndarray:
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    _need(sync_playwright is not None, "playwright (the Python package) is not installed")
    _need(CHROMIUM is not None, "chromium is not installed (apt-get install -y chromium)")
    clip, obama, biden = data_file(CLIP), data_file(OBAMA), data_file(BIDEN)
    root = tmp_path_factory.mktemp("ui-live")
    camera = root / "camera.y4m"
    write_y4m(clip, camera, CAMERA_FRAMES)
    workspace = root / "workspace"
    ws = Workspace(workspace)
    for photo in (obama, biden):
        copy_in(ws, photo)
    copy_in(ws, clip)
    shots = Path(os.environ.get("KAOKAE_UI_SCREENSHOTS") or tmp_path_factory.mktemp("ui-screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {shots}")
    server = Server(workspace)
    server.start()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={camera}"])
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(server.url + "#live")
        page.wait_for_selector("body[data-ready='1']")
        page.wait_for_selector("#page-live[data-ready='1']")
        yield {"server": server, "page": page, "shots": shots, "obama": obama, "biden": biden, "workspace": workspace}
        browser.close()
    server.stop()


def next_frame(page, swap: str = "on"):
    """The next frame the page shows with the swap `swap`: (the camera frame it sent, the frame it got back), as
    the page holds them (LIVE.last: the bytes posted and the answer's)."""
    page.evaluate("LIVE.last = null")
    page.wait_for_function(f"LIVE.last && LIVE.last.swap === '{swap}'")
    pair = page.evaluate("""async () => {
        const base64 = async buffer => {
            const bytes = new Uint8Array(buffer);
            let text = "";
            for (let i = 0; i < bytes.length; i += 32768) text += String.fromCharCode(...bytes.subarray(i, i + 32768));
            return btoa(text);
        };
        const {sent, returned} = LIVE.last;
        return [await base64(sent), await base64(await returned.arrayBuffer())];
    }""")
    return tuple(jpeg_rgb(base64.b64decode(b)) for b in pair)


def face_change(sent: np.ndarray, returned: np.ndarray) -> tuple[float, float, float]:
    """Mean change (max over RGB, 8-bit levels) inside the face, far from it (badge excluded), and on the badge."""
    with FaceFinder(max_faces=1) as finder:
        landmarks = finder.find(sent)[0].landmarks
    difference = np.abs(returned.astype(int) - sent.astype(int)).max(axis=2)
    inside = face_region(landmarks, sent.shape, -0.1)
    x0, y0, x1, y1 = badge_box(*sent.shape[:2])
    far = ~face_region(landmarks, sent.shape, 0.3)
    far[y0:y1, x0:x1] = False
    return difference[inside].mean(), difference[far].mean(), difference[y0:y1, x0:x1].mean()


def test_camera_frames_come_back_swapped_and_labelled(env):
    page = env["page"]
    page.select_option("#live-sources", ["media/obama.jpg", "media/biden.jpg"])
    page.click("#live-start")
    page.wait_for_function("Number(document.querySelector('#live-output').dataset.frames || 0) >= 5")
    sent, returned = next_frame(page)
    assert sent.shape == returned.shape == (512, 512, 3)
    mark = detect_watermark(returned)
    assert mark.found, mark
    assert describe_payload(mark.payload).startswith("kaokae")
    # the mark names the first photo (the list's order: biden.jpg), as `kaokae live --source A B` names A
    assert mark.payload[1:].hex() == file_sha256(env["biden"])[:10]
    inside, far, badge = face_change(sent, returned)
    assert inside > 12, f"the face did not change ({inside:.1f} levels)"
    assert far < 4, f"pixels far from the face changed ({far:.1f} levels)"
    assert badge > 40, "no synthetic badge in the corner"
    fps = page.locator("#live-fps")
    page.wait_for_function("/\\d+\\.\\d fps · latency \\d+ ms/.test(document.querySelector('#live-fps').textContent)")
    assert "swap on" in fps.inner_text()
    assert "synthetic" in page.inner_text("#live-label") and "watermark" in page.inner_text("#live-label")
    page.screenshot(path=str(env["shots"] / "10-live.png"), full_page=True)
    print(f"\nlive tab: {fps.inner_text()}")


def test_next_source_photo_is_named(env):
    page = env["page"]
    page.click("#live-next")
    page.wait_for_function("document.querySelector('#live-fps').textContent.includes('source biden.jpg')")
    page.click("#live-next")
    page.wait_for_function("document.querySelector('#live-fps').textContent.includes('source obama.jpg')")


def test_swap_off_returns_the_camera_frame_still_labelled(env):
    page = env["page"]
    page.click("#live-swap")
    sent, returned = next_frame(page, swap="off")
    assert detect_watermark(returned).found
    inside, far, badge = face_change(sent, returned)
    assert inside < 4 and far < 4, f"swap off changed the frame (face {inside:.1f}, elsewhere {far:.1f} levels)"
    assert badge > 40, "no synthetic badge with the swap off"
    page.wait_for_function("document.querySelector('#live-fps').textContent.includes('swap off')")
    page.click("#live-swap")
    next_frame(page, swap="on")


def post_raw(server: Server, path: str, body: bytes, content_type: str) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    connection.request("POST", path, body=body, headers={"Content-Type": content_type})
    response = connection.getresponse()
    return response.status, response.read().decode("utf-8", "replace")


def test_one_session_at_a_time_and_bad_requests_are_one_line(env):
    server = env["server"]
    start = {"sources": ["media/obama.jpg"], "width": 512, "height": 512}
    cases = [
        (start, "a live session is already running"),
        ({"sources": ["../../etc/passwd"], "width": 512, "height": 512}, "points outside"),
        ({"sources": ["media/May_5s.mp4"], "width": 512, "height": 512}, "give photos"),
        ({"sources": ["media/obama.jpg"], "options": {"camera": "0"}, "width": 512, "height": 512},
         "--camera is not an option of the Live tab"),
        ({"sources": ["media/obama.jpg"], "options": {"erode": 0.9}, "width": 512, "height": 512}, "--erode"),
        ({"width": 512, "height": 512}, "choose source photos"),
    ]
    for body, message in cases:
        status, text = server.get("/api/live/start", "POST", body)
        error = json.loads(text)["error"]
        assert status in (400, 403) and error.startswith("kaokae: error: ") and "\n" not in error, (body, text)
        assert message in error, (body, error)
    session = env["page"].evaluate("LIVE.session")
    photo = env["obama"].read_bytes()
    png = cv2.imencode(".png", np.zeros((64, 64, 3), np.uint8))[1].tobytes()
    for path, data, kind, code, message in [
        (f"/api/live/frame?session={session}", png, "image/jpeg", 400, "must be a JPEG"),
        (f"/api/live/frame?session={session}", photo, "text/plain", 415, "as image/jpeg"),
        (f"/api/live/frame?session={session}", b"\xff\xd8\xff" + bytes(live.MAX_FRAME_BYTES), "image/jpeg",
         413, "larger than"),
        ("/api/live/frame?session=0123", photo, "image/jpeg", 400, "has ended"),
        ("/api/live/command", b'{"command": "swap"}', "text/plain", 415, "application/json"),
    ]:
        status, text = post_raw(server, path, data, kind)
        assert status == code and message in json.loads(text)["error"], (path, kind, text)


def test_stop_ends_the_session(env):
    page, server = env["page"], env["server"]
    session = page.evaluate("LIVE.session")
    page.click("#live-stop")
    page.wait_for_function("document.querySelector('#live-fps').textContent === 'stopped'")
    status, text = post_raw(server, f"/api/live/frame?session={session}", env["obama"].read_bytes(), "image/jpeg")
    assert status == 400 and "has ended" in json.loads(text)["error"]
    # the page starts again, on a learned-free classic swap of one photo
    page.select_option("#live-sources", ["media/biden.jpg"])
    page.click("#live-start")
    sent, returned = next_frame(page)
    assert detect_watermark(returned).found
    page.click("#live-stop")


def test_the_form_is_lives_typed_options_that_apply():
    names = [f["name"] for f in live.form()]
    assert {"erode", "feather", "colour", "blend", "badge", "size", "only", "direction", "runtime"} <= set(names)
    assert not set(names) & live.NOT_HERE


def test_a_trained_model_swaps_the_camera(env):
    """A tiny hd model trained in seconds on the clip's woman (A) and another man (B): it swaps badly, but it swaps."""
    from conftest import train_tiny_hd
    from kaokae.extract import ExtractOptions, extract
    from kaokae.media.tools import copy_first_frames

    page, root = env["page"], env["workspace"]
    copy_first_frames(data_file(CLIP), root / "a.mp4", 40)
    extract([root / "a.mp4"], root / ".faces-a", ExtractOptions(size=64))
    extract([data_file("edtalk/test_data/pose_source2.mp4")], root / ".faces-b", ExtractOptions(size=64, every=25))
    train_tiny_hd(root / ".faces-a", root / ".faces-b", root / "models" / "tiny")
    page.reload()
    page.wait_for_selector("#page-live[data-ready='1']")
    page.select_option("#live-model", "models/tiny")
    page.click("#live-start")
    sent, returned = next_frame(page)
    assert detect_watermark(returned).found
    inside, _, badge = face_change(sent, returned)
    assert inside > 8, f"the face did not change ({inside:.1f} levels)"
    assert badge > 40
    assert "learned swap from model models/tiny" in page.inner_text("#live-label")
    page.click("#live-stop")
