"""Media speed on a 720p clip, every row measured in one run, with ratios to decode-only and to real time.

Rows:
  demux + decode          PyAV decoding to YUV on threads, no RGB (the floor for anything that reads video)
  decode -> RGB           kaokae.media.open_media: upright RGB frames, what every stage gets
  decode -> H.264 medium  open_media -> VideoWriter at the defaults (CRF 18, preset medium), audio copied
  decode -> H.264 veryfast  the same with preset veryfast
  decode -> PNG stills    `kaokae frames`: ImageFolderWriter, PNG on a few threads
  decode -> JPEG stills   `kaokae frames --format jpg`

Usage: .venv/bin/python benchmarks/media.py [VIDEO] [--repeat N]
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import av

from kaokae.media import ImageFolderWriter, VideoWriter, open_media, probe
from kaokae.progress import set_quiet

DATA = Path(os.environ.get("KAOKAE_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
CLIP = DATA / "hieubkvn123_face_recognition/videos/biden.mp4"


def decode_yuv(path: Path, tmp: Path) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for _ in container.decode(stream))


def decode_rgb(path: Path, tmp: Path) -> int:
    with open_media(path) as reader:
        return sum(1 for _ in reader)


def encode(preset: str):
    def run(path: Path, tmp: Path) -> int:
        info = probe(path)
        with open_media(path) as reader, VideoWriter(tmp / "out.mp4", info.fps, audio_from=path, preset=preset,
                                                     time_base=info.time_base) as writer:
            for frame in reader:
                writer.write(frame.image, time=frame.time)
        return writer.frames_written
    return run


def stills(fmt: str):
    def run(path: Path, tmp: Path) -> int:
        with open_media(path) as reader, ImageFolderWriter(tmp / f"stills-{fmt}", fmt) as folder:
            for frame in reader:
                folder.write(frame.image)
        return folder.count
    return run


ROWS = [
    ("demux + decode (YUV)", decode_yuv),
    ("decode -> RGB", decode_rgb),
    ("decode -> H.264 medium", encode("medium")),
    ("decode -> H.264 veryfast", encode("veryfast")),
    ("decode -> PNG stills", stills("png")),
    ("decode -> JPEG stills", stills("jpg")),
]


def best_of(repeat: int, fn, path: Path) -> tuple[int, float]:
    """(frames, seconds) of the fastest of `repeat` runs: the least disturbed by other work on the machine."""
    best = None
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            frames = fn(path, Path(tmp))
            seconds = time.perf_counter() - start
        best = (frames, seconds) if best is None or seconds < best[1] else best
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video", nargs="?", default=str(CLIP), help="clip to measure (default: the 720p Biden clip)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per row, the fastest counts (default 1)")
    args = parser.parse_args()
    path = Path(args.video)
    if not path.exists():
        print(f"missing {path} (set KAOKAE_DATA to the shared data folder)", file=sys.stderr)
        return 2
    set_quiet(True)
    info = probe(path)
    realtime = float(info.fps)
    print(f"{path.name}: {info.width}x{info.height} @ {float(info.fps):g} fps, {info.frame_count} frames, "
          f"{os.cpu_count()} CPU cores, PyAV {av.__version__} (FFmpeg {av.ffmpeg_version_info})\n")
    print(f"| {'step':<26} | {'fps':>7} | {'ms/frame':>8} | {'x real time':>11} | {'x decode':>8} |")
    print(f"|{'-' * 28}|{'-' * 9}|{'-' * 10}|{'-' * 13}|{'-' * 10}|")
    base = None
    for name, fn in ROWS:
        frames, seconds = best_of(args.repeat, fn, path)
        fps = frames / seconds
        base = base or fps
        print(f"| {name:<26} | {fps:7.1f} | {1000 / fps:8.2f} | {fps / realtime:11.2f} | {fps / base:8.2f} |",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
