"""Form (a): a trained model on A's media. Frames are swapped in memory by kaokae.convert's own pipeline (the same
alignment, model, mask and blend as `kaokae convert`, nothing written), and the model's reconstructions of faces it
did not train on are scored with SSIM and PSNR."""

import contextlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from kaokae import progress
from kaokae.convert import Converter, ConvertOptions, DetectOptions, SwapModel
from kaokae.convert.geometry import model_input
from kaokae.convert.locate import DetectedFaces
from kaokae.evaluate import metrics
from kaokae.evaluate.references import spread
from kaokae.faces import FaceFinder, align_matrix
from kaokae.faceset import FaceSet, is_faceset
from kaokae.media import Frame, open_media, probe

MAX_RECONSTRUCTION_FACES = 64
BATCH = 16


class RecordingLocator:
    """convert's face locator, keeping each frame's first face as the model sees it (for the A->A score)."""

    def __init__(self, locate, model_size: int):
        self.locate, self.model_size = locate, model_size
        self.inputs: list[np.ndarray] = []

    def __call__(self, frame: Frame):
        faces = self.locate(frame)
        if faces:
            f = faces[0]
            self.inputs.append(model_input(frame.image, f.matrix, f.size, self.model_size))
        return faces

    def close(self) -> None:
        self.locate.close()


def media_of(source: Path) -> Path:
    """The frames of A: a faceset's aligned faces are read as a folder of images."""
    return source / "faces" if is_faceset(source) else source


def held_out_start(source: Path, holdout: int) -> int:
    """First index of the faces `kaokae train --holdout` kept out of training, when A is given as a faceset."""
    if holdout > 0 and is_faceset(source):
        return max(len(FaceSet.open(source)) - holdout, 0)
    return 0


@contextlib.contextmanager
def converted_frames(model_dir: str | Path, media: Path, frames: Iterator[Frame], device: str = "auto"
                     ) -> Iterator[tuple[Iterator[tuple[np.ndarray, np.ndarray]], RecordingLocator]]:
    """(source image, swapped image) pairs converted A -> B, and the locator holding the model's A inputs."""
    model = SwapModel(model_dir, "a2b", device)
    converter = Converter(model, ConvertOptions(device=device))
    locate = RecordingLocator(DetectedFaces(probe(media), model.face_size, model.centering, DetectOptions()),
                              model.size)
    try:
        with contextlib.closing(converter.run(frames, locate)) as swapped:
            yield ((s.frame.image, s.image) for s in swapped), locate
    finally:
        locate.close()
        converter.close()


def person_inputs(target: str | Path, model: SwapModel, holdout: int, most: int = MAX_RECONSTRUCTION_FACES
                  ) -> tuple[list[np.ndarray], str]:
    """A person's faces as the model sees them, and where they came from (said in the report).

    A faceset gives its last `holdout` faces when the model held that many out (the faces training never saw), else
    all of its faces; photos and videos are aligned the way convert aligns faces.
    """
    target = Path(target)
    if is_faceset(target):
        faceset = FaceSet.open(target)
        indices = list(range(len(faceset)))
        if 0 < holdout < len(faceset):
            indices = indices[-holdout:]
            where = f"the last {holdout} of {target}, held out in training"
        else:
            where = f"{target}, which the model may have trained on"
        faces = []
        for i in [indices[k] for k in spread(len(indices), most)]:
            face = faceset.load_face(i)
            if faceset.centering == model.centering:  # exactly as training prepared it
                interpolation = cv2.INTER_AREA if model.size < faceset.size else cv2.INTER_CUBIC
                faces.append(cv2.resize(face, (model.size, model.size), interpolation=interpolation))
            else:
                matrix = align_matrix(faceset.face_landmarks[i], model.face_size, model.centering)
                faces.append(model_input(face, matrix, model.face_size, model.size))
        return faces, where
    info = probe(target)
    faces = []
    with FaceFinder(max_faces=1) as finder, open_media(target) as reader:
        for frame in reader.frames(max(1, info.frame_count // most)):
            found = finder.find(frame.image)
            if found:
                matrix = align_matrix(found[0].landmarks, model.face_size, model.centering)
                faces.append(model_input(frame.image, matrix, model.face_size, model.size))
            if len(faces) >= most:
                break
    return faces, str(target)


def reconstruction_scores(model: SwapModel, faces: list[np.ndarray]) -> tuple[float, float]:
    """Mean SSIM and PSNR of the model's output against its input (the whole aligned face at the model's size)."""
    ssims, psnrs = [], []
    for start in range(0, len(faces), BATCH):
        batch = np.stack(faces[start:start + BATCH])
        rgb, _ = model(batch)
        for original, rebuilt in zip(batch, rgb, strict=True):
            ssims.append(metrics.ssim(original, rebuilt))
            psnrs.append(metrics.psnr(original, rebuilt))
    return float(np.mean(ssims)), float(np.mean(psnrs))


def reconstruction(model_dir: str | Path, a_inputs: list[np.ndarray], target: str | Path, device: str = "auto"
                   ) -> dict:
    """A->A on `a_inputs` (A's faces at the model's size) and B->B on B's faces from `target`."""
    to_a = SwapModel(model_dir, "b2a", device)  # decodes as A
    to_b = SwapModel(model_dir, "a2b", device)  # decodes as B
    holdout = int(to_b.config.train.get("holdout", 0))
    result: dict = {}
    if a_inputs:
        a_inputs = [a_inputs[k] for k in spread(len(a_inputs), MAX_RECONSTRUCTION_FACES)]
        result["a_ssim"], result["a_psnr"] = reconstruction_scores(to_a, a_inputs)
        result["a_faces"] = len(a_inputs)
    b_inputs, where = person_inputs(target, to_b, holdout)
    if not b_inputs:
        progress.warn(f"no face of B found in {target}: no B->B reconstruction")
    else:
        result["b_ssim"], result["b_psnr"] = reconstruction_scores(to_b, b_inputs)
        result["b_faces"] = len(b_inputs)
        result["b_from"] = where
    progress.info(f"reconstruction: A->A on {len(a_inputs)} evaluated faces of A, B->B on {len(b_inputs)} faces ({where})")
    return result
