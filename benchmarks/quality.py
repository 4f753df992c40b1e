"""Swap quality: the learned swap against the classic swap and the untouched source, on frames of A the model never
trained on, measured by kaokae.evaluate (dlib's models, independent of the mediapipe models that made both swaps).

Training pair 2 of ../shared/data: A = Obama (styletalk Obama_clip1 + Obama_clip2, 256x256, 50 s),
B = edtalk pose_source2 (an unnamed man, 256x256, 60 s).
  1. extract A and B (every 2nd frame, one face each) into facesets
  2. train a model for a fixed time (BUDGET: tiny on a CPU, larger on a GPU) with --holdout: the last faces of
     each faceset (the last ~5 s of Obama_clip2 and of B) are never trained on
  3. the last --frames frames of Obama_clip2 (inside the held-out stretch) become the test clip
  4. learned swap: kaokae.convert of the test clip; classic swap: kaokae.swap of it with 5 frames of B as photos
  5. kaokae.evaluate scores both swaps and "no swap" (the test clip itself) on the same frames; the gallery for ID
     retrieval is B, A and the other people in ../shared/data (knn_examples, openface_cmu, deepface groups)

Prints one Markdown table (the three rows) and writes the report's JSON and PNG to --out. Budget: under 15 min on
2 CPU cores with the defaults; on a GPU the model trains longer with larger batches.

Usage: .venv/bin/python benchmarks/quality.py [--minutes M] [--frames N] [--out DIR] [--work DIR]
"""

import argparse
import csv
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from kaokae.convert import ConvertOptions, SwapModel, convert
from kaokae.evaluate import SOURCE_ROW, evaluate_videos
from kaokae.evaluate.model import person_inputs, reconstruction
from kaokae.extract import ExtractOptions, extract
from kaokae.faceset import FaceSet
from kaokae.media import VideoWriter, open_media, probe, write_image
from kaokae.progress import info, set_quiet
from kaokae.swap import swap_media
from kaokae.train import Run, train

DATA = Path(os.environ.get("KAOKAE_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"))
A_CLIPS = ["styletalk/samples/source_video/video/Obama_clip1.mp4", "styletalk/samples/source_video/video/Obama_clip2.mp4"]
B_CLIP = "edtalk/test_data/pose_source2.mp4"
EVERY = 2  # extract every 2nd frame: half the extraction time, neighbouring frames add little to training
HOLDOUT = 75  # faces of each faceset kept out of training: 150 frames, the last 5 s of Obama_clip2 and of B
CLASSIC_PHOTOS = 5  # frames of B (from its training part) given to the classic swap as source photos
# (architecture, size, width, batch size, minutes): tiny on a CPU, larger when a GPU is lent. On 2 CPU cores a
# training step of even the 0.2 GFLOP/face 'original' at 1/8 width takes ~1 s, so the CPU row shows a model a few
# hundred steps old: the point there is that the pipeline runs end to end and is measured the same way.
BUDGET = {"cpu": ("original", 64, 0.125, 8, 8.0), "cuda": ("hd", 128, 1.0, 32, 10.0)}
GALLERY_PEOPLE = {  # folder name -> photos in ../shared/data; B and A (Obama) are not among them
    "alex_lacamoire": ["face_recognition/examples/knn_examples/train/alex_lacamoire/img1.jpg"],
    "biden": ["face_recognition/examples/knn_examples/train/biden/biden.jpg",
              "face_recognition/examples/knn_examples/train/biden/biden2.jpg"],
    "kit_harington": ["face_recognition/examples/knn_examples/train/kit_harington/john1.jpeg",
                      "face_recognition/examples/knn_examples/train/kit_harington/john2.jpeg"],
    "adams": ["openface_cmu/images/examples/adams.jpg"],
    "carell": ["openface_cmu/images/examples/carell.jpg"],
    "clapton": ["openface_cmu/images/examples/clapton-1.jpg", "openface_cmu/images/examples/clapton-2.jpg"],
    "lennon": ["openface_cmu/images/examples/lennon-1.jpg", "openface_cmu/images/examples/lennon-2.jpg"],
}
DEEPFACE = "deepface/tests/unit/dataset"


