"""Safe loading of user uploads into a sanitised, upright RGB image for the preview.

Uploads are untrusted: anything that is not a readable image of sane size becomes an
`ImageLoadError` whose message can be shown in the UI as is. The app (playground.images
re-exports this module), the command line and the exported script all load images here:
the script's loader is generated from the source of `PIXEL_FUNCTIONS` (pipelines.export), so
every decision that changes pixels is made by code that exists once.
"""

from __future__ import annotations

import codecs
import io
import os
import re
import stat
import threading
import warnings
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageOps

MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # also passed to gradio's launch(max_file_size=...)
MAX_PIXELS = 100_000_000  # refuse width * height above this, judged from the header
PREVIEW_MAX_SIDE = 1024  # longer side of the preview, see fit_within
SOURCE_SIZE = "source_size"  # Image.info key: the file's size before fit_within scaled it down

ImageSource = str | os.PathLike | bytes | Image.Image

# Modes with more than 8 bits per sample: Pillow's own convert() clips them at 255, which
# turns a normal 16-bit photo white, so they are stretched by their actual range instead.
_HIGH_BIT_DEPTH_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I", "F"})

# `warnings.catch_warnings` swaps process-wide state; two overlapping loads could restore each
# other's filters and leave the bomb warning an error (or ignored) for everyone. Serialise ours.
_WARNINGS_LOCK = threading.Lock()

# Leading bytes of common files, only to make "not an image" messages useful.
_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
    b"BM": "image/bmp",
    b"II*\x00": "image/tiff",
    b"MM\x00*": "image/tiff",
    b"%PDF": "application/pdf",
    b"PK\x03\x04": "application/zip",
    b"\x1f\x8b": "application/gzip",
}
# A file that looks like one of these but fails to open is damaged rather than "not an image".
_PILLOW_READABLE = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/bmp", "image/tiff", "image/webp", "image/avif"}
)


class ImageLoadError(ValueError):
    """An upload that cannot be previewed; str() is a short sentence fit for the UI."""


def load_image(source: ImageSource, max_side: int = PREVIEW_MAX_SIDE) -> Image.Image:
    """Return `source` as a fully decoded, upright RGB image scaled by `fit_within`.

    Accepts a path, the file's bytes, or a PIL image; multi-frame images give their first
    frame. Raises only `ImageLoadError` for bad input (missing, empty, oversized, not an
    image, truncated or corrupt, too many pixels).
    """
    data = None if isinstance(source, Image.Image) else _read_bytes(source)
    try:
        upright = _decode(source if data is None else io.BytesIO(data))
    except ImageLoadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageLoadError(_bomb_message(str(exc))) from exc
    except Image.UnidentifiedImageError as exc:
        raise ImageLoadError(_unreadable_message(data or b"")) from exc
    except Exception as exc:  # hostile files make Pillow raise almost anything
        raise ImageLoadError("The image file is truncated or corrupt.") from exc
    try:
        result = to_preview(upright, max_side)
    except Exception as exc:  # e.g. a mode Pillow cannot convert
        raise ImageLoadError(f"Images in Pillow mode {upright.mode!r} are not supported.") from exc
    # Drop transparency keys, EXIF, ICC...: they no longer describe the pixels. What stays is
    # the size of the file's image when the preview had to scale it down, so the app can say so.
    result.info = {} if result.size == upright.size else {SOURCE_SIZE: upright.size}
    return result


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to a new RGB image that looks right on screen.

    Alpha (LA, RGBA, PA, La, RGBa, palette or colour-key transparency) is composited on white;
    16/32-bit and float modes are stretched from their actual min/max to 0..255 (NaN/inf in F
    count as 0); everything else uses Pillow's own conversion.
    """
    if img.mode in _HIGH_BIT_DEPTH_MODES:
        return _stretch_to_8bit(img).convert("RGB")
    if img.mode == "La":  # premultiplied; Pillow has no direct La conversion, but has RGBa
        lum, alpha = img.split()
        img = Image.merge("RGBa", (lum, lum, lum, alpha))
    if img.has_transparency_data:
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, img.convert("RGBA")).convert("RGB")
    return img.convert("RGB")  # copies even when already RGB, so callers never share pixels


def _stretch_to_8bit(img: Image.Image) -> Image.Image:
    """Map a 16/32-bit or float image's actual min..max onto an 8-bit L image."""
    # float32 halves the memory of float64 and is still far finer than the 8-bit result.
    values = np.asarray(img, dtype=np.float32)
    values = np.where(np.isfinite(values), values, np.float32(0))  # NaN/inf carry no brightness
    low, high = float(values.min()), float(values.max())
    if high > low:
        scaled = (values - low) * np.float32(255.0 / (high - low))
    else:
        # No range to stretch: integers are read on the 16-bit scale, floats shown mid-grey.
        level = 128.0 if img.mode == "F" else min(max(low, 0.0), 65535.0) / 257.0
        scaled = np.full(values.shape, level, dtype=np.float32)
    return Image.fromarray(np.rint(scaled).astype(np.uint8))


