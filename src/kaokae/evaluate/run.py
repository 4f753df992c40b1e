"""The two ways to evaluate: a swapped video against its source video, or a trained model on A's media."""

import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from kaokae import progress
from kaokae.errors import KaokaeError, NothingFoundError
from kaokae.evaluate import references
from kaokae.evaluate.report import SOURCE_ROW, Report
from kaokae.evaluate.score import References, SwapScorer, measure_source
from kaokae.media import open_media, probe

DEFAULT_FRAMES = 150


def frame_window(path: Path, start: float, count: int) -> Iterator[np.ndarray]:
    """`count` consecutive frames (0: all) from `start` seconds on."""
    with open_media(path) as reader:
        frames = (f.image for f in reader if f.time >= start - 1e-6)
        yield from (frames if count == 0 else itertools.islice(frames, count))


def identity_references(target: str | Path | None, source_embedding: np.ndarray | None,
                        gallery: str | Path | None) -> References:
    """B's centroid from `target`, A's (when known up front) and the gallery around them."""
    refs = References()
    if target is not None:
        progress.info(f"identity of B from {target}")
        refs.target = references.person_centroid(target, "--target")
    refs.source = source_embedding
    if gallery is not None:
        if refs.target is None:
            raise KaokaeError("--gallery needs --target (B's faceset or photos): retrieval asks whether B is found")
        known = {refs.target_name: refs.target}
        if refs.source is not None:
            known[refs.source_name] = refs.source
        refs.gallery = references.load_gallery(gallery, known)
    return refs


def score_pairs(pairs: Iterable[tuple[np.ndarray, np.ndarray]], names: list[str], total: int | None = None
                ) -> list[SwapScorer]:
    """Score several systems on the same source frames. `pairs` yields (source, [swapped per system])."""
    scorers = [SwapScorer(name) for name in names]
    for source_rgb, swapped in progress.track(pairs, total=total, desc="evaluate"):
        source = measure_source(source_rgb)  # measured once, shared by every system
        for scorer, swapped_rgb in zip(scorers, swapped, strict=True):
            scorer.add(source_rgb, swapped_rgb, source)
    return scorers


def evaluate_video(swapped: str | Path, source: str | Path, target: str | Path | None = None,
                   gallery: str | Path | None = None, start: float = 0.0, frames: int = DEFAULT_FRAMES,
                   with_source_row: bool = True) -> Report:
    """Score a swapped video against the video it was made from, frame by frame (frame i against frame i).

    target: B's faceset or photos (identity distance to B and retrieval); gallery: folder of one sub-folder per
    other person. Evaluates `frames` consecutive frames (0: all) from `start` seconds.
    """
    swapped, source = Path(swapped), Path(source)
    info_swapped, info_source = probe(swapped), probe(source)
    if (info_swapped.width, info_swapped.height) != (info_source.width, info_source.height):
        raise KaokaeError(f"{swapped.name} is {info_swapped.width}x{info_swapped.height} but {source.name} is "
                          f"{info_source.width}x{info_source.height}: --swapped must be made from --source")
    if info_swapped.frame_count != info_source.frame_count:
        progress.warn(f"{swapped.name} has {info_swapped.frame_count} frames, {source.name} "
                      f"{info_source.frame_count}: comparing frame by frame up to the shorter")
    if frames < 0 or start < 0:
        raise KaokaeError("--frames and --start must be 0 or more")
    progress.info(f"identity of A from {source}")
    refs = identity_references(target, references.person_centroid(source, "--source"), gallery)
    names = ["swap"] + ([SOURCE_ROW] if with_source_row else [])
    fps = float(info_source.fps or 1)
    remaining = max(min(info_source.frame_count, info_swapped.frame_count) - round(start * fps), 0)
    total = remaining if frames == 0 else min(frames, remaining)

    def pairs():
        # zip stops at the shorter video (warned about above)
        for src, swp in zip(frame_window(source, start, frames), frame_window(swapped, start, frames), strict=False):
            yield src, ([swp, src] if with_source_row else [swp])

    scorers = score_pairs(pairs(), names, total)
    return _report(scorers, refs, {"mode": "video", "swapped": str(swapped), "source": str(source),
                                   "target": _str(target), "gallery": _str(gallery), "start": start,
                                   "frames": frames})


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


def evaluate_model(model: str | Path, source: str | Path, target: str | Path, gallery: str | Path | None = None,
                   start: float = 0.0, frames: int = DEFAULT_FRAMES, with_source_row: bool = True) -> Report:
    """Convert A's frames with a trained model and score the result (plus A->A / B->B reconstruction)."""
    raise KaokaeError("evaluate --model is not available in this build yet (kaokae.convert has not landed)")
