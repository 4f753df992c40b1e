"""Scoring a swap frame by frame: source and swapped frames go in as consecutive pairs, per-frame measurements are
kept (a few numbers each, so any length of video stays small), and `summary()` turns them into the metrics.

Each frame costs two dlib HOG detections, two 68-point fits and two ResNet embeddings (~0.15-0.3 s on one core).
"""

from dataclasses import dataclass, field

import cv2
import numpy as np

from kaokae.evaluate import dlib_faces, metrics
from kaokae.evaluate.dlib_faces import DlibFace
from kaokae.evaluate.pose import head_pose

SAMPLE_SIZE = 160  # side of the face thumbnails kept for the report's picture
SAMPLE_MARGIN = 1.6  # thumbnails show this many times the detector's box (HOG's box is brows to chin, tight)
MATCH_IOU = 0.3
MAX_SAMPLES = 16  # thumbnails kept per system, spread over the video (memory stays flat however long it is)  # a face found in the swapped frame is the source face when their boxes overlap this much


@dataclass
class References:
    """Who is who: B (the swap's target identity), A (the source's) and, for retrieval, a gallery of others.

    gallery maps name -> centroid embedding and must include `target_name` and `source_name`.
    """

    target: np.ndarray | None = None  # B's centroid embedding
    source: np.ndarray | None = None  # A's centroid; None: the centroid of the evaluated source faces
    gallery: dict[str, np.ndarray] | None = None
    target_name: str = "B"
    source_name: str = "A"


@dataclass
class SourceFace:
    """A source frame's face, measured once and shared by every system scored on that frame."""

    face: DlibFace
    pose: np.ndarray  # (3,) yaw, pitch, roll in degrees


def measure_source(rgb: np.ndarray) -> SourceFace | None:
    """The largest face in a source frame, with landmarks, pose and embedding (None: no face)."""
    boxes = dlib_faces.detect(rgb)
    if not boxes:
        return None
    face = dlib_faces.measure(rgb, boxes[0])
    return SourceFace(face, head_pose(face.landmarks, (rgb.shape[1], rgb.shape[0])))


def face_thumbnail(rgb: np.ndarray, box: np.ndarray, size: int = SAMPLE_SIZE) -> np.ndarray:
    """A square crop around the face box, resized to `size`."""
    center = (box[:2] + box[2:]) / 2
    half = SAMPLE_MARGIN * float(max(box[2] - box[0], box[3] - box[1])) / 2
    scale = size / (2 * half)
    matrix = np.array([[scale, 0, size / 2 - scale * center[0]], [0, scale, size / 2 - scale * center[1]]])
    return cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT)


@dataclass
class FrameScore:
    index: int
    face: bool  # a face was found in the source frame
    swapped_detected: bool = False  # dlib's HOG also found it in the swapped frame
    source_embedding: np.ndarray | None = None
    swapped_embedding: np.ndarray | None = None
    pose_error: np.ndarray | None = None  # (3,) |yaw|, |pitch|, |roll| differences in degrees
    expression_error: float | None = None
    swapped_motion: float = float("nan")  # mean |frame t - frame t-1| in the face box
    source_motion: float = float("nan")
    swapped_detail: float = float("nan")  # high-frequency energy in the source's face box
    source_detail: float = float("nan")


