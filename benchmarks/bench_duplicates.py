"""Near duplicates: pair precision and recall of datasize's verified search, against hashes alone.

Builds a labelled benchmark from `hard_sets.py`: every image of five hard families (mnist, digits8
upscaled, shapes, photo_crops, strokes) as a PNG original, and for `--copies` sources per family one
copy per named transformation (JPEG at quality 30-95, JPEG decoded back to PNG, resize 0.5-2x,
resize then JPEG, brightness and contrast +-20%, crop up to 5%, RGB<->gray). Every file is decoded
as datasize's probe decodes it (JPEGs with `draft("L", (64, 64))`); its pHash, dHash and thumbnail
are `datasize.dataset.probe`'s and `datasize.dataset.thumbnails`'. Positives are pairs of images
from one source; every other pair is a negative.

Printed:

- the candidate stages (hash radii: both hashes, either, or their sum): candidates per image, the
  recall they allow, the multi-index search time, and recall/precision once verified;
- a sweep on the chosen stage's candidates (`--stage`, default datasize's): baselines (correlation,
  mean absolute difference, SSIM, colour correlation), `datasize.dataset.thumbnails.similarities` at
  several thresholds, and with one ingredient changed at a time (no size rule, no crop alignment,
  RMS only, contrast floor 4, any brightness, a thumbnail made from pHash's 32x32 grid, 12 px
  thumbnails): recall (original-copy pairs), pair precision, false pairs, and the false pairs and
  label conflicts on the distinct originals alone;
- per family and per transformation, precision and recall of hashes alone (pHash and dHash within
  5 bits, datasize's rule before verification) and of datasize's defaults, the latter computed by
  `datasize.dataset.duplicates.verified_pairs` itself on a manifest of the benchmark;
- per 10,000 images: decode, hashes, thumbnail, the hash-only search, the verified search;
- a scale check (`--scale` images, cheap perturbations of the families): the same steps as a share
  of the probe's decode+hash time of those files and of photo-like JPEGs (bench_scan's generator).
  Timings are CPU seconds of this one process (`time.process_time`), steadier than wall time on a
  shared machine; ratios within one run are the guide (load averages are printed).

`--seed` draws the shapes, photo crops, strokes, the copied sources and the copies' parameters
(mnist and digits8 are fixed data): `--seed 1` is a held-out benchmark for thresholds chosen on 0.

Usage (the venv needs numpy, pandas, Pillow, scikit-learn, scikit-image, mlxtend):
    PYTHONPATH=. python benchmarks/bench_duplicates.py           # 16,334 images, scale 100,000: ~15 min
    PYTHONPATH=. python benchmarks/bench_duplicates.py --quick   # 4,267 images, scale 20,000: ~2 min
    PYTHONPATH=. python benchmarks/bench_duplicates.py --seed 1 --scale 0
"""

from __future__ import annotations

import argparse
import hashlib
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

import hard_sets
from machine_info import load_average, machine_lines

from datasize.dataset.duplicates import (
    DEFAULT_NEAR_RADIUS,
    DHASH_RADIUS,
    candidate_pairs,
    connected_roots,
    verified_links,
    verified_pairs,
    verify_candidates,
)
from datasize.dataset.probe import decode_detail, difference_hash, perceptual_hash
from datasize.dataset.thumbnails import NearRule, similarities, thumbnail

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


def plain_sets(quick: bool, seed: int = 0) -> list[hard_sets.ImageSet]:
    """The plain families of issue #23: silhouettes at 28 px, flat icons, flat product shots on black."""
    if quick:
        return [
            hard_sets.silhouettes(n=600, seed=seed),
            hard_sets.icons(n=400, seed=seed),
            hard_sets.products(n=300, seed=seed),
        ]
    return [
        hard_sets.silhouettes(n=3000, seed=seed),
        hard_sets.icons(n=2000, seed=seed),
        hard_sets.products(n=1500, seed=seed),
    ]


def family_sets(quick: bool, seed: int = 0, families: str = "hard") -> list[hard_sets.ImageSet]:
    """The five hard families (mnist and digits8 are fixed data; `seed` draws the other three), the
    three plain ones (`families="plain"`), or all eight."""
    if families != "hard":
        plain = plain_sets(quick, seed)
        return plain if families == "plain" else family_sets(quick, seed) + plain
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


def as_array(thumbs: list[bytes], side: int = 16) -> np.ndarray:
    return np.frombuffer(b"".join(thumbs), dtype=np.uint8).reshape(-1, side, side)


