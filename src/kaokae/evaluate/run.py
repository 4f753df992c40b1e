"""The two ways to evaluate: swapped videos against their source video, or a trained model on A's media."""

import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from kaokae import progress
from kaokae.errors import KaokaeError, NothingFoundError
from kaokae.evaluate import references
from kaokae.evaluate.options import EvaluateOptions
from kaokae.evaluate.report import SOURCE_ROW, Report
from kaokae.evaluate.score import References, SwapScorer, measure_source
from kaokae.media import Frame, open_media, probe

DEFAULT_FRAMES = EvaluateOptions.frames


def frame_window(path: Path, start: float = 0.0, count: int = 0, first_index: int = 0) -> Iterator[Frame]:
    """`count` consecutive frames (0: all) from `start` seconds and frame `first_index` on."""
    with open_media(path) as reader:
        frames = (f for f in reader if f.time >= start - 1e-6 and f.index >= first_index)
        yield from (frames if count == 0 else itertools.islice(frames, count))


def window_length(path: Path, start: float, count: int, first_index: int = 0) -> int:
    """How many frames frame_window will give (for the progress bar)."""
    info = probe(path)
    if start > 0 and not info.fps:
        raise KaokaeError(f"--start needs a video; {path} is {info.kind} (use --frames to limit it)")
    skipped = max(round(start * float(info.fps)) if info.fps else 0, first_index)
    remaining = max(info.frame_count - skipped, 0)
    return remaining if count == 0 else min(count, remaining)


def identity_references(target: str | Path | None, source: str | Path, gallery: str | Path | None) -> References:
    """B's centroid from `target`, A's from `source` (the whole of it, not only the evaluated frames), and the
    gallery around them."""
    refs = References()
    progress.info(f"identity of A from {source}")
    refs.source = references.person_centroid(source, "--source")
    if target is not None:
        progress.info(f"identity of B from {target}")
        refs.target = references.person_centroid(target, "--target")
    if gallery is not None:
        if refs.target is None:
            raise KaokaeError("--gallery needs --target (B's faceset or photos): retrieval asks whether B is found")
        refs.gallery = references.load_gallery(gallery, {refs.target_name: refs.target,
                                                         refs.source_name: refs.source})
    return refs


def score_pairs(pairs: Iterable[tuple[np.ndarray, list[np.ndarray]]], names: list[str], total: int | None = None
                ) -> list[SwapScorer]:
    """Score several systems on the same source frames. `pairs` yields (source, [swapped frame of each system])."""
    scorers = [SwapScorer(name) for name in names]
    for source_rgb, swapped in progress.track(pairs, total=total, desc="evaluate"):
        source = measure_source(source_rgb)  # measured once, shared by every system
        for scorer, swapped_rgb in zip(scorers, swapped, strict=True):
            scorer.add(source_rgb, swapped_rgb, source)
    return scorers


def evaluate_videos(swapped: dict[str, str | Path], source: str | Path, target: str | Path | None = None,
                    gallery: str | Path | None = None, start: float = 0.0, frames: int = DEFAULT_FRAMES,
                    with_source_row: bool = True, source_identity: str | Path | None = None) -> Report:
    """Score swapped videos (name -> path) against the video they were made from, frame i against frame i.

    target: B's faceset or photos (identity distance to B, and retrieval); gallery: a folder of one sub-folder per
    other person. Evaluates `frames` consecutive frames (0: all) from `start` seconds. source_identity: A's faceset
    or photos for A's identity (default: the source video itself).
    """
    source = Path(source)
    info_source = probe(source)
    if frames < 0 or start < 0:
        raise KaokaeError("--frames and --start must be 0 or more")
    shortest = info_source.frame_count
    for path in swapped.values():
        info = probe(path)
        if (info.width, info.height) != (info_source.width, info_source.height):
            raise KaokaeError(f"{Path(path).name} is {info.width}x{info.height} but {source.name} is "
                              f"{info_source.width}x{info_source.height}: --swapped must be made from --source")
        if info.frame_count != info_source.frame_count:
            progress.warn(f"{Path(path).name} has {info.frame_count} frames, {source.name} "
                          f"{info_source.frame_count}: comparing frame by frame up to the shorter")
        shortest = min(shortest, info.frame_count)
    refs = identity_references(target, source_identity or source, gallery)
    names = list(swapped) + ([SOURCE_ROW] if with_source_row else [])

    def pairs():
        windows = [frame_window(Path(p), start, frames) for p in [source, *swapped.values()]]
        for src, *swaps in zip(*windows, strict=False):  # stops at the shortest video (warned about above)
            images = [f.image for f in swaps]
            yield src.image, images + ([src.image] if with_source_row else [])

    total = min(window_length(source, start, frames), shortest)
    scorers = score_pairs(pairs(), names, total)
    inputs = {"mode": "video", "swapped": {k: str(v) for k, v in swapped.items()}, "source": str(source),
              "target": _str(target), "gallery": _str(gallery), "start": start, "frames": frames}
    return _report(scorers, refs, inputs)


