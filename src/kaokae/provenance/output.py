"""The one place swapped frames are written (convert, swap, demo): every frame watermarked, every file carrying the
metadata label (XMP for images, container tags for video) and, with a certificate, a signed C2PA manifest."""

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from kaokae.media import Frame, ImageFolderWriter, MediaInfo, VideoWriter, write_image
from kaokae.media.output import check_output
from kaokae.provenance.labeller import Labeller


class LabelledOutput:
    """`write(rgb, frame)` for each frame, in order; see `open_labelled_output`."""

    def __init__(self, write):
        self._write = write
        self.frames = 0

    def write(self, rgb: np.ndarray, frame: Frame) -> None:
        self._write(rgb, frame)
        self.frames += 1


@contextlib.contextmanager
def open_labelled_output(info: MediaInfo, output: Path, labeller: Labeller, *, crf: int = 18,
                         preset: str = "medium", overwrite: bool = False) -> Iterator[LabelledOutput]:
    """A writer for the changed frames of `info`'s media, committed only when the block ends without error.

    A video keeps the input's timing and audio; an image output takes the first frame; a folder keeps the frames'
    names (PNG). Every frame is watermarked by `labeller` and the files carry its metadata and C2PA manifest.
    """
    output = Path(output)
    kind = check_output(info, output, overwrite)
    written: list[Path] = []
    if kind == "video":
        with VideoWriter(output, info.fps, audio_from=info.path if info.has_audio else None, crf=crf, preset=preset,
                         metadata=labeller.tags, time_base=info.time_base) as writer:
            yield LabelledOutput(lambda rgb, frame: writer.write(labeller.mark(rgb), time=frame.time))
        written.append(output)
    elif kind == "image":
        images: list[np.ndarray] = []
        yield LabelledOutput(lambda rgb, frame: images.append(rgb))
        written.append(write_image(output, labeller.mark(images[0]), xmp=labeller.xmp))
    else:
        names: set[str] = set()

        def output_name(frame: Frame) -> str | None:
            if not frame.name:
                return None
            name = Path(frame.name).stem
            if name in names:  # a.jpg and a.png both in the input folder: keep both
                name = frame.name.replace(".", "_")
            names.add(name)
            return name

        with ImageFolderWriter(output, "png", overwrite=overwrite, xmp=labeller.xmp) as writer:
            yield LabelledOutput(lambda rgb, frame: written.append(writer.write(labeller.mark(rgb), output_name(frame))))
    for path in written:
        labeller.sign(path)
