"""The options of `kaokae extract`."""

from dataclasses import dataclass
from pathlib import Path

from kaokae.extract.person_map import map_from_table, map_to_table, parse_map_value
from kaokae.faces.align import CENTERINGS
from kaokae.faces.options import DetectOptions, PersonOptions
from kaokae.media.options import OutputOptions
from kaokae.options import option


def map_option():
    """--map REFS=TARGET, repeated per person; a [map] table in a config file. One definition for convert (TARGET: a
    model) and swap (TARGET: photos)."""
    return option([], "several people, each their own face, in one pass: each face goes to the person of the "
                      "nearest reference (dlib identity, as --only) and gets that person's TARGET: a model (a folder, "
                      ".onnx or .dfm) in convert, replacing -m; one photo or several separated by commas in swap, "
                      "replacing --source. Faces matching no reference stay untouched. REFS: a photo, a faceset, or "
                      "several separated by commas (`kaokae people` writes such photos), e.g. --map "
                      "a1.jpg,a2.jpg=models/a --map b.png=models/b", metavar="REFS=TARGET", group="faces",
                  parse=parse_map_value, table=(map_from_table, map_to_table))


@dataclass
class ExtractOptions(DetectOptions, PersonOptions):
    size: int = option(256, "side of the aligned square faces in pixels", minimum=16, maximum=4096, fixed=True)
    centering: str = option("face", "face: the face fills the square (what swap models train on); head: zoomed out "
                                    "so hair, ears and chin fit; whole_face: DeepFaceLab's whole-face crop, for "
                                    "models that will be exported to .dfm and run in DeepFaceLive or FaceFusion",
                            choices=CENTERINGS, fixed=True)
    every: int = option(1, "search every N-th frame of videos and image folders only", minimum=1, metavar="N")
    identity: bool = option(False, "store a 128-D identity embedding for every face (dlib ResNet; ~0.1-0.2 s per "
                                   "face)")
    mode: str = option("new", "into an existing faceset", choices=("new", "append", "overwrite"), consts=(
        ("--append", "append", "add to an existing faceset (same --size and --centering)"),
        ("--overwrite", "overwrite", "replace an existing faceset (the old one stays until the new one is "
                                     "complete)")))


@dataclass
class FacesetInfoOptions:
    plot: Path | None = option(None, "where to write the coverage plot PNG", metavar="FILE",
                               default_help="coverage.png in the faceset")


@dataclass
class SortOptions:
    by: str = option("blur", "blur: sharpest first; identity: closest first to the faceset's mean face identity (or "
                             "to --ref), so other people end up last; yaw: from one profile to the other",
                     choices=("blur", "identity", "yaw"), required=True)
    ref: list[Path] = option([], "--by identity: sort by distance to the person in these photos", metavar="REF")


@dataclass
class FilterOptions:
    blur_below: float | None = option(None, "reject faces whose blur score (variance of the Laplacian; see `faceset "
                                            "info`) is below X", minimum=0, metavar="X", default_help="off")
    not_like: list[Path] = option([], "reject faces that are not the person in these photos (identity distance "
                                      "above --threshold)", metavar="REF")
    threshold: float = option(0.6, "with --not-like: identity distance at or below which a face counts as that "
                                   "person (lower is stricter; dlib's same-person line is 0.6)", above=0, below=2,
                              metavar="D")
    near_duplicates: float | None = option(None, "reject a face that differs from a face kept before it by at most "
                                                 "D grey levels (RMS over 32x32 grey thumbnails, 0-255). Consecutive "
                                                 "frames of a talking head are ~1-8 apart (median ~3), frames "
                                                 "seconds apart 10-30: D=5 keeps about half of a 30 fps "
                                                 "talking-head clip, D=8 a quarter", minimum=0, maximum=255,
                                           metavar="D", default_help="off")


@dataclass
class RestoreOptions:
    everything: bool = option(False, "restore every rejected face (instead of naming them)", flag="--all")


@dataclass
class RepairOptions:
    """`faceset repair` takes only the faceset folder: an options type all the same, so that every command's
    options come from one place (and a later option has its home)."""


@dataclass
class PeopleOptions(OutputOptions, DetectOptions):
    threshold: float = option(0.5, "tracks whose identities are closer than D (dlib distance, average over the "
                                   "tracks) are one person; lower splits more (0.5 is dlib's face-clustering value)",
                              above=0, below=2, metavar="D")
    min_faces: int | None = option(None, "leave out people seen in fewer than N faces (passers-by, false "
                                         "detections)", minimum=1, metavar="N",
                                   default_help="5 for a video, 1 for images")
