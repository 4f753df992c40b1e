"""Faceset tools: `info` (counts and a yaw/pitch coverage plot), `sort`, `filter` and `restore`.

Sorting renames the faces into the new order; filtering moves faces into rejected/ and restoring moves them back.
They go through `FaceSet.rearrange` and `FaceSet.restore`, which keep files and alignments consistent and are safe
to interrupt. Nothing is deleted.
"""

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from kaokae import progress
from kaokae.atomic import atomic_path
from kaokae.errors import KaokaeError
from kaokae.faceset import FaceSet
from kaokae.paths import check_outputs

SORT_KEYS = ("blur", "identity", "yaw")
REJECT_BLURRY = "blurry"
REJECT_OTHER_PERSON = "other-person"
REJECT_NEAR_DUPLICATE = "near-duplicate"
THUMB = 32  # near-duplicate comparison: grey thumbnails of this size


# ---- info


@dataclass
class FaceSetSummary:
    path: Path
    faces: int
    sources: list[str]
    tracks: int
    rejected: dict[str, int]  # reason -> count
    size: int
    centering: str
    with_identity: int
    yaw: tuple[float, float, float]  # min, median, max (degrees); NaNs when empty
    pitch: tuple[float, float, float]
    blur: tuple[float, float, float]
    plot: Path | None

    def lines(self) -> list[str]:
        def spread(values, unit=""):
            lo, mid, hi = values
            return "-" if np.isnan(mid) else f"{lo:+.0f}{unit} .. {hi:+.0f}{unit} (median {mid:+.0f}{unit})"

        rejected = sum(self.rejected.values())
        reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(self.rejected.items()))
        lines = [
            f"faceset   {self.path}",
            f"faces     {self.faces} ({self.size} px, {self.centering} centering)",
            f"sources   {len(self.sources)}",
            *[f"  {k}: {s}" for k, s in enumerate(self.sources)],
            f"tracks    {self.tracks}",
            f"rejected  {rejected}" + (f" ({reasons})" if rejected else ""),
            f"identity  {self.with_identity} of {self.faces} faces have an embedding",
            f"yaw       {spread(self.yaw, ' deg')}",
            f"pitch     {spread(self.pitch, ' deg')}",
            "blur      -" if np.isnan(self.blur[1]) else
            f"blur      {self.blur[0]:.0f} .. {self.blur[2]:.0f} (median {self.blur[1]:.0f}; "
            "higher is sharper)",
        ]
        if self.plot:
            lines.append(f"plot      {self.plot}")
        return lines


def faceset_info(path: str | Path, plot: str | Path | None = None) -> FaceSetSummary:
    """Counts and spreads of a faceset; writes the yaw/pitch coverage plot (default coverage.png in it)."""
    fs = FaceSet.open(path)
    plot = Path(plot) if plot else fs.path / "coverage.png"
    if plot.is_dir():
        raise KaokaeError(f"--plot {plot} is a folder: give the PNG file to write")
    if plot.suffix.lower() != ".png":
        raise KaokaeError(f"--plot {plot}: the coverage plot is a PNG, give a name ending in .png")
    check_outputs([fs.path / "alignments.json", fs.path / "alignments.npz"], [plot])
    for folder in ("faces", "rejected"):
        if os.path.realpath(plot).startswith(os.path.realpath(fs.path / folder) + os.sep):
            raise KaokaeError(f"--plot {plot} is inside the faceset's {folder}/ folder, which holds only faces")
    coverage_plot(fs, plot)
    poses = fs.poses
    tracks = {(e.source_index, e.track_id) for e in fs.entries if e.track_id is not None}
    sources = [f"{Path(s.path).name} ({s.kind} {s.width}x{s.height}, {s.frame_count} frame"
               f"{'s' if s.frame_count != 1 else ''})" for s in fs.sources]
    rejected = dict(Counter(e.reason for e in fs.rejected))
    with_identity = sum(e.has_identity for e in fs.entries)
    return FaceSetSummary(fs.path, len(fs), sources, len(tracks), rejected, fs.size, fs.centering,
                          with_identity, _spread(poses[:, 0]), _spread(poses[:, 1]), _spread(fs.blur), plot)