@dataclass
class Features:
    phash: np.ndarray
    dhash: np.ndarray
    thumbs: np.ndarray  # (n, 16, 16) uint8, datasize's thumbnail
    thumbs12: np.ndarray  # (n, 12, 12) uint8, the same at 12 px
    thumbs_grid: np.ndarray  # (n, 16, 16) uint8, thumbnail_from_phash_grid
    rgb: np.ndarray  # (n, 16, 16, 3) uint8 from a colour decode (JPEG draft "RGB")
    sizes: np.ndarray  # (n, 2) each file's width and height (the manifest's, before any draft)
    seconds: dict[str, float]  # CPU seconds: decode, hashes, thumbnail, ...


def probe_features(files: list[bytes]) -> Features:
    """Decode every file once as the probe does, then time the hashes and thumbnails on the decodes."""
    seconds: dict[str, float] = {}
    start = time.process_time()
    images = [probe_decode(data) for data in files]
    seconds["decode"] = time.process_time() - start
    start = time.process_time()
    gray = [image if image.mode == "L" else image.convert("L") for image in images]
    phash = np.array([perceptual_hash(image) for image in gray], dtype=np.uint64)
    dhash = np.array([difference_hash(image) for image in gray], dtype=np.uint64)
    seconds["gray + pHash + dHash"] = time.process_time() - start
    start = time.process_time()
    thumbs = as_array([thumbnail(image) for image in gray])
    seconds["thumbnail"] = time.process_time() - start
    thumbs12 = as_array([thumbnail(image, side=12) for image in gray], side=12)
    thumbs_grid = as_array([thumbnail_from_phash_grid(image) for image in gray])
    start = time.process_time()
    rgb = np.stack([colour_thumbnail(probe_decode(data, "RGB")) for data in files])
    seconds["decode RGB + colour thumbnail"] = time.process_time() - start
    sizes = np.array([Image.open(io.BytesIO(data)).size for data in files], dtype=np.int64)
    return Features(phash, dhash, thumbs, thumbs12, thumbs_grid, rgb, sizes, seconds)


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


HASHES_ONLY = 5  # datasize's rule before verification: pHash and dHash within 5 bits, nothing else
TODAY = Stage("p<=5&d<=5 (hashes only)", HASHES_ONLY, HASHES_ONLY)
DEFAULT_STAGE = Stage(f"p<={DEFAULT_NEAR_RADIUS}&d<={DHASH_RADIUS}", DEFAULT_NEAR_RADIUS, DHASH_RADIUS)
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
    """CPU seconds of datasize's candidate search for a stage (pHash radius p, then the dHash filter)."""
    start = time.process_time()
    pairs = candidate_pairs(phash, dhash, radius=stage.p, dhash_radius=stage.d)
    return time.process_time() - start, len(pairs)


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


def datasize_verifier(
    thumbs: np.ndarray, sizes: np.ndarray, rule: NearRule, name: str, param: str
) -> Verifier:
    """`datasize.dataset.duplicates.verify_candidates` with this rule: what datasize decides."""
    return Verifier(name, param, lambda pairs: verify_candidates(thumbs, sizes, pairs, rule)[0])


def datasize_verifiers(features: Features) -> list[Verifier]:
    """datasize's verifier at several thresholds, and with one ingredient changed at a time."""
    thumbs, sizes = features.thumbs, features.sizes
    out = [
        datasize_verifier(thumbs, sizes, NearRule(threshold=t), "datasize", f">={t:g}")
        for t in (0.8, 0.85, 0.88, 0.9, 0.92, 0.95)
    ]
    similarity_only = Verifier(
        "no closest-original rule", ">=0.9", lambda pairs: similarities(thumbs, sizes, pairs) >= 0.9
    )
    all_sizes_differ = np.stack([np.arange(len(sizes)), np.zeros(len(sizes), dtype=np.int64)], axis=1)
    variants = {
        "no size rule (every pair as resampled)": (thumbs, all_sizes_differ, {}),
        "no crop alignment": (thumbs, sizes, {"align": False}),
        "RMS only (no peak)": (thumbs, sizes, {"peak_same": np.inf, "peak_resampled": np.inf}),
        "contrast floor 4": (thumbs, sizes, {"contrast_floor": 4.0}),
        "no contrast matching (floor for all)": (thumbs, sizes, {"match_contrast": False}),
        "any brightness": (thumbs, sizes, {"max_edit_ratio": 99.0, "mean_tolerance": 255.0}),
        "resampled 2.0, peak 8 (stricter)": (thumbs, sizes, {"resampled": 2.0, "peak_resampled": 8.0}),
        "resampled 3.0, peak 12 (looser)": (thumbs, sizes, {"resampled": 3.0}),
        "thumbnail from pHash's grid": (features.thumbs_grid, sizes, {}),
    }
    out.append(similarity_only)
    for name, (variant_thumbs, variant_sizes, changes) in variants.items():
        out.append(datasize_verifier(variant_thumbs, variant_sizes, NearRule(**changes), name, ">=0.9"))
    for t in (0.88, 0.9, 0.92):
        rule = NearRule(threshold=t)
        out.append(datasize_verifier(features.thumbs12, sizes, rule, "12 px thumbnail", f">={t:g}"))
    return out


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
    """Stage candidates from the pool, verified; returns the outcome and the verification CPU seconds."""
    candidates = pool[stage.admits(pool[:, 2], pool[:, 3])][:, :2]
    start = time.process_time()
    accepted = verifier.accept(candidates) if verifier is not None else np.ones(len(candidates), bool)
    seconds = time.process_time() - start
    return outcome_of(bench, truth, candidates[accepted]), seconds


