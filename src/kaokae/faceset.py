"""The on-disk faceset: aligned square face PNGs plus versioned alignments. This module is the only one that
reads or writes it; train and convert load facesets through `FaceSet.open`.

A faceset folder:
    faces/NNNNNN.png      aligned faces, RGB, size x size
    rejected/NNNNNN.png   faces set aside by `extract --only` or `faceset filter` (never deleted)
    alignments.json       format name, integer version, size, centering, sources, one entry per face
                          (rejected faces listed too)
    alignments.npz        bulk arrays; row i belongs to entry i (`rejected_*` arrays to the rejected entries)
    contact_sheet.png     sample faces of the last extract (written by kaokae.extract)

Every change is crash-safe. A new faceset is written in a hidden folder beside its destination and renamed
into place. A change to an existing one (append, sort, filter) is first staged complete in `.pending/` and
then applied by steps that can be replayed, so a kill at any moment leaves either the old faceset or the new
one: `FaceSet.open` finishes a staged change that was interrupted. An flock on the folder keeps readers from
seeing half of a change another process is making, and a change computed from a faceset that has changed since
is refused rather than merged.
"""

import contextlib
import hashlib
import io
import json
import math
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from kaokae import __version__, atomic
from kaokae.errors import KaokaeError
from kaokae.progress import warn

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

FORMAT = "kaokae-faceset"
VERSION = 1
CENTERINGS = ("face", "head", "whole_face")
MODES = ("new", "append", "overwrite")
NUM_LANDMARKS = 478
IDENTITY_DIM = 128

# name -> (shape of one row, dtype). Every array has one row per face entry.
ARRAYS = {
    "landmarks": ((NUM_LANDMARKS, 2), np.float32),       # frame pixels
    "face_landmarks": ((NUM_LANDMARKS, 2), np.float32),  # aligned-face pixels
    "matrices": ((2, 3), np.float64),                    # frame -> aligned face
    "boxes": ((4,), np.float32),                         # detector box x0, y0, x1, y1 in frame pixels
    "identity": ((IDENTITY_DIM,), np.float32),           # 128-D embedding, NaN where not computed
}


@dataclass
class FaceEntry:
    """One face: where it came from and what was measured on it. `file` is relative to the faceset folder."""

    file: str
    source_index: int
    frame_index: int
    frame_time: float
    track_id: int | None  # None for still images
    score: float          # detector confidence
    blur: float           # variance of the Laplacian of the aligned face: higher is sharper
    yaw: float            # head pose in degrees
    pitch: float
    roll: float
    has_identity: bool = False
    reason: str | None = None  # why the face was rejected; None for kept faces

    def to_json(self) -> dict:
        d = asdict(self)
        precision = {"frame_time": 6, "score": 4, "blur": 2, "yaw": 2, "pitch": 2, "roll": 2}
        for key, digits in precision.items():
            value = float(d[key])
            d[key] = None if math.isnan(value) else round(value, digits)  # JSON has no NaN: unknown is null
        if d["reason"] is None:
            del d["reason"]
        return d

    @classmethod
    def from_json(cls, d: dict) -> "FaceEntry":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}")
        entry = cls(**d)
        for key in ("blur", "yaw", "pitch", "roll"):
            if getattr(entry, key) is None:
                setattr(entry, key, math.nan)
        if not isinstance(entry.file, str) or not isinstance(entry.source_index, int):
            raise ValueError("bad file or source_index")
        return entry