def _spread(values: np.ndarray) -> tuple[float, float, float]:
    if len(values) == 0:
        return (np.nan, np.nan, np.nan)
    return (float(values.min()), float(np.median(values)), float(values.max()))


def coverage_plot(fs: FaceSet, dest: Path) -> None:
    """Where the faces' head poses fall: a yaw/pitch 2-D histogram (5 degree bins), written atomically."""
    from matplotlib.figure import Figure  # import here: matplotlib is slow to import and only info needs it

    poses = fs.poses[~np.isnan(fs.poses).any(1)]
    poses = np.clip(poses, [-90, -60, -180], [90, 60, 180])  # beyond the axes: counted in the edge bins
    fig = Figure(figsize=(7, 4.6), dpi=100)
    ax = fig.add_subplot()
    bins = (np.arange(-90, 91, 5), np.arange(-60, 61, 5))
    counts, _, _ = np.histogram2d(poses[:, 0], poses[:, 1], bins=bins)
    image = ax.imshow(np.ma.masked_equal(counts.T, 0), origin="lower", extent=(-90, 90, -60, 60),
                      cmap="viridis", aspect="auto", interpolation="nearest")
    fig.colorbar(image, ax=ax, label="faces")
    ax.set_xlabel("yaw (degrees, + = subject turns to their left)")
    ax.set_ylabel("pitch (degrees, + = up)")
    ax.set_title(f"{fs.path.name}: head-pose coverage of {len(fs)} faces")
    ax.grid(True, alpha=0.3)
    ax.set_facecolor("#f4f4f4")
    fig.tight_layout()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest) as tmp:
        fig.savefig(tmp, format="png")


# ---- sort


def sort_faceset(path: str | Path, by: str, refs: list[str | Path] = ()) -> FaceSet:
    """Reorder and rename the faces: blur = sharpest first, yaw = from most negative to most positive,
    identity = closest first to the faceset's centroid (or to the `refs` photos), so other people end up
    last."""
    if by not in SORT_KEYS:
        raise KaokaeError(f"cannot sort by {by!r}: choose from {', '.join(SORT_KEYS)}")
    if refs and by != "identity":
        raise KaokaeError("--ref only applies to --by identity")
    fs = FaceSet.open(path, repair=True)
    if by == "blur":
        order = np.argsort(-fs.blur, kind="stable")
    elif by == "yaw":
        order = np.argsort(fs.poses[:, 0], kind="stable")
    else:
        fs, distances = _identity_distances(fs, refs, "--ref")
        order = np.argsort(distances, kind="stable")
    return fs.rearrange(order, renumber=True)


# ---- filter


def filter_faceset(path: str | Path, blur_below: float | None = None, not_like: list[str | Path] = (),
                   threshold: float = 0.6,
                   near_duplicates: float | None = None) -> tuple[FaceSet, dict[str, int]]:
    """Move rejected faces into rejected/: blurrier than `blur_below`, farther than `threshold` from every
    `not_like` photo (another person), or within `near_duplicates` of a face kept before it. Returns the
    faceset and the counts."""
    if blur_below is None and not not_like and near_duplicates is None:
        raise KaokaeError("nothing to filter by: give --blur-below, --not-like or --near-duplicates")
    if near_duplicates is not None and near_duplicates < 0:
        raise KaokaeError(f"--near-duplicates must be 0 or more, not {near_duplicates}")
    fs = FaceSet.open(path, repair=True)
    reject: dict[int, str] = {}
    if not_like:
        fs, distances = _identity_distances(fs, not_like, "--not-like")
        for i in np.flatnonzero(distances > threshold):
            reject[int(i)] = REJECT_OTHER_PERSON
    if blur_below is not None:
        for i in np.flatnonzero(fs.blur < blur_below):
            reject.setdefault(int(i), REJECT_BLURRY)
    if near_duplicates is not None:
        candidates = [i for i in range(len(fs)) if i not in reject]
        for i in near_duplicate_indices(fs, candidates, near_duplicates):
            reject[i] = REJECT_NEAR_DUPLICATE
    if reject and len(reject) == len(fs):
        progress.warn("every face matched the filter: all are moved to rejected/")
    order = [i for i in range(len(fs)) if i not in reject]
    counts = dict(Counter(reject.values()))
    if reject:
        fs = fs.rearrange(order, reject)
    return fs, counts


