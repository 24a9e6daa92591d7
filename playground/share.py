"""A pipeline, a seed and a bundled sample image in a link, so that a link reproduces the grid
one sees (no Gradio here).

The query string is `?pipeline=TOKEN&seed=N&image=NAME`; NAME is one of the app's bundled
sample images (an uploaded image cannot travel in a link, and then `image` is left out). TOKEN is the pipeline file's JSON (versioned, see
pipelines.spec), compacted, zlib-compressed and base64url-encoded without padding: the default
pipeline takes about 250 characters. Reading a link is reading an untrusted pipeline file: the
token is bounded before decoding, the decompressed text is bounded (a small token cannot expand
into a large one), and the text goes through `from_json`, which parses and checks, never
evaluates. Every refusal is a `ShareError` whose message can be shown as it is.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from collections.abc import Iterable, Mapping
from urllib.parse import urlencode

from pipelines.spec import MAX_FILE_BYTES, PipelineSpec, SpecError, default_spec, from_json
from playground.controls import SEED

PIPELINE = "pipeline"  # the query parameters
SEED_PARAM = "seed"
IMAGE_PARAM = "image"
QUERY_PARAMS = (PIPELINE, SEED_PARAM, IMAGE_PARAM)  # what the page removes from its address
MAX_TOKEN_CHARS = 8192  # far above any real pipeline's token; links stay under browsers' limits
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")
_SEED = re.compile(r"[0-9]{1,10}")


class ShareError(ValueError):
    """A link that does not hold a readable pipeline and seed; str() is fit for the UI."""


def encode(spec: PipelineSpec, seed: int, image: str | None = None) -> str:
    """The query string (without "?") that restores `spec`, `seed` and the bundled sample image
    named `image` (None: an uploaded one, which stays out of the link)."""
    text = json.dumps(spec.to_dict(), separators=(",", ":")).encode()
    token = base64.urlsafe_b64encode(zlib.compress(text, 9)).rstrip(b"=").decode("ascii")
    query: dict[str, str | int] = {PIPELINE: token, SEED_PARAM: int(seed)}
    if image is not None:
        query[IMAGE_PARAM] = image
    return urlencode(query)


def image(query: Mapping[str, str], known: Iterable[str]) -> str | None:
    """The bundled sample image a link names (one of `known`), or None when it names none."""
    name = query.get(IMAGE_PARAM)
    if name is None:
        return None
    known = list(known)
    if name not in known:
        raise ShareError(f"its image must be one of the samples {', '.join(known)}")
    return name


def decode(query: Mapping[str, str]) -> tuple[PipelineSpec, int] | None:
    """(pipeline, seed) from a page's query parameters; None when they share nothing. A seed
    alone keeps the default pipeline; a pipeline alone takes seed 0."""
    token, seed = query.get(PIPELINE), query.get(SEED_PARAM)
    if token is None and seed is None:
        return None
    spec = default_spec() if token is None else _pipeline(token)
    return spec, 0 if seed is None else _seed(seed)


def _pipeline(token: str) -> PipelineSpec:
    if len(token) > MAX_TOKEN_CHARS:
        raise ShareError(f"its pipeline is {len(token):,} characters long (the limit is 8,192)")
    if not _TOKEN.fullmatch(token):
        raise ShareError("its pipeline is not in the link's alphabet (letters, digits, - and _)")
    try:
        data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise ShareError("its pipeline is cut short or mistyped") from None
    inflate = zlib.decompressobj()
    try:
        text = inflate.decompress(data, MAX_FILE_BYTES + 1)
    except zlib.error:
        raise ShareError("its pipeline is cut short or mistyped") from None
    if len(text) > MAX_FILE_BYTES or inflate.unconsumed_tail:
        raise ShareError(f"its pipeline unpacks to more than {MAX_FILE_BYTES:,} bytes")
    if not inflate.eof:
        raise ShareError("its pipeline is cut short")
    try:
        return from_json(text)
    except SpecError as err:
        raise ShareError(f"its pipeline does not validate: {err}") from None


def _seed(text: str) -> int:
    if not _SEED.fullmatch(text) or not SEED.low <= int(text) <= SEED.high:
        raise ShareError(f"its seed must be a whole number from 0 to {int(SEED.high):,}")
    return int(text)