@dataclass
class Source:
    """A video, image or folder that faces were extracted from."""

    path: str
    kind: str  # 'video' | 'image' | 'folder'
    width: int
    height: int
    fps: str | None  # "num/den", None for stills
    frame_count: int

    @classmethod
    def from_info(cls, info) -> "Source":
        """From a kaokae.media MediaInfo."""
        fps = None if info.fps is None else f"{Fraction(info.fps).numerator}/{Fraction(info.fps).denominator}"
        return cls(str(Path(info.path).resolve()), info.kind, int(info.width), int(info.height), fps,
                   int(info.frame_count))

    @property
    def fps_fraction(self) -> Fraction | None:
        return None if self.fps is None else Fraction(self.fps)


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to (..., 2) points."""
    return points @ matrix[:, :2].T + matrix[:, 2]


def empty_arrays(n: int = 0) -> dict[str, np.ndarray]:
    arrays = {name: np.zeros((n, *shape), dtype) for name, (shape, dtype) in ARRAYS.items()}
    arrays["identity"][:] = np.nan
    return arrays


def is_faceset(path: str | os.PathLike) -> bool:
    return (Path(path) / "alignments.json").is_file()


class FaceSet:
    """A faceset on disk. Entries and arrays are in the same order; index i means entry i everywhere."""

    def __init__(self, path: Path, meta: dict, sources: list[Source], entries: list[FaceEntry],
                 arrays: dict[str, np.ndarray], rejected: list[FaceEntry],
                 rejected_arrays: dict[str, np.ndarray]):
        self.path = path
        self.meta = meta
        self.size: int = meta["size"]
        self.centering: str = meta["centering"]
        self.version: int = meta["version"]
        self.sources = sources
        self.entries = entries
        self.arrays = arrays
        self.rejected = rejected
        self.rejected_arrays = rejected_arrays
        self._by_frame: dict[tuple[int, int], np.ndarray] | None = None

    # ---- reading

    @classmethod
    def open(cls, path: str | os.PathLike) -> "FaceSet":
        path = Path(path)
        if not path.is_dir():
            raise KaokaeError(f"{path}: no such faceset folder")
        if (path / ".pending").is_dir():
            with _locked(path):
                if _finish_pending(path):
                    warn(f"{path}: finished a change to the faceset that was interrupted")
        with _locked(path, shared=True):  # never half of a change that another process is making right now
            return cls._read(path)

    @classmethod
    def _read(cls, path: Path) -> "FaceSet":
        json_path, npz_path = path / "alignments.json", path / "alignments.npz"
        if not json_path.is_file():
            raise KaokaeError(f"{path} is not a faceset: alignments.json is missing")
        try:
            meta = json.loads(json_path.read_text("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise KaokaeError(f"{json_path} is damaged: {e}") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise KaokaeError(f"{json_path} is not a kaokae faceset alignments file")
        version = meta.get("version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise KaokaeError(f"{json_path} is damaged: its version is {version!r}, not an integer")
        if version > VERSION:
            raise KaokaeError(f"{path} is faceset format version {version}, newer than this kaokae reads "
                              f"(version {VERSION}): upgrade kaokae")
        if version != VERSION:
            raise KaokaeError(f"{path} is faceset format version {version}, which this kaokae does not know")
        try:
            if meta["size"] < 1 or meta["centering"] not in CENTERINGS:
                raise ValueError("bad size or centering")
            sources = [Source(**s) for s in meta["sources"]]
            entries = [FaceEntry.from_json(e) for e in meta["faces"]]
            rejected = [FaceEntry.from_json(e) for e in meta["rejected"]]
            expected_hash = meta["arrays_sha256"]
        except (KeyError, TypeError, ValueError) as e:
            raise KaokaeError(f"{json_path} is damaged: {e!r}") from None
        if not npz_path.is_file():
            raise KaokaeError(f"{path} is damaged: alignments.npz is missing")
        blob = npz_path.read_bytes()
        if hashlib.sha256(blob).hexdigest() != expected_hash:
            raise KaokaeError(f"{npz_path} is damaged or does not belong to {json_path.name} "
                              "(checksum differs)")
        try:
            with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
                loaded = {key: npz[key] for key in npz.files}
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
            raise KaokaeError(f"{npz_path} is damaged: {e}") from None
        arrays = _check_arrays(loaded, "", len(entries), npz_path)
        rejected_arrays = _check_arrays(loaded, "rejected_", len(rejected), npz_path)
        return cls(path, meta, sources, entries, arrays, rejected, rejected_arrays)

    def __len__(self) -> int:
        return len(self.entries)

    def __repr__(self) -> str:
        return f"FaceSet({str(self.path)!r}, {len(self)} faces, size={self.size}, {self.centering!r})"

    @property
    def landmarks(self) -> np.ndarray:
        return self.arrays["landmarks"]

    @property
    def face_landmarks(self) -> np.ndarray:
        return self.arrays["face_landmarks"]

    @property
    def matrices(self) -> np.ndarray:
        return self.arrays["matrices"]

    @property
    def boxes(self) -> np.ndarray:
        return self.arrays["boxes"]

    @property
    def identity(self) -> np.ndarray:
        return self.arrays["identity"]

    @property
    def blur(self) -> np.ndarray:
        return np.array([e.blur for e in self.entries], np.float64)

    @property
    def poses(self) -> np.ndarray:
        """(N, 3) yaw, pitch, roll in degrees."""
        return np.array([(e.yaw, e.pitch, e.roll) for e in self.entries], np.float64).reshape(-1, 3)

    def face_path(self, index: int) -> Path:
        return self.path / self.entries[index].file

    def load_face(self, index: int) -> np.ndarray:
        return _read_png(self.path / self.entries[index].file, self.size)

    def load_faces(self, indices=None) -> np.ndarray:
        """(N, S, S, 3) uint8 RGB in entry order (or in the order of `indices`)."""
        indices = range(len(self)) if indices is None else list(indices)
        out = np.empty((len(indices), self.size, self.size, 3), np.uint8)
        paths = [self.path / self.entries[i].file for i in indices]

        def load(k: int) -> None:
            out[k] = _read_png(paths[k], self.size)

        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            list(pool.map(load, range(len(paths))))
        return out

    def frame_lookup(self, source_index: int, frame_index: int) -> np.ndarray:
        """Indices of the faces found on one frame of one source (empty when none)."""
        if self._by_frame is None:
            groups: dict[tuple[int, int], list[int]] = {}
            for i, e in enumerate(self.entries):
                groups.setdefault((e.source_index, e.frame_index), []).append(i)
            self._by_frame = {key: np.array(v, np.int64) for key, v in groups.items()}
        return self._by_frame.get((source_index, frame_index), np.zeros(0, np.int64))

    # ---- changing (sort, filter, caching identity); each returns the faceset as it is on disk afterwards

    def rearrange(self, order, reject: dict[int, str] | None = None, renumber: bool = False) -> "FaceSet":
        """Keep faces `order` (entry indices, in that order); move faces `reject` ({index: reason}) into
        rejected/. Every index must appear exactly once in `order` or `reject`. With `renumber` the kept faces
        are renamed faces/000000.png, 000001.png, ... in the new order; otherwise they keep their names.
        Nothing is deleted.
        """
        reject = dict(reject or {})
        order = [int(i) for i in order]
        if sorted(order + list(reject)) != list(range(len(self))):
            raise ValueError("order and reject must cover every face exactly once")
        moves: list[tuple[str, str]] = []
        entries: list[FaceEntry] = []
        for k, i in enumerate(order):
            entry = FaceEntry(**asdict(self.entries[i]))
            if renumber:
                entry.file = f"faces/{k:06d}.png"
                if entry.file != self.entries[i].file:
                    moves.append((self.entries[i].file, entry.file))
            entries.append(entry)
        rejected = list(self.rejected)
        taken = {e.file for e in rejected}
        next_number = _next_number(self.entries + self.rejected)
        rejected_rows = []
        for i in sorted(reject):
            entry = FaceEntry(**asdict(self.entries[i]))
            entry.reason = reject[i]
            entry.file = f"rejected/{Path(entry.file).name}"
            if entry.file in taken:
                entry.file = f"rejected/{next_number:06d}.png"
                next_number += 1
            taken.add(entry.file)
            moves.append((self.entries[i].file, entry.file))
            rejected.append(entry)
            rejected_rows.append(i)
        arrays = {name: a[order] for name, a in self.arrays.items()}
        rejected_arrays = {name: np.concatenate([self.rejected_arrays[name], a[rejected_rows]])
                           for name, a in self.arrays.items()}
        _commit_in_place(self.path, self.meta, self.sources, entries, arrays, rejected, rejected_arrays,
                         moves, based_on=self.meta)
        return FaceSet.open(self.path)

    def set_identity(self, indices, vectors: np.ndarray) -> "FaceSet":
        """Store computed 128-D embeddings of faces `indices` (a cache for sorting/filtering by identity)."""
        arrays = {name: a.copy() for name, a in self.arrays.items()}
        entries = [FaceEntry(**asdict(e)) for e in self.entries]
        for i, vector in zip(indices, vectors, strict=True):
            arrays["identity"][i] = vector
            entries[i].has_identity = True
        _commit_in_place(self.path, self.meta, self.sources, entries, arrays, self.rejected,
                         self.rejected_arrays, [], based_on=self.meta)
        return FaceSet.open(self.path)


class FaceSetWriter:
    """Writes a faceset: `add_source`, then `add` faces (a small thread pool writes the PNGs), `commit`.

    mode "new" refuses a non-empty destination; "append" adds to an existing faceset (same size and centering)
    or starts a new one; "overwrite" replaces an existing faceset. Until `commit` nothing is visible at the
    destination: new and overwritten facesets are built in a hidden folder beside it, appended faces are
    unreferenced files. Used as a context manager, an exception aborts and a normal exit commits.
    """

    def __init__(self, path: str | os.PathLike, size: int = 256, centering: str = "face", mode: str = "new"):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if centering not in CENTERINGS:
            raise KaokaeError(f"centering must be one of {', '.join(CENTERINGS)}, not {centering!r}")
        if size < 16:
            raise KaokaeError(f"face size must be at least 16 pixels, not {size}")
        self.dest = Path(path)
        self.size, self.centering, self.mode = size, centering, mode
        if self.dest.exists() and not self.dest.is_dir():
            raise KaokaeError(f"{self.dest} is a file, not a faceset folder")
        existing = is_faceset(self.dest)
        non_empty = self.dest.is_dir() and any(self.dest.iterdir())
        self.base: FaceSet | None = None
        if mode == "new" and non_empty:
            raise KaokaeError(f"{self.dest} is not empty: use --append to add to it or --overwrite to "
                              "replace it")
        if mode != "new" and non_empty and not existing:
            raise KaokaeError(f"{self.dest} is not empty and is not a faceset: refusing to {mode} it")
        if mode == "append" and existing:
            self.base = FaceSet.open(self.dest)
            if (self.base.size, self.base.centering) != (size, centering):
                raise KaokaeError(f"{self.dest} holds {self.base.size} px faces with {self.base.centering} "
                                  "centering; "
                                  "append with the same --size and --centering")
            self.root = self.dest
            self.sources = list(self.base.sources)
            self._next = _next_number(self.base.entries + self.base.rejected)
        else:
            self.dest.parent.mkdir(parents=True, exist_ok=True)
            self.root = Path(tempfile.mkdtemp(prefix=f".{self.dest.name}.partial-", dir=self.dest.parent))
            umask = os.umask(0)
            os.umask(umask)
            self.root.chmod(0o777 & ~umask)  # mkdtemp makes it private; the faceset is an ordinary folder
            self.sources = []
            self._next = 0
        self.entries: list[FaceEntry] = []    # kept faces added by this writer
        self.rejected: list[FaceEntry] = []   # rejected faces added by this writer
        # per-face array rows until commit, for kept (False) and rejected (True) faces
        self._rows: dict[bool, dict[str, list]] = {r: {name: [] for name in ARRAYS} for r in (False, True)}
        self._written: list[Path] = []
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="kaokae-png")
        self._pending: list[Future] = []
        self._done = False

    def add_source(self, source) -> int:
        """Register a source (a `Source` or a kaokae.media MediaInfo); returns its index for `add`."""
        if not isinstance(source, Source):
            source = Source.from_info(source)
        self.sources.append(source)
        return len(self.sources) - 1

    def add(self, face: np.ndarray, *, source_index: int, frame_index: int, frame_time: float,
            track_id: int | None, score: float, blur: float, yaw: float, pitch: float, roll: float,
            landmarks: np.ndarray, matrix: np.ndarray, box: np.ndarray, identity: np.ndarray | None = None,
            reason: str | None = None) -> FaceEntry:
        """Add one aligned face (RGB, size x size); with a `reason` it goes to rejected/ to be checked."""
        if face.shape != (self.size, self.size, 3) or face.dtype != np.uint8:
            raise ValueError(f"face must be ({self.size}, {self.size}, 3) uint8, not {face.shape} "
                             f"{face.dtype}")
        folder = "rejected" if reason else "faces"
        entry = FaceEntry(f"{folder}/{self._next:06d}.png", int(source_index), int(frame_index),
                          float(frame_time), None if track_id is None else int(track_id), float(score),
                          float(blur), float(yaw), float(pitch), float(roll), identity is not None, reason)
        self._next += 1
        rows = self._rows[bool(reason)]
        rows["landmarks"].append(np.asarray(landmarks, np.float32))
        face_points = transform_points(np.asarray(landmarks, np.float64), matrix)
        rows["face_landmarks"].append(face_points.astype(np.float32))
        rows["matrices"].append(np.asarray(matrix, np.float64))
        rows["boxes"].append(np.asarray(box, np.float32))
        rows["identity"].append(np.full(IDENTITY_DIM, np.nan, np.float32) if identity is None
                                else np.asarray(identity, np.float32))
        (self.rejected if reason else self.entries).append(entry)
        path = self.root / entry.file
        self._written.append(path)
        while len(self._pending) >= 32:  # bounded: at most this many faces wait in memory for the PNG threads
            self._pending.pop(0).result()
        self._pending.append(self._pool.submit(_write_png, path, face))
        return entry

    def commit(self) -> FaceSet:
        """Write the alignments and make the faceset visible at its destination. If that fails, it aborts."""
        if self._done:
            raise RuntimeError("this FaceSetWriter is already committed or aborted")
        try:
            return self._commit()
        except BaseException:
            self.abort()  # does nothing once the commit point has passed
            raise

    def _commit(self) -> FaceSet:
        self._wait()
        _flush_to_disk()
        arrays, rejected_arrays = (self._stack(False), self._stack(True))
        if self.base is not None:
            base = self.base
            _commit_in_place(self.root, base.meta, self.sources, base.entries + self.entries,
                             _concat(base.arrays, arrays), base.rejected + self.rejected,
                             _concat(base.rejected_arrays, rejected_arrays), [], based_on=base.meta)
            self._done = True
            return FaceSet.open(self.dest)
        meta = {"size": self.size, "centering": self.centering}
        _write_alignments(self.root, meta, self.sources, self.entries, arrays, self.rejected, rejected_arrays)
        atomic.fsync_dir(self.root)
        old = None
        if self.dest.exists():
            if any(self.dest.iterdir()):  # overwrite: the old faceset goes only once the new one is complete
                old = Path(tempfile.mkdtemp(prefix=f".{self.dest.name}.old-", dir=self.dest.parent))
                os.replace(self.dest, old / "faceset")
            else:
                self.dest.rmdir()
        os.replace(self.root, self.dest)
        self._done = True
        atomic.fsync_dir(self.dest.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return FaceSet.open(self.dest)

    def close(self) -> FaceSet | None:
        """Commit unless already committed or aborted (what a `with` block that ends without error does)."""
        return None if self._done else self.commit()

    def abort(self) -> None:
        """Leave the destination as it was: remove the hidden folder, or the PNGs this writer appended."""
        if self._done:
            return
        self._done = True
        with contextlib.suppress(Exception):
            self._wait()
        if self.base is None:
            shutil.rmtree(self.root, ignore_errors=True)
        else:
            for path in self._written:
                path.unlink(missing_ok=True)

    def __enter__(self) -> "FaceSetWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()

    def _wait(self) -> None:
        try:
            for future in self._pending:
                future.result()
        finally:
            self._pending.clear()
            self._pool.shutdown(wait=True)

    def _stack(self, rejected: bool) -> dict[str, np.ndarray]:
        rows = self._rows[rejected]
        n = len(rows["landmarks"])
        return {name: np.stack(rows[name]).astype(dtype) if n else np.zeros((0, *shape), dtype)
                for name, (shape, dtype) in ARRAYS.items()}


# ---- internals


def _check_arrays(loaded: dict[str, np.ndarray], prefix: str, n: int, where: Path) -> dict[str, np.ndarray]:
    arrays = {}
    for name, (shape, dtype) in ARRAYS.items():
        a = loaded.get(prefix + name)
        if a is None:
            raise KaokaeError(f"{where} is damaged: array {prefix + name} is missing")
        if a.shape != (n, *shape):
            raise KaokaeError(f"{where} does not match alignments.json: {prefix + name} has shape {a.shape}, "
                              f"expected {(n, *shape)}")
        arrays[name] = a.astype(dtype, copy=False)
    return arrays


def _concat(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {name: np.concatenate([a[name], b[name]]) for name in ARRAYS}


def _next_number(entries: list[FaceEntry]) -> int:
    numbers = [int(Path(e.file).stem) for e in entries if Path(e.file).stem.isdigit()]
    return max(numbers, default=-1) + 1


def _read_png(path: Path, size: int) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise KaokaeError(f"cannot read face image {path} (missing or damaged)")
    if image.shape != (size, size, 3):
        raise KaokaeError(f"{path} is {image.shape[1]}x{image.shape[0]}, but the faceset's faces are "
                          f"{size}x{size}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


# zlib level 1 with Huffman coding only: on aligned face photos 20-30% faster than OpenCV's default level 1
# and slightly smaller (LZ77 string matching finds little in photographic residuals).
PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY]


def _write_png(path: Path, rgb: np.ndarray) -> None:
    """Write one face. No fsync here (one per face costs more than the encoding): `_flush_to_disk` flushes
    them all at once before the alignments that reference them are committed."""
    ok, png = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), PNG_PARAMS)
    if not ok:
        raise KaokaeError(f"cannot encode {path}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png.tobytes())
    except OSError as e:
        raise KaokaeError(f"cannot write {path}: {e.strerror}") from None


def _flush_to_disk() -> None:
    """Make the written faces durable before the alignments that reference them: one sync(2) for all of them
    (a kill needs none of this; a power cut would otherwise leave empty PNGs behind committed alignments)."""
    os.sync()


def _write_alignments(root: Path, meta: dict, sources: list[Source], entries: list[FaceEntry],
                      arrays: dict[str, np.ndarray], rejected: list[FaceEntry],
                      rejected_arrays: dict[str, np.ndarray]) -> None:
    """alignments.npz first, then alignments.json, which records the npz's checksum (readers check it)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, **{f"rejected_{name}": a for name, a in rejected_arrays.items()})
    blob = buffer.getvalue()
    document = {
        "format": FORMAT,
        "version": VERSION,
        "size": int(meta["size"]),
        "centering": meta["centering"],
        "kaokae_version": __version__,
        "arrays_sha256": hashlib.sha256(blob).hexdigest(),
        "sources": [asdict(s) for s in sources],
        "faces": [e.to_json() for e in entries],
        "rejected": [e.to_json() for e in rejected],
    }
    atomic.write_bytes(root / "alignments.npz", blob)
    atomic.write_text(root / "alignments.json", _dumps(document))


