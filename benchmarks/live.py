"""`kaokae live` speed: a real 720p clip replayed as a camera at its own 30 fps, every row measured in one run.

Rows (frames go to the `none` output, i.e. to where a window or virtual camera would take them, unless noted):
  capture only                 the replayed camera -> output, no swap, no label: the reference
  classic swap                 `kaokae live --source PHOTO` (poisson / lab, badge, watermark)
  classic swap -> recording    the same, recorded to an .mp4 (H.264 veryfast in the output thread)
  learned original             `kaokae live -m MODEL` with a small trained `original` model (64 px, width 0.25 as
                               the demo trains it), trained here for --train-minutes on the clip's faces (A) and
                               another man's (B); or -m MODEL

Columns: delivered fps, the share of captured frames dropped because the swap (or output) was busy, and
capture-to-output latency (median, p95). Goals on 2 CPU cores: classic >= 25 fps, learned >= 15 fps, p95 <= 100 ms.
Usage: .venv/bin/python benchmarks/live.py [VIDEO] [--source PHOTO] [-m MODEL] [--train-minutes M]

--browser instead measures the web UI's Live tab: `kaokae ui` started as a user starts it, headless Chromium whose
camera is the clip (a .y4m on Chromium's fake capture device, at the clip's size and at each --browser-size), the
classic swap from --source; for --seconds the page's round trips (frame taken from the camera -> JPEG posted ->
swapped, labelled JPEG shown), one in flight at a time: frames shown per second and the latency of each.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from inputs import DATA, add_clip_and_source, load_average, require
from kaokae.live import ClassicEngine, LearnedEngine, LivePipeline, LiveSession, open_camera
from kaokae.live.outputs import FileOutput, NullOutput
from kaokae.progress import set_quiet
from kaokae.provenance import Labeller

OTHER = DATA / "dfl_wef_pair/workspace/data_dst.mp4"  # the learned model's B: another man, 640x360
GOALS = {"classic swap": 25.0, "learned original": 15.0}
GOAL_P95_MS = 100.0


class PassThrough:
    """No swap: what the camera and the threads cost alone."""

    model_id = None

    def swap(self, frame):
        return frame.image

    def next_source(self):
        return None

    def close(self):
        pass


def measure(clip: Path, engine, output_for=None, label: bool = True):
    camera = open_camera(clip, realtime=True)
    labeller = Labeller("kaokae live", engine.model_id, watermark=label)
    session = LiveSession(engine, labeller, badge=label)
    output = output_for(camera, labeller) if output_for else NullOutput()
    try:
        with output:
            report = LivePipeline(camera, session, output).run()
    finally:
        session.close()
        camera.close()
    return report


def train_model(clip: Path, root: Path, minutes: float, width: float) -> Path:
    from kaokae.extract import ExtractOptions, extract
    from kaokae.train import Run, train

    print(f"training `original` (width {width:g}) for {minutes:g} min on {clip.name} (A) and {OTHER.name} (B)...", file=sys.stderr)
    extract([clip], root / "a.faceset", ExtractOptions(size=128))
    extract([OTHER], root / "b.faceset", ExtractOptions(size=128, every=4))
    train(Run(root / "a.faceset", root / "b.faceset", root / "model", architecture="original", width=width,
              minutes=minutes, preview_every=10**9))
    return root / "model"


def browser_rows(clip: Path, source: Path, sizes: list[str], seconds: float, chromium: str) -> None:
    import re
    import statistics
    import subprocess

    from playwright.sync_api import sync_playwright

    from kaokae.media.tools import write_y4m
    from kaokae.ui.workspace import Workspace, copy_in

    with tempfile.TemporaryDirectory(prefix="kaokae-live-browser-") as tmp:
        tmp = Path(tmp)
        camera = tmp / "camera.y4m"
        write_y4m(clip, camera, 90)  # 3 s, looped by Chromium
        copy_in(Workspace(tmp / "workspace"), source)
        process = subprocess.Popen([sys.executable, "-m", "kaokae", "ui", "--workspace", str(tmp / "workspace"),
                                    "--port", "0"], stdout=subprocess.PIPE, text=True)
        url = re.search(r"http://\S+/", process.stdout.readline()).group(0)
        print(f"| {'camera -> frame sent':<22} | {'fps':>5} | {'latency median ms':>17} | {'latency p95 ms':>14} "
              f"| {'server ms (median)':>18} |")
        print(f"|{'-' * 24}|{'-' * 7}|{'-' * 19}|{'-' * 16}|{'-' * 20}|")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, headless=True, args=[
                    "--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                    f"--use-file-for-fake-video-capture={camera}"])
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(url + "#live")
                page.wait_for_selector("#page-live[data-ready='1']")
                page.select_option("#live-sources", f"media/{source.name}")
                # every round trip: the page's own clock, the server's swap time from its header
                page.evaluate("""() => { window.BENCH = []; const shown = liveShown;
                    liveShown = (now, latency, headers) => { BENCH.push([now, latency,
                        Number(headers.get('X-Kaokae-Swap-Ms'))]); shown(now, latency, headers); }; }""")
                for size in ["", *sizes]:
                    page.fill("#live-opt-size", size)
                    page.click("#live-start")
                    page.wait_for_function("BENCH.length >= 10", timeout=120_000)  # warmed up
                    page.evaluate("BENCH = []")
                    time.sleep(seconds)
                    rows = page.evaluate("BENCH")
                    page.click("#live-stop")
                    page.wait_for_function("document.querySelector('#live-fps').textContent === 'stopped'")
                    page.evaluate("BENCH = []")
                    fps = (len(rows) - 1) / ((rows[-1][0] - rows[0][0]) / 1000)
                    latencies = sorted(r[1] for r in rows)
                    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
                    sent = page.inner_text("#live-label").split(",")[0]
                    print(f"| {sent:<22} | {fps:5.1f} | {statistics.median(latencies):17.0f} | {p95:14.0f} "
                          f"| {statistics.median(r[2] for r in rows):18.0f} |", flush=True)
                    time.sleep(1)  # the stop request reaches the server before the next start
                browser.close()
        finally:
            process.terminate()
            process.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_clip_and_source(parser, "clip replayed as the camera", "source photo of the classic swap")
    parser.add_argument("-m", "--model", type=Path, help="a trained model to measure instead of training one")
    parser.add_argument("--train-minutes", type=float, default=2.0, help="training time of the model (default 2)")
    parser.add_argument("--width", type=float, default=0.25, help="channel width of the model trained (default 0.25)")
    parser.add_argument("--browser", action="store_true", help="measure the web UI's Live tab in headless Chromium")
    parser.add_argument("--browser-size", action="append", default=[], help="--browser: also ask for this WxH")
    parser.add_argument("--seconds", type=float, default=20.0, help="--browser: seconds measured per row")
    parser.add_argument("--chromium", default="/usr/lib/chromium/chromium")
    args = parser.parse_args()
    clip, source = Path(args.video), Path(args.source)
    if args.browser:
        print(f"{clip.name} as the browser's camera; source {source.name}; {os.cpu_count()} CPU cores; load average "
              f"before: {load_average()}\n")
        browser_rows(clip, source, args.browser_size, args.seconds, args.chromium)
        print(f"\nload average after: {load_average()}")
        return 0
    require(clip, source, OTHER)
    set_quiet(True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = args.model or train_model(clip, tmp, args.train_minutes, args.width)
        camera = open_camera(clip)
        fps, size = camera.fps, camera.size
        camera.close()
        print(f"{clip.name}: {size[0]}x{size[1]} replayed at {fps:g} fps; source {source.name}; model {model}; "
              f"{os.cpu_count()} CPU cores; load average before: {load_average()}\n")
        rows = [
            ("capture only", lambda: PassThrough(), None, False),
            ("classic swap", lambda: ClassicEngine([source], fps=fps), None, True),
            ("classic swap -> recording", lambda: ClassicEngine([source], fps=fps),
             lambda camera, labeller: FileOutput(tmp / "recording.mp4", camera.fps, labeller, overwrite=True), True),
            ("learned original", lambda: LearnedEngine(model, fps=fps, size=size), None, True),
        ]
        print(f"| {'row':<26} | {'fps':>5} | {'dropped':>7} | {'latency median ms':>17} | {'latency p95 ms':>14} "
              f"| {'goal':>13} |")
        print(f"|{'-' * 28}|{'-' * 7}|{'-' * 9}|{'-' * 19}|{'-' * 16}|{'-' * 15}|")
        for name, engine, output_for, label in rows:
            report = measure(clip, engine(), output_for, label)
            p50, p95 = 1000 * report.latency(0.5), 1000 * report.latency(0.95)
            goal = GOALS.get(name)
            verdict = "-" if goal is None else (
                f"{'met' if report.fps >= goal and p95 <= GOAL_P95_MS else 'NOT met'} ({goal:g})")
            print(f"| {name:<26} | {report.fps:5.1f} | {report.dropped_share:7.1%} | {p50:17.1f} | {p95:14.1f} "
                  f"| {verdict:>13} |", flush=True)
        print(f"\nload average after: {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
