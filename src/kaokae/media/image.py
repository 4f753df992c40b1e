"""Still images: read any common format upright as RGB, write atomically with an optional XMP packet."""

import os
import re
import struct
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from kaokae.atomic import atomic_path
from kaokae.errors import KaokaeError
from kaokae.paths import MAX_PIXELS

# extension -> Pillow format name
IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP",
                 ".tif": "TIFF", ".tiff": "TIFF"}
IMAGE_EXTENSIONS = tuple(IMAGE_FORMATS)

XMP_TIFF_TAG = 700  # TIFF/EXIF tag that holds an XMP packet
Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow's own guard agrees with ours (it also covers frames we do not open)


def is_image_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_FORMATS


def natural_key(name: str) -> list:
    """Sort key that puts frame2.png before frame10.png (digit runs compare as numbers)."""
    parts = re.split(r"(\d+)", name.lower())
    # re.split with a group alternates text, number, text...: even items stay strings, odd ones become ints,
    # so two keys always compare like with like.
    return [int(p) if i % 2 else p for i, p in enumerate(parts)]


def list_images(folder: str | os.PathLike) -> list[Path]:
    """The image files directly in `folder`, in natural order; hidden files (ours in progress too) are skipped."""
    folder = Path(folder)
    files = [p for p in folder.iterdir()
             if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_FORMATS]
    return sorted(files, key=lambda p: natural_key(p.name))


def _open(path: Path) -> Image.Image:
    """Pillow's lazy open (header only), refused before any decoding above `kaokae.paths.MAX_PIXELS`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's own warnings (bomb, EXIF) would print before our error line
            image = Image.open(path)
    except Image.DecompressionBombError:  # Pillow refuses twice its limit itself
        raise KaokaeError(f"{path} is over {2 * MAX_PIXELS / 1e6:.0f} megapixels: kaokae reads images of up to "
                          f"{MAX_PIXELS / 1e6:.0f} megapixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise KaokaeError(f"cannot read image {path}: {e}") from None
    width, height = image.size
    if width * height > MAX_PIXELS:
        image.close()
        raise KaokaeError(f"{path} is {width}x{height} ({width * height / 1e6:.0f} megapixels): kaokae reads images "
                          f"of up to {MAX_PIXELS / 1e6:.0f} megapixels")
    return image


def open_image(path: str | os.PathLike) -> Image.Image:
    """Open an image with Pillow, upright (EXIF orientation applied), or raise a one-line KaokaeError."""
    path = Path(path)
    if not path.exists():
        raise KaokaeError(f"no such file: {path}")
    if path.is_dir():
        raise KaokaeError(f"{path} is a folder, expected an image file")
    if path.stat().st_size == 0:
        raise KaokaeError(f"{path} is empty (0 bytes)")
    image = _open(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image.load()
            return ImageOps.exif_transpose(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise KaokaeError(f"cannot read image {path}: {e}") from None


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) as read_image will return it, reading only the header."""
    path = Path(path)
    with _open(path) as image:
        width, height = image.size
        try:
            # EXIF orientations 5-8 turn the picture a quarter, so the upright size is transposed
            if image.getexif().get(0x0112, 1) in (5, 6, 7, 8):
                width, height = height, width
        except (OSError, SyntaxError, ValueError) as e:
            raise KaokaeError(f"cannot read image {path}: {e}") from None
    return width, height


def to_rgb(image: Image.Image) -> np.ndarray:
    """(H, W, 3) uint8 RGB from any Pillow mode: 16-bit is scaled down, alpha is dropped, palettes expanded."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.uint32)
        scale = 257 if array.max() > 255 else 1  # 16-bit data -> 8-bit; an `I` image holding 8-bit values stays
        gray = (array // scale).clip(0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB, upright (EXIF orientation honoured)."""
    return to_rgb(open_image(path))


def check_image_extension(dest: str | os.PathLike) -> str:
    """The Pillow format for `dest`'s extension, or a KaokaeError naming the extensions that work."""
    suffix = Path(dest).suffix.lower()
    if suffix not in IMAGE_FORMATS:
        raise KaokaeError(f"unknown image extension '{suffix or '(none)'}' for {dest} "
                          f"(use {', '.join(IMAGE_EXTENSIONS)})")
    return IMAGE_FORMATS[suffix]


def _png_with_xmp(png: bytes, xmp: bytes) -> bytes:
    """Insert an iTXt "XML:com.adobe.xmp" chunk (uncompressed, as the XMP spec asks) right after IHDR."""
    # keyword NUL, compression flag 0 and method 0, empty language tag NUL, empty translated keyword NUL, text
    data = b"XML:com.adobe.xmp\x00" + b"\x00\x00" + b"\x00" + b"\x00" + xmp
    chunk = struct.pack(">I", len(data)) + b"iTXt" + data + struct.pack(">I", zlib.crc32(b"iTXt" + data))
    end_of_ihdr = 8 + 4 + 4 + 13 + 4  # signature, IHDR length, type, 13 bytes of data, CRC
    return png[:end_of_ihdr] + chunk + png[end_of_ihdr:]


def write_image(dest: str | os.PathLike, rgb: np.ndarray, *, xmp: bytes | None = None, quality: int = 95,
                png_compression: int = 3) -> Path:
    """Write (H, W, 3) uint8 RGB to `dest` (format from its extension), atomically.

    `xmp` is an XMP packet embedded where the format has a place for it: PNG iTXt "XML:com.adobe.xmp",
    JPEG APP1, WebP "XMP " chunk, TIFF tag 700. BMP has none, so asking for XMP there is an error rather than a
    label silently lost. `quality` is for JPEG/WebP; `png_compression` 0-9 trades PNG size for speed.
    """
    fmt = check_image_extension(dest)
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise KaokaeError(f"write_image expects (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
    if fmt == "PNG":
        # OpenCV encodes PNG with the GIL released, so image-folder writers compress on several threads at once
        # (Pillow's PNG writer holds it); the XMP chunk is spliced in by hand.
        ok, encoded = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]),
                                   [cv2.IMWRITE_PNG_COMPRESSION, png_compression])
        if not ok:
            raise KaokaeError(f"cannot encode {dest} as PNG")
        _save(dest, lambda tmp: tmp.write_bytes(_png_with_xmp(encoded.tobytes(), xmp) if xmp else encoded.tobytes()))
        return Path(dest)
    image = Image.fromarray(rgb, "RGB")
    options: dict = {}
    if fmt == "JPEG":
        # 4:4:4 chroma at high quality: faces' lips and skin edges smear with 4:2:0
        options.update(quality=quality, subsampling=0 if quality >= 90 else 2, optimize=False)
        if xmp:
            options["xmp"] = xmp
    elif fmt == "WEBP":
        options["quality"] = quality
        if xmp:
            options["xmp"] = xmp
    elif fmt == "TIFF":
        options["compression"] = "tiff_deflate"
        if xmp:
            options["tiffinfo"] = {XMP_TIFF_TAG: xmp}
    elif xmp:
        raise KaokaeError(f"{Path(dest).suffix} files cannot hold the XMP label; use PNG, JPEG, WebP or TIFF")
    _save(dest, lambda tmp: image.save(tmp, format=fmt, **options))
    return Path(dest)


def _save(dest: str | os.PathLike, write) -> None:
    """Run `write(temporary path)` and rename the result onto `dest`; a full disk or missing permission is one line."""
    try:
        with atomic_path(dest) as tmp:
            write(tmp)
    except OSError as e:
        raise KaokaeError(f"cannot write {dest}: {e.strerror or e}") from None
