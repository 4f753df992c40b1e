"""`--map`: which person gets which model (convert) or photo (swap), as one plain typed value.

On the command line each person is one `--map REFS=TARGET`: REFS is one reference, or several separated by commas
(photos of that person, a faceset of them, or the photos `kaokae people` writes); TARGET is a model folder
(convert), or one or more photos separated by commas (swap). In a config file the same map is a table whose keys are
the REFS and whose values the TARGET (a string, or for swap a list of photos):

    [map]
    "lin.jpg" = "models/lin_to_b"
    "alex1.jpg,alex2.jpg" = "models/alex_to_c"

`parse_map` (strings) and `map_from_table` (a table) give the same `list[MapEntry]`; `map_to_table` goes back.
`person_matcher` turns the references into the one `PersonMatcher` that convert and swap use (the `--only`
decision, per person).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kaokae.errors import KaokaeError

if TYPE_CHECKING:  # loaded on first use: the option definitions (kaokae.options) read this module for MapEntry
    import numpy as np

    from kaokae.faces import FaceFinder
    from kaokae.faces.identity import IdentityEncoder, PersonMatcher

DEFAULT_THRESHOLD = 0.6  # dlib's same-person line (kaokae.faces.identity's default, kept light here)
FACESET_SAMPLES = 16  # faces of a reference faceset used as that person's references, spread over it


@dataclass(frozen=True)
class MapEntry:
    """One person: their reference photos or facesets, and what their faces become."""

    references: tuple[Path, ...]
    targets: tuple[Path, ...]  # convert: one model folder; swap: one or more source photos

    @property
    def label(self) -> str:
        """How the summary names this person: the first reference's and target's file names."""
        def names(paths: tuple[Path, ...]) -> str:
            return paths[0].name + (f" +{len(paths) - 1}" if len(paths) > 1 else "")
        return f"{names(self.references)} -> {names(self.targets)}"

    @property
    def key(self) -> str:
        return ",".join(str(p) for p in self.references)

    def __str__(self) -> str:
        """The command line's `REFS=TARGET` (what `parse_map_value` reads back)."""
        return f"{self.key}={','.join(str(p) for p in self.targets)}"


PersonMap = list[MapEntry]


def _paths(text: str, what: str, value: str, option: str) -> tuple[Path, ...]:
    parts = [p.strip() for p in text.split(",")]
    if not parts or any(not p for p in parts):
        raise KaokaeError(f"{option} {value!r}: empty {what} (write {option} REF[,REF...]=TARGET)")
    return tuple(Path(p) for p in parts)


def parse_map_value(value: str, option: str = "--map") -> MapEntry:
    """`REF[,REF...]=TARGET[,TARGET...]` -> MapEntry (the last `=` splits it)."""
    if "=" not in value:
        raise KaokaeError(f"{option} {value!r}: no '=' (write {option} REF[,REF...]=TARGET, e.g. {option} "
                          f"lin.jpg=models/lin)")
    refs, target = value.rsplit("=", 1)
    return MapEntry(_paths(refs, "reference", value, option), _paths(target, "target", value, option))


def parse_map(values: Sequence[str], option: str = "--map") -> PersonMap:
    return [parse_map_value(v, option) for v in values]


def map_from_table(table: Mapping[str, str | Sequence[str]], option: str = "map") -> PersonMap:
    """A config file's `[... .map]` table -> the map (keys: references, values: target or list of targets)."""
    entries = []
    for refs, target in table.items():
        targets = [target] if isinstance(target, str) else list(target) if isinstance(target, list | tuple) else []
        if not targets or not all(isinstance(t, str) and t for t in targets):
            raise KaokaeError(f"{option}: {refs!r} needs a target path (a string, or a list of strings)")
        entries.append(MapEntry(_paths(refs, "reference", refs, option), tuple(Path(t) for t in targets)))
    return entries