def outcome_of(bench: Bench, truth: Truth, flagged: np.ndarray) -> Outcome:
    """Which flagged pairs (i < j) are true, and which positives were found."""
    true = bench.source[flagged[:, 0]] == bench.source[flagged[:, 1]]
    n = len(bench.source)
    flagged_keys = set((flagged[:, 0] * n + flagged[:, 1]).tolist())
    found = np.array([i * n + j in flagged_keys for i, j in truth.positives.tolist()], dtype=bool)
    return Outcome(flagged, true, found)


def as_manifest(bench: Bench, features: Features) -> pd.DataFrame:
    """The benchmark as the manifest columns `verified_pairs` reads (every file readable)."""
    return pd.DataFrame(
        {
            "path": [f"{i:06d}" for i in range(len(bench.files))],
            "sha256": [hashlib.sha256(data).hexdigest() for data in bench.files],
            "width": features.sizes[:, 0],
            "height": features.sizes[:, 1],
            "phash": [f"{h:016x}" for h in features.phash.tolist()],
            "dhash": [f"{h:016x}" for h in features.dhash.tolist()],
            "thumb": [t.tobytes().hex() for t in features.thumbs],
        }
    )


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


def cpu(run: Callable[[], object]) -> tuple[float, object]:
    """CPU seconds of this process (all its threads) for one call, and what it returned."""
    start = time.process_time()
    result = run()
    return time.process_time() - start, result


def scale_check(n: int, seed: int) -> None:
    print(f"\n## Scale check: {n:,} images (a fifth per family, cheap perturbations); CPU seconds")
    start = time.perf_counter()
    pictures = scale_images(n, seed)
    files = [encode(pixels, "PNG") for pixels in pictures]
    del pictures
    print(f"generated and encoded in {time.perf_counter() - start:.0f} s")
    decode, images = cpu(lambda: [probe_decode(data) for data in files])
    hashes, (gray, phash, dhash) = cpu(lambda: _gray_and_hashes(images))
    thumbnail_s, thumbs = cpu(lambda: [thumbnail(image) for image in gray])
    manifest = pd.DataFrame(
        {
            "sha256": [hashlib.sha256(data).hexdigest() for data in files],
            "width": [image.width for image in images],
            "height": [image.height for image in images],
            "phash": [f"{h:016x}" for h in phash.tolist()],
            "dhash": [f"{h:016x}" for h in dhash.tolist()],
            "thumb": [t.hex() for t in thumbs],
        }
    )
    images.clear()  # the decoded images are no longer needed
    gray.clear()
    probe = decode + hashes
    rows = [
        ("decode (probe rules)", decode),
        ("gray + pHash + dHash", hashes),
        ("thumbnail 16x16", thumbnail_s),
    ]
    today, pairs = cpu(lambda: candidate_pairs(phash, dhash, radius=HASHES_ONLY, dhash_radius=HASHES_ONLY))
    rows.append((f"hashes only, p<=5&d<=5: {len(pairs):,} pairs (no verification)", today))
    sizes, thumb_array = manifest[["width", "height"]].to_numpy(), as_array(thumbs)
    for radius in sorted({8, DEFAULT_NEAR_RADIUS}):
        search, pairs = cpu(lambda radius=radius: candidate_pairs(phash, dhash, radius=radius))
        verify, similarity = cpu(lambda pairs=pairs: similarities(thumb_array, sizes, pairs))
        rows.append((f"candidates p<={radius}&d<={DHASH_RADIUS}: {len(pairs):,} pairs", search))
        rows.append((f"  verify them ({int((similarity >= NearRule().threshold).sum()):,} kept)", verify))
        if radius == DEFAULT_NEAR_RADIUS:
            whole, (linked, _) = cpu(lambda radius=radius: verified_pairs(manifest, radius=radius))
            rows.append((f"verified_pairs, all of it: {len(linked):,} pairs", whole))
    photo = photo_probe_seconds(seed) * n  # the same n images, were they photo-like JPEGs
    print(f"decode+hash of photo-like JPEGs (bench_scan's, 160-400 px): {1000 * photo / n:.2f} ms/image")
    header = f"{'step':62s} {'CPU s':>8s} {'ms/image':>9s} {'x decode+hash':>14s} {'x photo':>8s}"
    print(header)
    for name, seconds in rows:
        shares = f"{seconds / probe:14.3f} {seconds / photo:8.3f}"
        print(f"{name:62s} {seconds:8.2f} {1000 * seconds / n:9.3f} {shares}")


