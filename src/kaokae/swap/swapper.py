"""The classic swap of one face: warp a source photo's face onto the target's 478 landmarks, correct its colour,
blend it in. No training: the face mesh gives a dense correspondence between any two faces."""

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from kaokae.composite import (
    TableSmoother,
    blend,
    correct_colour,
    face_box,
    face_mask,
    face_size,
    intersect,
)
from kaokae.composite.options import CompositeOptions
from kaokae.errors import KaokaeError
from kaokae.faces import FaceFinder
from kaokae.faces.pose import head_pose
from kaokae.media import read_image
from kaokae.progress import warn
from kaokae.swap.mesh import warp_mesh

# Keep the face chosen for a track unless another source's pose is closer by more than this (degrees): switching
# sources mid-shot is visible, so it must be worth it.
SWITCH_MARGIN = 5.0


@dataclass
class SwapSettings(CompositeOptions):
    """How a face is pasted (checked with the swap's options: kaokae.swap.options). erode and feather are fractions
    of the face's size (the longer side of its landmarks' bounding box)."""

    mouth_feather: float = 0.02


def yaw_pitch(landmarks: np.ndarray, frame_shape: tuple[int, ...]) -> np.ndarray:
    """(yaw, pitch) in degrees: which side of the head the camera sees. Roll is left out: the warp undoes it."""
    return np.array(head_pose(landmarks, (frame_shape[1], frame_shape[0]))[:2])


@dataclass
class Source:
    """One source photo's face, with its image at a few sizes so a small target face samples a small image."""

    name: str
    image: np.ndarray
    landmarks: np.ndarray
    pose: np.ndarray = field(init=False)  # (yaw, pitch) in degrees
    _levels: list[tuple[np.ndarray, np.ndarray]] = field(init=False, repr=False)

    def __post_init__(self):
        self.pose = yaw_pitch(self.landmarks, self.image.shape)
        self._levels = [(self.image, self.landmarks)]

    def at_size(self, size: float) -> tuple[np.ndarray, np.ndarray]:
        """(image, landmarks) of the smallest halving of the photo whose face is still at least `size` pixels:
        sampling a big photo at a small face's scale would alias (bilinear sampling does not average)."""
        while face_size(self._levels[-1][1]) >= 2 * size and min(self._levels[-1][0].shape[:2]) > 32:
            image, points = self._levels[-1]
            # pyrDown maps pixel centre x to (x + 0.5) / 2 - 0.5.
            self._levels.append((cv2.pyrDown(image), ((points + 0.5) / 2 - 0.5).astype(np.float32)))
        for image, points in reversed(self._levels):
            if face_size(points) >= size:
                return image, points
        return self._levels[0]


def load_sources(paths: list[str | Path], finder: FaceFinder, strict: bool = True) -> list[Source]:
    """The largest face of each source photo; a photo without a face is an error (not `strict`, for photos kaokae
    chose itself: a warning, and the photo is left out)."""
    sources = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            raise KaokaeError(f"source {path} is a folder; give one or more photos (e.g. {path}/*.jpg)")
        image = read_image(path)
        faces = finder.find(image)
        if not faces:
            if not strict:
                warn(f"no face found in {path}: not used")
                continue
            raise KaokaeError(f"no face found in source photo {path}")
        face = max(faces, key=lambda f: f.size)
        if len(faces) > 1:
            warn(f"{path.name} shows {len(faces)} faces; using the largest")
        if face.size < 64 and strict:
            warn(f"the face in {path.name} is only {face.size:.0f} px; the swap will look soft")
        sources.append(Source(path.name, image, face.landmarks))
    return sources


class FaceSwapper:
    """Pastes a source face onto target faces, one `swap(frame, landmarks, key)` call per face.

    With several sources each target face takes the one whose head pose (the direction the face points: yaw and
    pitch) is closest. `key` identifies a face across video frames (a track id): its colour correction is smoothed
    over time and it keeps its source unless another becomes clearly closer. key=None: an unrelated still.
    """

    def __init__(self, sources: list[Source], settings: SwapSettings | None = None, smooth_colour: bool = True):
        if not sources:
            raise KaokaeError("no source face to swap in")
        self.sources = sources
        self.settings = settings or SwapSettings()
        self.smoother = TableSmoother() if smooth_colour else None
        self.chosen: dict[object, int] = {}
        self.uses = [0] * len(sources)
        self.pinned: int | None = None  # a source index every face takes (live's cycle key); None: by head pose

    def choose(self, landmarks: np.ndarray, frame_shape: tuple[int, ...], key: object = None) -> int:
        """The index of the source whose (yaw, pitch) is nearest this face's (or the pinned one)."""
        if self.pinned is not None:
            return self.pinned
        if len(self.sources) == 1:
            return 0
        pose = yaw_pitch(landmarks, frame_shape)
        angles = [float(np.hypot(*(s.pose - pose))) for s in self.sources]
        best = int(np.argmin(angles))
        current = self.chosen.get(key)
        if key is not None and current is not None and angles[current] <= angles[best] + SWITCH_MARGIN:
            best = current
        if key is not None:
            self.chosen[key] = best
        return best

    def swap(self, frame: np.ndarray, landmarks: np.ndarray, key: object = None) -> bool:
        """Swap the face with these landmarks in `frame` (RGB, changed in place). False when it is too small or
        entirely outside the frame."""
        s = self.settings
        box = face_box(landmarks, frame.shape, margin=0.05)
        if box.empty or min(box.shape) < 8:
            return False
        index = self.choose(landmarks, frame.shape, key)
        image, points = self.sources[index].at_size(face_size(landmarks))
        face, covered = warp_mesh(image, points, landmarks, box)
        # The oval itself, not its hull: the warp covers exactly the mesh, so the soft edge must end inside it.
        alpha = face_mask(landmarks, box, erode=s.erode, feather=s.feather, keep_mouth=True,
                          mouth_feather=s.mouth_feather, convex=False)
        alpha = intersect(alpha, covered.astype(np.float32))
        if not (alpha > 0).any():
            return False
        background = frame[box.slices]
        face = correct_colour(face, background, alpha, s.colour, self.smoother if key is not None else None, key)
        frame[box.slices] = blend(background, face, alpha, s.blend)
        self.uses[index] += 1
        return True

    def forget_except(self, keys) -> None:
        """Drop the state of tracks that ended."""
        keys = set(keys)
        if self.smoother is not None:
            self.smoother.keep_only(keys)
        for key in [k for k in self.chosen if k not in keys]:
            del self.chosen[key]