def evaluate_video(swapped: str | Path, source: str | Path, target: str | Path | None = None,
                   gallery: str | Path | None = None, start: float = 0.0, frames: int = DEFAULT_FRAMES,
                   with_source_row: bool = True) -> Report:
    """Score one swapped video against its source (see evaluate_videos); its row is named "swap"."""
    return evaluate_videos({"swap": swapped}, source, target, gallery, start, frames, with_source_row)


def evaluate_model(model: str | Path, source: str | Path, target: str | Path, gallery: str | Path | None = None,
                   start: float = 0.0, frames: int = DEFAULT_FRAMES, with_source_row: bool = True,
                   device: str = "auto") -> Report:
    """Convert A's frames to B with a trained model (in memory, as `kaokae convert` would) and score the result,
    with the reconstruction (SSIM, PSNR) of A->A on the evaluated faces and B->B on `target`'s faces.

    source: A's video, photos or faceset. For a faceset and a model trained with --holdout, only the held-out faces
    (the last ones) are evaluated. target: B's faceset, photos or video.
    """
    from kaokae.evaluate.model import converted_frames, held_out_start, media_of, reconstruction
    from kaokae.train.checkpoint import read_config

    model, source = Path(model), Path(source)
    if frames < 0 or start < 0:
        raise KaokaeError("--frames and --start must be 0 or more")
    config = read_config(model) if model.is_dir() else None
    if config is None:
        raise KaokaeError(f"--model {model} is not a kaokae model folder (no config.json)")
    media = media_of(source)
    first = held_out_start(source, int(config.train.get("holdout", 0)))
    if first:
        progress.info(f"evaluating the faces of {source} from {first} on (held out in training)")
    elif media != source:
        progress.info(f"the model was trained without --holdout: if it trained on {source}, A->A measures "
                      "memorisation, not how it does on new frames")
    refs = identity_references(target, source, gallery)
    names = ["swap"] + ([SOURCE_ROW] if with_source_row else [])
    total = window_length(media, start, frames, first)
    with converted_frames(model, media, frame_window(media, start, frames, first), device) as (pairs, locate):
        systems = ((src, [swp, src] if with_source_row else [swp]) for src, swp in pairs)
        scorers = score_pairs(systems, names, total)
    inputs = {"mode": "model", "model": str(model), "source": str(source), "target": str(target),
              "gallery": _str(gallery), "start": start, "frames": frames, "first_index": first}
    report = _report(scorers, refs, inputs)
    report.systems["swap"]["reconstruction"] = reconstruction(model, locate.inputs, target, device)
    from kaokae.train.card import record_evaluation

    record_evaluation(model, {"source": source.name, **report.systems["swap"]})
    return report


def _report(scorers: list[SwapScorer], refs: References, inputs: dict) -> Report:
    if not scorers[0].frames:
        raise NothingFoundError(f"no frames to evaluate in {inputs.get('source')} from {inputs.get('start')} s")
    if not any(f.face for f in scorers[0].frames):
        raise NothingFoundError(f"dlib's detector found no face in the {len(scorers[0].frames)} source frames "
                                f"evaluated")
    report = Report(inputs=inputs)
    for scorer in scorers:
        report.add(scorer, scorer.summary(refs))
    return report


def _str(path) -> str | None:
    return None if path is None else str(path)
