"""Training data: each faceset loaded once as uint8 at the model's size, with two landmark masks beside the RGB
(the face, and the eyes and mouth) so that augmentation moves them together; batches are sampled on the fly."""

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from kaokae.errors import KaokaeError
from kaokae.faceset import FaceSet
from kaokae.progress import warn

FEW_FACES = 100  # below this many training faces a model mostly memorises them: warn


def mesh_points(*connections) -> np.ndarray:
    """Mesh indices of mediapipe's own landmark groups (pairs of connected points)."""
    return np.array(sorted({i for group in connections for pair in group for i in pair}))


def _mesh_regions() -> tuple[np.ndarray, list[np.ndarray]]:
    # mediapipe's face_mesh_connections is plain data (no imports): load that one file rather than the whole
    # mediapipe package, whose import costs seconds at every start of training.
    spec = importlib.util.find_spec("mediapipe")
    path = Path(spec.submodule_search_locations[0]) / "python" / "solutions" / "face_mesh_connections.py"
    mesh = importlib.util.module_from_spec(importlib.util.spec_from_file_location("_face_mesh_connections", path))
    mesh.__loader__.exec_module(mesh)
    return (mesh_points(mesh.FACEMESH_FACE_OVAL),
            [mesh_points(mesh.FACEMESH_LEFT_EYE), mesh_points(mesh.FACEMESH_RIGHT_EYE), mesh_points(mesh.FACEMESH_LIPS)])


FACE_OVAL, EYES_MOUTH = _mesh_regions()


def face_masks(landmarks: np.ndarray, size: int) -> np.ndarray:
    """(N, 2, size, size) uint8 masks from (N, 478, 2) landmarks in `size`-px face coordinates: the face (hull of
    the face oval, edge softened) and the eyes and mouth (hulls, grown a little to take in lids and lip edges)."""
    masks = np.zeros((len(landmarks), 2, size, size), np.uint8)
    grow = max(1, size // 32)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    sigma = max(0.5, size / 128)
    for mask, points in zip(masks, landmarks, strict=True):
        fixed = np.round(points * 16).astype(np.int32)  # 4 bits of sub-pixel precision
        cv2.fillConvexPoly(mask[0], cv2.convexHull(fixed[FACE_OVAL]), 255, cv2.LINE_AA, shift=4)
        mask[0] = cv2.GaussianBlur(mask[0], (0, 0), sigma)
        for region in EYES_MOUTH:
            cv2.fillConvexPoly(mask[1], cv2.convexHull(fixed[region]), 255, cv2.LINE_AA, shift=4)
        mask[1] = cv2.dilate(mask[1], kernel)
    return masks


@dataclass
class FaceData:
    faces: torch.Tensor  # (N, 5, S, S) uint8: RGB, face mask, eyes+mouth mask

    def __len__(self) -> int:
        return len(self.faces)

    def sample(self, n: int, g: torch.Generator, device: torch.device) -> torch.Tensor:
        """n random faces (with replacement) as a (n, 5, S, S) uint8 batch on `device`. `g` lives where the faces do:
        indices made on the GPU for faces on the GPU need no host-to-GPU copy, which would make the CPU wait for the
        GPU every step."""
        index = torch.randint(len(self.faces), (n,), generator=g, device=g.device)
        return self.faces[index].to(device, non_blocking=True)

    def to(self, device: torch.device) -> "FaceData":
        return FaceData(self.faces.to(device))


def prepare_faces(faces: np.ndarray, landmarks: np.ndarray, face_size: int, size: int) -> torch.Tensor:
    """(N, S, S, 3) uint8 faceset faces + their landmarks -> (N, 5, size, size) uint8 with the masks."""
    interpolation = cv2.INTER_AREA if size < face_size else cv2.INTER_CUBIC
    rgb = np.stack([cv2.resize(f, (size, size), interpolation=interpolation) for f in faces]) \
        if size != face_size else faces
    masks = face_masks(landmarks * (size / face_size), size)
    return torch.from_numpy(np.concatenate([rgb.transpose(0, 3, 1, 2), masks], 1))


def load_faceset(path: str | Path, size: int, holdout: int = 0, who: str = "", warn_few: bool = True
                 ) -> tuple[FaceData, FaceData | None, FaceSet]:
    """A faceset's faces at the model's `size`: (training faces, held-out faces or None, the FaceSet). The held-out
    faces are the last `holdout` of the faceset (a stretch of the video the model never trains on)."""
    faceset = FaceSet.open(path)
    if holdout < 0 or holdout >= len(faceset):
        raise KaokaeError(f"--holdout {holdout} leaves no faces of {path} ({len(faceset)} faces) to train on")
    faces = prepare_faces(faceset.load_faces(), faceset.face_landmarks, faceset.size, size)
    train = FaceData(faces[: len(faces) - holdout])
    if warn_few and len(train) < FEW_FACES:
        warn(f"only {len(train)} faces of {who or path} to train on: the model will mostly memorise them "
             "(extract a few hundred or more)")
    return train, FaceData(faces[len(faces) - holdout:]) if holdout else None, faceset