def map_to_table(entries: PersonMap) -> dict[str, str | list[str]]:
    return {e.key: str(e.targets[0]) if len(e.targets) == 1 else [str(t) for t in e.targets] for e in entries}


def check_map(entries: PersonMap, target_kind: str, option: str = "--map") -> None:
    """Every reference and target exists, no reference is given twice; `target_kind` is "model" (convert: exactly
    one model folder per person) or "photo" (swap: photo files)."""
    from kaokae.faceset import is_faceset
    from kaokae.media.writer import same_path

    if not entries:
        raise KaokaeError(f"{option}: give at least one REF=TARGET")
    seen: list[Path] = []
    for entry in entries:
        for ref in entry.references:
            if not ref.exists():
                raise KaokaeError(f"{option}: no such reference photo or faceset: {ref}")
            if ref.is_dir() and not is_faceset(ref):
                raise KaokaeError(f"{option}: {ref} is a folder but not a faceset (give photos, or a faceset)")
            if any(same_path(ref, other) for other in seen):
                raise KaokaeError(f"{option}: the reference {ref} is given twice; each person needs their own "
                                  "references")
            seen.append(ref)
        if target_kind == "model" and len(entry.targets) != 1:
            raise KaokaeError(f"{option} {entry.key}=...: give one model per person")
        for target in entry.targets:
            if not target.exists():
                raise KaokaeError(f"{option}: no such {'model' if target_kind == 'model' else 'photo'}: "
                                  f"{target}")
            if target_kind == "photo" and target.is_dir():
                raise KaokaeError(f"{option}: {target} is a folder; give one or more photos (comma-separated)")


def map_paths(entries: PersonMap) -> list[Path]:
    """Every reference and target of the map: inputs of the command, for `kaokae.paths.check_outputs`."""
    return [path for entry in entries for path in (*entry.references, *entry.targets)]


def faceset_embeddings(path: Path, encoder: IdentityEncoder, count: int = FACESET_SAMPLES) -> np.ndarray:
    """(R, 128): up to `count` faces spread over a faceset, from its stored identities or embedded afresh."""
    import numpy as np

    from kaokae.faces import Face
    from kaokae.faceset import FaceSet

    fs = FaceSet.open(path)
    if not len(fs):
        raise KaokaeError(f"--map: the faceset {path} holds no faces")
    picks = np.unique(np.linspace(0, len(fs) - 1, min(count, len(fs))).round().astype(int))
    vectors = []
    for i in picks:
        if fs.entries[i].has_identity and np.isfinite(fs.identity[i]).all():
            vectors.append(fs.identity[i])
            continue
        landmarks = fs.face_landmarks[i]
        box = np.concatenate([landmarks.min(0), landmarks.max(0)]).astype(np.float32)
        vectors.append(encoder.embed(fs.load_face(i), Face(box, 1.0, landmarks)))
    return np.array(vectors, np.float32).reshape(-1, 128)


def person_references(entry: MapEntry, finder: FaceFinder, encoder: IdentityEncoder,
                      option: str = "--map") -> np.ndarray:
    """(R, 128): one person's reference embeddings, from photos (largest face of each) and facesets."""
    import numpy as np

    from kaokae.faces.identity import reference_embeddings
    from kaokae.faceset import is_faceset

    photos = [p for p in entry.references if not is_faceset(p)]
    parts = [faceset_embeddings(p, encoder) for p in entry.references if is_faceset(p)]
    if photos:
        parts.append(reference_embeddings(photos, finder, encoder, option))
    return np.concatenate(parts)


def person_matcher(entries: PersonMap, finder: FaceFinder, threshold: float = DEFAULT_THRESHOLD,
                   option: str = "--map") -> PersonMatcher:
    """The matcher of convert and swap: which entry's person each face is (`match(...).person`), or nobody."""
    from kaokae.faces.identity import IdentityEncoder, PersonMatcher

    encoder = IdentityEncoder()
    return PersonMatcher([person_references(e, finder, encoder, option) for e in entries], threshold,
                         encoder=encoder)
