"""`kaokae ui` speed: first paint of the page, and the convert preview's latency on a 720p frame with a trained
`original` model (goal: <= 1 s per preview).

    .venv/bin/python benchmarks/ui.py [--iterations 200] [--repeats 5] [--chromium /usr/lib/chromium/chromium]

Set-up (not timed): two facesets from real clips and an `original` model (64 px, width 1.0) trained for
--iterations by `kaokae train`, in a temporary workspace. Then, with `kaokae ui` started as a user starts it:
- first paint: process start -> address printed, and page navigation -> first contentful paint -> forms built
  (headless Chromium);
- preview latency, as the server measures it (request in, labelled PNG written) and as the page sees it (slider
  moved -> new image loaded): the first preview (model and face finder load), a new frame (decode + faces + swap),
  and a slider change on the same frame (swap + paste only; the faces are kept).
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from kaokae.cli import main as kaokae

DATA = Path(os.environ.get("KAOKAE_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
CLIP_720P = DATA / "hieubkvn123_face_recognition/videos/biden.mp4"  # 1280x720, 30 fps
CLIP_B = DATA / "video_retalking/examples/face/5.mp4"


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def prepare(workspace: Path, iterations: int) -> None:
    (workspace / "media").mkdir(parents=True)
    shutil.copy(CLIP_720P, workspace / "media" / "biden.mp4")
    for clip, name in ((CLIP_720P, "a"), (CLIP_B, "b")):
        assert kaokae([ "extract", str(clip), "-o", str(workspace / "facesets" / name), "--every", "10", "-q"]) == 0
    assert kaokae(["train", str(workspace / "facesets/a"), str(workspace / "facesets/b"), "-m",
                   str(workspace / "models/original"), "--model", "original", "--iterations", str(iterations),
                   "--preview-every", str(iterations), "-q"]) == 0


def start_ui(workspace: Path) -> tuple[subprocess.Popen, str, float]:
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "kaokae", "ui", "--workspace", str(workspace), "--port", "0"],
                               stdout=subprocess.PIPE, text=True)
    url = re.search(r"http://\S+/", process.stdout.readline()).group(0)
    return process, url, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--chromium", default="/usr/lib/chromium/chromium")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="kaokae-ui-bench-") as tmp:
        workspace = Path(tmp)
        prepare(workspace, args.iterations)
        process, url, started = start_ui(workspace)
        try:
            rows = []
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=args.chromium, headless=True, args=[
                    "--no-sandbox", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"])
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                t0 = time.perf_counter()
                page.goto(url)
                page.wait_for_selector("body[data-ready='1']")
                ready = time.perf_counter() - t0
                paint = page.evaluate("performance.getEntriesByName('first-contentful-paint')[0].startTime") / 1000
                rows += [("server start -> address printed", started, None),
                         ("navigation -> first contentful paint", paint, None),
                         ("navigation -> forms built (page usable)", ready, None)]

                # the server's own time, frame by frame
                preview = url + "api/preview/convert"
                body = {"input": "media/biden.mp4", "model": "models/original", "frame": 0, "options": {}}
                cold = post(preview, body)["seconds"]
                frames = [post(preview, {**body, "frame": 20 + 15 * i})["seconds"] for i in range(args.repeats)]
                sliders = [post(preview, {**body, "frame": 20, "options": {"erode": 0.01 * (i + 1)}})["seconds"]
                           for i in range(args.repeats)]
                colours = [post(preview, {**body, "frame": 20, "options": {"colour": c}})["seconds"]
                           for c in ("hist", "mkl", "none", "lab")]
                rows += [("preview, first (loads model + face finder)", cold, None),
                         ("preview, new frame (decode + faces + swap)", statistics.median(frames), max(frames)),
                         ("preview, erode slider (swap + paste)", statistics.median(sliders), max(sliders)),
                         ("preview, colour change", statistics.median(colours), max(colours))]

                # what the page sees: slider moved -> the new image has loaded
                page.click("#tab-convert")
                page.select_option("#convert-file-input", "media/biden.mp4")
                page.select_option("#convert-file-model", "models/original")
                page.wait_for_function("document.querySelector('#convert-preview').dataset.frame === '0'")
                seen = []
                for i in range(args.repeats):
                    src = page.get_attribute("#convert-preview", "src")
                    t = time.perf_counter()
                    page.locator("#convert-opt-feather").fill(f"{0.02 + 0.01 * i:.3f}")
                    page.wait_for_function(f"(() => {{ const i = document.querySelector('#convert-preview');"
                                           f" return i.getAttribute('src') !== '{src}' && i.complete; }})()")
                    seen.append(time.perf_counter() - t)
                rows.append(("in the page: slider -> new image shown", statistics.median(seen), max(seen)))
                browser.close()
        finally:
            process.terminate()
            process.wait()
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"kaokae ui, 720p frame ({CLIP_720P.name}), original model trained {args.iterations} iterations; "
          f"load average {' '.join(load)}\n")
    print("| step | median s | worst s |")
    print("|---|---|---|")
    for name, median, worst in rows:
        print(f"| {name} | {median:.3f} | {'' if worst is None else f'{worst:.3f}'} |")


if __name__ == "__main__":
    main()
