"""Atomic writes: everything that matters is written to a temporary file beside its destination, flushed to disk
and renamed into place, so an error, Ctrl-C or SIGKILL never leaves a half-written file at the destination."""

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from kaokae.paths import remove_stale_partials


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `dest`; on success it is fsynced and renamed onto `dest`, on error removed.

    The temporary name keeps `dest`'s extension (or `suffix`) so that writers that pick a format by extension
    (FFmpeg, OpenCV, Pillow) still work.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(dest.parent)  # what a kill -9 of an earlier run left here
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.stem}.partial-", suffix=suffix if suffix is not None else dest.suffix,
                               dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        tmp.chmod(0o666 & ~_umask())  # mkstemp creates 0600; the result should get the usual permissions
        fsync_file(tmp)
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def write_bytes(dest: str | os.PathLike, data: bytes) -> None:
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)


def write_text(dest: str | os.PathLike, text: str) -> None:
    write_bytes(dest, text.encode("utf-8"))


def fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
