"""The on-disk faceset: aligned square face PNGs plus versioned alignments. This module is the only one that
reads or writes it; train and convert load facesets through `FaceSet.open`.

A faceset folder:
    faces/NNNNNN.png      aligned faces, RGB, size x size
    rejected/NNNNNN.png   faces set aside by `extract --only` or `faceset filter` (never deleted; `faceset
                          restore` moves them back)
    alignments.json       format name, integer version, size, centering, sources, one entry per face
                          (rejected faces listed too)
    alignments.npz        bulk arrays; row i belongs to entry i (`rejected_*` arrays to the rejected entries)
    contact_sheet.png     sample faces of the last extract (written by kaokae.extract)

Every change is crash-safe. A new faceset is written in a hidden folder beside its destination and renamed
into place. A change to an existing one (append, sort, filter, restore) is first staged complete in `.pending/` and
then applied by steps that can be replayed, so a kill at any moment leaves either the old faceset or the new
one. Reading never writes: a change that was interrupted is finished by the next writer (under the lock) or by
`kaokae faceset repair`; until then readers refuse the faceset in one line. An flock on the folder keeps readers
from seeing half of a change another process is making, and a change computed from a faceset that has changed
since is refused rather than merged: the loser of a race changes nothing but its own files.

Every file name read from disk (face entries, the replay plan) must be `faces/NAME.png` or `rejected/NAME.png`
inside the folder (`kaokae.paths.inside`): a crafted faceset cannot make kaokae read, move or overwrite a file
outside it. Every field of alignments.json is type-checked, and face images are checked from their PNG header
before they are decoded.
"""

import contextlib
import dataclasses
import errno
import hashlib
import io
import json
import math
import os
import re
import shutil
import struct
import tempfile
import zipfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from kaokae import __version__, atomic
from kaokae.errors import KaokaeError
from kaokae.paths import inside, remove_stale_partials

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

FORMAT = "kaokae-faceset"
VERSION = 1
CENTERINGS = ("face", "head", "whole_face")
MODES = ("new", "append", "overwrite")
MIN_SIZE, MAX_SIZE = 16, 4096  # face side in pixels
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
        """ValueError naming the field when a record is not what kaokae writes."""
        if not isinstance(d, dict):
            raise ValueError("a face record is not a JSON object")
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}")
        values = dict(d)
        for name in names - set(values):
            if name not in ("has_identity", "reason"):
                raise ValueError(f"field {name!r} is missing")
        _check_field(values, "file", str)
        for name in ("source_index", "frame_index"):
            _check_field(values, name, int)
            if values[name] < 0:
                raise ValueError(f"field {name!r} is {values[name]}, not 0 or more")
        _check_field(values, "track_id", int, optional=True)
        _check_field(values, "has_identity", bool, optional=True)
        _check_field(values, "reason", str, optional=True)
        for name in ("frame_time", "score", "blur", "yaw", "pitch", "roll"):
            _check_field(values, name, float, optional=True)  # written as null when unknown (NaN)
            values[name] = math.nan if values[name] is None else float(values[name])
        values.setdefault("has_identity", False)
        return cls(**values)


def _check_field(values: dict, name: str, kind: type, optional: bool = False) -> None:
    value = values.get(name)
    if value is None and optional:
        values[name] = None
        return
    ok = (isinstance(value, bool) if kind is bool else
          isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
          if kind is float else isinstance(value, kind) and not isinstance(value, bool))
    if not ok:
        raise ValueError(f"field {name!r} is {value!r}, not {'a number' if kind is float else kind.__name__}")


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
    def from_json(cls, d: dict) -> "Source":
        if not isinstance(d, dict) or set(d) != {f.name for f in fields(cls)}:
            raise ValueError(f"a source record has keys {sorted(d) if isinstance(d, dict) else d!r}, not "
                             f"{sorted(f.name for f in fields(cls))}")
        for name, kind in (("path", str), ("kind", str), ("width", int), ("height", int), ("frame_count", int)):
            _check_field(d, name, kind)
        _check_field(d, "fps", str, optional=True)
        return cls(**d)

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


