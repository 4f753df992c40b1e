"""Where converted frames go: a video with the source's audio, an image, or a folder of images; and the preview.

Everything written goes through here and carries the synthetic-media label of the run (kaokae.provenance): the
invisible watermark in every frame, IPTC trainedAlgorithmicMedia in the video's tags or the image's XMP, and a
signed C2PA manifest when the user gave a certificate.
"""

import contextlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from kaokae.errors import KaokaeError
from kaokae.media import VIDEO_EXTENSIONS, Frame, ImageFolderWriter, MediaInfo, VideoWriter, write_image
from kaokae.media.image import IMAGE_EXTENSIONS
from kaokae.media.writer import same_path
from kaokae.provenance import Labeller

PREVIEW_HEIGHT = 270  # px of each tile in the preview sheet


def output_kind(info: MediaInfo, output: Path) -> str:
    """'video', 'image' or 'folder': what `output` will be, from its extension, checked against the input."""
    suffix = output.suffix.lower()
    if suffix in VIDEO_EXTENSIONS:
        kind = "video"
    elif suffix in IMAGE_EXTENSIONS:
        kind = "image"
    elif suffix == "" or output.is_dir():
        kind = "folder"
    else:
        raise KaokaeError(f"unknown output extension '{suffix}' for {output} (use a video ({', '.join(VIDEO_EXTENSIONS)})"
                          f", an image ({', '.join(IMAGE_EXTENSIONS)}) or a folder)")
    if info.kind == "video" and kind == "image":
        raise KaokaeError(f"{output}: a video converts to a video file or a folder of images, not one image")
    if info.kind != "video" and kind == "video":
        raise KaokaeError(f"{output}: {info.kind} input converts to {'an image' if info.kind == 'image' else 'a folder'}"
                          " (to make a video of a folder of images, use `kaokae media assemble` on the result)")
    if info.kind == "folder" and kind == "image":
        raise KaokaeError(f"{output}: a folder of images converts to a folder, not one image")
    return kind


def check_output(info: MediaInfo, output: Path, overwrite: bool = False) -> str:
    """The output's kind; KaokaeError when it cannot be written (checked before any work starts)."""
    kind = output_kind(info, output)
    if output.exists() and same_path(output, info.path):
        raise KaokaeError(f"output {output} is the input")
    if kind == "folder" and output.exists() and not output.is_dir():
        raise KaokaeError(f"output {output} exists and is not a folder")
    if output.exists() and not overwrite and (kind != "folder" or any(output.iterdir())):
        raise KaokaeError(f"output {output} exists (use --overwrite to replace it)")
    return kind


class _Output:
    def write(self, rgb: np.ndarray, frame: Frame) -> None:
        raise NotImplementedError


@contextlib.contextmanager
def open_output(info: MediaInfo, output: Path, options, labeller: Labeller) -> Iterator[_Output]:
    """A writer for the converted frames (`write(rgb, frame)`), committed only when the block ends without error;
    every frame is watermarked and the files carry the label's metadata (and C2PA manifest).

    options: crf, preset (video) and overwrite.
    """
    output = Path(output)
    kind = check_output(info, output, options.overwrite)
    written: list[Path] = []
    if kind == "video":
        with VideoWriter(output, info.fps, audio_from=info.path if info.has_audio else None, crf=options.crf,
                         preset=options.preset, metadata=labeller.tags, time_base=info.time_base) as writer:

            class Video(_Output):
                def write(self, rgb, frame):
                    writer.write(labeller.mark(rgb), time=frame.time)

            yield Video()
        written.append(output)
    elif kind == "image":
        images: list[np.ndarray] = []

        class Image(_Output):
            def write(self, rgb, frame):
                images.append(rgb)

        yield Image()
        written.append(write_image(output, labeller.mark(images[0]), xmp=labeller.xmp))
    else:
        with ImageFolderWriter(output, "png", overwrite=options.overwrite, xmp=labeller.xmp) as writer:

            class Folder(_Output):
                def write(self, rgb, frame):
                    written.append(writer.write(labeller.mark(rgb), Path(frame.name).stem if frame.name else None))

            yield Folder()
    for path in written:
        labeller.sign(path)


def preview_path(output: Path) -> Path:
    """out.mp4 -> out.preview.png; a folder out/ -> out.preview.png beside it."""
    output = Path(output)
    name = output.stem if output.suffix else output.name
    return output.parent / f"{name}.preview.png"


class Preview:
    """A sheet of frames, one per row: original | swapped | blend mask, each scaled to PREVIEW_HEIGHT px high."""

    def __init__(self, rows: int):
        self.rows: list[np.ndarray] = []

    def add(self, original: np.ndarray, swapped: np.ndarray, alpha: np.ndarray) -> None:
        height, width = original.shape[:2]
        scale = min(1.0, PREVIEW_HEIGHT / height)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        mask = np.repeat(np.clip(alpha * 255 + 0.5, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
        tiles = [cv2.resize(x, size, interpolation=cv2.INTER_AREA) for x in (original, swapped, mask)]
        gap = np.full((size[1], 4, 3), 255, np.uint8)
        self.rows.append(np.concatenate([tiles[0], gap, tiles[1], gap, tiles[2]], axis=1))

    def write(self, path: Path, labeller: Labeller) -> Path | None:
        if not self.rows:
            return None
        width = max(r.shape[1] for r in self.rows)
        rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in self.rows]
        write_image(path, labeller.mark(np.concatenate(rows)[:-4]), xmp=labeller.xmp)
        labeller.sign(path)
        return path
