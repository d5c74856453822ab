"""Near duplicates: pair precision and recall of today's hash rule and of thumbnail verifiers.

Builds a labelled benchmark from `hard_sets.py`: every image of five hard families (mnist, digits8
upscaled, shapes, photo_crops, strokes) as a PNG original, and for `--copies` sources per family one
copy per named transformation (JPEG at quality 30-95, JPEG decoded back to PNG, resize 0.5-2x,
resize then JPEG, brightness and contrast +-20%, crop up to 5%, RGB<->gray). Every file is decoded
as datasize's probe decodes it (JPEGs with `draft("L", (64, 64))`), and its pHash and dHash are
`datasize.probe`'s. Positives are pairs of images from one source; every other pair is a negative.

Printed:

- the candidate stages (hash radius, both hashes or either or their sum): candidates per image,
  the recall they allow, the multi-index search time, and recall/precision once verified;
- a sweep per verifier (correlation, mean absolute difference, SSIM, colour correlation, and
  `dup_verify.verify`'s bounded-photometric residual with and without crop alignment), each on the
  chosen stage's candidates: recall (original-copy pairs), pair precision, false pairs, and the false
  pairs and label conflicts on the distinct originals alone;
- per family and per transformation, precision and recall of today's rule (pHash and dHash within
  5 bits) and of the chosen stage + verifier;
- per 10,000 images: decode, hashes, thumbnail; the verification per candidate pair;
- a scale check (`--scale` images, cheap perturbations of the families): candidate search and
  verification time as a share of the probe's decode+hash time of those files and of photo-like
  JPEGs (bench_scan's generator). Timings are single-process; ratios within one run are the guide
  on a shared machine (load averages are printed).

`--seed` draws the shapes, photo crops, strokes, the copied sources and the copies' parameters
(mnist and digits8 are fixed data): `--seed 1` is a held-out benchmark for thresholds chosen on 0.

Usage (the venv needs numpy, pandas, Pillow, scikit-learn, scikit-image, mlxtend):
    PYTHONPATH=. python benchmarks/bench_duplicates.py           # 16,334 images, scale 100,000: ~10 min
    PYTHONPATH=. python benchmarks/bench_duplicates.py --quick   # 4,267 images, scale 20,000: ~1 min
    PYTHONPATH=. python benchmarks/bench_duplicates.py --scale 0 --stage "p<=12&d<=16"
"""

from __future__ import annotations

import argparse
import io
import itertools
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageEnhance

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dup_verify
import hard_sets
from machine_info import load_average, machine_lines

from datasize.duplicates import DEFAULT_NEAR_RADIUS, connected_roots, near_pairs
from datasize.probe import difference_hash, perceptual_hash

DRAFT_SIZE = (64, 64)  # what datasize.probe asks a JPEG decoder for

# --- the copies -------------------------------------------------------------------------------


