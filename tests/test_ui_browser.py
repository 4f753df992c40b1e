"""`kaokae ui` in a real headless Chromium (Debian's `chromium`, driven by Playwright's Python package with that
binary; no browser download). One workspace for the whole module, in order: upload, extract two real clips, sort,
filter and restore faces, train a tiny model, scrub and tune the convert preview, render and play the result, cancel,
the people of a video mapped to models (convert) and photos (classic swap), evaluate, restart the server, and every
file endpoint refusing paths outside the workspace. Screenshots of each page go to KAOKAE_UI_SCREENSHOTS (default: a temporary folder),
printed at the start."""

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import data_file

CHROMIUM = os.environ.get("KAOKAE_CHROMIUM") or next(
    (p for p in ("/usr/lib/chromium/chromium", shutil.which("chromium") or "", shutil.which("chromium-browser") or "")
     if p and Path(p).is_file()), None)
CLIP_A = "video_retalking/examples/face/5.mp4"
CLIP_B = "video_retalking/examples/face/3.mp4"
KNN = "face_recognition/examples/knn_examples/"
GROUP = KNN + "test/obama_and_biden.jpg"  # three people: Biden, Obama and a girl
KIT, ROSE = KNN + "train/kit_harington/john1.jpeg", KNN + "train/rose_leslie/img1.jpg"  # new faces for two of them
IMAGE = re.compile(r"\.(png|jpe?g|webp|bmp|tiff?)$", re.I)
TIMEOUT_MS = 120_000


def _need(ok: bool, message: str) -> None:
    if not ok:
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - the skip says why
    sync_playwright = None


class Server:
    """`python -m kaokae ui` on a free port, in its own process, as a user starts it."""

    def __init__(self, workspace: Path):
        self.workspace = workspace
        self.process = None
        self.url = None

    def start(self) -> None:
        # one intra-op thread for the jobs' tiny models on a shared 2-core machine (see tests/test_train.py)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
        self.process = subprocess.Popen([sys.executable, "-m", "kaokae", "ui", "--workspace", str(self.workspace),
                                         "--port", "0"], stdout=subprocess.PIPE, stderr=sys.stderr, text=True,
                                        env=env)
        line = self.process.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert found, f"kaokae ui printed no address: {line!r}"
        self.url, self.port = found.group(0), int(found.group(1))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(timeout=30)

    def get(self, raw_path: str, method: str = "GET", body: dict | bytes | None = None,
            headers: dict | None = None) -> tuple[int, str]:
        """A request with the path exactly as given (no client-side normalising of '..')."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        payload = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else None
        connection.request(method, raw_path, body=payload, headers=headers or {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    _need(sync_playwright is not None, "playwright (the Python package) is not installed")
    _need(CHROMIUM is not None, "chromium is not installed (apt-get install -y chromium)")
    clip_a, clip_b = data_file(CLIP_A), data_file(CLIP_B)
    workspace = tmp_path_factory.mktemp("ui-workspace")
    shots = Path(os.environ.get("KAOKAE_UI_SCREENSHOTS") or tmp_path_factory.mktemp("ui-screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {shots}")
    server = Server(workspace)
    server.start()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        yield {"server": server, "page": page, "workspace": workspace, "shots": shots, "clip_a": clip_a,
               "clip_b": clip_b}
        browser.close()
    server.stop()


def _open(env, tab: str | None = None) -> None:
    page = env["page"]
    page.goto(env["server"].url)
    page.wait_for_selector("body[data-ready='1']")
    if tab:
        page.click(f"#tab-{tab}")


def _shot(env, name: str) -> None:
    env["page"].screenshot(path=str(env["shots"] / f"{name}.png"), full_page=True)


def _wait_job(env, kind: str, states=("done",), count: int = 1) -> list[dict]:
    """Wait for `count` jobs of `kind` to end; fail with the job's one-line error when one ends otherwise."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        jobs = [j for j in json.loads(env["server"].get("/api/jobs")[1])["jobs"] if j["kind"] == kind]
        ended = [j for j in jobs if j["state"] not in ("queued", "running")]
        if len(ended) >= count:
            for j in ended:
                assert j["state"] in states, f"{kind} job {j['id']} {j['state']}: {j['error']} {j['log_tail'][-5:]}"
            return ended
        time.sleep(0.3)
    raise AssertionError(f"no {kind} job ended in time")


