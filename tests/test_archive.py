"""Uploaded .zip data sets: both layouts, the seeded stratified split, every refusal of a
hostile archive, odd image modes, and the uint8 store. Archives are made here from tiny images.
"""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from playground.training import archive, datasets

RED, BLUE = (255, 0, 0), (0, 0, 255)


def png(color=RED, size=(20, 12), mode="RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, "PNG")
    return buffer.getvalue()


def make_zip(path, files: dict[str, bytes], links: tuple[str, ...] = ()) -> str:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16  # a symbolic link, as zip -y stores one
            zf.writestr(info, "../../etc/passwd")
    return str(path)


def classes(n_cats=5, n_dogs=5, prefix="") -> dict[str, bytes]:
    files = {f"{prefix}cats/{i}.png": png(RED) for i in range(n_cats)}
    files |= {f"{prefix}dogs/{i}.png": png(BLUE) for i in range(n_dogs)}
    return files


def plan_of(tmp_path, files, **kwargs) -> archive.Plan:
    with zipfile.ZipFile(make_zip(tmp_path / "a.zip", files)) as zf:
        return archive.plan(zf, **kwargs)


# ---- layouts and the split -----------------------------------------------------------------


def test_class_folders_become_a_store_listed_and_deletable(tmp_path):
    files = classes() | {"readme.txt": b"hello", "__MACOSX/cats/._0.png": b"\0\5\26\7"}
    root = tmp_path / "datasets"
    manifest = datasets.import_archive(make_zip(tmp_path / "pets.zip", files), root, "pets", 16, 12)
    assert manifest["layout"] == "class folders" and manifest["classes"] == ["cats", "dogs"]
    assert manifest["split"]["made"] and manifest["split"]["fraction"] == 0.2
    assert manifest["skipped"]["non_images"] == 1 and manifest["skipped"]["hidden"] == 1
    assert manifest["skipped"]["non_image_examples"] == ["readme.txt"]
    store = manifest["stores"]["store-16-12"]
    assert (store["train"], store["test"]) == (8, 2) and store["decode_seconds"] >= 0
    arrays, _ = datasets.load_store(root, "pets", 16, 12)
    assert arrays["train_x"].shape == (8, 3, 12, 12) and arrays["train_x"].dtype == np.uint8
    assert arrays["test_x"].shape == (2, 3, 12, 12)
    assert arrays["train_y"].dtype == np.int64 and sorted(arrays["test_y"]) == [0, 1]
    cats = arrays["train_x"][arrays["train_y"] == 0]
    assert (cats[:, 0] == 255).all() and (cats[:, 2] == 0).all()  # red stays red
    assert [d["name"] for d in datasets.list_datasets(root)] == ["pets"]
    assert datasets.list_datasets(root)[0]["train"] == 8
    datasets.delete_dataset(root, "pets")
    assert datasets.list_datasets(root) == [] and list(root.iterdir()) == []


def test_train_and_val_folders_inside_a_wrapping_folder(tmp_path):
    files = classes(4, 3, "mine/train/") | classes(2, 1, "mine/val/") | {"mine/notes.md": b"x"}
    p = plan_of(tmp_path, files)
    assert p.layout == "train/val" and p.classes == ["cats", "dogs"]
    assert p.split == {"made": False, "from": "val/"}
    assert len(p.train) == 7 and [label for _, label in p.test] == [0, 0, 1]
    assert all(name.startswith("mine/val/") for name, _ in p.test)


def test_train_only_gets_a_split_and_stray_files_are_counted(tmp_path):
    p = plan_of(tmp_path, classes(5, 5, "train/") | {"train/loose.png": png(), "x/y/z.png": png()})
    assert p.layout == "train only" and p.split["made"] and len(p.test) == 2
    assert p.skipped["outside_class_folders"] == 2


def test_the_split_is_stratified_and_seeded(tmp_path):
    files = classes(10, 30)
    first = plan_of(tmp_path, files, seed=0)
    labels = [label for _, label in first.test]
    assert labels.count(0) == 2 and labels.count(1) == 6  # 20% of each class
    assert sorted(first.test + first.train) == sorted(plan_of(tmp_path, files).train + first.test)
    assert plan_of(tmp_path, files, seed=0).split == first.split  # recorded and repeatable
    assert plan_of(tmp_path, files, seed=1).split["test_files"] != first.split["test_files"]
    half = plan_of(tmp_path, files, test_fraction=0.5)
    assert [label for _, label in half.test].count(0) == 5
    # a class of two images keeps one for training and one for testing
    small = plan_of(tmp_path, classes(2, 1), seed=3)
    assert [label for _, label in small.test] == [0] and len(small.train) == 2


# ---- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("../evil.png", "climbs out"),
        ("cats/../../evil.png", "climbs out"),
        ("cats\\..\\..\\evil.png", "climbs out"),
        ("/etc/evil.png", "absolute file name"),
        ("C:/evil.png", "absolute file name"),
    ],
)
def test_names_that_leave_the_folder_are_refused(tmp_path, name, words):
    with pytest.raises(archive.ArchiveError, match=words):
        plan_of(tmp_path, classes() | {name: png()})


