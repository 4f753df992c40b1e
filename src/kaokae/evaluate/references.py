"""Who is who: dlib embeddings of a person from a faceset, photos or a video, and the retrieval gallery.

A person's reference is the centroid of up to `MAX_FACES_PER_PERSON` faces spread over what was given: steadier than
one photo, and cheap (each embedding costs ~0.1-0.2 s).
"""

from pathlib import Path

import numpy as np

from kaokae import progress
from kaokae.errors import KaokaeError
from kaokae.evaluate import dlib_faces, metrics
from kaokae.faceset import FaceSet, is_faceset
from kaokae.media import open_media, probe

MAX_FACES_PER_PERSON = 20
MIN_GALLERY_OTHERS = 4
# Two gallery people closer than this are probably one person photographed twice (dlib's same-person threshold is
# 0.6; photos of one person are typically 0.3-0.5 from their centroid).
SAME_PERSON_CENTROIDS = 0.45


def spread(count: int, most: int) -> list[int]:
    """Up to `most` indices spread evenly over range(count)."""
    if count <= most:
        return list(range(count))
    return sorted({round(i * (count - 1) / (most - 1)) for i in range(most)})


def faceset_embeddings(faceset: FaceSet, indices: list[int] | None = None,
                       most: int = MAX_FACES_PER_PERSON) -> list[np.ndarray]:
    """Embeddings of a faceset's aligned faces.

    HOG often misses a tightly cropped aligned face (its window needs a margin), so where it finds nothing the
    faceset's own face box (the landmarks' bounds in the aligned face) tells dlib's shape predictor where to look.
    """
    indices = list(range(len(faceset))) if indices is None else list(indices)
    embeddings = []
    for i in progress.track([indices[k] for k in spread(len(indices), most)], desc="identity", unit="face"):
        rgb = faceset.load_face(i)
        boxes = dlib_faces.detect(rgb, upsample=0)
        if boxes:
            box = boxes[0]
        else:
            points = faceset.face_landmarks[i]
            box = np.concatenate([points.min(0), points.max(0)])
        embeddings.append(dlib_faces.measure(rgb, box).embedding)
    return embeddings


def media_embeddings(path: Path, most: int = MAX_FACES_PER_PERSON) -> list[np.ndarray]:
    """Embeddings of the largest face in each of up to `most` frames of a video, image or image folder."""
    info = probe(path)
    every = max(1, info.frame_count // most)
    embeddings = []
    with open_media(path) as reader:
        for frame in progress.track(reader.frames(every), total=min(info.frame_count, most), desc="identity"):
            embedding = dlib_faces.embed_largest_face(frame.image)
            if embedding is not None:
                embeddings.append(embedding)
            if len(embeddings) >= most:
                break
    return embeddings


def person_embeddings(path: str | Path, most: int = MAX_FACES_PER_PERSON) -> list[np.ndarray]:
    """Embeddings of one person from a faceset folder, a folder of photos, one photo or a video."""
    path = Path(path)
    if is_faceset(path):
        return faceset_embeddings(FaceSet.open(path), most=most)
    return media_embeddings(path, most)


def person_centroid(path: str | Path, role: str, most: int = MAX_FACES_PER_PERSON) -> np.ndarray:
    """The centroid embedding of the person in `path`; `role` names it in the error when no face is found."""
    embeddings = person_embeddings(path, most)
    if not embeddings:
        raise KaokaeError(f"no face found in {path} ({role}) by dlib's detector")
    return metrics.centroid(embeddings)


def load_gallery(folder: str | Path, known: dict[str, np.ndarray], most: int = 10) -> dict[str, np.ndarray]:
    """The retrieval gallery: `known` (name -> centroid: B and A) plus one centroid per sub-folder of `folder`.

    Each sub-folder is one person (photos, or a faceset). A person dlib finds no face for is left out with a
    warning; a person who looks like B or A (centroids closer than SAME_PERSON_CENTROIDS) is left out too, since
    retrieving them would count against a swap that did its job.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise KaokaeError(f"--gallery {folder}: no such folder (expected one sub-folder of photos per person)")
    people = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(people) < MIN_GALLERY_OTHERS:
        raise KaokaeError(f"--gallery {folder} has {len(people)} sub-folders; it needs one per person for at least "
                          f"{MIN_GALLERY_OTHERS} people other than A and B")
    gallery = dict(known)
    for person in progress.track(people, desc="gallery", unit="person"):
        embeddings = person_embeddings(person, most) if _has_media(person) else []
        if not embeddings:
            progress.warn(f"gallery: no face found for {person.name}; left out")
            continue
        centroid = metrics.centroid(embeddings)
        twin = next((name for name, c in known.items() if metrics.identity_distance(c, centroid)
                     < SAME_PERSON_CENTROIDS), None)
        if twin is not None:
            progress.warn(f"gallery: {person.name} looks like {twin} (centroids "
                          f"{metrics.identity_distance(known[twin], centroid):.2f} apart); left out")
            continue
        gallery[person.name] = centroid
    others = len(gallery) - len(known)
    if others < MIN_GALLERY_OTHERS:
        raise KaokaeError(f"--gallery {folder}: {others} usable people, need at least {MIN_GALLERY_OTHERS} "
                          f"(one sub-folder of face photos each)")
    return gallery


def _has_media(folder: Path) -> bool:
    try:
        probe(folder)
        return True
    except KaokaeError:
        return is_faceset(folder)