def _gray_and_hashes(images: list[Image.Image]) -> tuple[list[Image.Image], np.ndarray, np.ndarray]:
    """As the probe does it: one conversion to gray, then both hashes."""
    gray = [image if image.mode == "L" else image.convert("L") for image in images]
    phash = np.array([perceptual_hash(image) for image in gray], dtype=np.uint64)
    dhash = np.array([difference_hash(image) for image in gray], dtype=np.uint64)
    return gray, phash, dhash


def photo_probe_seconds(seed: int, count: int = 200) -> float:
    """Decode (probe rules) + pHash + dHash CPU seconds per image of bench_scan's photo-like JPEGs."""
    from bench_scan import synthetic_photo

    rng = np.random.default_rng([seed, 7])
    files = []
    for _ in range(count):
        width, height = (int(side) for side in rng.integers(160, 401, size=2))
        image = synthetic_photo(rng, width, height, rng.normal(0, 25, size=3))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        files.append(buffer.getvalue())
    seconds, _ = cpu(lambda: [_gray_and_hashes([probe_decode(data)]) for data in files])
    return seconds / count


# --- printing ---------------------------------------------------------------------------------


def print_table(frame: pd.DataFrame, floats: str = "{:.3f}") -> None:
    """Floats with 3 decimals, precision with 4 (a thousandth of false pairs shows)."""
    formatters = {c: "{:.4f}".format for c in frame.columns if c == "precision"}
    text = frame.to_string(float_format=lambda v: floats.format(v), formatters=formatters, na_rep="-")
    print(text)


def per_10k(seconds: float, n: int) -> float:
    return seconds * 10_000 / n


