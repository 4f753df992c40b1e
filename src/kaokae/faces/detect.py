"""Face detection: mediapipe's bundled BlazeFace models behind a small interface, plus the multi-pass search
(whole frame + overlapping tiles) that finds small faces in large photos.

BlazeFace sees a downscaled frame (128 px for the short-range model, 192 px for the full-range one), so a face that
is 5% of a 1280 px photo is only ~10 px to the model. Running it again on overlapping tiles shows such faces at a size
it can detect; the passes are merged by non-maximum suppression.
"""

import contextlib
import math
import os
import sys
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from kaokae.errors import KaokaeError
from kaokae.registry import Registry

# mediapipe loads in a second: imported where a model starts, so that the CLI's start-up (and --help) stays fast.
DETECTORS = Registry("detector")
DETECTORS.add("auto", "both models on the whole frame, plus the full-range model on tiles to find small faces",
              rank=0)
DETECTORS.add("short", "the short-range model (near faces) everywhere", rank=1)
DETECTORS.add("full", "the full-range model (far faces) everywhere", rank=2)


@contextlib.contextmanager
def quiet_native_stderr():
    """Silence file descriptor 2 for a moment: mediapipe's C++ side writes set-up chatter ("Created TensorFlow Lite
    XNNPACK delegate", feedback-tensor warnings) straight to it when a graph starts, and no setting turns that off."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class Solution:
    """A mediapipe solution started with native stderr silenced. The chatter comes when the graph opens (on its
    own threads: hence the wait) and once more on the first frame; later frames run unsilenced, so that progress
    bars and warnings other threads write meanwhile are never swallowed."""

    def __init__(self, make):
        with quiet_native_stderr():
            self._solution = make()
            self._solution._graph.wait_until_idle()
        self._first = True

    def process(self, data):
        if not self._first:
            return self._solution.process(data)
        with quiet_native_stderr():
            self._first = False
            return self._solution.process(data)

    def close(self) -> None:
        self._solution.close()


@dataclass
class Detection:
    box: np.ndarray  # (4,) float32 x0, y0, x1, y1 in frame pixels
    score: float
    keypoints: np.ndarray  # (6, 2) float32: right eye, left eye, nose tip, mouth, right ear, left ear (frame pixels)


class Detector(Protocol):
    """What the finder and the tracker ask of a detector (MultiPassDetector here; another backend implements it).

    detect(rgb, round_=None): every face; round_=(k, n) asks for the k-th of a video's cheap re-detections instead
    (a backend without a cheaper search may ignore it). rounds(width, height, n): how many such rounds make one whole
    search (1 for a backend that ignores round_)."""

    def detect(self, rgb: np.ndarray, round_: tuple[int, int] | None = None) -> list[Detection]: ...

    def rounds(self, width: int, height: int, tiles_per_round: int) -> int: ...

    def close(self) -> None: ...


class BlazeFace:
    """One mediapipe BlazeFace model ("short": faces within ~2 m, "full": faces up to ~5 m) run on one image."""

    def __init__(self, model: str = "full", min_score: float = 0.5):
        if model not in ("short", "full"):
            raise ValueError(f"unknown BlazeFace model {model!r}")
        self.model = model
        self.min_score = min_score
        import mediapipe as mp

        self._mp = Solution(lambda: mp.solutions.face_detection.FaceDetection(
            model_selection=0 if model == "short" else 1, min_detection_confidence=min_score))

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        h, w = rgb.shape[:2]
        result = self._mp.process(np.ascontiguousarray(rgb))
        found = []
        for d in result.detections or []:
            if d.score[0] < self.min_score:  # mediapipe does not always apply min_detection_confidence itself
                continue
            rel = d.location_data.relative_bounding_box
            box = np.array([rel.xmin * w, rel.ymin * h, (rel.xmin + rel.width) * w, (rel.ymin + rel.height) * h],
                           np.float32)
            keypoints = np.array([[k.x * w, k.y * h] for k in d.location_data.relative_keypoints], np.float32)
            found.append(Detection(box, float(d.score[0]), keypoints))
        return found

    def close(self) -> None:
        self._mp.close()


def tiles(width: int, height: int, tile: int, overlap: float = 0.25) -> list[tuple[int, int, int, int]]:
    """Square tiles (x0, y0, x1, y1) of side `tile` covering the frame, neighbours overlapping by `overlap`.

    The overlap is what keeps a face cut by one tile's edge whole in the next tile.
    """
    def starts(length: int) -> list[int]:
        if length <= tile:
            return [0]
        count = int(np.ceil((length - tile) / (tile * (1 - overlap)))) + 1
        return [round(i * (length - tile) / (count - 1)) for i in range(count)]

    return [(x, y, min(x + tile, width), min(y + tile, height)) for y in starts(height) for x in starts(width)]


def _intersections(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intersection areas (N, M) between boxes a (N, 4) and b (M, 4), and each side's areas."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    return inter, (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]), (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between every box in a (N, 4) and every box in b (M, 4) -> (N, M)."""
    inter, area_a, area_b = _intersections(a, b)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def box_overlap_of_smaller(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over the smaller box's area (N, M): 1 when one box lies inside the other."""
    inter, area_a, area_b = _intersections(a, b)
    return inter / np.maximum(np.minimum(area_a[:, None], area_b[None, :]), 1e-9)


def merge_detections(detections: list[Detection], iou: float = 0.3, contained: float = 0.7) -> list[Detection]:
    """Non-maximum suppression across passes: a box that overlaps a better-scored one is the same face.

    `contained` also merges a half face cut by a tile edge into the whole face from the neighbouring tile.
    """
    order = sorted(detections, key=lambda d: -d.score)
    kept: list[Detection] = []
    for d in order:
        if kept:
            boxes = np.stack([k.box for k in kept])
            if (box_iou(d.box, boxes) > iou).any() or (box_overlap_of_smaller(d.box, boxes) > contained).any():
                continue
        kept.append(d)
    return kept


# The smallest face each model finds reliably, as a fraction of its input's longer side (measured with real faces
# scaled down on a 1280x720 canvas: full range down to 5-8%, short range down to 13%). It sets the tile sizes.
SMALLEST_FACE = {"short": 0.13, "full": 0.08}


class MultiPassDetector:
    """Whole frame plus overlapping tiles, merged: every face from a few dozen pixels to all of the frame.

    detector: "short" (short-range model everywhere), "full" (full-range model everywhere) or "auto" (both models on
    the whole frame: the full-range model misses some faces that fill most of the frame, the short-range one misses
    faces under ~13% of it; then the full-range model on the tiles).
    Tiles halve in size per level (neighbours overlap by a quarter) down to the size at which a face of `min_face`
    pixels is big enough for the model, and never below `min_tile` pixels: a larger `min_face` means fewer passes.
    """

    def __init__(self, detector: str = "auto", min_score: float = 0.5, min_face: float = 0.0, min_tile: int = 320):
        if detector not in DETECTORS:
            raise KaokaeError(f"unknown detector {detector!r}: choose from {', '.join(DETECTORS.names())}")
        self.detector = detector
        self.min_face = min_face
        self.min_tile = min_tile
        self.models: dict[str, BlazeFace] = {}
        whole = {"auto": ("short", "full"), "short": ("short",), "full": ("full",)}[detector]
        self.whole_models = [self._model(name, min_score) for name in whole]
        self.tile_model = self._model("short" if detector == "short" else "full", min_score)

    def _model(self, name: str, min_score: float) -> BlazeFace:
        if name not in self.models:
            self.models[name] = BlazeFace(name, min_score)
        return self.models[name]

    def tile_grid(self, width: int, height: int) -> list[tuple[int, int, int, int]]:
        """All tiles of every pyramid level below the whole frame."""
        smallest_tile = max(self.min_tile, self.min_face / SMALLEST_FACE[self.tile_model.model])
        grid = []
        side = max(width, height) // 2
        while side >= smallest_tile:
            grid += tiles(width, height, side)
            side //= 2
        return grid

    def rounds(self, width: int, height: int, tiles_per_round: int) -> int:
        """How many cheap re-detection rounds (see `detect`) cover the whole search of a width x height frame."""
        return max(len(self.whole_models), math.ceil(len(self.tile_grid(width, height)) / tiles_per_round))

    def detect(self, rgb: np.ndarray, round_: tuple[int, int] | None = None) -> list[Detection]:
        """Every face. `round_=(k, n)` is the k-th of a video's cheap re-detections instead: one whole-frame
        model (in turn, with "auto") and n tiles (in turn), so the whole search is spread over several rounds; a
        face that enters the frame can wait a few frames, while every frame cannot pay for the whole search."""
        rgb = np.ascontiguousarray(rgb)
        models, grid = self.whole_models, self.tile_grid(rgb.shape[1], rgb.shape[0])
        if round_ is not None:
            k, n = round_
            models = [models[k % len(models)]]
            grid = [grid[(k * n + i) % len(grid)] for i in range(min(n, len(grid)))]
        found = [d for model in models for d in model.detect(rgb)]
        for x0, y0, x1, y1 in grid:
            for d in self.tile_model.detect(rgb[y0:y1, x0:x1]):
                offset = np.array([x0, y0], np.float32)
                d.box = d.box + np.tile(offset, 2)
                d.keypoints = d.keypoints + offset
                found.append(d)
        return merge_detections(found)

    def close(self) -> None:
        for model in self.models.values():
            model.close()


def square_crop_matrix(center: np.ndarray, side: float, out_size: int, angle: float = 0.0) -> np.ndarray:
    """2x3 matrix mapping a square of `side` px around `center` (rotated by `angle` radians) onto out_size px."""
    scale = out_size / side
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    # Rotation by -angle about the centre, then the centre moves to the middle of the output.
    m = np.array([[c, s, 0.0], [-s, c, 0.0]])
    m[:, 2] = out_size / 2 - m[:, :2] @ np.asarray(center, np.float64)
    return m


def crop(rgb: np.ndarray, matrix: np.ndarray, out_size: int) -> np.ndarray:
    return cv2.warpAffine(rgb, matrix, (out_size, out_size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