def fit_within(img: Image.Image, max_side: int) -> Image.Image:
    """Downscale `img` so its longer side is at most `max_side`, keeping the aspect ratio.

    Returns `img` itself when it already fits. Otherwise the longer side becomes exactly
    `max_side`, the other `max(1, round(other * max_side / longer))`, resampled with
    `Image.Resampling.BICUBIC` and `reducing_gap=None`.
    """
    width, height = img.size
    longer = max(width, height)
    if longer <= max_side:
        return img
    if width >= height:
        size = (max_side, max(1, round(height * max_side / longer)))
    else:
        size = (max(1, round(width * max_side / longer)), max_side)
    return img.resize(size, Image.Resampling.BICUBIC, reducing_gap=None)


def source_size(img: Image.Image) -> tuple[int, int] | None:
    """The file's (width, height) when `load_image` scaled it down for the preview, else None."""
    size = img.info.get(SOURCE_SIZE)
    return tuple(size) if size is not None and tuple(size) != img.size else None


def describe(img: Image.Image) -> str:
    """Caption for an image: "451 x 300 px", or "1024 x 768 px, scaled down from 4000 x 3000"."""
    text = f"{img.width} x {img.height} px"
    source = source_size(img)
    return text if source is None else f"{text}, scaled down from {source[0]} x {source[1]}"