def encode(pixels: np.ndarray, fmt: str, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, **({"quality": quality} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def _resized(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    factor = float(np.exp(rng.uniform(np.log(0.5), np.log(2.0))))
    height, width = pixels.shape[:2]
    filters = [
        Image.Resampling.BILINEAR,
        Image.Resampling.BICUBIC,
        Image.Resampling.LANCZOS,
        Image.Resampling.BOX,
    ]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.asarray(Image.fromarray(pixels).resize(size, filters[int(rng.integers(len(filters)))]))


def copy_jpeg(pixels: np.ndarray, rng: np.random.Generator) -> bytes:
    return encode(pixels, "JPEG", int(rng.integers(30, 96)))


def copy_jpeg_to_png(pixels: np.ndarray, rng: np.random.Generator) -> bytes:
    """A JPEG (Pillow's default quality, 75) decoded and saved as PNG: JPEG artefacts, PNG decode path."""
    decoded = np.asarray(
        Image.open(io.BytesIO(encode(pixels, "JPEG", 75))).convert(Image.fromarray(pixels).mode)
    )
    return encode(decoded, "PNG")


def copy_resize(pixels: np.ndarray, rng: np.random.Generator) -> bytes:
    return encode(_resized(pixels, rng), "PNG")


def copy_resize_jpeg(pixels: np.ndarray, rng: np.random.Generator) -> bytes:
    """Resized, then JPEG at quality 60-95 (the issue's planted copies: 34 px, quality 80)."""
    return encode(_resized(pixels, rng), "JPEG", int(rng.integers(60, 96)))


def copy_brightness(pixels: np.ndarray, rng: np.random.Generator) -> bytes:
    enhanced = ImageEnhance.Brightness(Image.fromarray(pixels)).enhance(rng.uniform(0.8, 1.2))
    return encode(np.asarray(enhanced), "PNG")


def copy_contrast(pixels: np.ndarray, rng: np.random.Generator) -> bytes:
    enhanced = ImageEnhance.Contrast(Image.fromarray(pixels)).enhance(rng.uniform(0.8, 1.2))
    return encode(np.asarray(enhanced), "PNG")


def copy_crop(pixels: np.ndarray, rng: np.random.Generator) -> bytes:
    """Up to 5% of each axis cut, split at random between its two sides; at least one pixel in all."""
    height, width = pixels.shape[:2]
    cut_x = int(rng.integers(0, max(1, int(0.05 * width)) + 1))
    cut_y = int(rng.integers(0, max(1, int(0.05 * height)) + 1))
    if cut_x + cut_y == 0:
        cut_x = 1
    left, top = int(rng.integers(0, cut_x + 1)), int(rng.integers(0, cut_y + 1))
    return encode(pixels[top : height - (cut_y - top), left : width - (cut_x - left)], "PNG")


def copy_gray(pixels: np.ndarray, rng: np.random.Generator) -> bytes:
    """RGB -> gray for colour images, gray -> RGB for gray ones."""
    image = Image.fromarray(pixels)
    return encode(np.asarray(image.convert("L" if pixels.ndim == 3 else "RGB")), "PNG")


TRANSFORMS: dict[str, Callable[[np.ndarray, np.random.Generator], bytes]] = {
    "jpeg": copy_jpeg,
    "jpeg_to_png": copy_jpeg_to_png,
    "resize": copy_resize,
    "resize_jpeg": copy_resize_jpeg,
    "brightness": copy_brightness,
    "contrast": copy_contrast,
    "crop": copy_crop,
    "gray": copy_gray,
}


# --- the benchmark set ------------------------------------------------------------------------


@dataclass
class Bench:
    """One row per image file: its family, source (shared by an original and its copies), label."""

    family: np.ndarray
    source: np.ndarray
    label: np.ndarray
    transform: np.ndarray  # "original" or a TRANSFORMS name
    files: list[bytes]

    @property
    def original(self) -> np.ndarray:
        return self.transform == "original"


def family_sets(quick: bool, seed: int = 0) -> list[hard_sets.ImageSet]:
    """The five families (mnist and digits8 are fixed data; `seed` draws the other three)."""
    if quick:
        return [
            hard_sets.mnist(per_class=100),
            hard_sets.digits8(per_class=40),
            hard_sets.shapes(n=600, seed=seed),
            hard_sets.photo_crops(per_class=30, seed=seed),
            hard_sets.strokes(n=500, seed=seed),
        ]
    return [
        hard_sets.mnist(),
        hard_sets.digits8(),
        hard_sets.shapes(n=3000, seed=seed),
        hard_sets.photo_crops(per_class=100, seed=seed),
        hard_sets.strokes(n=2000, seed=seed),
    ]


def build_bench(sets: list[hard_sets.ImageSet], copies: int, seed: int) -> Bench:
    """Every image as a PNG original, plus one copy per transformation of `copies` sources a family."""
    family, source, label, transform, files = [], [], [], [], []
    next_source = 0
    for k, image_set in enumerate(sets):
        rng = np.random.default_rng([seed, k])
        chosen = set(rng.choice(len(image_set), size=min(copies, len(image_set)), replace=False).tolist())
        for i, (pixels, lab) in enumerate(zip(image_set.images, image_set.labels, strict=True)):
            names = ["original"] + (list(TRANSFORMS) if i in chosen else [])
            for t, name in enumerate(names):
                copy_rng = np.random.default_rng([seed, k, i, t])
                data = encode(pixels, "PNG") if name == "original" else TRANSFORMS[name](pixels, copy_rng)
                family.append(image_set.name)
                source.append(next_source)
                label.append(lab)
                transform.append(name)
                files.append(data)
            next_source += 1
    return Bench(np.array(family), np.array(source), np.array(label), np.array(transform), files)


# --- what the probe computes ------------------------------------------------------------------


def probe_decode(data: bytes, draft_mode: str = "L") -> Image.Image:
    """Decode as `datasize.probe` does: a JPEG at reduced scale, straight to gray (`draft_mode`)."""
    image = Image.open(io.BytesIO(data))
    if image.format == "JPEG":
        image.draft(draft_mode, DRAFT_SIZE)
    image.load()
    return image


def thumbnail_from_phash_grid(image: Image.Image) -> bytes:
    """The 16x16 thumbnail as 2x2 means of the 32x32 gray image pHash already makes (no extra resize)."""
    gray = image if image.mode == "L" else image.convert("L")
    grid = np.asarray(gray.resize((32, 32), Image.Resampling.BILINEAR), dtype=np.float32)
    return np.round(grid.reshape(16, 2, 16, 2).mean(axis=(1, 3))).astype(np.uint8).tobytes()


def colour_thumbnail(image: Image.Image) -> np.ndarray:
    """16x16 RGB thumbnail (gray images replicated), for the colour baselines."""
    return np.asarray(image.convert("RGB").resize((16, 16), Image.Resampling.BILINEAR), dtype=np.uint8)


@dataclass
class Features:
    phash: np.ndarray
    dhash: np.ndarray
    thumbs: np.ndarray  # (n, 256) uint8, dup_verify.thumbnail
    thumbs_grid: np.ndarray  # (n, 256) uint8, thumbnail_from_phash_grid
    rgb: np.ndarray  # (n, 16, 16, 3) uint8 from a colour decode (JPEG draft "RGB")
    sizes: np.ndarray  # (n, 2) each file's width and height (the manifest's, before any draft)
    seconds: dict[str, float]  # decode, hashes, thumbnail, thumbnail_grid, decode_rgb


def probe_features(files: list[bytes]) -> Features:
    """Decode every file once as the probe does, then time the hashes and thumbnails on the decodes."""
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    images = [probe_decode(data) for data in files]
    seconds["decode"] = time.perf_counter() - start
    start = time.perf_counter()
    phash = np.array([perceptual_hash(image) for image in images], dtype=np.uint64)
    dhash = np.array([difference_hash(image) for image in images], dtype=np.uint64)
    seconds["hashes"] = time.perf_counter() - start
    start = time.perf_counter()
    thumbs = dup_verify.thumbnails_array([dup_verify.thumbnail(image) for image in images])
    seconds["thumbnail"] = time.perf_counter() - start
    start = time.perf_counter()
    thumbs_grid = dup_verify.thumbnails_array([thumbnail_from_phash_grid(image) for image in images])
    seconds["thumbnail_grid"] = time.perf_counter() - start
    start = time.perf_counter()
    rgb = np.stack([colour_thumbnail(probe_decode(data, "RGB")) for data in files])
    seconds["decode_rgb+thumbnail"] = time.perf_counter() - start
    sizes = np.array([Image.open(io.BytesIO(data)).size for data in files], dtype=np.int64)
    return Features(phash, dhash, thumbs, thumbs_grid, rgb, sizes, seconds)


# --- candidate stages -------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """Pairs become candidates when pHash <= p and dHash <= d bits apart (and p + d <= total)."""

    name: str
    p: int
    d: int = 64
    total: int = 128
    either: bool = False  # pHash <= p OR dHash <= d instead

    def admits(self, p_dist: np.ndarray, d_dist: np.ndarray) -> np.ndarray:
        if self.either:
            return (p_dist <= self.p) | (d_dist <= self.d)
        return (p_dist <= self.p) & (d_dist <= self.d) & (p_dist + d_dist <= self.total)


TODAY = Stage("p<=5&d<=5 (today)", DEFAULT_NEAR_RADIUS, DEFAULT_NEAR_RADIUS)
STAGES = [
    TODAY,
    Stage("p<=8&d<=8", 8, 8),
    Stage("p<=8&d<=16", 8, 16),
    Stage("p<=10&d<=10", 10, 10),
    Stage("p<=10&d<=16", 10, 16),
    Stage("p+d<=20", 20, 20, 20),
    Stage("p<=12", 12),
    Stage("p<=12&d<=16", 12, 16),
]
EITHER_STAGES = [Stage("p<=8|d<=8", 8, 8, either=True), Stage("p<=10|d<=10", 10, 10, either=True)]


def hash_pool(phash: np.ndarray, dhash: np.ndarray, block: int = 2048) -> tuple[np.ndarray, dict[str, int]]:
    """Every pair (i < j) some stage in STAGES admits, as (m, 4): i, j, pHash and dHash distance.

    Exhaustive (block by block), so it is the ground truth the multi-index search must reproduce;
    also counts the candidates of EITHER_STAGES, too many to keep.
    """
    n = len(phash)
    kept, either_counts = [], dict.fromkeys((s.name for s in EITHER_STAGES), 0)
    for lo in range(0, n, block):
        rows = np.arange(lo, min(n, lo + block))
        p_dist = np.bitwise_count(phash[rows, None] ^ phash[None, :]).astype(np.int16)
        d_dist = np.bitwise_count(dhash[rows, None] ^ dhash[None, :]).astype(np.int16)
        upper = rows[:, None] < np.arange(n)[None, :]
        for stage in EITHER_STAGES:
            either_counts[stage.name] += int((stage.admits(p_dist, d_dist) & upper).sum())
        admitted = np.zeros_like(upper)
        for stage in STAGES:
            admitted |= stage.admits(p_dist, d_dist)
        a, b = np.nonzero(admitted & upper)
        kept.append(np.stack([rows[a], b, p_dist[a, b], d_dist[a, b]], axis=1))
    return np.concatenate(kept).astype(np.int64), either_counts


def search_seconds(stage: Stage, phash: np.ndarray, dhash: np.ndarray) -> tuple[float, int]:
    """Time the multi-index search datasize runs for a stage (pHash radius p, then the dHash filter)."""
    start = time.perf_counter()
    unique = np.unique(np.stack([phash, dhash], axis=1), axis=0)
    pairs = near_pairs(unique[:, 0], radius=min(stage.p, 63))
    d_dist = np.bitwise_count(unique[pairs[:, 0], 1] ^ unique[pairs[:, 1], 1])
    p_dist = np.bitwise_count(unique[pairs[:, 0], 0] ^ unique[pairs[:, 1], 0])
    kept = stage.admits(p_dist, d_dist)
    return time.perf_counter() - start, int(kept.sum())


# --- verifiers --------------------------------------------------------------------------------


def _z(values: np.ndarray) -> np.ndarray:
    flat = values.reshape(len(values), -1).astype(np.float32)
    centred = flat - flat.mean(axis=1, keepdims=True)
    return centred / np.maximum(centred.std(axis=1, keepdims=True), 1e-3)


def score_correlation(z: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    return np.concatenate([(z[c[:, 0]] * z[c[:, 1]]).mean(axis=1) for c in _chunks(pairs)])


def score_mad(z: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    return np.concatenate([np.abs(z[c[:, 0]] - z[c[:, 1]]).mean(axis=1) for c in _chunks(pairs)])


def score_ssim(thumbs: np.ndarray, pairs: np.ndarray, window: int = 4) -> np.ndarray:
    """Mean SSIM over the non-overlapping 4x4 windows of two 16x16 thumbnails (levels 0-255)."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    blocks = thumbs.reshape(-1, 16 // window, window, 16 // window, window).astype(np.float32)
    blocks = blocks.transpose(0, 1, 3, 2, 4).reshape(len(thumbs), -1, window * window)
    out = []
    for c in _chunks(pairs):
        a, b = blocks[c[:, 0]], blocks[c[:, 1]]
        ma, mb = a.mean(axis=2), b.mean(axis=2)
        va, vb = a.var(axis=2), b.var(axis=2)
        cov = ((a - ma[..., None]) * (b - mb[..., None])).mean(axis=2)
        ssim = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2))
        out.append(ssim.mean(axis=1))
    return np.concatenate(out)


def score_colour_correlation(rgb: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Correlation of per-channel normalised colour thumbnails (each channel its own mean and std)."""
    channels = rgb.astype(np.float32).transpose(0, 3, 1, 2).reshape(len(rgb), 3, -1)
    centred = channels - channels.mean(axis=2, keepdims=True)
    z = (centred / np.maximum(centred.std(axis=2, keepdims=True), 1e-3)).reshape(len(rgb), -1)
    return score_correlation(z, pairs)


def _chunks(pairs: np.ndarray, size: int = 50_000) -> list[np.ndarray]:
    return [pairs[k : k + size] for k in range(0, len(pairs), size)] or [pairs[:0]]


@dataclass(frozen=True)
class Verifier:
    """A named rule: `accept(pairs)` -> bool per pair; `param` is its threshold, for the sweep."""

    name: str
    param: str
    accept: Callable[[np.ndarray], np.ndarray]


def score_verifiers(features: Features) -> list[Verifier]:
    """The baselines at several thresholds each: the score is computed on the pairs asked about."""
    gray_z = _z(features.thumbs)
    measures: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "corr": lambda pairs: score_correlation(gray_z, pairs),
        "zmad": lambda pairs: score_mad(gray_z, pairs),
        "ssim": lambda pairs: score_ssim(features.thumbs, pairs),
        "colour corr": lambda pairs: score_colour_correlation(features.rgb, pairs),
    }

    def by_score(name: str, threshold: float, higher: bool) -> Verifier:
        def accept(pairs: np.ndarray) -> np.ndarray:
            values = measures[name](pairs)
            return values >= threshold if higher else values <= threshold

        return Verifier(f"{name} 16x16", f"{'>=' if higher else '<='}{threshold:g}", accept)

    verifiers = [by_score("corr", t, True) for t in (0.9, 0.95, 0.97, 0.99)]
    verifiers += [by_score("zmad", t, False) for t in (0.05, 0.1, 0.15, 0.2)]
    verifiers += [by_score("ssim", t, True) for t in (0.9, 0.95, 0.98)]
    verifiers += [by_score("colour corr", t, True) for t in (0.9, 0.95, 0.97)]
    return verifiers


def residual_verifier(
    thumbs: np.ndarray, sizes: np.ndarray | None, params: dup_verify.VerifyParams, name: str
) -> Verifier:
    same, other = params.same_grid, params.other_grid
    param = f"{same[0]:g}/{same[1]:g} {other[0]:g}/{other[1]:g}"
    return Verifier(name, param, lambda pairs: dup_verify.verify(thumbs, pairs, sizes, params))


def residual_verifiers(features: Features) -> list[Verifier]:
    """dup_verify's rule at several thresholds (same size, other sizes: max RMS/max peak), and with
    one ingredient changed at a time."""
    base = dup_verify.DEFAULT_PARAMS
    thumbs, sizes = features.thumbs, features.sizes
    out = [
        residual_verifier(thumbs, sizes, _replace(base, same_grid=same, other_grid=other), "residual")
        for same, other in (
            ((0.1, 0.45), (0.2, 0.8)),
            ((0.1, 0.45), (0.25, 1.0)),
            ((0.1, 0.45), (0.25, 1.2)),
            ((0.1, 0.45), (0.3, 1.2)),
            ((0.15, 0.6), (0.25, 1.2)),
            ((0.2, 0.8), (0.25, 1.2)),
        )
    ]
    variants = {
        "residual, no size rule": (None, {}),
        "residual, crops grid": (sizes, {"align": "grid"}),
        "residual, no alignment": (sizes, {"align": "none"}),
        "residual, RMS only": (sizes, {"same_grid": (0.1, 99.0), "other_grid": (0.25, 99.0)}),
        "residual, contrast floor 4": (sizes, {"contrast_floor": 4.0}),
        "residual, any brightness": (sizes, {"max_brightness_ratio": 99.0, "mean_tolerance": 255.0}),
    }
    for name, (variant_sizes, changes) in variants.items():
        out.append(residual_verifier(thumbs, variant_sizes, _replace(base, **changes), name))
    out.append(residual_verifier(features.thumbs_grid, sizes, base, "residual, thumb from pHash grid"))
    return out


def _replace(params: dup_verify.VerifyParams, **changes: object) -> dup_verify.VerifyParams:
    return dup_verify.VerifyParams(**{**params.__dict__, **changes})


# --- scoring ----------------------------------------------------------------------------------


@dataclass
class Truth:
    """The positive pairs (same source), and which are original-copy pairs, with their transform."""

    positives: np.ndarray  # (m, 2), i < j
    transform: np.ndarray  # the copy's transform for original-copy pairs, "copy-copy" otherwise


def positive_pairs(bench: Bench) -> Truth:
    pairs, names = [], []
    order = np.argsort(bench.source, kind="stable")
    starts = np.flatnonzero(np.r_[True, bench.source[order][1:] != bench.source[order][:-1]])
    for group in np.split(order, starts[1:]):
        for i, j in itertools.combinations(sorted(group.tolist()), 2):
            pairs.append((i, j))
            originals = bench.transform[[i, j]] == "original"
            names.append(
                bench.transform[j] if originals[0] else bench.transform[i] if originals[1] else "copy-copy"
            )
    return Truth(np.array(pairs, dtype=np.int64).reshape(-1, 2), np.array(names))


@dataclass
class Outcome:
    """What one stage + verifier flags: its pairs, and how they split into true and false."""

    flagged: np.ndarray  # (k, 2)
    true: np.ndarray  # bool per flagged pair: same source
    positive_found: np.ndarray  # bool per Truth.positives row


def evaluate(
    bench: Bench, truth: Truth, pool: np.ndarray, stage: Stage, verifier: Verifier | None
) -> tuple[Outcome, float]:
    """Stage candidates from the pool, verified; returns the outcome and the verification seconds."""
    candidates = pool[stage.admits(pool[:, 2], pool[:, 3])][:, :2]
    start = time.perf_counter()
    accepted = verifier.accept(candidates) if verifier is not None else np.ones(len(candidates), bool)
    seconds = time.perf_counter() - start
    flagged = candidates[accepted]
    true = bench.source[flagged[:, 0]] == bench.source[flagged[:, 1]]
    n = len(bench.source)
    flagged_keys = set((flagged[:, 0] * n + flagged[:, 1]).tolist())
    found = np.array([i * n + j in flagged_keys for i, j in truth.positives.tolist()], dtype=bool)
    return Outcome(flagged, true, found), seconds


def distinct_set_errors(bench: Bench, outcome: Outcome) -> dict[str, int]:
    """On the originals alone: false pairs, false pairs across labels, and the findings datasize would
    raise from the components (images in a multi-label group: label_conflict; same-label: near_duplicate)."""
    originals = bench.original
    both = originals[outcome.flagged[:, 0]] & originals[outcome.flagged[:, 1]]
    pairs = outcome.flagged[both]
    cross = bench.label[pairs[:, 0]] != bench.label[pairs[:, 1]]
    roots = connected_roots(len(bench.source), pairs)
    members = pd.DataFrame({"root": roots, "label": bench.label})[originals]
    groups = members.groupby("root")["label"].agg(["size", "nunique"])
    groups = groups[groups["size"] > 1]
    return {
        "distinct false pairs": len(pairs),
        "cross-label": int(cross.sum()),
        "label_conflict imgs": int(groups.loc[groups["nunique"] > 1, "size"].sum()),
        "near_duplicate imgs": int(groups.loc[groups["nunique"] == 1, "size"].sum()),
    }


def summary_row(bench: Bench, truth: Truth, outcome: Outcome) -> dict[str, float]:
    original_copy = truth.transform != "copy-copy"
    tp, fp = int(outcome.true.sum()), int((~outcome.true).sum())
    return {
        "recall": outcome.positive_found[original_copy].mean(),
        "recall copy-copy": outcome.positive_found[~original_copy].mean(),
        "precision": tp / max(tp + fp, 1),
        "false pairs": fp,
        **distinct_set_errors(bench, outcome),
    }


def breakdown(bench: Bench, truth: Truth, outcome: Outcome) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per family, per transformation) tables of recall, precision and false pairs."""
    original_copy = truth.transform != "copy-copy"
    fam_of_pair = bench.family[truth.positives[:, 0]]
    fam_i, fam_j = bench.family[outcome.flagged[:, 0]], bench.family[outcome.flagged[:, 1]]
    rows = []
    for family in dict.fromkeys(bench.family):
        mine = (fam_i == family) & (fam_j == family)
        tp, fp = int((outcome.true & mine).sum()), int((~outcome.true & mine).sum())
        orig_mine = bench.original[outcome.flagged[:, 0]] & bench.original[outcome.flagged[:, 1]] & mine
        rows.append(
            {
                "family": family,
                "recall": outcome.positive_found[original_copy & (fam_of_pair == family)].mean(),
                "precision": tp / max(tp + fp, 1),
                "false pairs": fp,
                "of them distinct": int((~outcome.true & orig_mine).sum()),
            }
        )
    cross = fam_i != fam_j
    rows.append(
        {
            "family": "(across families)",
            "recall": np.nan,
            "precision": np.nan,
            "false pairs": int((~outcome.true & cross).sum()),
            "of them distinct": int(
                (~outcome.true & cross & bench.original[outcome.flagged].all(axis=1)).sum()
            ),
        }
    )
    per_family = pd.DataFrame(rows).set_index("family")
    copy_transform = {}
    for k in np.flatnonzero(outcome.true):
        i, j = outcome.flagged[k]
        if bench.transform[i] == "original" or bench.transform[j] == "original":
            copy_transform[k] = bench.transform[j] if bench.transform[i] == "original" else bench.transform[i]
    per_transform = pd.DataFrame(
        {
            name: {
                "recall": outcome.positive_found[truth.transform == name].mean(),
                **{
                    f: outcome.positive_found[(truth.transform == name) & (fam_of_pair == f)].mean()
                    for f in dict.fromkeys(bench.family)
                },
            }
            for name in TRANSFORMS
        }
    ).T
    return per_family, per_transform


# --- the scale check --------------------------------------------------------------------------


def _affine_jitter(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A small random rotation, scale and shift (a new drawing of the same digit, not a copy)."""
    height, width = pixels.shape[:2]
    angle = np.deg2rad(rng.uniform(-12, 12))
    scale = rng.uniform(0.9, 1.1)
    shift = rng.uniform(-2, 2, size=2)
    c, s = np.cos(angle) / scale, np.sin(angle) / scale
    cx, cy = width / 2, height / 2
    matrix = (c, s, cx - c * cx - s * cy + shift[0], -s, c, cy + s * cx - c * cy + shift[1])
    out = Image.fromarray(pixels).transform(
        (width, height), Image.Transform.AFFINE, matrix, Image.Resampling.BILINEAR
    )
    return np.asarray(out)


def scale_images(n: int, seed: int) -> list[np.ndarray]:
    """n images, a fifth per family: jittered mnist and digits8, new shapes and strokes, random crops."""
    per = n // 5
    rng = np.random.default_rng([seed, 99])
    mnist, digits = hard_sets.mnist(), hard_sets.digits8()
    images = [_affine_jitter(mnist.images[k], rng) for k in rng.integers(0, len(mnist), per)]
    images += [_affine_jitter(digits.images[k], rng) for k in rng.integers(0, len(digits), per)]
    images += hard_sets.shapes(n=per, seed=seed + 1).images
    images += hard_sets.strokes(n=per, seed=seed + 1).images
    photos = list(hard_sets.sample_photos().values())
    for _ in range(n - len(images)):
        photo = photos[int(rng.integers(len(photos)))]
        side = int(rng.integers(24, min(photo.shape[:2]) // 3))
        top = int(rng.integers(0, photo.shape[0] - side))
        left = int(rng.integers(0, photo.shape[1] - side))
        crop = Image.fromarray(photo[top : top + side, left : left + side]).resize(
            (32, 32), Image.Resampling.BOX
        )
        images.append(np.asarray(crop))
    return images


def scale_check(n: int, stages: list[Stage], seed: int) -> None:
    print(f"\n## Scale check: {n:,} images (a fifth per family, cheap perturbations)")
    start = time.perf_counter()
    pictures = scale_images(n, seed)
    sizes = np.array([(p.shape[1], p.shape[0]) for p in pictures], dtype=np.int64)
    files = [encode(pixels, "PNG") for pixels in pictures]
    del pictures
    print(f"generated and encoded in {time.perf_counter() - start:.0f} s")
    start = time.perf_counter()
    images = [probe_decode(data) for data in files]
    decode = time.perf_counter() - start
    start = time.perf_counter()
    phash = np.array([perceptual_hash(image) for image in images], dtype=np.uint64)
    dhash = np.array([difference_hash(image) for image in images], dtype=np.uint64)
    hashes = time.perf_counter() - start
    start = time.perf_counter()
    thumbs = dup_verify.thumbnails_array([dup_verify.thumbnail(image) for image in images])
    thumbnail = time.perf_counter() - start
    del images
    probe = decode + hashes
    rows = [("decode (probe rules)", decode), ("pHash + dHash", hashes), ("thumbnail 16x16", thumbnail)]
    for candidate_stage in stages:
        start = time.perf_counter()
        unique, inverse = np.unique(np.stack([phash, dhash], axis=1), axis=0, return_inverse=True)
        pairs = near_pairs(unique[:, 0], radius=candidate_stage.p)
        p_dist = np.bitwise_count(unique[pairs[:, 0], 0] ^ unique[pairs[:, 1], 0])
        d_dist = np.bitwise_count(unique[pairs[:, 0], 1] ^ unique[pairs[:, 1], 1])
        pairs = pairs[candidate_stage.admits(p_dist, d_dist)]
        search = time.perf_counter() - start
        # verify one image per unique hash pair (copies with equal hashes are one candidate)
        first = np.full(len(unique), -1, dtype=np.int64)
        first[inverse.ravel()[::-1]] = np.arange(n)[::-1]
        verified = first[pairs]
        verify, same = best_of(2, lambda verified=verified: dup_verify.verify(thumbs, verified, sizes))
        rows.append((f"candidate search {candidate_stage.name}: {len(pairs):,} pairs", search))
        rows.append((f"verify those pairs ({int(same.sum()):,} kept)", verify))
    photo = photo_probe_seconds(seed) * n  # the same n images, were they photo-like JPEGs
    print(f"decode+hash of photo-like JPEGs (bench_scan's, 160-400 px): {1000 * photo / n:.2f} ms/image")
    header = f"{'step':58s} {'seconds':>8s} {'ms/image':>9s} {'x decode+hash':>14s} {'x photo':>8s}"
    print(header)
    for name, seconds in rows:
        shares = f"{seconds / probe:14.3f} {seconds / photo:8.3f}"
        print(f"{name:58s} {seconds:8.2f} {1000 * seconds / n:9.3f} {shares}")


def photo_probe_seconds(seed: int, count: int = 200) -> float:
    """Decode (probe rules) + pHash + dHash seconds per image of bench_scan's photo-like JPEGs."""
    from bench_scan import synthetic_photo

    rng = np.random.default_rng([seed, 7])
    files = []
    for _ in range(count):
        width, height = (int(side) for side in rng.integers(160, 401, size=2))
        image = synthetic_photo(rng, width, height, rng.normal(0, 25, size=3))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        files.append(buffer.getvalue())
    start = time.perf_counter()
    for data in files:
        image = probe_decode(data)
        perceptual_hash(image)
        difference_hash(image)
    return (time.perf_counter() - start) / count


def best_of(repeats: int, run: Callable[[], object]) -> tuple[float, object]:
    """The least seconds of `repeats` runs (the least disturbed on a shared machine) and a result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


# --- printing ---------------------------------------------------------------------------------


def print_table(frame: pd.DataFrame, floats: str = "{:.3f}") -> None:
    text = frame.to_string(float_format=lambda v: floats.format(v), na_rep="-")
    print(text)


def per_10k(seconds: float, n: int) -> float:
    return seconds * 10_000 / n


def print_stages(
    bench: Bench, features: Features, truth: Truth, pool: np.ndarray, either: dict[str, int]
) -> None:
    print("\n## Candidate stages: recall allowed (original-copy pairs among the candidates), then with")
    print("## dup_verify's defaults: recall, pair precision, false pairs (all; among distinct originals)")
    n = len(bench.source)
    original_copy = truth.transform != "copy-copy"
    i, j = truth.positives.T
    p_pos = np.bitwise_count(features.phash[i] ^ features.phash[j])
    d_pos = np.bitwise_count(features.dhash[i] ^ features.dhash[j])
    chosen = residual_verifier(features.thumbs, features.sizes, dup_verify.DEFAULT_PARAMS, "defaults")
    rows = []
    for s in STAGES + EITHER_STAGES:
        count = either[s.name] if s.either else int(s.admits(pool[:, 2], pool[:, 3]).sum())
        # datasize searches a pHash radius, then filters by dHash: a radius of 20 is no plan to time
        timed = s.p <= 12 and not s.either
        row = {
            "stage": s.name,
            "candidates": count,
            "per image": count / n,
            "recall allowed": s.admits(p_pos, d_pos)[original_copy].mean(),
            "search s": search_seconds(s, features.phash, features.dhash)[0] if timed else np.nan,
        }
        if not s.either:
            summary = summary_row(bench, truth, evaluate(bench, truth, pool, s, chosen)[0])
            row |= {k: summary[k] for k in ("recall", "precision", "false pairs")}
            row["distinct false"] = summary["distinct false pairs"]
        rows.append(row)
    table = pd.DataFrame(rows).set_index("stage")
    print_table(table.astype({"false pairs": "Int64", "distinct false": "Int64"}))


def print_verifiers(bench: Bench, features: Features, truth: Truth, pool: np.ndarray, stage: Stage) -> None:
    print(f"\n## Verifiers on the candidates of {stage.name}")
    print("recall: original-copy pairs; false pairs: all pairs; the next five: among the distinct originals")
    n_candidates = int(stage.admits(pool[:, 2], pool[:, 3]).sum())
    outcome_today, _ = evaluate(bench, truth, pool, TODAY, None)
    rows = [{"verifier": "today: p<=5&d<=5", "threshold": "-", **summary_row(bench, truth, outcome_today)}]
    hash_only = Verifier("hash only", "-", lambda pairs: np.ones(len(pairs), dtype=bool))
    for verifier in [hash_only, *score_verifiers(features), *residual_verifiers(features)]:
        outcome, seconds = evaluate(bench, truth, pool, stage, verifier)
        row = {"verifier": verifier.name, "threshold": verifier.param, **summary_row(bench, truth, outcome)}
        rows.append({**row, "us/pair": 1e6 * seconds / max(n_candidates, 1)})
    print_table(pd.DataFrame(rows).set_index(["verifier", "threshold"]))


def print_breakdowns(bench: Bench, truth: Truth, outcomes: dict[str, Outcome]) -> None:
    for title, outcome in outcomes.items():
        per_family, per_transform = breakdown(bench, truth, outcome)
        print(f"\n## {title}: per family (the last column: false pairs between distinct originals)")
        print_table(per_family)
        print(f"\n## {title}: recall per transformation (all families, then each)")
        print_table(per_transform)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small families, 30 copies each, scale 20,000")
    parser.add_argument("--copies", type=int, help="sources a family that get copies (default 80, quick 30)")
    parser.add_argument("--stage", default="p<=10&d<=16", help="the candidate stage the verifiers run on")
    parser.add_argument("--scale", type=int, help="images in the scale check (default 100,000, quick 20,000)")
    parser.add_argument(
        "--seed", type=int, default=0, help="draws shapes, crops, strokes, copies (0: the notes')"
    )
    args = parser.parse_args()
    copies = args.copies or (30 if args.quick else 80)
    scale = args.scale if args.scale is not None else (20_000 if args.quick else 100_000)
    stage = next(s for s in STAGES if s.name.startswith(args.stage))
    print("\n".join(machine_lines()), flush=True)
    print(f"load average at the start: {load_average()}")

    start = time.perf_counter()
    bench = build_bench(family_sets(args.quick, args.seed), copies, args.seed)
    n = len(bench.source)
    built = time.perf_counter() - start
    print(f"benchmark: {n:,} images ({int(bench.original.sum()):,} originals), built in {built:.0f} s")
    print(pd.crosstab(bench.family, bench.transform).to_string())
    features = probe_features(bench.files)
    truth = positive_pairs(bench)
    copy_copy = int((truth.transform == "copy-copy").sum())
    print(f"positive pairs: {len(truth.positives) - copy_copy:,} original-copy, {copy_copy:,} copy-copy")
    start = time.perf_counter()
    pool, either = hash_pool(features.phash, features.dhash)
    print(f"hash distances of all {n * (n - 1) // 2:,} pairs in {time.perf_counter() - start:.0f} s")

    print_stages(bench, features, truth, pool, either)
    print_verifiers(bench, features, truth, pool, stage)
    chosen = residual_verifier(features.thumbs, features.sizes, dup_verify.DEFAULT_PARAMS, "defaults")
    outcome, _ = evaluate(bench, truth, pool, stage, chosen)
    candidates = pool[stage.admits(pool[:, 2], pool[:, 3])][:, :2]
    verify_seconds, _ = best_of(3, lambda: chosen.accept(candidates))
    today, _ = evaluate(bench, truth, pool, TODAY, None)
    print_breakdowns(
        bench, truth, {"today: p<=5&d<=5": today, f"{stage.name} + residual (defaults)": outcome}
    )

    print("\n## Cost per 10,000 images (decoded as the probe does; one process; verify: best of 3)")
    for name, seconds in features.seconds.items():
        print(f"{name:28s} {per_10k(seconds, n):7.2f} s")
    n_candidates = len(candidates)
    per_pair = 1e6 * verify_seconds / max(n_candidates, 1)
    label = f"verify {stage.name} pairs"
    detail = f"({n_candidates:,} pairs here, {per_pair:.1f} us/pair)"
    print(f"{label:28s} {per_10k(verify_seconds, n):7.2f} s {detail}")
    print(f"load average: {load_average()} (other work on the machine slows every row it overlaps)")
    if scale:
        cheaper = next(s for s in STAGES if s.name == "p<=8&d<=16")
        scale_check(scale, list(dict.fromkeys([TODAY, cheaper, stage])), args.seed)
        print(f"load average at the end: {load_average()}")


if __name__ == "__main__":
    main()
