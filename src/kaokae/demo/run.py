"""`kaokae demo`: the whole pipeline on two public-domain portraits that ship inside kaokae's dependencies, with no
input from the user: film a clip of each with a moving virtual camera, extract both, train a model, convert, run the
classic swap too, and gather what a user wants to look at in one folder."""

import contextlib
import importlib.util
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from kaokae import progress
from kaokae.convert import ConvertOptions, convert
from kaokae.demo.camera import virtual_camera_clip
from kaokae.errors import KaokaeError
from kaokae.extract import ExtractOptions, extract
from kaokae.faces import FaceFinder
from kaokae.media import VideoWriter, open_media, probe, read_image, write_image
from kaokae.provenance import Labeller
from kaokae.swap import swap_media
from kaokae.train import Run, train


@dataclass(frozen=True)
class Portrait:
    name: str  # short file-name stem
    who: str  # caption
    package: str  # the Python package whose wheel ships the photo
    path: str  # inside that package


# A: the person whose clip is swapped; B: the face put on it.
PERSON_A = Portrait("collins", "Eileen Collins (NASA)", "skimage", "data/astronaut.png")
PERSON_B = Portrait("hopper", "Grace Hopper (US Navy)", "matplotlib", "mpl-data/sample_data/grace_hopper.jpg")


@dataclass(frozen=True)
class Plan:
    """How much work the demo does. `full` fits in 10 minutes on 2 CPU cores; `quick` is for tests and a first look."""

    frames: int  # per clip
    clip_size: int  # px, square clips
    face_size: int  # faceset px
    minutes: float | None  # training budget on the CPU (None: iterations)
    iterations: int | None
    gpu_minutes: float  # training budget when a GPU is present: longer and better
    width: float | None = None  # model channel multiplier; None: what `kaokae train --minutes` picks (its recipe)
    verify_frames: int = 25  # learned-swap frames dlib checks for B's identity at the end


# The model, batch and schedule are what `kaokae train A B -m M --minutes 5` picks (kaokae.train.recipe).
FULL = Plan(frames=100, clip_size=320, face_size=128, minutes=5.0, iterations=None, gpu_minutes=5.0)
QUICK = Plan(frames=30, clip_size=256, face_size=128, minutes=None, iterations=60, gpu_minutes=0.5, width=0.125,
             verify_frames=4)


@dataclass
class DemoResult:
    folder: Path
    files: dict[str, Path]  # what -> where
    seconds: float
    verified: dict[str, float | None] = field(default_factory=dict)  # swap -> share of frames dlib verifies as B


def portrait_path(portrait: Portrait) -> Path:
    """Where the installed package keeps the photo (found without importing the package)."""
    spec = importlib.util.find_spec(portrait.package)
    if spec is None or not spec.submodule_search_locations:
        raise KaokaeError(f"the demo needs the package '{portrait.package}' for its photo of {portrait.who}; "
                          f"reinstall kaokae (make demo)")
    path = Path(spec.submodule_search_locations[0]) / portrait.path
    if not path.exists():
        raise KaokaeError(f"{path} is missing from the installed '{portrait.package}'")
    return path


def film(portrait: Portrait, finder: FaceFinder, plan: Plan, dest: Path) -> None:
    """A clip of `plan.frames` frames over the portrait, the camera centred on its face."""
    photo = read_image(portrait_path(portrait))
    faces = finder.find(photo)
    if not faces:
        raise KaokaeError(f"no face found in the demo photo of {portrait.who}")
    x0, y0, x1, y1 = max(faces, key=lambda f: f.score).box
    center = ((x0 + x1) / 2, (y0 + y1) / 2)
    with VideoWriter(dest, 25, crf=16, preset="veryfast") as writer:
        for frame in progress.track(virtual_camera_clip(photo, center, x1 - x0, plan.frames, plan.clip_size),
                                    total=plan.frames, desc=f"film {portrait.name}"):
            writer.write(frame)