def _dumps(document: dict) -> str:
    """JSON with one line per source and per face: readable, greppable and diffable."""
    lines = []
    for key, value in document.items():
        if isinstance(value, list) and value:
            items = ",\n".join(f"  {json.dumps(item, allow_nan=False)}" for item in value)
            lines.append(f" {json.dumps(key)}: [\n{items}\n ]")
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value, allow_nan=False)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def _commit_in_place(root: Path, meta: dict, sources, entries, arrays, rejected, rejected_arrays,
                     moves: list[tuple[str, str]], based_on: dict) -> None:
    """Stage the new alignments and the file moves in .pending/, then apply them (replayable if interrupted).
    `based_on`: the metadata the change was computed from; if the faceset changed since, nothing is done."""
    with _locked(root):
        pending = root / ".pending"
        _finish_pending(root)  # a committed change left by a killed process goes first
        try:
            current = json.loads((root / "alignments.json").read_text("utf-8")).get("arrays_sha256")
        except (OSError, ValueError):
            current = None
        if current != based_on["arrays_sha256"]:
            raise KaokaeError(f"{root} was changed by another kaokae meanwhile; nothing was done, run it "
                              "again")
        for src, _ in moves:
            if not (root / src).is_file():
                raise KaokaeError(f"{root} is damaged: {src} is missing")
        shutil.rmtree(pending, ignore_errors=True)  # a plan that was never committed: the old state stands
        pending.mkdir()
        _write_alignments(pending, meta, sources, entries, arrays, rejected, rejected_arrays)
        atomic.write_text(pending / "moves.json", json.dumps(moves))  # the commit point of the change
        _finish_pending(root)


