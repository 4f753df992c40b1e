"""The model folder's photos of each person, for convert's fine detail without photos given (kaokae.convert.detail).

    MODEL_DIR/photos/a/*.png, photos/b/*.png     a few of each faceset's sharpest training faces, spread over yaw

A 64 px model draws a soft face; the photos' detail, warped onto each face, is what it cannot draw
(docs/benchmarks.md). The facesets already hold that detail, so the model keeps a few of their faces: written when
the folder is made (or when a model trained before this is resumed), each set complete or not at all, when the faces
are at least twice the model's size. They depict the people the model's card names, as the decoders do; an exported
model file does not carry them.
"""

import shutil
import tempfile
from pathlib import Path

import numpy as np

from kaokae.atomic import fsync_dir
from kaokae.errors import KaokaeError
from kaokae.faceset import FaceSet
from kaokae.media import write_image
from kaokae.paths import inside, remove_stale_partials

PHOTOS = "photos"
COUNT = 5  # one per fifth of the yaw range: the detail takes the photo nearest each face's pose


def choose_faces(faceset: FaceSet, holdout: int = 0, count: int = COUNT) -> list[int]:
    """Indices of up to `count` faces among the training faces (the last `holdout` left out): the sharpest half,
    then the face nearest each of `count` evenly spaced yaw quantiles."""
    usable = len(faceset) - holdout
    if usable <= 0:
        return []
    blur = faceset.blur[:usable]
    sharp = np.argsort(-blur, kind="stable")[:max(usable // 2, min(count, usable))]
    yaw = faceset.poses[sharp, 0]
    chosen: list[int] = []
    for quantile in np.quantile(yaw, (np.arange(count) + 0.5) / count):
        for k in np.argsort(np.abs(yaw - quantile), kind="stable"):
            if int(sharp[k]) not in chosen:
                chosen.append(int(sharp[k]))
                break
    return sorted(chosen)


def save_photos(model_dir: Path, facesets: dict[str, FaceSet], model_size: int, holdout: int = 0) -> None:
    """photos/<person>/ for each person ("a", "b") that has none yet, when the faceset's faces are at least twice
    the model's size (smaller ones hold no detail the model cannot draw): written into a hidden folder, renamed
    into place."""
    for person, faceset in facesets.items():
        folder = Path(model_dir) / PHOTOS / person
        if folder.is_dir() or faceset.size < 2 * model_size:
            continue
        folder.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(folder.parent)  # what a killed run left
        partial = Path(tempfile.mkdtemp(prefix=f".{person}.partial-", dir=folder.parent))
        try:
            for index in choose_faces(faceset, holdout):
                write_image(partial / f"face_{index:06d}.png", faceset.load_face(index))
            partial.rename(folder)
            fsync_dir(folder.parent)
        finally:
            shutil.rmtree(partial, ignore_errors=True)


def model_photos(model_dir: Path, person: str) -> list[Path]:
    """The photos of `person` ("a" or "b") the model folder keeps (none when it keeps none); only those inside it
    (kaokae.paths.inside): a link could name any file on the machine."""
    photos = []
    for path in sorted((Path(model_dir) / PHOTOS / person).glob("*.png")):
        try:
            photos.append(inside(model_dir, f"{PHOTOS}/{person}/{path.name}", "model photos"))
        except KaokaeError:
            continue
    return [p for p in photos if p.is_file()]