def deepface_groups() -> dict[str, list[str]]:
    """One person per group of deepface images joined by "Yes" pairs in master.csv."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    with open(DATA / DEEPFACE / "master.csv") as f:
        for row in csv.DictReader(f):
            if row["Decision"] == "Yes":
                parent[root(row["file_x"])] = root(row["file_y"])
    groups: dict[str, list[str]] = {}
    for name in parent:
        groups.setdefault(root(name), []).append(f"{DEEPFACE}/{name}")
    return {f"deepface_{Path(min(g)).stem}": sorted(g) for g in groups.values() if len(g) >= 2}


def make_gallery(folder: Path) -> Path:
    """One sub-folder of links to photos per person (photos are read in place, never copied)."""
    for person, photos in {**GALLERY_PEOPLE, **deepface_groups()}.items():
        (folder / person).mkdir(parents=True)
        for photo in photos:
            (folder / person / Path(photo).name).symlink_to(DATA / photo)
    return folder


def write_clip(source: Path, dest: Path, first: int, last: int) -> None:
    """Frames first..last of `source` as a lossless H.264 clip (crf 0): the test clip every row is scored on."""
    with open_media(source) as reader, VideoWriter(dest, reader.info.fps, crf=0, preset="veryfast") as writer:
        for frame in reader:
            if first <= frame.index <= last:
                writer.write(frame.image)


def check_held_out(faceset: FaceSet, source_index: int, first_test_frame: int) -> None:
    """Every face training used comes from before the test clip (the faces after are the held-out ones)."""
    trained = faceset.entries[: len(faceset) - HOLDOUT]
    overlap = [e for e in trained if e.source_index == source_index and e.frame_index >= first_test_frame]
    if overlap:
        raise SystemExit(f"held-out check failed: {len(overlap)} trained faces are in the test clip")


def main() -> None:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    architecture, size, width, batch, minutes = BUDGET[device]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=minutes, help=f"training time (default {minutes} on {device})")
    parser.add_argument("--frames", type=int, default=120, help="held-out frames of A evaluated (default 120, 4 s)")
    parser.add_argument("--out", type=Path, default=None, help="folder for quality.json and quality.png")
    parser.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or status lines")
    args = parser.parse_args()
    set_quiet(args.quiet)
    if args.frames > EVERY * HOLDOUT:
        raise SystemExit(f"--frames must be at most {EVERY * HOLDOUT} (the held-out stretch)")
    with tempfile.TemporaryDirectory(prefix="kaokae-quality-") as tmp:
        work = args.work or Path(tmp)
        times: dict[str, float] = {}
        t = time.perf_counter()
        a_faceset, b_faceset = work / "faceset_a", work / "faceset_b"
        options = ExtractOptions(max_faces=1, every=EVERY)
        extract([DATA / clip for clip in A_CLIPS], a_faceset, options)
        extract([DATA / B_CLIP], b_faceset, options)
        times["extract"] = time.perf_counter() - t

        clip2 = DATA / A_CLIPS[1]
        last = probe(clip2).frame_count - 1
        first = last - args.frames + 1
        check_held_out(FaceSet.open(a_faceset), 1, first)

        t = time.perf_counter()
        model_dir = work / "model"
        train(Run(a_faceset, b_faceset, model_dir, architecture=architecture, size=size, width=width,
                  settings={"batch_size": batch, "holdout": HOLDOUT}, minutes=args.minutes, save_every=10**9,
                  preview_every=10**9, device=device))
        iterations = int((model_dir / "latest").read_text())
        times["train"] = time.perf_counter() - t

        t = time.perf_counter()
        test_clip = work / "test_a.mp4"
        write_clip(clip2, test_clip, first, last)
        learned, classic = work / "learned.mp4", work / "classic.mp4"
        convert(test_clip, model_dir, learned, ConvertOptions(device=device))
        photos = []
        with open_media(DATA / B_CLIP) as reader:  # B's photos for the classic swap: from B's training part
            step = (reader.info.frame_count - EVERY * HOLDOUT) // CLASSIC_PHOTOS
            for frame in reader.frames(every=step):
                if len(photos) < CLASSIC_PHOTOS:
                    photos.append(work / f"b_{frame.index:05d}.png")
                    write_image(photos[-1], frame.image)
        swap_media(photos, test_clip, classic)
        times["swap"] = time.perf_counter() - t

        t = time.perf_counter()
        gallery = make_gallery(work / "gallery")
        report = evaluate_videos({"learned swap": learned, "classic swap": classic}, test_clip, target=b_faceset,
                                 gallery=gallery, frames=0, source_identity=a_faceset)
        a_inputs, _ = person_inputs(a_faceset, SwapModel(model_dir, "b2a", device), HOLDOUT)
        report.systems["learned swap"]["reconstruction"] = reconstruction(model_dir, a_inputs, b_faceset, device)
        times["evaluate"] = time.perf_counter() - t
        report.inputs.update(benchmark="benchmarks/quality.py", iterations=iterations, train_minutes=args.minutes,
                             architecture=architecture, size=size, device=device, seconds=times)
        if args.out:
            report.write_json(args.out / "quality.json")
            report.write_png(args.out / "quality.png")

    assert set(report.systems) == {"learned swap", "classic swap", SOURCE_ROW}
    print(f"Swap quality on {args.frames} held-out frames of A (Obama_clip2 {first}-{last}), B = {B_CLIP}; "
          f"{architecture} {size} px trained {args.minutes:g} min ({iterations} iterations, batch {batch}) on "
          f"{device}; {platform.node() or 'this machine'}, {os.cpu_count()} CPU threads, torch {torch.__version__}")
    print()
    print(report.markdown())
    print()
    print("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in times.items()) + f", total {sum(times.values()):.0f}")
    info("done")


if __name__ == "__main__":
    main()
