"""Decode every image once into one uint8 tensor at training size; batches are cut from it by index.

The cache is keyed by the manifest's content fingerprint, the size, the resize method and the
channel count, so a later command over the same images reuses it instead of decoding again. It
lives in memory, or in a memory-mapped ``.npy`` file under a cache folder (reused across commands,
and required for data larger than memory).
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageOps

from datasize.dataset.probe import DEFAULT_MAX_PIXELS, declared_pixels, pixel_limit
from datasize.io import (
    available_memory,
    default_cache_dir,
    remove_stale_temporaries,
    usable_cores,
    write_text_atomic,
)

Progress = Callable[[int, int], None]

CACHE_FORMAT = 1
# A cache asked for in memory goes to a memory-mapped file under `default_cache_dir()` instead when
# it would take more than this share of the memory available.
MEMORY_SHARE = 0.5


class Resize(StrEnum):
    """How an image is brought to the square training size."""

    SQUISH = "squish"  # stretch to the square, keeping all content
    CROP = "crop"  # scale the shorter side to the size, cut the centre square
    PAD = "pad"  # scale the longer side to the size, pad the rest with black


def default_size(manifest: pd.DataFrame) -> int:
    """A training size suited to the data: the median shorter side, kept within 16..64 px.

    Small CNNs trained from scratch on CPU gain little above 64 px and lose a lot below 16 px.
    """
    readable = manifest[manifest["error"] == ""]
    if readable.empty:
        raise ValueError("no readable images to choose a size from")
    median = float(np.median(np.minimum(readable["width"], readable["height"])))
    return int(min(64, max(16, 8 * round(median / 8))))


def default_channels(manifest: pd.DataFrame) -> int:
    """1 when every readable image is grayscale (L, I;16, 1...), else 3."""
    gray = {"L", "LA", "1", "I", "I;16", "I;16B", "I;16L", "F"}
    modes = set(manifest.loc[manifest["error"] == "", "mode"])
    return 1 if modes and modes <= gray else 3


def manifest_fingerprint(manifest: pd.DataFrame) -> str:
    """sha256 over the sorted (path, file sha256) pairs: changes when any image changes."""
    rows = sorted(zip(manifest["path"], manifest["sha256"], strict=True))
    digest = hashlib.sha256("".join(f"{p}\t{h}\n" for p, h in rows).encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


@dataclass(frozen=True)
class DecodeSpec:
    """How to decode one image; picklable for worker processes."""

    root: str  # dataset root the manifest paths are relative to
    size: int  # side of the square output, pixels
    resize: Resize  # squish, crop or pad
    channels: int  # 1 (grayscale) or 3 (RGB)
    # No image is decoded above this many pixels: `build_cache` sets it to the largest image the scan
    # measured (each within the scan's --max-pixels), so a file swapped since is refused undecoded.
    max_pixels: int = DEFAULT_MAX_PIXELS


def to_uint8(image: Image.Image, channels: int) -> Image.Image:
    """An image in mode L or RGB: EXIF rotation applied, alpha over white, 16-bit scaled down."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        wide = np.asarray(image, dtype=np.float64)
        image = Image.fromarray(np.clip(wide / 257.0, 0, 255).astype(np.uint8), mode="L")
    elif image.mode == "F":
        image = Image.fromarray(np.clip(np.asarray(image), 0, 255).astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return image.convert("L" if channels == 1 else "RGB")


def fit_square(image: Image.Image, size: int, resize: Resize) -> Image.Image:
    """Bring an image to size x size by squishing, centre-cropping or padding."""
    width, height = image.size
    resample = Image.Resampling.BILINEAR
    if resize == Resize.SQUISH:
        return image.resize((size, size), resample, reducing_gap=3.0)
    if resize == Resize.CROP:
        scale = size / min(width, height)
        scaled = image.resize((max(size, round(width * scale)), max(size, round(height * scale))), resample)
        left, top = (scaled.width - size) // 2, (scaled.height - size) // 2
        return scaled.crop((left, top, left + size, top + size))
    scale = size / max(width, height)
    scaled = image.resize((max(1, round(width * scale)), max(1, round(height * scale))), resample)
    canvas = Image.new(scaled.mode, (size, size))
    canvas.paste(scaled, ((size - scaled.width) // 2, (size - scaled.height) // 2))
    return canvas


def decode(rel: str, spec: DecodeSpec) -> np.ndarray:
    """One image as a (channels, size, size) uint8 array."""
    with open(Path(spec.root, rel), "rb") as f:
        data = f.read()
    with pixel_limit(spec.max_pixels):
        try:
            image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:  # declares over twice the limit
            raise _grown(rel, declared_pixels(exc), spec) from None
    with image:
        if image.width * image.height > spec.max_pixels:
            raise _grown(rel, image.width * image.height, spec)
        if image.format == "JPEG":
            # Decode at the smallest JPEG scale still at least twice the target: far less work.
            image.draft("L" if spec.channels == 1 else "RGB", (2 * spec.size, 2 * spec.size))
        square = fit_square(to_uint8(image, spec.channels), spec.size, spec.resize)
    array = np.asarray(square, dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def _grown(rel: str, pixels: int, spec: DecodeSpec) -> ValueError:
    return ValueError(
        f"image {rel!r} has {pixels:,} pixels now, more than any image the scan measured "
        f"({spec.max_pixels:,}); it changed since the scan: scan the dataset again"
    )


def decode_many(rels: list[str], spec: DecodeSpec) -> np.ndarray:
    """A chunk of images stacked as (n, channels, size, size): the unit of work of one process."""
    out = np.empty((len(rels), spec.channels, spec.size, spec.size), dtype=np.uint8)
    for i, rel in enumerate(rels):
        out[i] = decode(rel, spec)
    return out


@dataclass(frozen=True)
class ImageCache:
    """The decoded images: `images[i]` is row i of `paths` (and of `labels`)."""

    images: np.ndarray  # (n, channels, size, size) uint8, in memory or memory-mapped
    paths: tuple[str, ...]  # manifest paths, sorted
    labels: tuple[str, ...]  # the label of each image
    size: int
    resize: Resize
    key: str  # what the cache file is named after
    decoded: int  # images decoded to build this cache (0 when it was loaded from disk)

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    def index_of(self, paths: list[str] | pd.Series) -> np.ndarray:
        """Row indices of the given paths; KeyError naming the first path not in the cache."""
        lookup = {p: i for i, p in enumerate(self.paths)}
        try:
            return np.array([lookup[p] for p in paths], dtype=np.int64)
        except KeyError as exc:
            raise KeyError(
                f"image {exc.args[0]!r} is not in the cache (unreadable or not in the manifest)"
            ) from None


def cache_key(manifest: pd.DataFrame, size: int, resize: Resize, channels: int) -> str:
    """The name of a cache: manifest fingerprint, size, method and channels."""
    return f"{manifest_fingerprint(manifest)[:20]}-{size}px-{resize}-{channels}ch-v{CACHE_FORMAT}"


def build_cache(
    manifest: pd.DataFrame,
    *,
    root: str | os.PathLike,
    size: int | None = None,
    resize: Resize | str = Resize.SQUISH,
    channels: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    jobs: int | None = None,
    progress: Progress | None = None,
) -> ImageCache:
    """Decode every readable image of the manifest once, or load the cache made earlier.

    Args:
        manifest: from `scan`; rows with an `error` are left out.
        root: the dataset root the manifest paths are relative to.
        size: square side in pixels (default: `default_size`).
        resize: squish, crop or pad.
        channels: 1 or 3 (default: 1 when every image is grayscale).
        cache_dir: keep the cache as a memory-mapped file here and reuse it; None keeps it in memory,
            unless it needs over half the available memory: then it goes under `default_cache_dir()`.
        jobs: decoding processes (default: all cores).
        progress: called as ``progress(done, total)``.
    """
    plan = plan_cache(manifest, root=root, size=size, resize=resize, channels=channels)
    key, paths, labels, shape, spec = plan.key, plan.paths, plan.labels, plan.shape, plan.spec
    size, resize = spec.size, spec.resize
    if cache_dir is None and np.prod(shape) > MEMORY_SHARE * available_memory():
        # Would not fit comfortably: a memory-mapped file lets the OS page it in and out instead.
        cache_dir = default_cache_dir()
    if cache_dir is not None:
        stored = load_stored(Path(cache_dir), key, shape)
        if stored is not None:
            return ImageCache(stored, paths, labels, size, resize, key, decoded=0)
    if cache_dir is None:
        images = np.empty(shape, dtype=np.uint8)
        _decode_into(images, list(paths), spec, jobs=jobs, progress=progress)
    else:
        images = _decode_to_file(Path(cache_dir), key, shape, list(paths), spec, jobs, progress)
    return ImageCache(images, paths, labels, size, resize, key, decoded=len(paths))


@dataclass(frozen=True)
class CachePlan:
    """What a cache of a manifest holds and how each image is decoded for it."""

    key: str  # see cache_key
    paths: tuple[str, ...]  # the readable images, sorted: row i of the cache
    labels: tuple[str, ...]
    shape: tuple[int, int, int, int]  # (n, channels, size, size)
    spec: DecodeSpec


def plan_cache(
    manifest: pd.DataFrame,
    *,
    root: str | os.PathLike,
    size: int | None = None,
    resize: Resize | str = Resize.SQUISH,
    channels: int | None = None,
) -> CachePlan:
    """The readable images in cache order, the cache's key and shape, and how to decode each image
    (arguments as `build_cache`); ValueError for a manifest without readable images or a bad size."""
    resize = Resize(resize)
    readable = manifest[manifest["error"] == ""].sort_values("path", kind="stable")
    if readable.empty:
        raise ValueError("no readable images to cache")
    size = size or default_size(readable)
    if size < 4 or size > 1024:
        raise ValueError(f"size={size} must be between 4 and 1024 pixels")
    channels = channels or default_channels(readable)
    if channels not in (1, 3):
        raise ValueError(f"channels={channels} must be 1 or 3")
    paths, labels = tuple(readable["path"]), tuple(readable["label"])
    largest = int((readable["width"].astype("int64") * readable["height"].astype("int64")).max())
    spec = DecodeSpec(root=str(root), size=size, resize=resize, channels=channels, max_pixels=max(1, largest))
    key = cache_key(readable, size, resize, channels)
    return CachePlan(key, paths, labels, (len(paths), channels, size, size), spec)


def load_stored(folder: Path, key: str, shape: tuple[int, ...], dtype: type = np.uint8) -> np.ndarray | None:
    """The array a finished pass stored as `key` in `folder` (memory-mapped), or None: missing, not
    marked done (a cut-short pass is never trusted), or of another shape or type."""
    data, done = folder / f"{key}.npy", folder / f"{key}.done"
    if not (data.exists() and done.exists()):
        return None
    stored = np.load(data, mmap_mode="r")
    return stored if stored.shape == shape and stored.dtype == dtype else None


def _decode_to_file(
    folder: Path,
    key: str,
    shape: tuple[int, ...],
    paths: list[str],
    spec: DecodeSpec,
    jobs: int | None,
    progress: Progress | None,
) -> np.ndarray:
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(folder)  # a decode killed earlier; never read, only taking space
    partial = folder / f".{key}.{os.getpid()}.partial.npy"
    images = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=shape)
    try:
        _decode_into(images, paths, spec, jobs=jobs, progress=progress)
        images.flush()
        del images
        os.replace(partial, folder / f"{key}.npy")
    finally:
        partial.unlink(missing_ok=True)
    # The marker is written last: a cache file without it is never trusted.
    write_text_atomic(folder / f"{key}.done", f"{len(paths)} images\n")
    return np.load(folder / f"{key}.npy", mmap_mode="r")


def _decode_into(
    out: np.ndarray, paths: list[str], spec: DecodeSpec, *, jobs: int | None, progress: Progress | None
) -> None:
    for start, block in decoded_chunks(paths, spec, jobs=jobs, progress=progress):
        out[start : start + len(block)] = block


def decoded_chunks(
    paths: list[str],
    spec: DecodeSpec,
    *,
    jobs: int | None = None,
    progress: Progress | None = None,
    start: int = 0,
) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, images) of `paths[start:]` decoded in chunks, in order: worker processes when the
    images are many; `progress(done, total)` after each chunk."""
    total = len(paths)
    workers = min(jobs or usable_cores(), max(1, (total - start) // 256))
    chunk = max(16, min(512, (total - start) // max(1, workers * 8)))
    starts = list(range(start, total, chunk))
    if progress:
        progress(start, total)
    if workers <= 1:
        for first in starts:
            yield first, decode_many(paths[first : first + chunk], spec)
            if progress:
                progress(min(first + chunk, total), total)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        chunks = [paths[s : s + chunk] for s in starts]
        for first, block in zip(starts, pool.map(decode_many, chunks, [spec] * len(chunks)), strict=True):
            yield first, block
            if progress:
                progress(min(first + chunk, total), total)