@dataclass
class Faces:
    """Face records and their arrays: row i of every array belongs to entries[i]. A faceset holds two, the kept
    faces and the rejected ones."""

    entries: list[FaceEntry]
    arrays: dict[str, np.ndarray]

    @classmethod
    def empty(cls) -> "Faces":
        return cls([], empty_arrays())

    def __len__(self) -> int:
        return len(self.entries)

    def take(self, indices) -> "Faces":
        """The faces `indices` (in that order), as copies."""
        indices = [int(i) for i in indices]
        return Faces([FaceEntry(**asdict(self.entries[i])) for i in indices],
                     {name: a[indices] for name, a in self.arrays.items()})

    def __add__(self, other: "Faces") -> "Faces":
        return Faces(self.entries + other.entries,
                     {name: np.concatenate([self.arrays[name], other.arrays[name]]) for name in ARRAYS})


@dataclass
class Alignments:
    """Everything alignments.json and alignments.npz hold."""

    size: int
    centering: str
    sources: list[Source]
    kept: Faces
    rejected: Faces
    arrays_sha256: str = ""  # of the npz as read (what a change is based on); empty for one not written yet


class FaceSet:
    """A faceset on disk. Entries and arrays are in the same order; index i means entry i everywhere."""

    def __init__(self, path: Path, alignments: Alignments):
        self.path = path
        self.alignments = alignments
        self.size: int = alignments.size
        self.centering: str = alignments.centering
        self.version: int = VERSION
        self.sources = alignments.sources
        self._by_frame: dict[tuple[int, int], np.ndarray] | None = None

    @property
    def kept(self) -> Faces:
        return self.alignments.kept

    @property
    def entries(self) -> list[FaceEntry]:
        return self.alignments.kept.entries

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        return self.alignments.kept.arrays

    @property
    def rejected(self) -> list[FaceEntry]:
        return self.alignments.rejected.entries

    @property
    def rejected_arrays(self) -> dict[str, np.ndarray]:
        return self.alignments.rejected.arrays

    # ---- reading

    @classmethod
    def open(cls, path: str | os.PathLike, repair: bool = False) -> "FaceSet":
        """Read a faceset; nothing is written. With `repair` (for writers) a change that was interrupted is
        finished first, under the lock; without it such a faceset is refused in one line."""
        path = Path(path)
        if not path.is_dir():
            raise KaokaeError(f"{path}: no such faceset folder")
        if repair:
            repair_faceset(path)
        with _locked(path, shared=True):  # never half of a change that another process is making right now
            if (path / ".pending" / "moves.json").is_file():
                raise KaokaeError(f"{path} holds a change that was interrupted: run `kaokae faceset repair {path}`")
            return cls(path, _read(path))

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
        kept = self.kept.take(order)
        if renumber:
            for k, entry in enumerate(kept.entries):
                if entry.file != f"faces/{k:06d}.png":
                    moves.append((entry.file, f"faces/{k:06d}.png"))
                    entry.file = f"faces/{k:06d}.png"
        rows = sorted(reject)
        newly_rejected = self.kept.take(rows)
        for row, entry in zip(rows, newly_rejected.entries, strict=True):
            entry.reason = reject[row]
        moves += self._move_into("rejected", newly_rejected.entries, {e.file for e in self.rejected})
        changed = dataclasses.replace(self.alignments, kept=kept, rejected=self.alignments.rejected + newly_rejected)
        _commit_in_place(self.path, changed, moves)
        return FaceSet.open(self.path)

    def _move_into(self, folder: str, entries, taken: set[str]) -> list[tuple[str, str]]:
        """Point `entries` at `folder`, keeping each file's name unless `taken` has it (then a new number after
        every face of the set); returns the (old, new) file moves."""
        next_number = _next_number(self.entries + self.rejected)
        moves = []
        for entry in entries:
            old, entry.file = entry.file, f"{folder}/{Path(entry.file).name}"
            if entry.file in taken:
                entry.file = f"{folder}/{next_number:06d}.png"
                next_number += 1
            taken.add(entry.file)
            moves.append((old, entry.file))
        return moves

    def restore(self, rows) -> "FaceSet":
        """Move rejected faces `rows` (indices into `rejected`) back into faces/, after the kept faces, keeping
        their names where faces/ has no such file. The undo of a filter."""
        rows = sorted({int(i) for i in rows})
        if any(not 0 <= i < len(self.rejected) for i in rows):
            raise ValueError("a row is not a rejected face")
        restored = self.alignments.rejected.take(rows)
        chosen = set(rows)
        still = self.alignments.rejected.take([i for i in range(len(self.rejected)) if i not in chosen])
        for entry in restored.entries:
            entry.reason = None
        moves = self._move_into("faces", restored.entries, {e.file for e in self.entries})
        changed = dataclasses.replace(self.alignments, kept=self.kept + restored, rejected=still)
        _commit_in_place(self.path, changed, moves)
        return FaceSet.open(self.path)

    def set_identity(self, indices, vectors: np.ndarray) -> "FaceSet":
        """Store computed 128-D embeddings of faces `indices` (a cache for sorting/filtering by identity)."""
        kept = self.kept.take(range(len(self)))
        for i, vector in zip(indices, vectors, strict=True):
            kept.arrays["identity"][i] = vector
            kept.entries[i].has_identity = True
        _commit_in_place(self.path, dataclasses.replace(self.alignments, kept=kept), [])
        return FaceSet.open(self.path)


