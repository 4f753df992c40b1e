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
"""

import argparse
import os
import sys
import tempfile
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_clip_and_source(parser, "clip replayed as the camera", "source photo of the classic swap")
    parser.add_argument("-m", "--model", type=Path, help="a trained model to measure instead of training one")
    parser.add_argument("--train-minutes", type=float, default=2.0, help="training time of the model (default 2)")
    parser.add_argument("--width", type=float, default=0.25, help="channel width of the model trained (default 0.25)")
    args = parser.parse_args()
    clip, source = Path(args.video), Path(args.source)
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
