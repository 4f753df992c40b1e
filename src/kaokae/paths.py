"""Path safety: the one rule for every file a faceset, a model folder or (later) a UI workspace names, the one
input-versus-output check every command makes, and the clean-up of what a killed kaokae left behind.

- `inside(root, name)`: a name read from disk (a faceset's face file, a replay plan) is relative, has no `..`,
  and resolves inside `root` (no symlink out); anything else is one KaokaeError naming the file.
- `check_outputs(inputs, outputs)`: an output is never one of the command's inputs nor a folder holding one, so
  `--overwrite` can never delete or replace what the command reads.
- `remove_stale_partials(folder)`: hidden `.NAME.partial-*` files and folders of kaokae that are older than a
  day (a kill -9 leaves them) are removed by the next kaokae that writes into that folder.
"""

import os
import re
import shutil
import time
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from kaokae.errors import KaokaeError
from kaokae.progress import info

# Images and video frames bigger than this are refused from their header, before any decoding (a 30000 x 30000 PNG
# of a few kilobytes would otherwise take gigabytes of memory).
MAX_PIXELS = 100_000_000
STALE_AFTER_S = 24 * 3600
PARTIAL = re.compile(r"^\..*\.(partial|old)-[A-Za-z0-9_]+")  # names of atomic.atomic_path and the folder writers


def inside(root: str | os.PathLike, name: object, what: str) -> Path:
    """`root / name`, refused unless `name` is a relative path without `..` that stays inside `root` once
    symlinks are resolved. `what` names where the name was read, for the error line."""
    if not isinstance(name, str) or not name or "\\" in name or "\x00" in name:
        raise KaokaeError(f"{what}: {name!r} is not a file name inside {root}")
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts or Path(name).is_absolute():
        raise KaokaeError(f"{what}: {name!r} points outside {root} (absolute or with '..'): refused")
    root_real = os.path.realpath(root)
    real = os.path.realpath(os.path.join(root_real, name))
    if os.path.commonpath([root_real, real]) != root_real:
        raise KaokaeError(f"{what}: {name!r} leads outside {root} through a symlink: refused")
    return Path(root) / name


def _real(path: str | os.PathLike) -> str:
    return os.path.realpath(os.path.abspath(path))


def _within(path: str, folder: str) -> bool:
    return path == folder or os.path.commonpath([path, folder]) == folder


def check_outputs(inputs: Iterable[str | os.PathLike | None], outputs: Iterable[str | os.PathLike | None]) -> None:
    """Refuse (KaokaeError) when an output is an input, a folder that holds an input, or an existing file inside an
    input folder: writing or `--overwrite`-replacing it would destroy what the command reads. Checked before any
    work. (A new file, or a folder, inside an input folder is fine: `convert photos/ -o photos/swapped/`.)"""
    ins = [(Path(p), _real(p)) for p in inputs if p is not None]
    for out in (Path(p) for p in outputs if p is not None):
        real_out = _real(out)
        for given, real_in in ins:
            if real_out == real_in:
                raise KaokaeError(f"output {out} is the input {given}: choose another output")
            if _within(real_in, real_out):
                raise KaokaeError(f"output {out} holds the input {given}: writing it could destroy the input, "
                                  "choose another output")
            if os.path.isfile(out) and os.path.isdir(real_in) and _within(real_out, real_in):
                raise KaokaeError(f"output {out} is a file inside the input {given}: choose another output")


_cleaned: set[str] = set()


def _last_change(entry: os.DirEntry) -> float:
    """When a partial file or folder last changed; a folder's faces/ subfolder counts (a long extract writes there)."""
    latest = entry.stat(follow_symlinks=False).st_mtime
    if entry.is_dir(follow_symlinks=False):
        for child in os.scandir(entry.path):
            if child.is_dir(follow_symlinks=False):
                latest = max(latest, child.stat(follow_symlinks=False).st_mtime)
    return latest


def remove_stale_partials(folder: str | os.PathLike) -> int:
    """Remove kaokae's hidden partial files and folders older than a day in `folder` (once per folder per run);
    says so on stderr and returns how many."""
    key = _real(folder)
    if key in _cleaned:
        return 0
    _cleaned.add(key)
    removed, now = 0, time.time()
    try:
        entries = list(os.scandir(key))
    except OSError:
        return 0
    for entry in entries:
        if not PARTIAL.match(entry.name):
            continue
        try:
            if now - _last_change(entry) < STALE_AFTER_S:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed += 1
        except OSError:
            continue
    if removed:
        info(f"kaokae: removed {removed} stale partial file{'s' if removed > 1 else ''} that an interrupted kaokae "
             f"left in {folder} over a day ago")
    return removed
