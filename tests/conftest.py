"""Fixtures: small seeded images generated on the fly, never shipped as binaries."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw

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


# --- look-alikes: distinct low-detail images whose perceptual hashes agree ----------------------

GLYPH_KINDS = 10  # digit-like glyph classes
SHAPE_KINDS = ("circle", "square", "triangle", "hexagon")


def glyph(seed: int, kind: int, size: int = 28) -> Image.Image:
    """A digit-like glyph, white strokes on black: the three strokes of template `kind`, every
    control point moved a little (a new drawing, not a copy), drawn 4x larger and reduced."""
    template = np.random.default_rng([7, kind]).uniform(0.2, 0.8, size=(3, 3, 2))
    strokes = template + np.random.default_rng([seed, kind]).normal(0, 0.03, size=template.shape)
    big = 4 * size
    canvas = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(canvas)
    t = np.linspace(0, 1, 16)[:, None]
    for start, middle, end in strokes:
        curve = (1 - t) ** 2 * start + 2 * (1 - t) * t * middle + t**2 * end  # a quadratic Bézier
        draw.line([tuple(p) for p in curve * big], fill=255, width=9, joint="curve")
    return canvas.resize((size, size), Image.Resampling.BOX)


def flat_shape(seed: int, kind: str, size: int = 64) -> Image.Image:
    """A flat shape in a colour close to its gradient background, with pixel noise (RGB)."""
    rng = np.random.default_rng([seed, SHAPE_KINDS.index(kind)])
    start, end = rng.uniform(40, 215, size=(2, 3))
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1) - 0.5
    t = np.clip(0.5 + xx * np.cos(angle) + yy * np.sin(angle), 0, 1)[..., None]
    fill = (start + end) / 2 + rng.uniform(25, 40, size=3) * rng.choice([-1, 1], size=3)
    big = 4 * size
    mask = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(mask)
    cx, cy = rng.uniform(0.35, 0.65, size=2) * big
    radius = rng.uniform(0.18, 0.3) * big
    if kind == "circle":
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=255)
    else:
        corners = {"square": 4, "triangle": 3, "hexagon": 6}[kind]
        theta = rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.arange(corners) / corners
        draw.polygon(
            list(zip(cx + radius * np.cos(theta), cy + radius * np.sin(theta), strict=True)), fill=255
        )
    alpha = np.asarray(mask.resize((size, size), Image.Resampling.BOX), dtype=np.float64)[..., None] / 255
    pixels = (start * (1 - t) + end * t) * (1 - alpha) + fill * alpha + rng.normal(0, 6, size=(size, size, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def lookalike_images(per_kind: int = 12) -> dict[str, Image.Image]:
    """Distinct images by relative path, `glyph_K/NN.png` and `<shape>/NN.png`: the label is the kind."""
    images = {f"glyph_{k}/{i:02d}.png": glyph(i, k) for k in range(GLYPH_KINDS) for i in range(per_kind)}
    images |= {f"{kind}/{i:02d}.png": flat_shape(i, kind) for kind in SHAPE_KINDS for i in range(per_kind)}
    return images


def write_images(root: Path, images: dict[str, Image.Image]) -> Path:
    """Each image saved under root at its relative path (the format from the extension)."""
    for rel, image in images.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path)
    return root


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


# --- already enough: three classes so different that a small CNN makes no error ---------------------

ENOUGH_CLASSES = ("red_discs", "green_stripes", "blue_checks")


def enough_image(kind: str, seed: int, size: int = 32) -> Image.Image:
    """One image of `kind`: a red disc on dark grey, green horizontal stripes, or a blue checkerboard,
    each placed, sized and shaded at random (every image distinct, the classes far apart)."""
    rng = np.random.default_rng([seed, ENOUGH_CLASSES.index(kind)])
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    pixels = np.full((size, size, 3), rng.uniform(30, 70))
    if kind == "red_discs":
        cx, cy, r = rng.uniform(10, 22), rng.uniform(10, 22), rng.uniform(5, 10)
        pixels[(xx - cx) ** 2 + (yy - cy) ** 2 <= r * r] = (rng.uniform(180, 255), 30, 30)
    elif kind == "green_stripes":
        period = rng.integers(4, 9)
        pixels[((yy + rng.integers(0, period)) // (period / 2)) % 2 == 0] = (30, rng.uniform(160, 255), 30)
    else:
        cell = rng.integers(3, 8)
        on = ((xx + rng.integers(0, cell)) // cell + (yy + rng.integers(0, cell)) // cell) % 2 == 0
        pixels[on] = (30, 30, rng.uniform(180, 255))
    noisy = pixels + rng.normal(0, 8, pixels.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def enough_folders(root: Path, per_class: int = 100) -> Path:
    """root/<class>/NNN.png for the three ENOUGH_CLASSES: a set whose error is zero at every size."""
    images = {
        f"{kind}/{i:03d}.png": enough_image(kind, i) for kind in ENOUGH_CLASSES for i in range(per_class)
    }
    return write_images(root, images)