def _run(env, command: str) -> str:
    """Press the command's run button; the id of the job it made (failing with the page's error line if none)."""
    page, form = env["page"], f".job-form[data-command='{command}']"
    before = page.get_attribute(form, "data-last-job")
    page.click(f"#{command.replace(' ', '-')}-run")
    page.wait_for_function(f"(document.querySelector(\"{form}\").dataset.lastJob || null) !== {json.dumps(before)} "
                           f"|| document.querySelector('#{command.replace(' ', '-')}-error').textContent !== ''")
    assert page.inner_text(f"#{command.replace(' ', '-')}-error") == ""
    return page.get_attribute(form, "data-last-job")


def _short_clip(source: Path, dest: Path, frames: int) -> None:
    """The first `frames` frames of a real clip (convert's test input: a few seconds of work, not a minute)."""
    from kaokae.media import VideoWriter, open_media

    with open_media(source) as reader, VideoWriter(dest, reader.info.fps, preset="ultrafast") as writer:
        for frame in reader:
            if frame.index >= frames:
                break
            writer.write(frame.image)


def test_media_upload_and_info(env):
    page = env["page"]
    _open(env, "media")
    page.set_input_files("#upload", [str(env["clip_a"]), str(env["clip_b"])])
    expect(page.locator("#media-list li", has_text="media/5.mp4")).to_be_visible()
    expect(page.locator("#media-list li", has_text="media/3.mp4")).to_be_visible()
    page.click("#media-list li:has-text('media/5.mp4')")
    expect(page.locator("#media-info")).to_contain_text("frame_count: 122")
    # a file that is no video, named like one, is refused from its content
    fake = env["workspace"].parent / "not-a-video.mp4"
    fake.write_text("#!/bin/sh\necho hello\n")
    page.set_input_files("#upload", str(fake))
    expect(page.locator("#media-error")).to_contain_text("kaokae: error: not-a-video.mp4: not a video or image")
    _shot(env, "1-media")


def test_extract_shows_contact_sheet(env):
    page = env["page"]
    _open(env, "extract")
    form = ".job-form[data-command='extract']"
    for clip, name in (("media/5.mp4", "a"), ("media/3.mp4", "b")):
        page.select_option("#extract-file-inputs", clip)
        page.fill("#extract-file-output", name)
        page.fill("#extract-opt-every", "6")
        _run(env, "extract")
    assert page.get_attribute(form, "data-last-state") == "queued"  # the first extract still runs: one at a time
    expect(page.locator("#jobs tr[data-kind='extract']")).to_have_count(2)
    _wait_job(env, "extract", count=2)
    sheet = page.locator("#extract-sheet")
    expect(sheet).to_have_attribute("src", re.compile(r"contact_sheet\.png"))
    page.wait_for_function("document.querySelector('#extract-sheet').naturalWidth > 0")
    expect(page.locator("#faceset-lines")).to_contain_text("faces")
    _shot(env, "2-extract")
    # an option out of range is the CLI's one line, and no job starts
    page.fill("#extract-opt-every", "0")
    page.click("#extract-run")
    expect(page.locator("#extract-error")).to_have_text("kaokae: error: --every must be 1 or more, not 0")


