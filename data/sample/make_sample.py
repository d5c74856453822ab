"""Write data/sample/digits and data/sample/dirty, byte-identically on every run.

digits/: the 1,797 8x8 handwritten digits scikit-learn ships (`sklearn.datasets.load_digits`),
as 8-bit grayscale PNGs in ImageNet-style folders: digits/<label>/<index>.png.

dirty/: a small folder dataset with a given train/valid split and one planted problem of each kind
`datasize validate` checks for; the planted files are listed in dirty/PLANTED.csv.

digits_given/, digits_csv/, digits_names/: the digits in the other layouts the recipes use.

Usage: python data/sample/make_sample.py [--out data/sample]
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits


def digit_images() -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 N x 8 x 8 scaled to 0..255, labels N)."""
    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)
    return images, digits.target


def save_png(array: np.ndarray, path: Path, mode: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path, format="PNG", optimize=False)


def write_digits(out: Path) -> None:
    images, labels = digit_images()
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        save_png(image, out / "digits" / str(label) / f"{index:04d}.png")


def _big(image: np.ndarray, size: int = 32) -> Image.Image:
    return Image.fromarray(image).resize((size, size), Image.Resampling.NEAREST).convert("RGB")


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width x height 8-bit gray pixels (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (width + 1) * 4, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", rows)
        + _png_chunk(b"IEND", b"")
    )


def write_dirty(out: Path) -> None:
    images, labels = digit_images()
    root = out / "dirty"
    classes = {"digit_zero": 0, "digit_one": 1, "digit_two": 2}
    picks = {name: np.flatnonzero(labels == d) for name, d in classes.items()}
    planted: list[tuple[str, str]] = []

    def put(rel: str, image: Image.Image, fmt: str = "PNG", **kw) -> None:
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        image.save(buffer, format=fmt, **kw)
        target.write_bytes(buffer.getvalue())

    def plant(rel: str, check: str, data: bytes | None = None) -> None:
        if data is not None:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
        planted.append((rel, check))

    for name, idx in picks.items():
        for i in idx[:16]:
            put(f"train/{name}/{i:04d}.png", _big(images[i]))
        for i in idx[16:22]:
            put(f"valid/{name}/{i:04d}.png", _big(images[i]))

    one, two, zero = picks["digit_one"], picks["digit_two"], picks["digit_zero"]
    plant("train/digit_one/empty.png", "empty_file", b"")
    plant("train/digit_one/notes.jpg", "unreadable", b"these are my notes, not a picture\n")
    good = io.BytesIO()
    _big(images[two[40]], 64).save(good, format="PNG")
    plant("train/digit_two/cut_short.png", "truncated", good.getvalue()[: len(good.getvalue()) // 2])
    put("train/digit_two/really_a_png.jpg", _big(images[two[41]]))
    plant("train/digit_two/really_a_png.jpg", "format_mismatch")
    put("train/digit_zero/cmyk.jpg", _big(images[zero[40]]).convert("CMYK"), "JPEG", quality=95)
    plant("train/digit_zero/cmyk.jpg", "unusual_mode")
    sixteen = np.asarray(_big(images[zero[41]]).convert("L"), dtype=np.uint16) * 257
    put("train/digit_zero/sixteen_bit.png", Image.fromarray(sixteen))
    plant("train/digit_zero/sixteen_bit.png", "unusual_mode")
    put("train/digit_one/transparent.png", _big(images[one[40]]).convert("RGBA"))
    plant("train/digit_one/transparent.png", "unusual_mode")
    put("train/digit_one/tiny.png", Image.new("RGB", (3, 3), (255, 255, 255)))
    plant("train/digit_one/tiny.png", "too_small")
    banner = np.tile(np.asarray(_big(images[two[42]])), (1, 12, 1))[:6]
    put("train/digit_two/banner.png", Image.fromarray(banner))
    plant("train/digit_two/banner.png", "extreme_aspect")
    plant("train/digit_zero/bomb.png", "decompression_bomb", bomb_png(100_000, 100_000))
    link = root / "train/digit_zero/outside.png"
    link.symlink_to(Path("../../../digits/0/0000.png"))
    plant("train/digit_zero/outside.png", "link_outside_root")
    shutil.copyfile(root / f"train/digit_one/{one[0]:04d}.png", root / "train/digit_one/copy.png")
    plant("train/digit_one/copy.png", "exact_duplicate")
    brighter = np.clip(np.asarray(_big(images[two[1]]), dtype=np.int16) + 12, 0, 255)
    put("train/digit_two/near_copy.jpg", Image.fromarray(brighter.astype(np.uint8)), "JPEG", quality=90)
    plant("train/digit_two/near_copy.jpg", "near_duplicate")
    shutil.copyfile(root / f"train/digit_one/{one[2]:04d}.png", root / "train/digit_zero/also_one.png")
    plant("train/digit_zero/also_one.png", "label_conflict")
    shutil.copyfile(root / f"train/digit_zero/{zero[3]:04d}.png", root / "valid/digit_zero/leak.png")
    plant("valid/digit_zero/leak.png", "split_leakage")
    for i in one[30:33]:
        put(f"train/digit one/{i:04d}.png", _big(images[i]))
    plant("train/digit one", "label_variants")
    for i in np.flatnonzero(labels == 7)[:2]:
        put(f"train/digit_seven/{i:04d}.png", _big(images[i]))
    plant("train/digit_seven", "small_class")
    plant("train/digit_seven", "class_imbalance")
    plant("train/digit_nine", "empty_class")
    (root / "train/digit_nine").mkdir(parents=True, exist_ok=True)
    (root / "train/digit_nine/.gitkeep").write_bytes(b"")
    (root / "train/digit_one/.DS_Store").write_bytes(b"\0\0\0\1Bud1")
    plant("train/digit_one/.DS_Store", "skipped_file")

    with open(root / "PLANTED.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["path", "check"])
        writer.writerows(sorted(planted))


DIGIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def write_layouts(out: Path) -> None:
    """The digits again in the three other layouts the recipes show (same PNG bytes as digits/).

    digits_given/: train/<label>/ and valid/<label>/ folders, every fifth image in valid.
    digits_csv/: images/<index>.png with labels.csv (path, label, group, split); the group is a
        made-up "scan batch" of ten consecutive images, to show the group column.
    digits_names/: images/<name>_<index>.png, the label in the file name (pets layout).
    """
    images, labels = digit_images()
    rows = []
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        side = "valid" if index % 5 == 0 else "train"
        save_png(image, out / "digits_given" / side / str(label) / f"{index:04d}.png")
        save_png(image, out / "digits_csv" / "images" / f"{index:04d}.png")
        save_png(image, out / "digits_names" / "images" / f"{DIGIT_NAMES[label]}_{index:04d}.png")
        rows.append([f"images/{index:04d}.png", str(label), f"batch{index // 10:03d}", side])
    with open(out / "digits_csv" / "labels.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["path", "label", "group", "split"])
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=Path(__file__).resolve().parent, type=Path)
    out = parser.parse_args().out
    for name in ("digits", "dirty", "digits_given", "digits_csv", "digits_names"):
        if (out / name).exists():
            shutil.rmtree(out / name)
    write_digits(out)
    write_dirty(out)
    write_layouts(out)
    print(f"wrote digits, dirty, digits_given, digits_csv and digits_names under {out}")


if __name__ == "__main__":
    os.umask(0o022)
    main()
