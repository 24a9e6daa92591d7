"""The app's image loading: pipelines.images, which the command line and exported scripts share."""

from pipelines.images import (
    MAX_PIXELS,
    MAX_UPLOAD_BYTES,
    PREVIEW_MAX_SIDE,
    ImageLoadError,
    ImageSource,
    describe,
    fit_within,
    load_image,
    to_rgb,
)

__all__ = [
    "MAX_PIXELS",
    "MAX_UPLOAD_BYTES",
    "PREVIEW_MAX_SIDE",
    "ImageLoadError",
    "ImageSource",
    "describe",
    "fit_within",
    "load_image",
    "to_rgb",
]
