"""The app's image loading: pipelines.images, which the command line and exported scripts share."""

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
    "MAX_PIXELS",
    "MAX_UPLOAD_BYTES",
    "PREVIEW_MAX_SIDE",
    "SOURCE_SIZE",
    "ImageLoadError",
    "ImageSource",
    "describe",
    "fit_within",
    "load_image",
    "source_size",
    "to_rgb",
]