def test_extract_sort_filter_and_restore(env):
    from kaokae.faceset import FaceSet

    page, faceset = env["page"], env["workspace"] / "facesets/a"
    total = len(FaceSet.open(faceset))
    _open(env, "extract")
    page.select_option("#faceset-pick", "facesets/a")
    page.click("#faceset-show")
    expect(page.locator("#rejected-count")).to_have_text("0")
    page.select_option("#faceset-sort-file-faceset", "facesets/a")
    page.select_option("#faceset-sort-opt-by", "blur")
    _run(env, "faceset sort")
    _wait_job(env, "faceset sort")
    blur = FaceSet.open(faceset).blur
    assert list(blur) == sorted(blur, reverse=True)
    # every face blurrier than the sharpest third: they land in the gallery of rejected faces
    cut = float(blur[len(blur) // 3])
    page.select_option("#faceset-filter-file-faceset", "facesets/a")
    page.fill("#faceset-filter-opt-blur_below", str(cut))
    _run(env, "faceset filter")
    _wait_job(env, "faceset filter")
    rejected = int((blur < cut).sum())
    assert rejected >= 3
    expect(page.locator("#rejected-count")).to_have_text(str(rejected))
    expect(page.locator("#extract-rejected input[type=checkbox]")).to_have_count(rejected)
    boxes = page.locator("#extract-rejected input[type=checkbox]")
    chosen = [boxes.nth(0).get_attribute("value"), boxes.nth(1).get_attribute("value")]
    boxes.nth(0).check()
    boxes.nth(1).check()
    _shot(env, "2b-extract-rejected")
    page.click("#restore-chosen")
    expect(page.locator("#restore-status")).to_have_text(f"restored 2 faces: {total - rejected + 2} faces, "
                                                         f"{rejected - 2} rejected")
    expect(page.locator("#rejected-count")).to_have_text(str(rejected - 2))
    fs = FaceSet.open(faceset)
    assert len(fs) == total - rejected + 2 and {e.file for e in fs.entries[-2:]} == {f"faces/{n}" for n in chosen}
    assert sorted(p.name for p in (faceset / "faces").iterdir()) == sorted(e.file[6:] for e in fs.entries)
    page.click("#restore-all")
    expect(page.locator("#rejected-count")).to_have_text("0")
    assert len(FaceSet.open(faceset)) == total and not list((faceset / "rejected").iterdir())


def _image_bytes(env, selector: str) -> bytes:
    src = env["page"].get_attribute(selector, "src")
    return env["page"].request.get(env["server"].url.rstrip("/") + src).body()


def test_train_preview_refreshes(env):
    page = env["page"]
    _open(env, "train")
    page.select_option("#train-file-faceset_a", "facesets/a")
    page.select_option("#train-file-faceset_b", "facesets/b")
    page.fill("#train-file-model_dir", "tiny")
    page.fill("#train-opt-width", "0.125")
    page.fill("#train-opt-batch_size", "4")
    page.fill("#train-opt-iterations", "400")
    page.fill("#train-opt-preview_every", "10")
    page.fill("#train-opt-save_every", "10")
    _run(env, "train")
    page.wait_for_function("document.querySelector('#train-preview').dataset.mtime")
    first_mtime = page.get_attribute("#train-preview", "data-mtime")
    first = _image_bytes(env, "#train-preview")
    page.wait_for_function(f"document.querySelector('#train-preview').dataset.mtime !== '{first_mtime}'")
    second = _image_bytes(env, "#train-preview")
    assert first != second, "the preview image did not change between two refreshes"
    expect(page.locator("#model-stats")).to_contain_text("iteration")
    _shot(env, "3-train")
    page.click("#train-stop")  # the CLI's Ctrl-C: saves a checkpoint and stops
    _wait_job(env, "train", states=("cancelled",))
    assert (env["workspace"] / "models/tiny/latest").is_file()


def test_convert_preview_follows_frame_and_slider(env):
    page = env["page"]
    _short_clip(env["workspace"] / "media/5.mp4", env["workspace"] / "media/short.mp4", 12)
    _open(env, "convert")
    page.select_option("#convert-file-input", "media/short.mp4")
    page.select_option("#convert-file-model", "models/tiny")
    page.wait_for_function("document.querySelector('#convert-preview').dataset.frame === '0'")
    page.locator("#convert-frame").fill("9")
    page.wait_for_function("document.querySelector('#convert-preview').dataset.frame === '9'")
    before = _image_bytes(env, "#convert-preview")
    src = page.get_attribute("#convert-preview", "src")
    page.locator("#convert-opt-erode").fill("0.2")
    page.wait_for_function(f"document.querySelector('#convert-preview').getAttribute('src') !== '{src}'")
    # a preview still in flight when the slider moved may land first; the page then asks again with the new value
    deadline, after = time.monotonic() + 20, _image_bytes(env, "#convert-preview")
    while after == before and time.monotonic() < deadline:
        time.sleep(0.25)
        after = _image_bytes(env, "#convert-preview")
    assert before != after, "moving the erode slider did not change the preview"
    assert float(page.get_attribute("#convert-preview", "data-seconds")) < 10
    _shot(env, "4-convert-preview")
    # a learned mask on a model without one: the CLI's one-line refusal, in the page
    page.select_option("#convert-opt-mask", "learned")
    expect(page.locator("#convert-preview-error")).to_contain_text("kaokae: error: --mask learned needs a learned mask")
    page.select_option("#convert-opt-mask", "")


def test_convert_render_is_labelled(env):
    page = env["page"]
    page.locator("#convert-opt-erode").fill("0")
    page.fill("#convert-file-output", "short_swapped.mp4")
    _run(env, "convert")
    _wait_job(env, "convert")
    video = page.locator("#convert-video")
    expect(video).to_have_attribute("data-output", "outputs/short_swapped.mp4")
    expect(page.locator("#convert-result")).to_be_hidden()  # the image result is for an image rendered
    output = env["workspace"] / "outputs/short_swapped.mp4"
    verified = subprocess.run([sys.executable, "-m", "kaokae", "verify", str(output)], capture_output=True, text=True)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # the H.264 MP4 plays in the page: decoded (readyState >= 2, HAVE_CURRENT_DATA) and its clock runs
    played = page.evaluate("""async () => {
        const v = document.querySelector('#convert-video');
        v.muted = true;
        if (v.readyState < 2) await new Promise((resolve, reject) => {
            v.addEventListener('loadeddata', resolve, {once: true});
            v.addEventListener('error', () => reject(new Error('media error ' + v.error.code)), {once: true});
            setTimeout(() => reject(new Error('not loaded, readyState ' + v.readyState)), 30000);
        });
        const ready = v.readyState, before = v.currentTime;
        await v.play();
        await new Promise(resolve => setTimeout(resolve, 300));
        return {ready, before, after: v.currentTime, ended: v.ended, duration: v.duration};
    }""")
    assert played["ready"] >= 2 and (played["after"] > played["before"] or played["ended"]), played
    _shot(env, "5-convert-rendered")
    page.click("#tab-verify")
    page.select_option("#verify-pick", "outputs/short_swapped.mp4")
    page.click("#verify-run")
    expect(page.locator("#verify-report")).to_contain_text("watermark")
    _shot(env, "6-verify")


def test_cancel_leaves_no_partial_output(env):
    page = env["page"]
    _open(env, "convert")
    page.select_option("#convert-file-input", "media/5.mp4")
    page.select_option("#convert-file-model", "models/tiny")
    page.fill("#convert-file-output", "cancelled.mp4")
    page.fill("#convert-opt-batch_size", "1")
    _run(env, "convert")
    row = page.locator("#jobs tr[data-kind='convert'][data-state='running']")
    expect(row.locator("td").nth(3)).to_contain_text("convert:", timeout=TIMEOUT_MS)  # frames are being written
    row.locator("button.cancel").click()
    _wait_job(env, "convert", states=("done", "cancelled"), count=2)
    expect(page.locator("#jobs tr[data-kind='convert']").first).to_have_attribute("data-state", "cancelled")
    outputs = sorted(p.name for p in (env["workspace"] / "outputs").iterdir())
    assert outputs == ["short_swapped.mp4"], f"a cancelled convert left {outputs}"
    _shot(env, "7-jobs-cancelled")


def _job(env, job_id: str) -> dict:
    return next(j for j in json.loads(env["server"].get("/api/jobs")[1])["jobs"] if j["id"] == int(job_id))


def test_convert_people_are_mapped_to_models(env):
    page = env["page"]
    _open(env, "convert")
    page.select_option("#convert-file-input", "media/short.mp4")
    page.select_option("#convert-file-model", "models/tiny")
    expect(page.locator("#convert-people-find")).to_be_visible()  # nobody searched this video yet
    page.click("#convert-people-find")
    _wait_job(env, "people")
    expect(page.locator("#convert-people-list figure")).to_have_count(1)  # one woman speaks in this clip
    expect(page.locator("#convert-people-status")).to_have_text("1 found")
    page.select_option("#convert-map-person_01", "models/tiny")
    page.wait_for_function("(document.querySelector('#convert-preview').dataset.map || '')"
                           ".includes('people/media_short_mp4/person_01.png=models/tiny')")
    _shot(env, "10-convert-people")
    page.fill("#convert-file-output", "short_mapped.mp4")
    job = _job(env, _run(env, "convert"))
    assert job["argv"][job["argv"].index("--map") + 1] == "people/media_short_mp4/person_01.png=models/tiny"
    assert "-m" not in job["argv"]  # the map replaces the one model for everyone
    _wait_job(env, "convert", states=("done", "cancelled"), count=3)
    job = _job(env, job["id"])
    assert job["state"] == "done" and re.search(r"person_01\.png -> tiny: [1-9]", "\n".join(job["log_tail"])), job
    verified = subprocess.run([sys.executable, "-m", "kaokae", "verify", str(env["workspace"] / "outputs/short_mapped.mp4")],
                              capture_output=True, text=True)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_swap_offers_photos_maps_people_and_renders(env):
    page = env["page"]
    _open(env, "media")
    page.set_input_files("#upload", [str(data_file(p)) for p in (GROUP, KIT, ROSE)])
    expect(page.locator("#media-list li", has_text="media/img1.jpg")).to_be_visible()
    page.click("#tab-swap")
    sources = page.eval_on_selector_all("#swap-file-source option", "options => options.map(o => o.value)")
    assert sources and all(IMAGE.search(s) for s in sources), sources  # photos only, no video
    assert "media/obama_and_biden.jpg" in sources and "media/5.mp4" not in sources
    page.select_option("#swap-file-target", "media/obama_and_biden.jpg")
    page.select_option("#swap-file-source", "media/john1.jpeg")
    page.wait_for_function("document.querySelector('#swap-preview').dataset.frame === '0' && "
                           "document.querySelector('#swap-preview').naturalWidth > 0")
    assert page.inner_text("#swap-preview-error") == ""
    _shot(env, "11-swap-preview")
    # the people of the photo, and a photo each for two of them: the third keeps their face
    page.click("#swap-people-find")
    _wait_job(env, "people", count=2)
    expect(page.locator("#swap-people-list figure")).to_have_count(3)
    page.select_option("#swap-map-person_01", "media/john1.jpeg")
    page.select_option("#swap-map-person_02", "media/img1.jpg")
    page.wait_for_function("(document.querySelector('#swap-preview').dataset.map || '').split(' ').length === 2")
    _shot(env, "12-swap-people")
    page.fill("#swap-file-output", "group_mapped.png")
    job = _job(env, _run(env, "swap"))
    assert job["argv"].count("--map") == 2 and "--source" not in job["argv"]
    ended = _wait_job(env, "swap")
    summary = "\n".join(ended[0]["log_tail"])
    assert "person_01.png -> john1.jpeg: 1" in summary and "person_02.png -> img1.jpg: 1" in summary, summary
    assert "1 matched nobody" in summary, summary
    expect(page.locator("#swap-result")).to_have_attribute("data-output", "outputs/group_mapped.png")
    page.wait_for_function("document.querySelector('#swap-result').naturalWidth > 0")
    verified = subprocess.run([sys.executable, "-m", "kaokae", "verify", str(env["workspace"] / "outputs/group_mapped.png")],
                              capture_output=True, text=True)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    _shot(env, "13-swap-rendered")


def test_evaluate_shows_its_table_and_figure(env):
    page = env["page"]
    _open(env, "evaluate")
    page.select_option("#evaluate-file-model", "models/tiny")
    page.select_option("#evaluate-file-source", "media/short.mp4")
    page.select_option("#evaluate-file-target", "facesets/b")
    page.fill("#evaluate-opt-frames", "4")
    page.uncheck("#evaluate-opt-reference_row")
    _run(env, "evaluate")
    _wait_job(env, "evaluate")
    expect(page.locator("#evaluate-table")).to_contain_text("| ")  # the Markdown table the CLI prints
    page.wait_for_function("document.querySelector('#evaluate-figure').naturalWidth > 0")
    assert not page.locator("#evaluate-figure").is_hidden()
    _shot(env, "14-evaluate")


def test_restart_keeps_the_job_list(env):
    server, page = env["server"], env["page"]
    before = [(j["id"], j["kind"], j["state"]) for j in json.loads(server.get("/api/jobs")[1])["jobs"]]
    server.stop()
    server.start()
    after = [(j["id"], j["kind"], j["state"]) for j in json.loads(server.get("/api/jobs")[1])["jobs"]]
    assert after == before
    _open(env, "jobs")
    expect(page.locator("#jobs tbody tr")).to_have_count(len(before))
    _shot(env, "8-jobs-after-restart")
    for tab in ("swap", "evaluate"):
        page.click(f"#tab-{tab}")
        _shot(env, f"9-{tab}")


def test_restart_finds_a_running_job_again(env):
    server = env["server"]
    status, text = server.get("/api/jobs", "POST", {"command": "train", "files": {
        "faceset_a": "facesets/a", "faceset_b": "facesets/b", "model_dir": "tiny"}, "options": {"minutes": 5}})
    assert status == 200, text
    job_id = json.loads(text)["id"]

    def job() -> dict:
        return next(j for j in json.loads(server.get("/api/jobs")[1])["jobs"] if j["id"] == job_id)

    deadline = time.monotonic() + 60
    while not job()["progress"] and time.monotonic() < deadline:  # training steps are being made
        time.sleep(0.3)
    running = job()
    assert running["state"] == "running" and running["progress"], running
    server.stop()  # the job lives on in its own session
    server.start()
    again = job()
    assert again["state"] == "running" and again["pid"] == running["pid"]
    status, text = server.get(f"/api/jobs/{job_id}/cancel", "POST", {})
    assert status == 200, text
    deadline = time.monotonic() + 60
    while job()["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.3)
    assert job()["state"] == "cancelled", job()


BAD = ("../../etc/passwd", "/etc/passwd", "media/../../../etc/passwd")


def test_every_file_endpoint_refuses_paths_outside(env):
    server, workspace = env["server"], env["workspace"]
    (workspace / "media" / "link").symlink_to("/etc")
    quoted = [b.replace("/", "%2F").replace(".", "%2E") for b in BAD]
    for route, raw in [*((r, b) for r in ("/file/", "/static/") for b in [*BAD, *quoted]), ("/file/", "media/link/passwd")]:
        status, text = server.get(route + raw)
        assert status == 403 and "root:" not in text, (route, raw, status, text)
    for bad in [*BAD, "media/link/passwd"]:
        q = bad.replace("/", "%2F")
        for route in ("/api/info?path=", "/api/faceset?path=", "/api/model?path=", "/api/people?input="):
            status, text = server.get(route + q)
            assert status == 403, (route, bad, status, text)
        requests = [
            ("/api/verify", {"path": bad}),
            ("/api/preview/convert", {"input": bad, "model": "models/tiny"}),
            ("/api/preview/convert", {"input": "media/short.mp4", "model": bad}),
            ("/api/preview/swap", {"source": [bad], "target": "media/short.mp4"}),
            ("/api/preview/swap", {"source": ["media/short.mp4"], "target": bad}),
            ("/api/jobs", {"command": "extract", "files": {"inputs": [bad], "output": "x"}}),
            ("/api/jobs", {"command": "convert", "files": {"input": "media/short.mp4", "model": "models/tiny",
                                                           "output": "x.mp4"}, "options": {"alignments": bad}}),
            ("/api/jobs", {"command": "train", "files": {"faceset_a": "facesets/a", "faceset_b": "facesets/b",
                                                         "model_dir": bad}}),
            ("/api/faceset/restore", {"path": bad, "all": True}),
            # a --map's references and targets are workspace names too, in the preview and in a job
            ("/api/preview/swap", {"source": [], "target": "media/short.mp4",
                                   "options": {"map": [f"{bad}=media/john1.jpeg"]}}),
            ("/api/preview/convert", {"input": "media/short.mp4", "options": {"map": [f"media/img1.jpg={bad}"]}}),
            ("/api/jobs", {"command": "swap", "files": {"target": "media/short.mp4", "output": "x.mp4"},
                           "options": {"map": [f"media/img1.jpg={bad}"]}}),
            ("/api/jobs", {"command": "people", "files": {"input": bad, "output": "x"}}),
            # so are convert's --detail-from photos
            ("/api/preview/convert", {"input": "media/short.mp4", "model": "models/tiny",
                                      "options": {"detail_from": [bad]}}),
            ("/api/jobs", {"command": "convert", "files": {"input": "media/short.mp4", "model": "models/tiny",
                                                           "output": "x.mp4"}, "options": {"detail_from": [bad]}}),
        ]
        for route, body in requests:
            status, text = server.get(route, "POST", body)
            assert status == 403, (route, body, status, text)
            assert json.loads(text)["error"].startswith("kaokae: error: "), text
    # what a page of another site could send without asking first (not JSON), and a body that is no JSON object
    jobs = len(json.loads(server.get("/api/jobs")[1])["jobs"])
    extract = json.dumps({"command": "extract", "files": {"inputs": ["media/5.mp4"], "output": "csrf"}}).encode()
    for route in ("/api/jobs", "/api/preview/convert", "/api/verify", "/api/faceset/restore", "/api/jobs/1/cancel"):
        for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
            status, text = server.get(route, "POST", extract, {"Content-Type": content_type})
            assert status == 415 and json.loads(text)["error"].startswith("kaokae: error: "), (route, status, text)
        for payload in (b"{not json", b"[1, 2]", b"\xff\xfe"):
            status, text = server.get(route, "POST", payload)
            assert status == 400 and json.loads(text)["error"].startswith("kaokae: error: "), (route, status, text)
    assert len(json.loads(server.get("/api/jobs")[1])["jobs"]) == jobs  # no job was made, none cancelled
    # an upload declaring more than the limit is refused before its body is read; nothing is written
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    connection.putrequest("POST", "/api/upload?name=huge.mp4")
    connection.putheader("Content-Length", str(3 * 1024**3))
    connection.endheaders()
    connection.send(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 4096)
    response = connection.getresponse()
    assert response.status == 413 and b"upload limit" in response.read()
    assert not (workspace / "media/huge.mp4").exists() and not list((workspace / ".kaokae-ui/uploads").iterdir())
    # through the browser's own request stack (which folds %2E%2E away before sending: the router has no /etc)
    page = env["page"]
    response = page.request.get(server.url + "file/%2E%2E/%2E%2E/etc/passwd")
    assert response.status in (403, 404) and "root:" not in response.text()
