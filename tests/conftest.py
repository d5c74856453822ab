"""Fixtures: small seeded images generated on the fly, never shipped as binaries."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from datasize.dataset.manifest import scan

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"


def image_array(seed: int, size: tuple[int, int] = (32, 32), channels: int = 3) -> np.ndarray:
    """A seeded image with structure (blocks plus noise), so that pHashes of different seeds differ."""
    rng = np.random.default_rng(seed)
    width, height = size
    coarse = rng.integers(0, 256, size=(4, 4, channels)).astype(np.float64)
    big = np.kron(coarse, np.ones((height // 4 + 1, width // 4 + 1, 1)))[:height, :width]
    noisy = big + rng.normal(0, 12, size=big.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


MakeImage = Callable[..., Path]


@pytest.fixture
def make_image() -> MakeImage:
    """make_image(path, seed=0, size=(32, 32), mode="RGB", fmt=None) writes an image and returns its path."""

    def make(
        path: Path, seed: int = 0, size: tuple[int, int] = (32, 32), mode: str = "RGB", fmt: str | None = None
    ) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        image = Image.fromarray(image_array(seed, size)).convert(mode)
        fmt = fmt or {".jpg": "JPEG", ".jpeg": "JPEG"}.get(path.suffix.lower(), "PNG")
        path.write_bytes(encode(image, fmt))
        return path

    return make


@pytest.fixture
def folder_dataset(tmp_path: Path, make_image: MakeImage) -> Path:
    """Three classes of twelve distinct 32x32 PNG images: a clean ImageNet-style tree."""
    root = tmp_path / "clean"
    for c, label in enumerate(["cat", "dog", "fox"]):
        for i in range(12):
            make_image(root / label / f"{i:02d}.png", seed=100 * c + i)
    return root


def tree_checksums(root: Path) -> dict[str, str]:
    """sha256 of every file (links: their target text) under root, to prove nothing changed."""
    sums = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            sums[rel] = "link:" + str(path.readlink())
        elif path.is_file():
            sums[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            sums[rel] = "dir"
    return sums


def stripes(path, *, vertical: bool, seed: int, size: int = 16) -> None:
    """A noisy striped image: an easy two-class problem that a CNN learns in a few steps."""
    rng = np.random.default_rng(seed)
    phase = rng.integers(0, 4)
    line = ((np.arange(size) + phase) // 2 % 2) * 180.0
    image = np.tile(line, (size, 1)) if vertical else np.tile(line[:, None], (1, size))
    image = np.clip(image + rng.normal(0, 25, (size, size)) + 30, 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)


def stripes_folders(root: Path, per_class: int) -> Path:
    """root/vertical/NN.png and root/horizontal/NN.png: `per_class` striped images of each class."""
    for i in range(per_class):
        stripes(root / "vertical" / f"{i:02d}.png", vertical=True, seed=i)
        stripes(root / "horizontal" / f"{i:02d}.png", vertical=False, seed=1000 + i)
    return root


@pytest.fixture(scope="module")
def striped(tmp_path_factory) -> tuple:
    root = stripes_folders(tmp_path_factory.mktemp("stripes"), 48)
    manifest = scan(root, jobs=1)
    sides = np.where(np.arange(len(manifest)) % 4 == 0, "valid", "train")
    split = pd.DataFrame({"path": manifest["path"], "split": sides})
    return root, manifest, split


PLANTED = {"vertical/03.png": "horizontal", "vertical/07.png": "horizontal", "horizontal/05.png": "vertical"}


def planted_stripes(root: Path, per_class: int = 30) -> Path:
    """Striped images of two classes and root/labels.csv giving three of them (PLANTED) the wrong label."""
    stripes_folders(root, per_class)
    rows = ["path,label"]
    for path in sorted(root.rglob("*.png")):
        rel = path.relative_to(root).as_posix()
        rows.append(f"{rel},{PLANTED.get(rel, rel.split('/')[0])}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root