def print_stages(
    bench: Bench, features: Features, truth: Truth, pool: np.ndarray, either: dict[str, int]
) -> None:
    print("\n## Candidate stages: recall allowed (original-copy pairs among the candidates), then with")
    print("## datasize's verifier: recall, pair precision, false pairs (all; among distinct originals)")
    n = len(bench.source)
    original_copy = truth.transform != "copy-copy"
    i, j = truth.positives.T
    p_pos = np.bitwise_count(features.phash[i] ^ features.phash[j])
    d_pos = np.bitwise_count(features.dhash[i] ^ features.dhash[j])
    chosen = datasize_verifier(features.thumbs, features.sizes, NearRule(), "datasize", "defaults")
    rows = []
    for s in STAGES + EITHER_STAGES:
        count = either[s.name] if s.either else int(s.admits(pool[:, 2], pool[:, 3]).sum())
        # datasize searches a pHash radius, then filters by dHash: a radius of 20 is no plan to time
        timed = s.p <= 12 and s.total == 128 and not s.either
        row = {
            "stage": s.name,
            "candidates": count,
            "per image": count / n,
            "recall allowed": s.admits(p_pos, d_pos)[original_copy].mean(),
            "search CPU s": search_seconds(s, features.phash, features.dhash)[0] if timed else np.nan,
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
    print("recall: original-copy pairs; false pairs: all pairs; the next four: among the distinct originals")
    n_candidates = int(stage.admits(pool[:, 2], pool[:, 3]).sum())
    outcome_today, _ = evaluate(bench, truth, pool, TODAY, None)
    rows = [{"verifier": TODAY.name, "threshold": "-", **summary_row(bench, truth, outcome_today)}]
    hash_only = Verifier("hash only", "-", lambda pairs: np.ones(len(pairs), dtype=bool))
    for verifier in [hash_only, *score_verifiers(features), *datasize_verifiers(features)]:
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


def print_costs(bench: Bench, features: Features, flagged: np.ndarray) -> None:
    """CPU seconds per 10,000 images of each step, hashes only against datasize's verified search, and
    whether `verified_pairs` on the benchmark's manifest groups images as the `flagged` pairs do."""
    n = len(bench.source)
    manifest = as_manifest(bench, features)
    phash, dhash = features.phash, features.dhash
    today, _ = cpu(lambda: candidate_pairs(phash, dhash, radius=HASHES_ONLY, dhash_radius=HASHES_ONLY))
    search, candidates = cpu(lambda: candidate_pairs(phash, dhash))
    verify, _ = cpu(lambda: similarities(features.thumbs, features.sizes, candidates))
    whole, (pairs, _) = cpu(lambda: verified_pairs(manifest))
    probe = features.seconds["decode"] + features.seconds["gray + pHash + dHash"]
    rows = {
        **features.seconds,
        "search p<=5&d<=5 (hashes only)": today,
        f"search {DEFAULT_STAGE.name}": search,
        f"verify its {len(candidates):,} candidates": verify,
        "verified_pairs (search + verify)": whole,
        "hashes only: decode+hash+search": probe + today,
        "datasize: + thumbnail + verified_pairs": probe + features.seconds["thumbnail"] + whole,
    }
    print("\n## CPU seconds per 10,000 images (decoded as the probe does, one process)")
    for name, seconds in rows.items():
        print(f"{name:42s} {per_10k(seconds, n):7.2f} s")
    print(f"verification: {1e6 * verify / max(len(candidates), 1):.1f} us a candidate pair")
    same = np.array_equal(connected_roots(n, pairs), connected_roots(n, flagged))
    print(f"verified_pairs on the benchmark's manifest makes the groups of the table's pairs: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small families, 30 copies each, scale 20,000")
    parser.add_argument("--copies", type=int, help="sources a family that get copies (default 80, quick 30)")
    parser.add_argument(
        "--stage", default=DEFAULT_STAGE.name, help="the candidate stage the verifiers run on"
    )
    parser.add_argument("--scale", type=int, help="images in the scale check (default 100,000, quick 20,000)")
    parser.add_argument(
        "--seed", type=int, default=0, help="draws shapes, crops, strokes, copies (0: chosen on)"
    )
    parser.add_argument(
        "--families",
        choices=["hard", "plain", "all"],
        default="all",
        help="hard: mnist, digits8, shapes, photo_crops, strokes; plain: silhouettes, icons, products",
    )
    parser.add_argument("--skip-sweep", action="store_true", help="leave out the stages and verifiers sweep")
    args = parser.parse_args()
    copies = args.copies or (30 if args.quick else 80)
    scale = args.scale if args.scale is not None else (20_000 if args.quick else 100_000)
    stage = next(s for s in STAGES if s.name.startswith(args.stage))
    print("\n".join(machine_lines()), flush=True)
    print(f"load average at the start: {load_average()}")

    start = time.perf_counter()
    bench = build_bench(family_sets(args.quick, args.seed, args.families), copies, args.seed)
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

    if not args.skip_sweep:
        print_stages(bench, features, truth, pool, either)
        print_verifiers(bench, features, truth, pool, stage)
    chosen = datasize_verifier(features.thumbs, features.sizes, NearRule(), "datasize", "defaults")
    thumbs_outcome, _ = evaluate(bench, truth, pool, DEFAULT_STAGE, chosen)
    start = time.process_time()
    links = verified_links(as_manifest(bench, features), pixels=lambda row: decode_detail(bench.files[row]))
    second = time.process_time() - start
    datasize_outcome = outcome_of(bench, truth, links.pairs)
    print(f"\nverified_links with the second look: {second:.1f} CPU s, compared: ", end="")
    print(", ".join(f"{k} {v:,}" for k, v in pd.Series(links.compared).value_counts().items()))
    if not args.skip_sweep:
        print_costs(bench, features, thumbs_outcome.flagged)
    today, _ = evaluate(bench, truth, pool, TODAY, None)
    outcomes = {
        TODAY.name: today,
        f"thumbnails only ({DEFAULT_STAGE.name}, >=0.9; datasize before #23)": thumbs_outcome,
        "datasize (thumbnails, then a second look at files of equal size)": datasize_outcome,
    }
    print(
        "\n## Summary (precision: all flagged pairs; distinct: among the originals, which are all distinct)"
    )
    print_table(pd.DataFrame({name: summary_row(bench, truth, o) for name, o in outcomes.items()}).T)
    print_breakdowns(bench, truth, outcomes)
    print(f"load average: {load_average()} (other work on the machine slows every row it overlaps)")
    if scale:
        scale_check(scale, args.seed)
        print(f"load average at the end: {load_average()}")


if __name__ == "__main__":
    main()
