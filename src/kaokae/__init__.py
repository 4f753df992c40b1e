"""kaokae (顔替え, "face swap"): extract, train, convert, classic swap, evaluate, and label every output."""

__version__ = "0.1.0"

import os as _os

# OpenCV's own decoder guard, at kaokae.paths.MAX_PIXELS (it must be set before cv2 is first imported)
_os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", "100000000")
