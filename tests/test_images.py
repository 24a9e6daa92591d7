"""Tests for pipelines.images (the loader playground.images re-exports): every image is generated here, in tmp_path or in memory."""

from __future__ import annotations

import io
import struct
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipelines import images
from pipelines.images import ImageLoadError, describe, fit_within, load_image, to_rgb

RED, BLUE, WHITE, BLACK = (255, 0, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0)


# --- helpers ------------------------------------------------------------------------------


def noisy_rgb(width: int = 96, height: int = 64, seed: int = 0) -> Image.Image:
    """Incompressible content, so cutting a file in half really cuts pixel data."""
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **params)
    return buffer.getvalue()


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def png_ihdr(width: int, height: int) -> bytes:
    """PNG signature + IHDR of a 1-bit greyscale image, the smallest possible pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)


def bomb_png(width: int, height: int) -> bytes:
    """A complete, valid all-black 1-bit PNG, compressed row block by row block.

    Pillow's Image.new('1', (30000, 30000)).save takes ~3 s and 900 MB (mode '1' uses a byte
    per pixel in memory); streaming zeros through zlib takes ~0.3 s and gives ~110 KB.
    """
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    block = row * 256
    parts = [compressor.compress(block) for _ in range(height // 256)]
    parts += [compressor.compress(row * (height % 256)), compressor.flush()]
    idat = png_chunk(b"IDAT", b"".join(parts))
    return png_ihdr(width, height) + idat + png_chunk(b"IEND", b"")


def header_only_png(width: int, height: int) -> bytes:
    """Valid header, no pixel data: decoding it fails, so only a header check can name its size."""
    return png_ihdr(width, height) + png_chunk(b"IDAT", zlib.compress(b"\x00" * 8)[:6])


def assert_close(actual: tuple[int, ...], expected: tuple[int, ...], tol: int = 1) -> None:
    assert all(abs(a - e) <= tol for a, e in zip(actual, expected, strict=True)), (actual, expected)


# --- bad input ----------------------------------------------------------------------------


def test_random_bytes_are_not_an_image(tmp_path: Path) -> None:
    data = np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    with pytest.raises(ImageLoadError, match="not an image Pillow can read"):
        load_image(write(tmp_path, "noise.png", data))


def test_png_signature_with_garbage_is_corrupt(tmp_path: Path) -> None:
    data = b"\x89PNG\r\n\x1a\n" + b"\x13" * 200
    with pytest.raises(ImageLoadError, match="truncated or corrupt"):
        load_image(write(tmp_path, "broken.png", data))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP", "TIFF", "BMP"])
def test_truncated_file_raises_instead_of_returning_grey(tmp_path: Path, fmt: str) -> None:
    data = encode(noisy_rgb(), fmt)
    path = write(tmp_path, f"half.{fmt.lower()}", data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match="truncated or corrupt"):
        load_image(path)


def test_zero_byte_file(tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError, match="^The file is empty.$"):
        load_image(write(tmp_path, "empty.png", b""))
    with pytest.raises(ImageLoadError, match="^The file is empty.$"):
        load_image(b"")


def test_text_file_renamed_png(tmp_path: Path) -> None:
    path = write(tmp_path, "notes.png", b"just some notes\nsecond line\n")
    with pytest.raises(ImageLoadError) as info:
        load_image(path)
    assert str(info.value) == (
        "This file is not an image Pillow can read (got 'text/plain'-like data)."
    )


def test_svg_is_named_in_the_message(tmp_path: Path) -> None:
    svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>'
    with pytest.raises(ImageLoadError, match="image/svg"):
        load_image(write(tmp_path, "drawing.png", svg))


def test_missing_path_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError, match="could not be found"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageLoadError, match="could not be found"):
        load_image(str(tmp_path / "nope.png"))
    with pytest.raises(ImageLoadError, match="folder"):
        load_image(tmp_path)


@pytest.mark.parametrize("source", [None, 42, 3.5, ["a.png"]])
def test_unsupported_source_types(source: object) -> None:
    with pytest.raises(ImageLoadError):
        load_image(source)  # type: ignore[arg-type]


def test_file_over_upload_limit_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = encode(noisy_rgb(), "PNG")
    monkeypatch.setattr(images, "MAX_UPLOAD_BYTES", len(data) - 1)
    with pytest.raises(ImageLoadError, match="the limit is"):
        load_image(write(tmp_path, "big.png", data))
    with pytest.raises(ImageLoadError, match="the limit is"):
        load_image(data)
    monkeypatch.setattr(images, "MAX_UPLOAD_BYTES", len(data))
    assert load_image(data).size == (96, 64)  # exactly at the limit is fine


def test_upload_limit_constant() -> None:
    assert images.MAX_UPLOAD_BYTES == 20 * 1024 * 1024
    assert images.MAX_PIXELS == 100_000_000
    assert images.PREVIEW_MAX_SIDE == 1024


# --- decompression bombs --------------------------------------------------------------------


def test_decompression_bomb_is_refused_quickly(tmp_path: Path) -> None:
    path = write(tmp_path, "bomb.png", bomb_png(30000, 30000))
    assert path.stat().st_size < 200_000
    filters_before = list(warnings.filters)
    start = time.perf_counter()
    with pytest.raises(ImageLoadError) as info:
        load_image(path)
    assert time.perf_counter() - start < 2  # decoding 900 Mpx would take far longer
    assert "900 megapixels" in str(info.value)
    assert "limit" in str(info.value)
    assert warnings.filters == filters_before  # the local "error" filter did not leak


def test_bomb_named_by_width_and_height_without_pillows_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With Pillow's own guard off, our header check alone must refuse, before any decoding.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    path = write(tmp_path, "bomb.png", header_only_png(30000, 30000))
    with pytest.raises(ImageLoadError) as info:
        load_image(path)
    assert str(info.value) == "The image is 30000x30000 pixels; the limit is 100 megapixels."


def test_pixel_limit_checked_from_header_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The file has no pixel data, so a decode would say "corrupt"; naming the size proves the
    # check ran on the header alone.
    monkeypatch.setattr(images, "MAX_PIXELS", 1_000_000)
    with pytest.raises(ImageLoadError, match=r"1001x1000 pixels; the limit is 1 megapixels"):
        load_image(header_only_png(1001, 1000))
    with pytest.raises(ImageLoadError, match="truncated or corrupt"):
        load_image(header_only_png(1000, 1000))


def test_pixel_limit_applies_to_pil_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "MAX_PIXELS", 100)
    with pytest.raises(ImageLoadError, match="11x10 pixels"):
        load_image(Image.new("RGB", (11, 10)))
    assert load_image(Image.new("RGB", (10, 10))).size == (10, 10)


def test_good_file_loads_after_bad_ones(tmp_path: Path) -> None:
    good = write(tmp_path, "good.png", encode(Image.new("RGB", (8, 6), RED), "PNG"))
    bad = [
        write(tmp_path, "bomb.png", bomb_png(30000, 30000)),
        write(tmp_path, "text.png", b"hello"),
        write(tmp_path, "cut.jpg", encode(noisy_rgb(), "JPEG")[:500]),
    ]
    for path in bad:
        with pytest.raises(ImageLoadError):
            load_image(path)
        result = load_image(good)
        assert result.size == (8, 6)
        assert result.getpixel((3, 3)) == RED


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about corrupt EXIF/TIFF tags
@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "TIFF", "BMP", "WEBP"])
def test_mangled_files_raise_only_image_load_error(fmt: str) -> None:
    """Flip random bytes in small valid files: each must load or raise ImageLoadError."""
    original = encode(noisy_rgb(32, 24, seed=2).convert("P" if fmt == "GIF" else "RGB"), fmt)
    rng = np.random.default_rng(3)
    for _ in range(40):
        data = bytearray(original)
        for index in rng.integers(0, len(data), size=int(rng.integers(1, 8))):
            data[index] = int(rng.integers(0, 256))
        if rng.random() < 0.3:
            data = data[: int(rng.integers(1, len(data)))]
        try:
            result = load_image(bytes(data))
        except ImageLoadError as exc:
            assert str(exc)
        else:
            assert result.mode == "RGB"


# --- modes ----------------------------------------------------------------------------------


def image_from(mode: str, values: list) -> Image.Image:
    """A 1-row image of `mode` with one pixel per entry of `values`."""
    img = Image.new(mode, (len(values), 1))
    for x, value in enumerate(values):
        img.putpixel((x, 0), value)
    return img


def palette_image(transparent_index: int | None) -> Image.Image:
    img = Image.new("P", (3, 1))
    img.putpalette([255, 0, 0, 0, 0, 255, 0, 255, 0])
    img.putdata([0, 1, 2])
    if transparent_index is not None:
        img.info["transparency"] = transparent_index
    return img


MODE_CASES = {
    "1": (image_from("1", [0, 1]), [BLACK, WHITE]),
    "L": (image_from("L", [0, 100, 255]), [BLACK, (100,) * 3, WHITE]),
    "LA": (
        image_from("LA", [(100, 255), (100, 0), (0, 128)]),
        [(100,) * 3, WHITE, (127,) * 3],
    ),
    "P": (palette_image(None), [RED, BLUE, (0, 255, 0)]),
    "P-transparency": (palette_image(1), [RED, WHITE, (0, 255, 0)]),
    "RGBA": (
        image_from("RGBA", [(255, 0, 0, 255), (0, 0, 0, 0), (10, 20, 30, 0), (0, 0, 255, 128)]),
        [RED, WHITE, WHITE, (127, 127, 255)],
    ),
    "CMYK": (
        image_from("CMYK", [(0, 0, 0, 0), (255, 0, 0, 0), (0, 0, 0, 255)]),
        [WHITE, (0, 255, 255), BLACK],
    ),
    "I;16": (
        Image.fromarray(np.array([[0, 32768, 65535]], dtype=np.uint16)),
        [BLACK, (128,) * 3, WHITE],
    ),
    "I;16B": (
        Image.frombytes("I;16B", (3, 1), np.array([1000, 2000, 3000], dtype=">u2").tobytes()),
        [BLACK, (128,) * 3, WHITE],
    ),
    "I": (
        Image.fromarray(np.array([[-1000, 0, 1000]], dtype=np.int32)),
        [BLACK, (128,) * 3, WHITE],
    ),
    "F": (
        Image.fromarray(np.array([[0.0, 0.5, 1.0, np.nan, np.inf, -np.inf]], dtype=np.float32)),
        [BLACK, (128,) * 3, WHITE, BLACK, BLACK, BLACK],
    ),
    "PA": (image_from("PA", [(0, 255), (0, 0)]), [BLACK, WHITE]),
    "YCbCr": (image_from("YCbCr", [(255, 128, 128), (0, 128, 128)]), [WHITE, BLACK]),
    "HSV": (image_from("HSV", [(0, 255, 255), (170, 255, 255)]), [RED, BLUE]),
    "LAB": (image_from("LAB", [(255, 128, 128), (0, 128, 128)]), [WHITE, BLACK]),
}


@pytest.mark.parametrize("case", list(MODE_CASES), ids=list(MODE_CASES))
def test_every_mode_becomes_rgb_with_expected_pixels(case: str) -> None:
    img, expected = MODE_CASES[case]
    assert img.mode == case.split("-")[0]
    for result in (to_rgb(img), load_image(img)):
        assert result.mode == "RGB"
        assert result.size == img.size
        for x, colour in enumerate(expected):
            assert_close(result.getpixel((x, 0)), colour, tol=2)


def test_premultiplied_la() -> None:
    img = Image.frombytes("La", (2, 1), bytes([0, 0, 100, 255]))  # transparent, opaque grey
    assert to_rgb(img).getpixel((0, 0)) == WHITE
    assert to_rgb(img).getpixel((1, 0)) == (100, 100, 100)


def test_colour_key_transparency_on_rgb_png(tmp_path: Path) -> None:
    img = image_from("RGB", [RED, BLUE])
    path = tmp_path / "key.png"
    img.save(path, transparency=BLUE)
    result = load_image(path)
    assert result.getpixel((0, 0)) == RED
    assert result.getpixel((1, 0)) == WHITE
    assert "transparency" not in result.info  # metadata that no longer applies is dropped


def test_sixteen_bit_png_looks_like_its_eight_bit_version(tmp_path: Path) -> None:
    eight = np.tile(np.arange(256, dtype=np.uint8), (4, 1))
    path = tmp_path / "deep.png"
    Image.fromarray(eight.astype(np.uint16) * 257).save(path)
    with Image.open(path) as stored:
        assert stored.mode.startswith("I")  # really saved as 16-bit
    loaded = np.asarray(load_image(path))
    assert np.array_equal(loaded[..., 0], eight)
    assert np.array_equal(loaded[..., 0], loaded[..., 2])


@pytest.mark.parametrize(
    ("img", "grey"),
    [
        (Image.fromarray(np.full((3, 3), 65535, dtype=np.uint16)), 255),
        (Image.fromarray(np.zeros((3, 3), dtype=np.uint16)), 0),
        (Image.fromarray(np.full((3, 3), 7.25, dtype=np.float32)), 128),
        (Image.fromarray(np.full((3, 3), np.nan, dtype=np.float32)), 128),
    ],
)
def test_constant_deep_images_do_not_divide_by_zero(img: Image.Image, grey: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy would warn on 0/0
        result = to_rgb(img)
    assert result.getextrema() == ((grey, grey),) * 3


def test_to_rgb_never_returns_its_input() -> None:
    img = Image.new("RGB", (4, 4), RED)
    assert to_rgb(img) is not img


# --- orientation, frames, sizes -------------------------------------------------------------

TRANSPOSE_FOR_ORIENTATION = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def quadrant_centres(img: Image.Image) -> list[tuple[int, int, int]]:
    w, h = img.size
    return [img.getpixel((x, y)) for y in (h // 4, 3 * h // 4) for x in (w // 4, 3 * w // 4)]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int) -> None:
    # 40x20, red top-left quadrant, blue elsewhere: no two orientations look alike.
    stored = Image.new("RGB", (40, 20), BLUE)
    stored.paste(RED, (0, 0, 20, 10))
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.jpg"
    stored.save(path, quality=95, exif=exif.tobytes())

    method = TRANSPOSE_FOR_ORIENTATION[orientation]
    expected = stored if method is None else stored.transpose(method)
    result = load_image(path)

    assert result.size == ((20, 40) if orientation >= 5 else (40, 20))
    assert result.size == expected.size
    for got, want in zip(quadrant_centres(result), quadrant_centres(expected), strict=True):
        assert_close(got, want, tol=12)  # JPEG
    diff = np.abs(np.asarray(result, dtype=int) - np.asarray(expected, dtype=int))
    assert diff.mean() < 8


def test_multi_frame_gif_uses_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (10, 10), colour) for colour in (RED, BLUE, (0, 255, 0))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50)
    assert load_image(path).getpixel((5, 5)) == RED
    with Image.open(path) as img:
        img.seek(2)  # a PIL input left on a later frame is rewound too
        assert load_image(img).getpixel((5, 5)) == RED


def test_one_pixel_image(tmp_path: Path) -> None:
    path = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), (1, 2, 3)).save(path)
    result = load_image(path)
    assert result.size == (1, 1)
    assert result.getpixel((0, 0)) == (1, 2, 3)


def test_very_wide_image_keeps_at_least_one_row(tmp_path: Path) -> None:
    path = tmp_path / "strip.png"
    Image.new("L", (10000, 10), 200).save(path)
    result = load_image(path)
    assert result.size == (1024, 1)
    assert result.mode == "RGB"
    assert result.getpixel((512, 0)) == (200, 200, 200)


@pytest.mark.parametrize(
    ("size", "expected"), [((3000, 2000), (1024, 683)), ((2000, 3000), (683, 1024))]
)
def test_large_image_downscaled_keeping_aspect(
    tmp_path: Path, size: tuple[int, int], expected: tuple[int, int]
) -> None:
    path = tmp_path / "big.png"
    Image.new("RGB", size, (10, 200, 30)).save(path, compress_level=1)
    result = load_image(path)
    assert result.size == expected
    assert describe(result) == (
        f"{expected[0]} x {expected[1]} px, scaled down from {size[0]} x {size[1]}"
    )
    assert_close(result.getpixel((100, 100)), (10, 200, 30))


def test_fit_within_rule_is_exact() -> None:
    small = Image.new("RGB", (1024, 300))
    assert fit_within(small, 1024) is small
    img = noisy_rgb(451, 300)
    got = fit_within(img, 200)
    want = img.resize((200, 133), Image.Resampling.BICUBIC, reducing_gap=None)
    assert got.size == (200, 133)  # round(300 * 200 / 451) = round(133.04)
    assert got.tobytes() == want.tobytes()
    assert fit_within(Image.new("L", (5000, 5000)), 1024).size == (1024, 1024)
    assert load_image(img, max_side=100).size == (100, 67)


def test_describe() -> None:
    assert describe(Image.new("RGB", (451, 300))) == "451 x 300 px"


# --- input kinds ----------------------------------------------------------------------------


def test_path_bytes_and_pil_inputs_agree(tmp_path: Path) -> None:
    original = noisy_rgb(50, 30)
    data = encode(original, "PNG")
    path = write(tmp_path, "in.png", data)
    results = [
        load_image(path),
        load_image(str(path)),
        load_image(data),
        load_image(bytearray(data)),  # type: ignore[arg-type]
        load_image(original),
    ]
    for result in results:
        assert result.mode == "RGB"
        assert result.tobytes() == original.tobytes()


def test_pil_input_is_not_modified_or_returned() -> None:
    original = Image.new("RGBA", (2000, 100), (0, 0, 0, 0))
    result = load_image(original)
    assert result is not original
    assert original.mode == "RGBA" and original.size == (2000, 100)
    assert result.size == (1024, 51)
    assert result.getpixel((0, 0)) == WHITE


def test_result_is_decoded_and_detached_from_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "a.jpg", encode(noisy_rgb(), "JPEG"))
    result = load_image(path)
    path.unlink()  # nothing should still be reading from the file
    assert getattr(result, "fp", None) is None
    assert result.info == {}
    assert result.getpixel((0, 0)) is not None