def repair_faceset(path: str | os.PathLike) -> str | None:
    """Finish (or drop, if it was never committed) a change that a killed kaokae left in `.pending/`, under the
    lock; returns what was done, None when there was nothing to do. `kaokae faceset repair` runs this."""
    path = Path(path)
    if not is_faceset(path):
        raise KaokaeError(f"{path} is not a faceset: alignments.json is missing")
    remove_stale_partials(path)  # appended faces of a killed extract --append
    if not (path / ".pending").exists():
        return None
    with _locked(path):
        return _finish_pending(path)


class _Added:
    """Faces a writer has added: their records, and their array rows until the commit stacks them."""

    def __init__(self):
        self.entries: list[FaceEntry] = []
        self.rows: dict[str, list] = {name: [] for name in ARRAYS}

    def faces(self) -> Faces:
        n = len(self.entries)
        return Faces(self.entries, {name: np.stack(self.rows[name]).astype(dtype) if n else np.zeros((0, *shape), dtype)
                                    for name, (shape, dtype) in ARRAYS.items()})


class FaceSetWriter:
    """Writes a faceset: `add_source`, then `add` faces (a small thread pool writes the PNGs), `commit`.

    mode "new" refuses a non-empty destination, also one that another kaokae created meanwhile; "append" adds
    to an existing faceset (same size and centering) or starts a new one; "overwrite" replaces an existing
    faceset. Until `commit` nothing is visible at the destination: new and overwritten facesets are built in a
    hidden folder beside it, appended faces in a hidden folder inside it that only this writer uses. Used as a
    context manager, an exception aborts and a normal exit commits.
    """

    def __init__(self, path: str | os.PathLike, size: int = 256, centering: str = "face", mode: str = "new"):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if centering not in CENTERINGS:
            raise KaokaeError(f"centering must be one of {', '.join(CENTERINGS)}, not {centering!r}")
        if not MIN_SIZE <= size <= MAX_SIZE:
            raise KaokaeError(f"the face size must be {MIN_SIZE} to {MAX_SIZE} pixels, not {size}")
        self.dest = Path(os.path.abspath(path))
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
        try:
            if mode == "append" and existing:
                self.base = FaceSet.open(self.dest, repair=True)
                if (self.base.size, self.base.centering) != (size, centering):
                    raise KaokaeError(f"{self.dest} holds {self.base.size} px faces with {self.base.centering} "
                                      "centering; append with the same --size and --centering")
                self.root = Path(tempfile.mkdtemp(prefix=".append.partial-", dir=self.dest))
                self.sources = list(self.base.sources)
                self._next = _next_number(self.base.entries + self.base.rejected)
            else:
                self.dest.parent.mkdir(parents=True, exist_ok=True)
                remove_stale_partials(self.dest.parent)
                self.root = Path(tempfile.mkdtemp(prefix=f".{self.dest.name}.partial-", dir=self.dest.parent))
                self.sources = []
                self._next = 0
        except OSError as e:
            raise KaokaeError(f"cannot write the faceset {self.dest}: {e.strerror or e}") from None
        umask = os.umask(0)
        os.umask(umask)
        self.root.chmod(0o777 & ~umask)  # mkdtemp makes it private; the faceset is an ordinary folder
        self._added = {False: _Added(), True: _Added()}  # kept (False) and rejected (True) faces
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="kaokae-png")
        self._pending: list[Future] = []
        self._done = False

    @property
    def entries(self) -> list[FaceEntry]:
        """Kept faces added by this writer."""
        return self._added[False].entries

    @property
    def rejected(self) -> list[FaceEntry]:
        """Rejected faces added by this writer."""
        return self._added[True].entries

    def add_source(self, source) -> int:
        """Register a source (a `Source` or a kaokae.media MediaInfo); returns its index for `add`."""
        if not isinstance(source, Source):
            source = Source.from_info(source)
        self.sources.append(source)
        return len(self.sources) - 1

    def add(self, face: np.ndarray, entry: FaceEntry, *, landmarks: np.ndarray, matrix: np.ndarray,
            box: np.ndarray, identity: np.ndarray | None = None) -> FaceEntry:
        """Add one aligned face (RGB, size x size) measured as `entry` (its `file` and `has_identity` are set
        here); an entry with a `reason` goes to rejected/ to be checked. Returns the entry as stored."""
        if face.shape != (self.size, self.size, 3) or face.dtype != np.uint8:
            raise ValueError(f"face must be ({self.size}, {self.size}, 3) uint8, not {face.shape} "
                             f"{face.dtype}")
        entry = FaceEntry(**asdict(entry))
        entry.file = f"{'rejected' if entry.reason else 'faces'}/{self._next:06d}.png"
        entry.has_identity = identity is not None
        self._next += 1
        added = self._added[bool(entry.reason)]
        added.entries.append(entry)
        added.rows["landmarks"].append(np.asarray(landmarks, np.float32))
        added.rows["face_landmarks"].append(transform_points(np.asarray(landmarks, np.float64), matrix)
                                            .astype(np.float32))
        added.rows["matrices"].append(np.asarray(matrix, np.float64))
        added.rows["boxes"].append(np.asarray(box, np.float32))
        added.rows["identity"].append(np.full(IDENTITY_DIM, np.nan, np.float32) if identity is None
                                      else np.asarray(identity, np.float32))
        while len(self._pending) >= 32:  # bounded: at most this many faces wait in memory for the PNG threads
            self._pending.pop(0).result()
        self._pending.append(self._pool.submit(_write_png, self._staged(entry), face))
        return entry

    def _staged(self, entry: FaceEntry) -> Path:
        """Where this writer writes a face until the commit: appended faces wait flat in the hidden folder."""
        return self.root / (Path(entry.file).name if self.base is not None else entry.file)

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
        kept, rejected = self._added[False].faces(), self._added[True].faces()
        if self.base is not None:
            base = self.base.alignments
            staged = self.root.name
            moves = [(f"{staged}/{Path(e.file).name}", e.file) for e in kept.entries + rejected.entries]
            _commit_in_place(self.dest, Alignments(base.size, base.centering, self.sources, base.kept + kept,
                                                   base.rejected + rejected, base.arrays_sha256), moves)
            self._done = True
            shutil.rmtree(self.root, ignore_errors=True)  # empty now
            return FaceSet.open(self.dest)
        _write_alignments(self.root, Alignments(self.size, self.centering, self.sources, kept, rejected))
        atomic.fsync_dir(self.root)
        old = None
        if self.dest.exists() and any(self.dest.iterdir()):
            if self.mode == "new":
                raise KaokaeError(f"{self.dest} was created by another kaokae meanwhile: nothing was written")
            # overwrite: the old faceset goes only once the new one is complete
            old = Path(tempfile.mkdtemp(prefix=f".{self.dest.name}.old-", dir=self.dest.parent))
            os.replace(self.dest, old / "faceset")
        try:
            os.rename(self.root, self.dest)  # onto nothing or an empty folder; fails if one appeared meanwhile
        except OSError as e:
            if old is not None:
                os.replace(old / "faceset", self.dest)
            raise KaokaeError(f"{self.dest} was created by another kaokae meanwhile: nothing was written"
                              if e.errno in (errno.ENOTEMPTY, errno.EEXIST) else
                              f"cannot write the faceset {self.dest}: {e.strerror or e}") from None
        self._done = True
        atomic.fsync_dir(self.dest.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return FaceSet.open(self.dest)

    def close(self) -> FaceSet | None:
        """Commit unless already committed or aborted (what a `with` block that ends without error does)."""
        return None if self._done else self.commit()

    def abort(self) -> None:
        """Leave the destination as it was: remove this writer's hidden folder, and nothing else."""
        if self._done:
            return
        self._done = True
        with contextlib.suppress(Exception):
            self._wait()
        shutil.rmtree(self.root, ignore_errors=True)

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


# ---- internals

FACE_FILE = re.compile(r"^(faces|rejected)/[^/\\]+\.png$")
STAGED_FILE = re.compile(r"^\.append\.partial-[A-Za-z0-9_]+/[^/\\]+\.png$")  # a FaceSetWriter's appended faces


def _face_files(root: Path, names: list, where: str, staged: bool = False) -> list[Path]:
    """The paths of face files named on disk: faces/NAME.png or rejected/NAME.png inside `root` (or, for the
    source of a planned move, a writer's staged face), never anything else. Each folder is resolved once and each
    file checked for a symlink (resolving every path of a big faceset would cost most of the open)."""
    folders: dict[str, Path] = {}
    paths = []
    for name in names:
        if not isinstance(name, str) or not (FACE_FILE.match(name) or (staged and STAGED_FILE.match(name))):
            raise KaokaeError(f"{where}: {name!r} is not a face file of the faceset (faces/NAME.png or "
                              "rejected/NAME.png): refused")
        folder = name.split("/")[0]
        if folder not in folders:
            folders[folder] = inside(root, folder, where)
        path = root / name
        if path.is_symlink():
            inside(root, name, where)
        paths.append(path)
    return paths


def _face_file(root: Path, name: object, where: str, staged: bool = False) -> Path:
    return _face_files(root, [name], where, staged)[0]


def _read(path: Path) -> Alignments:
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
    field = "size"
    try:
        size = meta["size"]
        if not isinstance(size, int) or isinstance(size, bool) or not MIN_SIZE <= size <= MAX_SIZE:
            raise ValueError(f"{size!r} is not a face size of {MIN_SIZE} to {MAX_SIZE} pixels")
        field = "centering"
        if meta["centering"] not in CENTERINGS:
            raise ValueError(f"{meta['centering']!r} is not one of {', '.join(CENTERINGS)}")
        field = "arrays_sha256"
        expected_hash = meta["arrays_sha256"]
        if not isinstance(expected_hash, str):
            raise ValueError("not a string")
        records = {}
        for field in ("sources", "faces", "rejected"):
            if not isinstance(meta[field], list):
                raise ValueError("not a list")
            records[field] = meta[field]
        field = "sources"
        sources = [Source.from_json(s) for s in records["sources"]]
        entries = {}
        for field in ("faces", "rejected"):
            entries[field] = []
            for k, record in enumerate(records[field]):
                entry = FaceEntry.from_json(record)
                if entry.source_index >= len(sources):
                    raise ValueError(f"entry {k} names source {entry.source_index}, there are {len(sources)}")
                entries[field].append(entry)
    except KeyError as e:
        raise KaokaeError(f"{json_path} is damaged: field {e} is missing") from None
    except (TypeError, ValueError) as e:
        raise KaokaeError(f"{json_path} is damaged: {field}: {e}") from None
    _face_files(path, [e.file for e in entries["faces"] + entries["rejected"]], str(json_path))
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
    kept = Faces(entries["faces"], _check_arrays(loaded, "", len(entries["faces"]), npz_path))
    rejected = Faces(entries["rejected"], _check_arrays(loaded, "rejected_", len(entries["rejected"]), npz_path))
    return Alignments(size, meta["centering"], sources, kept, rejected, expected_hash)


def _check_arrays(loaded: dict[str, np.ndarray], prefix: str, n: int, where: Path) -> dict[str, np.ndarray]:
    arrays = {}
    for name, (shape, dtype) in ARRAYS.items():
        a = loaded.get(prefix + name)
        if a is None:
            raise KaokaeError(f"{where} is damaged: array {prefix + name} is missing")
        if a.shape != (n, *shape):
            raise KaokaeError(f"{where} does not match alignments.json: {prefix + name} has shape {a.shape}, "
                              f"expected {(n, *shape)}")
        if not np.issubdtype(a.dtype, np.number):
            raise KaokaeError(f"{where} is damaged: array {prefix + name} holds {a.dtype}, not numbers")
        arrays[name] = a.astype(dtype, copy=False)
    return arrays


def _next_number(entries: list[FaceEntry]) -> int:
    numbers = [int(Path(e.file).stem) for e in entries if Path(e.file).stem.isdigit()]
    return max(numbers, default=-1) + 1


def _read_png(path: Path, size: int) -> np.ndarray:
    """A face image, refused from its header (before decoding) unless it is a PNG of the faceset's size."""
    try:
        with open(path, "rb") as f:
            header = f.read(24)
            if header[:8] != b"\x89PNG\r\n\x1a\n" or header[12:16] != b"IHDR":
                raise KaokaeError(f"face image {path} is not a PNG (damaged?)")
            width, height = struct.unpack(">II", header[16:24])
            if (width, height) != (size, size):
                raise KaokaeError(f"{path} is {width}x{height}, but the faceset's faces are {size}x{size}")
            data = header + f.read()
    except OSError as e:
        raise KaokaeError(f"cannot read face image {path}: {e.strerror or e}") from None
    # Pillow, not OpenCV: libpng inside OpenCV prints its warnings straight to stderr, Pillow raises instead
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            rgb = np.asarray(image.convert("RGB"))
    except (OSError, SyntaxError, ValueError) as e:
        why = "not a readable PNG" if isinstance(e, UnidentifiedImageError) else e
        raise KaokaeError(f"cannot read face image {path} (damaged: {why})") from None
    if rgb.shape != (size, size, 3):
        raise KaokaeError(f"{path} is {rgb.shape[1]}x{rgb.shape[0]}, but the faceset's faces are {size}x{size}")
    return rgb


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


def _write_alignments(root: Path, alignments: Alignments) -> None:
    """alignments.npz first, then alignments.json, which records the npz's checksum (readers check it)."""
    buffer = io.BytesIO()
    np.savez(buffer, **alignments.kept.arrays,
             **{f"rejected_{name}": a for name, a in alignments.rejected.arrays.items()})
    blob = buffer.getvalue()
    document = {
        "format": FORMAT,
        "version": VERSION,
        "size": int(alignments.size),
        "centering": alignments.centering,
        "kaokae_version": __version__,
        "arrays_sha256": hashlib.sha256(blob).hexdigest(),
        "sources": [asdict(s) for s in alignments.sources],
        "faces": [e.to_json() for e in alignments.kept.entries],
        "rejected": [e.to_json() for e in alignments.rejected.entries],
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


def _commit_in_place(root: Path, changed: Alignments, moves: list[tuple[str, str]]) -> None:
    """Stage the new alignments and the file moves in .pending/, then apply them (replayable if interrupted).
    `changed.arrays_sha256` is the faceset the change was computed from; if it changed since, nothing is done."""
    try:
        with _locked(root):
            pending = root / ".pending"
            _finish_pending(root)  # a committed change left by a killed process goes first
            try:
                current = json.loads((root / "alignments.json").read_text("utf-8")).get("arrays_sha256")
            except (OSError, ValueError, AttributeError):
                current = None
            if current != changed.arrays_sha256:
                raise KaokaeError(f"{root} was changed by another kaokae meanwhile; nothing was done, run it "
                                  "again")
            for src, dst in moves:
                if not _face_file(root, src, f"{root}: a face to move", staged=True).is_file():
                    raise KaokaeError(f"{root} is damaged: {src} is missing")
                _face_file(root, dst, f"{root}: a face's new name")
            shutil.rmtree(pending, ignore_errors=True)  # a plan that was never committed: the old state stands
            pending.mkdir()
            _write_alignments(pending, changed)
            atomic.write_text(pending / "moves.json", json.dumps(moves))  # the commit point of the change
            _finish_pending(root)
    except PermissionError as e:
        raise KaokaeError(f"cannot change the faceset {root}: {e.strerror} ({e.filename})") from None


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


def _read_plan(root: Path, plan: Path) -> list[tuple[Path, Path]]:
    """The moves of a staged change, every name checked: a crafted plan is refused, nothing moved."""
    try:
        moves = json.loads(plan.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise KaokaeError(f"{plan} is damaged: {e}") from None
    if not isinstance(moves, list) or not all(isinstance(m, list) and len(m) == 2 for m in moves):
        raise KaokaeError(f"{plan} is damaged: not a list of [from, to] pairs; nothing was moved")
    return [(_face_file(root, src, str(plan), staged=True), _face_file(root, dst, str(plan))) for src, dst in moves]


def _finish_pending(root: Path) -> str | None:
    """Apply a staged change (the caller holds the lock): move files in two phases (all into .pending/staged,
    then to their new names, so renames that swap names never collide), then put the new alignments in place.
    Returns what was done, None when there was nothing to do."""
    pending = root / ".pending"
    if not pending.is_dir():
        return None
    plan = pending / "moves.json"
    if not plan.is_file():
        shutil.rmtree(pending, ignore_errors=True)
        return "dropped a change that was interrupted before it was complete (the faceset is as it was)"
    moves = _read_plan(root, plan)
    try:
        staged = pending / "staged"
        staged.mkdir(exist_ok=True)
        if not (pending / "staged.done").exists():
            for k, (src, _) in enumerate(moves):
                if not (staged / f"{k}.png").exists():
                    os.replace(src, staged / f"{k}.png")
            atomic.fsync_dir(staged)
            atomic.write_text(pending / "staged.done", "")
        for k, (_, dst) in enumerate(moves):
            if (staged / f"{k}.png").exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged / f"{k}.png", dst)
        for name in ("alignments.npz", "alignments.json"):
            if (pending / name).exists():
                os.replace(pending / name, root / name)
        atomic.fsync_dir(root)
        plan.unlink()  # first, so a half-removed .pending is never replayed
        shutil.rmtree(pending, ignore_errors=True)
    except OSError as e:
        raise KaokaeError(f"cannot finish an interrupted change to the faceset {root}: {e}") from None
    return f"finished a change that was interrupted ({len(moves)} faces moved)"
