"""What an output path will be, given the input it is made from: a video, an image or a folder of images.

Convert and swap write "the same media, changed", so they share these rules and check them before any work starts.
"""

from collections.abc import Iterable
from pathlib import Path

from kaokae.errors import KaokaeError
from kaokae.media.image import IMAGE_EXTENSIONS
from kaokae.media.reader import MediaInfo
from kaokae.media.writer import VIDEO_EXTENSIONS
from kaokae.paths import check_outputs


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
        raise KaokaeError(f"{output}: a video becomes a video file or a folder of images, not one image")
    if info.kind != "video" and kind == "video":
        raise KaokaeError(f"{output}: {info.kind} input becomes {'an image' if info.kind == 'image' else 'a folder'}"
                          " (to make a video of a folder of images, use `kaokae assemble` on the result)")
    if info.kind == "folder" and kind == "image":
        raise KaokaeError(f"{output}: a folder of images becomes a folder, not one image")
    return kind


def check_output(info: MediaInfo, output: Path, overwrite: bool = False, inputs: Iterable = ()) -> str:
    """The output's kind; KaokaeError when it cannot be written (checked before any work starts): also when it is
    or holds the media or any of the other `inputs` of the command (references, models, certificates)."""
    kind = output_kind(info, output)
    check_outputs([info.path, *inputs], [output])
    if kind == "folder" and output.exists() and not output.is_dir():
        raise KaokaeError(f"output {output} exists and is not a folder")
    if output.exists() and not overwrite and (kind != "folder" or any(output.iterdir())):
        raise KaokaeError(f"output {output} exists (use --overwrite to replace it)")
    return kind