@dataclass
class SwapScorer:
    """Scores one system (a swap, or the source itself) over a run of consecutive frames."""

    name: str
    frames: list[FrameScore] = field(default_factory=list)
    samples: list[tuple[int, np.ndarray, np.ndarray]] = field(default_factory=list)  # (index, source, swapped)
    _previous: tuple[np.ndarray, np.ndarray] | None = None
    _sample_every: int = 1

    def add(self, source_rgb: np.ndarray, swapped_rgb: np.ndarray, source: SourceFace | None | bool = True) -> None:
        """Score the next frame pair. `source`: the source frame's SourceFace when already measured (or None when
        it has no face); True (default) measures it here."""
        if source_rgb.shape != swapped_rgb.shape:
            raise ValueError(f"frame {len(self.frames)}: swapped {swapped_rgb.shape} and source "
                             f"{source_rgb.shape} differ in size")
        if source is True:
            source = measure_source(source_rgb)
        score = FrameScore(len(self.frames), face=source is not None)
        if source is not None:
            self._score_face(score, source, source_rgb, swapped_rgb)
        self.frames.append(score)
        self._previous = (source_rgb, swapped_rgb)

    def _score_face(self, score: FrameScore, source: SourceFace, source_rgb: np.ndarray,
                    swapped_rgb: np.ndarray) -> None:
        box = source.face.box
        found = dlib_faces.detect(swapped_rgb)
        overlaps = [metrics.box_iou(box, b) for b in found]
        score.swapped_detected = bool(overlaps) and max(overlaps) >= MATCH_IOU
        # Where HOG misses the swapped face (an artefact can do that) the source's box still says where it is.
        swapped_box = found[int(np.argmax(overlaps))] if score.swapped_detected else box
        swapped = dlib_faces.measure(swapped_rgb, swapped_box)
        swapped_pose = head_pose(swapped.landmarks, (swapped_rgb.shape[1], swapped_rgb.shape[0]))
        score.source_embedding = source.face.embedding
        score.swapped_embedding = swapped.embedding
        score.pose_error = metrics.angle_difference(swapped_pose, source.pose)
        score.expression_error = metrics.expression_error(swapped.landmarks, source.face.landmarks)
        score.swapped_detail = metrics.detail_energy(swapped_rgb, box)
        score.source_detail = metrics.detail_energy(source_rgb, box)
        if self._previous is not None:
            previous_source, previous_swapped = self._previous
            score.source_motion = metrics.face_motion(previous_source, source_rgb, box)
            score.swapped_motion = metrics.face_motion(previous_swapped, swapped_rgb, box)
        self._keep_sample(score.index, source_rgb, swapped_rgb, box)

    def _keep_sample(self, index: int, source_rgb: np.ndarray, swapped_rgb: np.ndarray, box: np.ndarray) -> None:
        """Every `_sample_every`-th frame; when there are too many, every other one goes and the step doubles. The
        rule depends only on frame indices, so systems scored on the same frames keep the same ones."""
        if index % self._sample_every:
            return
        self.samples.append((index, face_thumbnail(source_rgb, box), face_thumbnail(swapped_rgb, box)))
        if len(self.samples) > MAX_SAMPLES:
            self._sample_every *= 2
            self.samples = [s for s in self.samples if s[0] % self._sample_every == 0]

    def summary(self, references: References) -> dict:
        """The metrics over every frame so far (means; None where nothing could be measured)."""
        faced = [f for f in self.frames if f.face]
        result: dict = {
            "frames": len(self.frames),
            "faces": len(faced),
            "swapped_face_detected": _mean([f.swapped_detected for f in faced]),
        }
        swapped = [f.swapped_embedding for f in faced]
        source_centroid = references.source
        if source_centroid is None and faced:
            source_centroid = metrics.centroid([f.source_embedding for f in faced])
        identity = {}
        if references.target is not None:
            to_target = [metrics.identity_distance(e, references.target) for e in swapped]
            identity["distance_to_target"] = _mean(to_target)
            # dlib's own same-person test: a face nearest to B in the gallery may still look like nobody
            identity["verified"] = _mean([d < metrics.SAME_PERSON_DISTANCE for d in to_target])
        if source_centroid is not None:
            identity["distance_to_source"] = _mean([metrics.identity_distance(e, source_centroid) for e in swapped])
        if references.gallery is not None and swapped:
            gallery = dict(references.gallery)
            if source_centroid is not None:
                gallery.setdefault(references.source_name, source_centroid)
            identity["retrieval"] = metrics.retrieval_rate(swapped, gallery, references.target_name)
            identity["gallery_size"] = len(gallery)
        result["identity"] = identity
        poses = np.array([f.pose_error for f in faced]) if faced else np.zeros((0, 3))
        result["pose_error_deg"] = {name: _mean(poses[:, i]) for i, name in enumerate(("yaw", "pitch", "roll"))}
        result["expression_error"] = _mean([f.expression_error for f in faced])
        flicker = metrics.flicker_ratio([f.swapped_motion for f in self.frames],
                                        [f.source_motion for f in self.frames])
        result["flicker"] = None if not np.isfinite(flicker) else flicker
        sharpness = metrics.sharpness_ratio([f.swapped_detail for f in faced], [f.source_detail for f in faced])
        result["sharpness"] = None if not np.isfinite(sharpness) else sharpness
        return result

    def per_frame(self) -> list[dict]:
        """One small record per frame, for the JSON report."""
        rows = []
        for f in self.frames:
            row: dict = {"index": f.index, "face": f.face}
            if f.face:
                row["swapped_detected"] = f.swapped_detected
                row["pose_error_deg"] = [round(float(v), 3) for v in f.pose_error]
                row["expression_error"] = round(f.expression_error, 5)
            for key in ("swapped_motion", "source_motion", "swapped_detail", "source_detail"):
                value = getattr(f, key)
                if np.isfinite(value):
                    row[key] = round(value, 4)
            rows.append(row)
        return rows


def _mean(values) -> float | None:
    values = [float(v) for v in values if v is not None and np.isfinite(float(v))]
    return float(np.mean(values)) if values else None
