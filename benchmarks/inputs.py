"""The real media the swap and live benchmarks measure on, and the two arguments both take (the clip, the source
photo). Run a benchmark as `python benchmarks/NAME.py`: its folder is then on the import path."""

import argparse
import os
import sys
from pathlib import Path

DATA = Path(os.environ.get("KAOKAE_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
CLIP = DATA / "hieubkvn123_face_recognition/videos/biden.mp4"  # 1280x720, 30 fps, 7 s, AAC
SOURCE = DATA / "face_recognition/examples/knn_examples/train/obama/obama.jpg"


def add_clip_and_source(parser: argparse.ArgumentParser, clip_help: str, source_help: str) -> None:
    parser.add_argument("video", nargs="?", default=str(CLIP), help=f"{clip_help} (default: the 720p Biden clip)")
    parser.add_argument("--source", default=str(SOURCE), help=f"{source_help} (default: an Obama portrait)")


def require(*paths: Path) -> None:
    """Exit 2 with one line naming the first of `paths` that is missing."""
    for path in paths:
        if not path.exists():
            print(f"missing {path} (set KAOKAE_DATA to the shared data folder)", file=sys.stderr)
            raise SystemExit(2)


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, printed beside every figure (other work on the machine slows it)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3]) if os.path.exists("/proc/loadavg") else "unknown"