def run_demo(folder: str | Path = "kaokae-demo", quick: bool = False, device: str = "auto", watermark: bool = True,
             c2pa_cert: str | Path | None = None, c2pa_key: str | Path | None = None) -> DemoResult:
    """Run the whole pipeline into `folder` (replaced as a whole when the run succeeds; untouched if it fails).

    Everything synthetic it writes (both swapped videos, the training preview, the summary) is labelled like any
    convert or swap output."""
    import torch

    plan = QUICK if quick else FULL
    start = time.perf_counter()
    folder = Path(folder)
    label = {"watermark": watermark, "c2pa_cert": c2pa_cert, "c2pa_key": c2pa_key}
    labeller = Labeller("kaokae demo", **label)  # checks a given certificate before any work
    on_gpu = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    with atomic_folder(folder) as work:
        clips, facesets, model = work / "clips", work / "facesets", work / "model"
        clip = {p: clips / f"{p.name}.mp4" for p in (PERSON_A, PERSON_B)}
        steps = 7
        progress.info(f"[1/{steps}] filming {PERSON_A.who} and {PERSON_B.who} with a moving virtual camera")
        with FaceFinder(max_faces=1) as finder:
            for portrait in (PERSON_A, PERSON_B):
                film(portrait, finder, plan, clip[portrait])

        progress.info(f"[2/{steps}] extracting aligned faces")
        for portrait in (PERSON_A, PERSON_B):
            extract([clip[portrait]], facesets / portrait.name, ExtractOptions(size=plan.face_size))

        budget = f"{plan.gpu_minutes:g} min on the GPU" if on_gpu else (
            f"{plan.minutes:g} min on the CPU" if plan.minutes else f"{plan.iterations} iterations")
        progress.info(f"[3/{steps}] training ({budget})")
        train(Run(facesets / PERSON_A.name, facesets / PERSON_B.name, model, width=plan.width,
                  minutes=plan.gpu_minutes if on_gpu else plan.minutes,
                  iterations=None if on_gpu else plan.iterations,
                  save_every=10**9, preview_every=10**9, device=device))

        progress.info(f"[4/{steps}] converting {PERSON_A.name}'s clip with {PERSON_B.name}'s face, as the model "
                      f"draws it and with the fine detail of {PERSON_B.name}'s photo (--detail-from)")
        learned, detailed = work / "learned_swap.mp4", work / "learned_swap_photo_detail.mp4"
        convert(clip[PERSON_A], model, learned, ConvertOptions(preset="veryfast", device=device, preview=4, **label,
                                                               model_photos=False))  # the face as the model draws it
        convert(clip[PERSON_A], model, detailed, ConvertOptions(preset="veryfast", device=device, **label,
                                                                detail_from=[portrait_path(PERSON_B)]))

        progress.info(f"[5/{steps}] classic swap (no training) of the same clip")
        classic = work / "classic_swap.mp4"
        swap_media([portrait_path(PERSON_B)], clip[PERSON_A], classic, **label)

        progress.info(f"[6/{steps}] summary")
        files = {
            f"contact sheet A ({PERSON_A.name})": copy(facesets / PERSON_A.name / "contact_sheet.png",
                                                      work / f"contact_sheet_A_{PERSON_A.name}.png"),
            f"contact sheet B ({PERSON_B.name})": copy(facesets / PERSON_B.name / "contact_sheet.png",
                                                      work / f"contact_sheet_B_{PERSON_B.name}.png"),
            "training preview": copy(model / "preview.png", work / "training_preview.png", labeller),
            "loss plot": copy(model / "loss.png", work / "training_loss.png"),
            "learned swap": learned,
            "learned swap + photo detail": detailed,
            "classic swap": classic,
            "summary": work / "summary.png",
        }
        summary = summary_image(clip[PERSON_A], {"learned swap": learned, "learned + detail": detailed,
                                                 "classic swap": classic}, portrait_path(PERSON_B))
        write_image(files["summary"], labeller.mark(summary), xmp=labeller.xmp)
        labeller.sign(files["summary"])

        progress.info(f"[7/{steps}] checking with dlib's face recognition which frames look like {PERSON_B.name}")
        verified = verified_as_b(clip[PERSON_A], {"learned swap": learned, "learned swap + photo detail": detailed,
                                                  "classic swap": classic}, facesets / PERSON_B.name,
                                 plan.verify_frames)
    files = {what: folder / path.relative_to(work) for what, path in files.items()}
    return DemoResult(folder, files, time.perf_counter() - start, verified)