def restore_faceset(path: str | Path, names: list[str] = (), everything: bool = False) -> tuple[FaceSet, int]:
    """Move rejected faces back into faces/ (after the kept ones): those named (`000012.png` or
    `rejected/000012.png`), or every one with `everything`. Returns the faceset and how many were restored."""
    if bool(names) == everything:
        raise KaokaeError("name the rejected faces to restore, or give --all (one of the two)")
    fs = FaceSet.open(path, repair=True)
    rows = {f"rejected/{Path(e.file).name}": i for i, e in enumerate(fs.rejected)}
    chosen = []
    for name in names:
        key = f"rejected/{Path(str(name)).name}"
        if key not in rows or str(name) not in (key, Path(key).name):
            raise KaokaeError(f"{name}: no such rejected face in {fs.path} (see its rejected/ folder)")
        chosen.append(rows[key])
    if everything:
        chosen = list(range(len(fs.rejected)))
    if not chosen:
        return fs, 0
    return fs.restore(chosen), len(set(chosen))


def thumbnails(fs: FaceSet, indices: list[int]) -> np.ndarray:
    """(N, THUMB*THUMB) float32 grey thumbnails (0-255) of the faces, read a few at a time (memory stays
    small)."""
    def thumb(i: int) -> np.ndarray:
        grey = cv2.cvtColor(fs.load_face(i), cv2.COLOR_RGB2GRAY)
        return cv2.resize(grey, (THUMB, THUMB), interpolation=cv2.INTER_AREA).astype(np.float32).ravel()

    with ThreadPoolExecutor(max_workers=2) as pool:
        rows = list(progress.track(pool.map(thumb, indices), total=len(indices), desc="read", unit="face"))
    return np.stack(rows) if rows else np.zeros((0, THUMB * THUMB), np.float32)


def near_duplicate_indices(fs: FaceSet, indices: list[int], distance: float) -> list[int]:
    """Faces (in `indices` order) whose grey 32x32 thumbnail differs from an earlier kept face by an RMS of at
    most `distance` grey levels (0-255). Consecutive video frames of a still face are ~2-5 apart."""
    thumbs = thumbnails(fs, indices)
    norms = (thumbs**2).sum(1)
    kept: list[int] = []  # rows of `thumbs`
    duplicates = []
    limit = distance**2 * thumbs.shape[1]
    for row in range(len(indices)):
        if kept:
            # |a - b|^2 = |a|^2 + |b|^2 - 2 a.b for all kept faces at once
            squared = norms[kept] + norms[row] - 2 * thumbs[kept] @ thumbs[row]
            if squared.min() <= limit:
                duplicates.append(indices[row])
                continue
        kept.append(row)
    return duplicates


# ---- identity of aligned faces


def _identity_distances(fs: FaceSet, refs: list[str | Path], option: str) -> tuple[FaceSet, np.ndarray]:
    """Each face's identity distance to the nearest reference photo, or to the faceset's mean embedding
    without refs. Embeddings the faceset lacks are computed on the aligned faces and stored in it (a cache for
    next time)."""
    from kaokae.faces import Face, FaceFinder
    from kaokae.faces.identity import IdentityEncoder, nearest_distance, reference_embeddings

    encoder = IdentityEncoder()
    with FaceFinder() as finder:  # the references first: a photo without a face fails before the long part
        references = reference_embeddings(refs, finder, encoder, option)
    missing = [i for i in range(len(fs)) if not fs.entries[i].has_identity]
    if missing:
        vectors = []
        for i in progress.track(missing, desc="identity", unit="face"):
            landmarks = fs.face_landmarks[i]
            box = np.concatenate([landmarks.min(0), landmarks.max(0)]).astype(np.float32)
            vectors.append(encoder.embed(fs.load_face(i), Face(box, 1.0, landmarks)))
        fs = fs.set_identity(missing, np.stack(vectors))
    embeddings = fs.identity
    if not len(references):
        references = embeddings.mean(0, keepdims=True)
    return fs, nearest_distance(embeddings, references)
