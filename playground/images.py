"""The app's image loading: pipelines.images, which the command line and exported scripts share,
and the bundled sample images the Augment tab offers."""

from pathlib import Path

from PIL import Image

from pipelines.images import (
    MAX_PIXELS,
    MAX_UPLOAD_BYTES,
    PREVIEW_MAX_SIDE,
    SOURCE_SIZE,
    ImageLoadError,
    ImageSource,
    describe,
    fit_within,
    load_image,
    source_size,
    to_rgb,
)

__all__ = [
    "ASSETS",
    "DEFAULT_SAMPLE",
    "MAX_PIXELS",
    "MAX_UPLOAD_BYTES",
    "PREVIEW_MAX_SIDE",
    "SAMPLE_IMAGES",
    "SOURCE_SIZE",
    "ImageLoadError",
    "ImageSource",
    "describe",
    "fit_within",
    "load_image",
    "sample_image",
    "source_size",
    "to_rgb",
]

ASSETS = Path(__file__).resolve().parents[1] / "assets"
SAMPLE_IMAGES = {
    "cat": "chelsea.png",
    "coffee": "coffee.png",
    "astronaut": "astronaut.png",
    "rocket": "rocket.jpg",
}
DEFAULT_SAMPLE = "cat"


def sample_image(name: str) -> Image.Image:
    return load_image(ASSETS / SAMPLE_IMAGES[name])
