"""How faces are found, tracked and told apart: the options extract, convert and swap share."""

from dataclasses import dataclass
from pathlib import Path

from kaokae.faces.detect import DETECTORS
from kaokae.options import option


@dataclass
class DetectOptions:
    detector: str = option("auto", "BlazeFace detection", choices=DETECTORS.names, group="faces")
    max_faces: int = option(10, "at most N faces per frame", minimum=1, metavar="N", group="faces")
    min_size: float = option(0.0, "ignore faces smaller than PX pixels (longer side of the face box); a larger value "
                                  "also skips the tile passes that look for small faces, which is faster",
                             minimum=0, metavar="PX", group="faces")
    min_score: float = option(0.5, "detector confidence threshold", minimum=0, maximum=1, metavar="S",
                              group="faces")
    redetect_every: int = option(10, "videos: run the detector every N frames (and at scene cuts); in between faces "
                                     "are tracked from the previous frame's landmarks, which is faster",
                                 minimum=1, metavar="N", group="faces")
    smooth: bool = option(True, "videos: smooth landmarks over time (One-Euro filter), which steadies the aligned "
                                "faces", group="faces")

    def finder(self):
        from kaokae.faces.finder import FaceFinder

        return FaceFinder(self.max_faces, self.min_size, self.min_score, self.detector)


@dataclass
class PersonOptions:
    only: list[Path] = option([], "work only on the faces of the person in these photos (dlib face identity); "
                                  "other people's faces are left as they are", metavar="REF", group="faces")
    threshold: float = option(0.6, "with --only: identity distance at or below which a face counts as that person "
                                   "(lower is stricter; dlib's same-person line is 0.6)",
                              above=0, below=2, aliases=("--only-threshold",), metavar="D", group="faces")