def test_links_too_many_files_and_too_many_bytes_are_refused(tmp_path):
    linked = make_zip(tmp_path / "l.zip", classes(), links=("cats/l.png",))
    with (
        zipfile.ZipFile(linked) as zf,
        pytest.raises(archive.ArchiveError, match="symbolic link .*'cats/l.png'"),
    ):
        archive.plan(zf)
    with pytest.raises(archive.ArchiveError, match="holds 10 files; the limit is 9"):
        plan_of(tmp_path, classes(), limits=archive.Limits(max_files=9))
    limit = len(png()) * 10 - 1  # one byte less than the ten images
    with pytest.raises(archive.ArchiveError, match=f"unpacks to more than {limit} bytes"):
        plan_of(tmp_path, classes(), limits=archive.Limits(max_total_bytes=limit))
    with pytest.raises(archive.ArchiveError, match="need 4.2 KB; the limit is 4.0 KB"):
        datasets.import_archive(
            make_zip(tmp_path / "s.zip", classes()),
            tmp_path / "root",
            "s",
            16,
            12,
            limits=archive.Limits(max_store_bytes=4096),
        )


def _understate(path, member: str, declared: int) -> None:
    """Rewrite the archive so `member` declares `declared` bytes (local and central headers)."""
    data = bytearray(Path(path).read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    struct.pack_into("<I", data, info.header_offset + 22, declared)
    central = data.find(b"PK\x01\x02")
    while central != -1:
        length = struct.unpack_from("<H", data, central + 28)[0]
        if data[central + 46 : central + 46 + length].decode() == member:
            struct.pack_into("<I", data, central + 24, declared)
        central = data.find(b"PK\x01\x02", central + 4)
    Path(path).write_bytes(bytes(data))


def test_a_member_that_holds_more_than_it_declares_is_a_bomb(tmp_path):
    path = make_zip(tmp_path / "bomb.zip", classes() | {"cats/bomb.png": bytes(200_000)})
    _understate(path, "cats/bomb.png", 1000)
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo("cats/bomb.png").file_size == 1000  # the directory is fooled
    root = tmp_path / "root"
    with pytest.raises(archive.ArchiveError, match="'cats/bomb.png' .* damaged, or a zip bomb"):
        datasets.import_archive(path, root, "bomb", 16, 12)
    assert list(root.iterdir()) == []  # nothing is left behind


def test_corrupt_images_are_listed_by_name_and_oversized_ones_refused(tmp_path):
    files = classes() | {
        "cats/broken.png": png()[:40],
        "dogs/fake.jpg": b"just text, not a jpeg",
        "dogs/huge.png": png(size=(200, 100)),
    }
    manifest = datasets.import_archive(
        make_zip(tmp_path / "c.zip", files),
        tmp_path / "root",
        "c",
        16,
        12,
        limits=archive.Limits(max_pixels=10_000),
    )
    store = manifest["stores"]["store-16-12"]
    reasons = {u["file"]: u["reason"] for u in store["unreadable"]}
    assert set(reasons) == {"cats/broken.png", "dogs/fake.jpg", "dogs/huge.png"}
    assert "truncated or corrupt" in reasons["cats/broken.png"]
    assert "not an image" in reasons["dogs/fake.jpg"]
    assert reasons["dogs/huge.png"] == "The image is 200x100 pixels; the limit is 0.01 megapixels."
    assert store["train"] + store["test"] == 10  # the 10 good ones, rows compacted
    arrays, _ = datasets.load_store(tmp_path / "root", "c", 16, 12)
    assert len(arrays["train_x"]) == len(arrays["train_y"]) == store["train"]


def test_archives_without_two_classes_or_with_a_stray_test_class_are_refused(tmp_path):
    with pytest.raises(archive.ArchiveError, match="only one class folder found \\('cats'\\)"):
        plan_of(tmp_path, classes(3, 0))
    with pytest.raises(archive.ArchiveError, match="no images in class folders"):
        plan_of(tmp_path, {"a.png": png(), "b.txt": b"x"})
    with pytest.raises(archive.ArchiveError, match="test class 'owls' has no training images"):
        plan_of(tmp_path, classes(2, 2, "train/") | {"test/owls/1.png": png()})
    with pytest.raises(archive.ArchiveError, match="class 'dogs' has no readable training"):
        datasets.import_archive(
            make_zip(tmp_path / "d.zip", classes(3, 0) | {"dogs/1.png": b"\x89PNG\r\n\x1a\n"}),
            tmp_path / "root",
            "d",
            16,
            12,
        )
    bad = tmp_path / "not.zip"
    bad.write_bytes(b"plain text")
    with pytest.raises(archive.ArchiveError, match="not a readable .zip archive"):
        datasets.import_archive(bad, tmp_path / "root", "n", 16, 12)


def test_names_are_checked_and_never_overwritten(tmp_path):
    path = make_zip(tmp_path / "My photos (2).zip", classes(2, 2))
    assert datasets.name_from_file(path) == "My-photos-2"
    for bad in ("", "../x", ".hidden", "a/b", "x" * 65):
        with pytest.raises(archive.ArchiveError, match="must be 1 to 64 letters"):
            datasets.import_archive(path, tmp_path / "root", bad, 16, 12)
    datasets.import_archive(path, tmp_path / "root", "p", 16, 12)
    with pytest.raises(archive.ArchiveError, match="a data set named 'p' exists"):
        datasets.import_archive(path, tmp_path / "root", "p", 16, 12)
    with pytest.raises(archive.ArchiveError, match="no data set named 'q'"):
        datasets.delete_dataset(tmp_path / "root", "q")


# ---- decoding ------------------------------------------------------------------------------


def _encoded(img: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def test_odd_modes_decode_to_the_rgb_a_viewer_shows():
    def decoded(img, fmt="PNG"):
        return archive.decode(_encoded(img, fmt), 8, 8, 10_000)

    transparent = decoded(Image.new("RGBA", (10, 8), (255, 0, 0, 0)))
    assert (transparent == 255).all()  # composited on white
    palette = Image.new("P", (10, 8), 0)
    palette.putpalette([0, 128, 255] + [0] * 765)
    assert decoded(palette)[:, 0, 0].tolist() == [0, 128, 255]
    deep = Image.frombytes("I;16", (8, 8), np.arange(64, dtype="<u2").repeat(1).tobytes())
    out = decoded(deep)
    assert out.min() == 0 and out.max() == 255  # stretched, not clipped white
    cmyk = decoded(Image.new("CMYK", (8, 8), (0, 0, 0, 0)), "JPEG")
    assert (cmyk >= 250).all()  # no ink: white
    assert decoded(Image.new("L", (30, 8), 77)).shape == (3, 8, 8)


def test_exif_orientation_is_undone_before_the_crop():
    img = Image.new("RGB", (20, 10), RED)
    img.paste(BLUE, (10, 0, 20, 10))  # left red, right blue as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise: red on top, blue below
    out = archive.decode(_encoded(img, exif=exif), 10, 10, 10_000)
    assert (out[0, 0] == 255).all() and (out[2, 0] == 0).all()  # the whole top row is red
    assert (out[2, -1] == 255).all() and (out[0, -1] == 0).all()  # the bottom row blue


def test_shorter_side_then_centre_crop_and_small_images_grow():
    img = Image.new("RGB", (40, 20), RED)
    img.paste(BLUE, (0, 0, 4, 20))  # a blue left edge: cut off by the centre crop
    out = archive.decode(_encoded(img), 10, 10, 10_000)
    assert out.shape == (3, 10, 10) and (out[0] >= 250).all()
    grown = archive.decode(_encoded(Image.new("RGB", (4, 6), BLUE)), 12, 12, 10_000)
    assert grown.shape == (3, 12, 12) and (grown[2] == 255).all()


def test_another_store_size_keeps_the_split(tmp_path):
    root = tmp_path / "root"
    first = datasets.import_archive(make_zip(tmp_path / "z.zip", classes()), root, "z", 16, 12)
    second = datasets.add_store(root, "z", 8, 8)
    assert set(second["stores"]) == {"store-16-12", "store-8-8"}
    a, _ = datasets.load_store(root, "z", 16, 12)
    b, _ = datasets.load_store(root, "z", 8, 8)
    assert b["train_x"].shape == (8, 3, 8, 8)
    assert a["test_y"].tolist() == b["test_y"].tolist()
    assert datasets.read_manifest(root, "z")["split"] == first["split"]
    with pytest.raises(archive.ArchiveError, match="no store at 32/32 \\(it has store-16-12"):
        datasets.load_store(root, "z", 32, 32)


def _add_store_slowly(root, name, resize, crop):
    """add_store in a child process, each decode taking a while, so two overlap."""
    import time

    write = datasets.write_store

    def slow(*args, **kwargs):
        store = write(*args, **kwargs)
        time.sleep(0.5)
        return store

    datasets.write_store = slow
    return sorted(datasets.add_store(root, name, resize, crop)["stores"])


def test_two_processes_asking_for_one_new_store_size_both_get_it(tmp_path):
    # a run and its baseline start together on a size not decoded yet: one decodes, one waits
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    root = tmp_path / "root"
    datasets.import_archive(make_zip(tmp_path / "z.zip", classes()), root, "z", 16, 12)
    asks = [(8, 8), (8, 8), (10, 10), (10, 10)]
    with ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("fork")) as pool:
        done = [pool.submit(_add_store_slowly, root, "z", *a) for a in asks]
        listed = [f.result() for f in done]  # a process that failed raises here
    for (size, _), stores in zip(asks, listed, strict=True):
        assert f"store-{size}-{size}" in stores
    manifest = datasets.read_manifest(root, "z")
    assert sorted(manifest["stores"]) == ["store-10-10", "store-16-12", "store-8-8"]
    for size in (8, 10):
        arrays, _ = datasets.load_store(root, "z", size, size)
        assert arrays["train_x"].shape[-1] == size
    leftovers = [p.name for p in (root / "z").iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_a_store_folder_the_manifest_does_not_list_is_decoded_again(tmp_path):
    root = tmp_path / "root"
    datasets.import_archive(make_zip(tmp_path / "z.zip", classes()), root, "z", 16, 12)
    (root / "z" / "store-8-8").mkdir()  # a process killed after its rename, before the manifest
    (root / "z" / "store-8-8" / "train_x.npy").write_bytes(b"half")
    datasets.add_store(root, "z", 8, 8)
    arrays, _ = datasets.load_store(root, "z", 8, 8)
    assert arrays["train_x"].shape == (8, 3, 8, 8)


def test_image_extensions_agree_with_the_folder_loader():
    from playground.training import data

    assert archive.IMAGE_EXTENSIONS == data.IMAGE_EXTENSIONS


def test_an_image_larger_than_an_upload_may_be_is_refused_unread(tmp_path, monkeypatch):
    from pipelines import images

    big = _encoded(Image.effect_noise((64, 64), 50).convert("RGB"))
    monkeypatch.setattr(images, "MAX_UPLOAD_BYTES", len(big) - 1)
    monkeypatch.setattr(archive, "read_member", lambda zf, name: pytest.fail(f"read {name}"))
    with zipfile.ZipFile(make_zip(tmp_path / "b.zip", {"cats/big.png": big})) as zf:
        assert archive._read_image(zf, "cats/big.png").startswith("The file is ")


def test_reading_rounds_hold_few_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(archive, "CHUNK_BYTES", 3 * len(png()))
    files = {f"cats/{i}.png": png() for i in range(10)}  # ten files of one size
    with zipfile.ZipFile(make_zip(tmp_path / "r.zip", files)) as zf:
        members = [(name, 0) for name in files]
        sizes = [len(c) for c in archive._chunks(zf, members)]
    assert sizes == [3, 3, 3, 1]