def verified_as_b(source: Path, swaps: dict[str, Path], faceset_b: Path, count: int) -> dict[str, float | None]:
    """The share of `count` frames spread over each swap that dlib verifies as B (kaokae.evaluate's measure)."""
    from kaokae.evaluate.run import identity_references, score_pairs

    refs = identity_references(faceset_b, source, None)
    total = probe(source).frame_count
    wanted = set(np.linspace(0, total - 1, min(count, total)).round().astype(int).tolist())

    def pairs():
        with contextlib.ExitStack() as stack:
            readers = [stack.enter_context(open_media(p)) for p in (source, *swaps.values())]
            for frames in zip(*readers, strict=False):
                if frames[0].index in wanted:
                    yield frames[0].image, [f.image for f in frames[1:]]

    scorers = score_pairs(pairs(), list(swaps), len(wanted))
    return {name: scorer.summary(refs)["identity"].get("verified") for name, scorer in zip(swaps, scorers,
                                                                                           strict=True)}


def copy(source: Path, dest: Path, labeller: Labeller | None = None) -> Path:
    """Copy a file into the demo folder; with a labeller (synthetic pictures), labelled on the way."""
    if not source.exists():
        raise KaokaeError(f"the demo expected {source} and it is missing")
    if labeller is None:
        shutil.copyfile(source, dest)
    else:
        write_image(dest, labeller.mark(read_image(source)), xmp=labeller.xmp)
        labeller.sign(dest)
    return dest


def summary_image(original: Path, swaps: dict[str, Path], source_photo: Path, columns: int = 4,
                  tile: int = 224) -> np.ndarray:
    """Rows: the original clip, then each swap (label -> video); columns: frames spread over the clip. The photo of
    the person whose face was put on sits at the left of the swapped rows."""
    rows = []
    for label, path in (("original", original), *swaps.items()):
        frames = sample_frames(path, columns, tile)
        if label == "original":
            first = labelled(np.full((tile, tile, 3), 255, np.uint8), "original clip (A)")
        else:
            face = cv2.resize(read_image(source_photo), (tile, tile), interpolation=cv2.INTER_AREA)
            first = labelled(face, f"{label} (B)")
        rows.append(np.concatenate([first, *frames], axis=1))
    return np.concatenate(rows, axis=0)


def sample_frames(path: Path, count: int, tile: int) -> list[np.ndarray]:
    with open_media(path) as reader:
        total = reader.info.frame_count
        wanted = set(np.linspace(0, total - 1, count).round().astype(int).tolist())
        frames = [cv2.resize(f.image, (tile, tile), interpolation=cv2.INTER_AREA) for f in reader if f.index in wanted]
    return frames


def labelled(image: np.ndarray, text: str) -> np.ndarray:
    image = image.copy()
    cv2.rectangle(image, (0, 0), (image.shape[1], 24), (0, 0, 0), -1)
    cv2.putText(image, text, (6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return image


class atomic_folder:
    """Build a folder beside its destination and swap it in only when everything succeeded."""

    def __init__(self, dest: Path):
        self.dest = dest

    def __enter__(self) -> Path:
        self.work = self.dest.with_name(f".{self.dest.name}.partial")
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        return self.work

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            shutil.rmtree(self.work, ignore_errors=True)
            return
        old = self.dest.with_name(f".{self.dest.name}.old")
        if self.dest.exists():
            shutil.rmtree(old, ignore_errors=True)
            self.dest.rename(old)
        self.work.rename(self.dest)
        shutil.rmtree(old, ignore_errors=True)