@contextlib.contextmanager
def _locked(root: Path, shared: bool = False) -> Iterator[None]:
    """An flock on the faceset folder: changes take it exclusively, readers shared, so a reader never sees
    half of a change another process is making. (No locking where fcntl is missing, that is on Windows.)"""
    if fcntl is None:
        yield
        return
    fd = os.open(root, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _finish_pending(root: Path) -> bool:
    """Apply a staged change: move files in two phases (all into .pending/staged, then to their new names, so
    renames that swap names never collide), then put the new alignments in place."""
    pending = root / ".pending"
    if not pending.is_dir():
        return False
    plan = pending / "moves.json"
    if not plan.is_file():
        shutil.rmtree(pending, ignore_errors=True)
        return False
    try:
        moves = json.loads(plan.read_text("utf-8"))
        staged = pending / "staged"
        staged.mkdir(exist_ok=True)
        if not (pending / "staged.done").exists():
            for k, (src, _) in enumerate(moves):
                if not (staged / f"{k}.png").exists():
                    os.replace(root / src, staged / f"{k}.png")
            atomic.fsync_dir(staged)
            atomic.write_text(pending / "staged.done", "")
        for k, (_, dst) in enumerate(moves):
            if (staged / f"{k}.png").exists():
                (root / dst).parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged / f"{k}.png", root / dst)
        for name in ("alignments.npz", "alignments.json"):
            if (pending / name).exists():
                os.replace(pending / name, root / name)
        atomic.fsync_dir(root)
        plan.unlink()  # first, so a half-removed .pending is never replayed
        shutil.rmtree(pending, ignore_errors=True)
    except OSError as e:
        raise KaokaeError(f"cannot finish an interrupted change to the faceset {root}: {e}") from None
    return True
