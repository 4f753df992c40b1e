"""Media I/O on PyAV (FFmpeg inside the wheel): read video, images, image folders and network streams as upright RGB frames one at
a time; write H.264 video (files, or network streams) with the source's audio, images with an optional XMP label, and image folders. Every
write is atomic: a temporary file or folder beside the destination, renamed only on success."""

from kaokae.media.image import IMAGE_EXTENSIONS, list_images, natural_key, read_image, write_image
from kaokae.media.reader import Frame, MediaInfo, MediaReader, StreamReader, open_media, probe
from kaokae.media.writer import (
    PRESETS,
    VIDEO_EXTENSIONS,
    ImageFolderWriter,
    StreamWriter,
    VideoWriter,
    parse_fps,
)

__all__ = [
    "IMAGE_EXTENSIONS", "PRESETS", "VIDEO_EXTENSIONS", "Frame", "ImageFolderWriter", "MediaInfo", "MediaReader",
    "StreamReader", "StreamWriter", "VideoWriter", "list_images", "natural_key", "open_media", "parse_fps", "probe",
    "read_image", "write_image",
]
