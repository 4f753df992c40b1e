"""Training speed on a busy machine: faces/s of `kaokae train` (the recipe a 10-minute CPU run picks) on a quiet
machine and beside one competing core-bound process, for each thread count and OpenMP wait policy. Goal: busy >=
0.4x quiet (the competitor takes one of the cores: 0.5x is a fair share).

Each cell trains for --seconds in a fresh subprocess and reads the faces/s history lines after the first 10 s;
the competitor is a pure-Python busy loop started just before and killed just after. Run it on an otherwise idle
machine (under the project's CPU lock), since everything else running counts as competition too.

Usage: .venv/bin/python benchmarks/train_busy.py [--seconds S] [--threads 1,2]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from kaokae.extract import ExtractOptions, extract
from kaokae.progress import set_quiet

DATA = Path(os.environ.get("KAOKAE_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
A_CLIP, B_CLIP = "styletalk/samples/source_video/video/Obama_clip1.mp4", "edtalk/test_data/pose_source2.mp4"
POLICIES = ("", "PASSIVE")  # "": the OpenMP runtime's default (threads spin a while before sleeping)


def faces_per_s(facesets: tuple[Path, Path], model_dir: Path, seconds: float, threads: int, policy: str,
                busy: bool) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    env.pop("OMP_WAIT_POLICY", None)
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    competitor = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        subprocess.run([sys.executable, "-m", "kaokae", "train", *map(str, facesets), "-m", str(model_dir),
                        "--minutes", str(seconds / 60), "-q"], env=env, check=True)
    finally:
        if competitor is not None:
            competitor.kill()
            competitor.wait()
    history = [json.loads(line) for line in (model_dir / "history.jsonl").read_text().splitlines()]
    speeds = [r["faces_per_s"] for r in history if "faces_per_s" in r and r["elapsed_s"] >= 10]
    return sum(speeds) / max(len(speeds), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30, help="training time per cell (default 30)")
    parser.add_argument("--threads", default="1,2", help="thread counts to try (default 1,2)")
    args = parser.parse_args()
    set_quiet(True)
    with tempfile.TemporaryDirectory(prefix="kaokae-busy-") as tmp:
        work = Path(tmp)
        facesets = (work / "a", work / "b")
        extract([DATA / A_CLIP], facesets[0], ExtractOptions(every=10, max_faces=1))
        extract([DATA / B_CLIP], facesets[1], ExtractOptions(every=10, max_faces=1))
        print(f"load average before: {Path('/proc/loadavg').read_text().split()[0]}")
        print("\n| threads | OMP_WAIT_POLICY | quiet faces/s | busy faces/s | busy / quiet |\n|---:|---|---:|---:|---:|")
        for threads in [int(t) for t in args.threads.split(",")]:
            for policy in POLICIES:
                speeds = [faces_per_s(facesets, work / f"m{threads}{policy}{busy}", args.seconds, threads, policy,
                                      busy) for busy in (False, True)]
                print(f"| {threads} | {policy or 'default'} | {speeds[0]:.0f} | {speeds[1]:.0f} | "
                      f"{speeds[1] / speeds[0]:.2f} |", flush=True)
        print(f"\nload average after: {Path('/proc/loadavg').read_text().split()[0]}")


if __name__ == "__main__":
    main()