def _read_bytes(source: str | os.PathLike | bytes) -> bytes:
    """Read a path or take bytes, refusing empty and oversized uploads before any decoding."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        data = _read_file(source)
    else:
        raise ImageLoadError(f"Expected an image file, got {type(source).__name__}.")
    if not data:
        raise ImageLoadError("The file is empty.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageLoadError(_too_big_message(len(data)))
    return data


def _read_file(path: str | os.PathLike) -> bytes:
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise ImageLoadError("Expected an image file but got a folder.")
        if not stat.S_ISREG(info.st_mode):  # FIFOs and devices could block or never end
            raise ImageLoadError("The upload is not a regular file.")
        if info.st_size > MAX_UPLOAD_BYTES:  # refuse from the size alone, without reading
            raise ImageLoadError(_too_big_message(info.st_size))
        with open(path, "rb") as file:
            return file.read(MAX_UPLOAD_BYTES + 1)  # +1: a file that grew since stat is caught
    except ImageLoadError:  # a ValueError too: keep it from the generic branch below
        raise
    except FileNotFoundError as exc:
        raise ImageLoadError("The file could not be found.") from exc
    except (OSError, ValueError, TypeError) as exc:  # permissions, NUL in path, odd path types
        raise ImageLoadError("The file could not be read.") from exc


def _decode(source: Image.Image | io.BytesIO) -> Image.Image:
    """Open (if needed), check the pixel count, decode frame 0 and undo EXIF rotation."""
    with _WARNINGS_LOCK, warnings.catch_warnings():
        # Pillow only *warns* between MAX_IMAGE_PIXELS and twice that; make it refuse instead.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        if isinstance(source, Image.Image):
            return _upright_first_frame(source)
        with Image.open(source) as img:
            return _upright_first_frame(img)


def _upright_first_frame(img: Image.Image) -> Image.Image:
    return upright_first_frame(img, _check_pixels)


def upright_first_frame(
    img: Image.Image, check_size: Callable[[tuple[int, int]], None] | None = None
) -> Image.Image:
    """Frame 0 of `img`, decoded and turned upright by its EXIF orientation.

    `check_size` sees the size from the header (a bomb is refused before any pixel is decoded)
    and again after decoding (GIF frames may enlarge the canvas).
    """
    if check_size is not None:
        check_size(img.size)
    if img.tell() != 0:
        img.seek(0)
    img.load()
    if check_size is not None:
        check_size(img.size)
    try:
        return ImageOps.exif_transpose(img)
    except Exception:  # a broken EXIF block should not cost the user the picture
        return img.copy()


def to_preview(img: Image.Image, max_side: int = PREVIEW_MAX_SIDE) -> Image.Image:
    """An upright frame as the preview shows it: RGB, longer side at most `max_side`."""
    return fit_within(to_rgb(img), max_side)


def load_trusted_image(path: str | os.PathLike, max_side: int = PREVIEW_MAX_SIDE) -> Image.Image:
    """`load_image` without the upload limits and friendly errors: same pixels, for own files."""
    with Image.open(path) as img:
        return to_preview(upright_first_frame(img), max_side)


def _check_pixels(size: tuple[int, int]) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise ImageLoadError("The image has no pixels.")
    limit = _pixel_limit()
    if width * height > limit:
        raise ImageLoadError(
            f"The image is {width}x{height} pixels; the limit is {_megapixels(limit)} megapixels."
        )


def _pixel_limit() -> int:
    """Pixels allowed: MAX_PIXELS, or Pillow's lower bomb limit, whichever is smaller.

    Because the bomb warning is an error here, Pillow's own `Image.MAX_IMAGE_PIXELS` (about
    89.5 million by default) is the effective limit; messages quote whichever one applies.
    """
    pillow_limit = Image.MAX_IMAGE_PIXELS
    return MAX_PIXELS if pillow_limit is None else min(MAX_PIXELS, pillow_limit)


def _bomb_message(pillow_message: str) -> str:
    # Pillow raises before handing over the image, so only its message knows the size.
    match = re.search(r"\((\d+) pixels\)", pillow_message)
    limit = _megapixels(_pixel_limit())
    if match is None:
        return f"The image has too many pixels; the limit is {limit} megapixels."
    size = _megapixels(int(match.group(1)))
    return f"The image is {size} megapixels; the limit is {limit} megapixels."


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:,.1f}".removesuffix(".0")


def _too_big_message(size: int) -> str:
    return f"The file is {_format_bytes(size)}; the limit is {_format_bytes(MAX_UPLOAD_BYTES)}."


def _format_bytes(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f}".removesuffix(".0") + " MB"
    if size >= 1024:
        return f"{size / 1024:.1f}".removesuffix(".0") + " KB"
    return f"{size} bytes"


def _unreadable_message(data: bytes) -> str:
    kind = _sniff(data)
    if kind in _PILLOW_READABLE:
        return "The image file is truncated or corrupt."
    return f"This file is not an image Pillow can read (got {kind!r}-like data)."


def _sniff(data: bytes) -> str:
    """Rough content type from the first bytes, only to make the error message useful."""
    for signature, kind in _SIGNATURES.items():
        if data.startswith(signature):
            return kind
    if data[4:8] == b"ftyp":  # ISO media: HEIC/AVIF photos or MP4/MOV video
        brand = data[8:12]
        if brand in (b"heic", b"heix", b"mif1", b"msf1"):
            return "image/heic"
        return "image/avif" if brand == b"avif" else "video/mp4"
    if data[:4] == b"RIFF":
        return {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/avi"}.get(
            data[8:12], "application/octet-stream"
        )
    return _sniff_text(data[:2048]) or "application/octet-stream"


def _sniff_text(head: bytes) -> str | None:
    try:
        # Incremental so a multi-byte character cut at the 2 KiB boundary is not an error.
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return None
    if "\x00" in text:
        return None
    lowered = text.lstrip("\ufeff \t\r\n").lower()
    if lowered.startswith("<svg") or (lowered.startswith("<?xml") and "<svg" in lowered):
        return "image/svg+xml"
    return "text/plain"


# What the exported script's loader is made of: the source of these functions and constants is
# copied into it (pipelines.export), in this order, so its pixels are the app's by construction.
PIXEL_CONSTANTS = ("PREVIEW_MAX_SIDE", "_HIGH_BIT_DEPTH_MODES")
PIXEL_FUNCTIONS = (
    _stretch_to_8bit,
    to_rgb,
    fit_within,
    upright_first_frame,
    to_preview,
    load_trusted_image,
)
