"""The UI's workspace: one folder holding the media, facesets, models and outputs the UI works on, and its job
database. Every path the page names is resolved here and refused unless it stays inside the workspace; uploads
are size-limited and accepted only when their first bytes are a video or image format kaokae reads."""

import os
import re
from pathlib import Path

from kaokae import paths
from kaokae.errors import KaokaeError

MAX_UPLOAD_BYTES = 2 * 1024**3
STATE = ".kaokae-ui"  # the job database, job logs and the upload temporary folder
FOLDERS = {"media": "media", "faceset": "facesets", "model": "models", "output": "outputs", "evaluation": "evaluations",
           "people": "people"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
MEDIA_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", *IMAGE_SUFFIXES}


class OutsideWorkspace(KaokaeError):
    pass


def inside(root: str | os.PathLike, name: object, what: str) -> Path:
    """`root / name` by kaokae.paths.inside (relative, no `..`, no symlink out), refused as OutsideWorkspace (the
    app's 403); the message names the workspace, not its folder on the server."""
    try:
        return paths.inside(os.path.realpath(root), name, what)
    except KaokaeError as e:
        raise OutsideWorkspace(str(e).replace(os.path.realpath(root), "the workspace")) from None


def sniff(head: bytes) -> str | None:
    """The format of a file from its first bytes, or None when kaokae does not read it."""
    if head[4:8] == b"ftyp":
        return "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "avi"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"BM"):
        return "bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    return None


class Workspace:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(os.path.realpath(root))
        for folder in (*FOLDERS.values(), STATE, f"{STATE}/logs", f"{STATE}/uploads"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)

    def path(self, name: object, what: str = "path") -> Path:
        return inside(self.root, name, what)

    def existing(self, name: object, what: str = "path") -> Path:
        path = self.path(name, what)
        if not path.exists():
            raise KaokaeError(f"{what}: no such file in the workspace: {name}")
        return path

    def relative(self, path: str | os.PathLike) -> str:
        return Path(os.path.realpath(path)).relative_to(self.root).as_posix()

    def listing(self) -> dict[str, list[str]]:
        """The workspace's media files, facesets, models and outputs, as workspace-relative names; `image`: the
        still images among media and outputs (what a classic swap takes as its source)."""
        found: dict[str, list[str]] = {"media": [], "faceset": [], "model": [], "output": [], "image": []}
        for path in sorted(self.root.rglob("*")):
            rel = path.relative_to(self.root)
            if rel.parts[0] in (STATE, FOLDERS["people"]) or any(p.startswith(".") for p in rel.parts):
                continue  # people/ holds `kaokae people` results, shown on the convert and swap pages
            if path.is_dir() and (path / "alignments.json").is_file():
                found["faceset"].append(rel.as_posix())
            elif path.is_dir() and (path / "config.json").is_file() and (path / "latest").is_file():
                found["model"].append(rel.as_posix())
            elif path.is_file() and path.suffix.lower() in MEDIA_SUFFIXES and not _in_kaokae_folder(path, self.root):
                (found["output"] if rel.parts[0] == FOLDERS["output"] else found["media"]).append(rel.as_posix())
                if path.suffix.lower() in IMAGE_SUFFIXES:
                    found["image"].append(rel.as_posix())
        return found

    def people_folder(self, video: str) -> str:
        """Where the UI keeps `kaokae people` of the workspace file `video`: people/ and its name, flattened
        (media/clip.mp4 -> people/media_clip_mp4)."""
        return self.new_name("people", re.sub(r"[/.]", "_", str(video)))

    def new_name(self, kind: str, name: str) -> str:
        """A workspace-relative name for a new output of `kind` (faceset, model, output) from the user's `name`."""
        clean = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(str(name)).name).lstrip(".")
        if not clean:
            raise KaokaeError(f"{kind} name {name!r}: give a name of letters, digits, '.', '_' or '-'")
        return f"{FOLDERS[kind]}/{clean}"

    def save_upload(self, name: str, chunks, limit: int = MAX_UPLOAD_BYTES) -> str:
        """Write an upload into media/ (atomically: a temporary file renamed when complete and checked); returns
        its workspace-relative name."""
        clean = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(str(name)).name).lstrip(".") or "upload"
        temp = self.root / STATE / "uploads" / f"{os.getpid()}-{id(chunks)}.part"
        size, head = 0, b""
        try:
            with open(temp, "wb") as f:
                for chunk in chunks:
                    size += len(chunk)
                    if size > limit:
                        raise KaokaeError(f"{clean}: larger than the upload limit of {limit / 1024**2:g} MB")
                    if len(head) < 16:
                        head += chunk[:16]
                    f.write(chunk)
            kind = sniff(head)
            if kind is None:
                raise KaokaeError(f"{clean}: not a video or image kaokae reads (its content is no known format)")
            dest = self.root / FOLDERS["media"] / clean
            stem, suffix, n = dest.stem, dest.suffix, 1
            while dest.exists():
                dest, n = dest.with_name(f"{stem}-{n}{suffix}"), n + 1
            os.replace(temp, dest)
            return self.relative(dest)
        finally:
            temp.unlink(missing_ok=True)


def _in_kaokae_folder(path: Path, root: Path) -> bool:
    """A file inside a faceset or model folder (its faces, previews) is not media of its own."""
    return any((parent / "alignments.json").is_file() or (parent / "config.json").is_file()
               for parent in path.parents if parent != root and root in parent.parents)


def copy_in(workspace: Workspace, source: str | os.PathLike) -> str:
    """Copy a file into the workspace's media/ (for the command line's `kaokae ui --add FILE` and tests)."""
    source = Path(source)
    with open(source, "rb") as f:
        return workspace.save_upload(source.name, iter(lambda: f.read(1 << 20), b""))

