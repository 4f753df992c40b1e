"""Progress bars for every long loop: shown on a terminal, silent with --quiet or when stderr is not a terminal."""

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")

_quiet = False


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


def is_quiet() -> bool:
    return _quiet


def bar(iterable: Iterable[T] | None = None, total: int | None = None, desc: str = "", unit: str = "frame") -> tqdm:
    """A tqdm bar that respects --quiet and stays silent when stderr is not a terminal (logs, CI, pipes), unless
    KAOKAE_PROGRESS=log asks for it in a log (the UI's jobs read their progress from there)."""
    if os.environ.get("KAOKAE_PROGRESS") == "log":
        return tqdm(iterable, total=total, desc=desc, unit=unit, disable=_quiet, ascii=True, ncols=100,
                    mininterval=0.5, leave=True)
    disable = _quiet or not sys.stderr.isatty()
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=disable, dynamic_ncols=True, leave=False)


def track(iterable: Iterable[T], total: int | None = None, desc: str = "", unit: str = "frame") -> Iterator[T]:
    yield from bar(iterable, total=total, desc=desc, unit=unit)


def info(message: str) -> None:
    """A line for the user on stderr (stdout stays free for results); silent with --quiet."""
    if not _quiet:
        print(message, file=sys.stderr)


def warn(message: str) -> None:
    """A warning is always printed: it tells the user something went partly wrong."""
    print(f"kaokae: warning: {message}", file=sys.stderr)
