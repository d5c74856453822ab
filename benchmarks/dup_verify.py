"""Verify near-duplicate candidates by comparing two small thumbnails: a reference implementation.

numpy and Pillow only, for `datasize.probe` (the thumbnail, from the probe's one decode) and
`datasize.duplicates` (the verification of the hash stage's candidate pairs) to adopt.

The thumbnail is the image's luma, resized (Pillow's antialiased bilinear) to 16x16 and stored as
256 bytes. Two thumbnails are compared after matching brightness and contrast: each is centred on its
mean and divided by its standard deviation, but never by less than `contrast_floor` gray levels, so
the noise of a near-uniform image is not blown up into "structure". A pair is a duplicate when

- the photometric change is one a brightness/contrast edit makes: for images with contrast (both
  stds at least `structured_contrast`), the brighter mean is at most `max_brightness_ratio` times the
  darker and the stds moved by a consistent factor; otherwise the means differ by at most
  `mean_tolerance` levels or `mean_per_contrast` times the lower std (two flat images of different
  brightness are different images);
- the normalised residual is small everywhere: its RMS and its largest pixel (one differing stroke or
  shape is a local difference the RMS alone dilutes) are within `same_grid` when both files have the
  same width and height (nothing was resampled, so differences must be tiny: this is what keeps
  distinct handwritten 1s apart) and within the looser `other_grid` when they differ (resampling a
  thin stroke onto another grid moves it by a fraction of a pixel);
- where it is not but nearly (RMS under `align_below`) and the sizes differ, the same test passes
  after undoing a crop of up to 5% of either side of either image: per axis, the crop whose row
  (column) mean profile fits best, on a 1/80 grid ("profiles", 2 warps a pair), or every crop of a
  6x6 grid per axis ("grid", 71 warps). Without it crop copies are mostly missed.

Gray and colour images are measured the same way: only luma is stored and compared, so an RGB copy
and its gray version match, and a JPEG the probe decodes straight to gray (`draft("L", ...)`)
matches its PNG original.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

THUMB_SIDE = 16
THUMB_BYTES = THUMB_SIDE * THUMB_SIDE


def thumbnail(image: Image.Image) -> bytes:
    """The 16x16 luma thumbnail of a decoded image, 256 bytes (row-major uint8)."""
    gray = image if image.mode == "L" else image.convert("L")
    return gray.resize((THUMB_SIDE, THUMB_SIDE), Image.Resampling.BILINEAR).tobytes()


def thumbnails_array(thumbs: list[bytes]) -> np.ndarray:
    """Stored thumbnails (bytes, or hex strings decoded first) as one (n, 256) uint8 array."""
    return np.frombuffer(b"".join(thumbs), dtype=np.uint8).reshape(-1, THUMB_BYTES)


@dataclass(frozen=True)
class VerifyParams:
    """The thresholds; the defaults are the measured ones (benchmarks/DUPLICATES_NOTES.md)."""

    contrast_floor: float = 12.0  # gray levels: a smaller std is treated as this when normalising
    structured_contrast: float = 8.0  # both stds at least this: a brightness edit can be recognised
    max_brightness_ratio: float = 1.45  # brighter mean over darker (+1), and the std factor's bound
    mean_tolerance: float = 3.0  # otherwise the means may differ by this many levels...
    mean_per_contrast: float = 1.0  # ...or this many times the lower std
    contrast_ratio: float = 1.5  # and the stds (each at least contrast_floor) by this factor
    same_grid: tuple[float, float] = (0.10, 0.45)  # (max RMS, max peak) when the sizes are equal
    other_grid: tuple[float, float] = (0.25, 1.2)  # (max RMS, max peak) when they differ
    align_below: float = 0.5  # unaligned RMS under which crops are undone and the test repeated
    align: str = "profiles"  # "profiles" (2 warps a pair), "grid" (71 warps) or "none"


DEFAULT_PARAMS = VerifyParams()
# Crops undone per axis, as (share cut from the start, share cut from the end), up to 5% in all:
# every split on a 1/80 grid for "profiles" (15), a coarser one for "grid" (6, tried in every pair).
FINE_CROPS = tuple((lo / 80, hi / 80) for lo in range(5) for hi in range(5) if lo + hi <= 4)
GRID_CROPS = ((0.0, 0.0), (0.025, 0.0), (0.0, 0.025), (0.05, 0.0), (0.0, 0.05), (0.025, 0.025))


def _crop_matrix(lo: float, hi: float, side: int = THUMB_SIDE) -> np.ndarray:
    """Linear interpolation that stretches the part [lo, 1 - hi] of an axis over the whole axis."""
    matrix = np.zeros((side, side), dtype=np.float32)
    for u in range(side):
        x = min(max(lo * side + (u + 0.5) * (1 - lo - hi) - 0.5, 0.0), side - 1.0)
        i = int(x)
        frac = x - i
        matrix[u, i] += 1 - frac
        if frac > 0:
            matrix[u, min(i + 1, side - 1)] += frac
    return matrix


FINE_MATRICES = np.stack([_crop_matrix(lo, hi) for lo, hi in FINE_CROPS])
GRID_MATRICES = np.stack([_crop_matrix(lo, hi) for lo, hi in GRID_CROPS])


def _normalised(levels: np.ndarray, floor: float) -> np.ndarray:
    """(levels - mean) / max(std, floor) over the last two axes."""
    centred = levels - levels.mean(axis=(-2, -1), keepdims=True)
    return centred / np.maximum(centred.std(axis=(-2, -1), keepdims=True), floor)


def _residual(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(RMS, peak) of a - b over the last two axes."""
    diff = np.abs(a - b)
    return np.sqrt((diff**2).mean(axis=(-2, -1))), diff.max(axis=(-2, -1))


def _better(best: tuple[np.ndarray, np.ndarray], new: tuple[np.ndarray, np.ndarray]) -> None:
    """Keep, per pair, the (RMS, peak) of the alignment with the lower RMS (in place)."""
    take = new[0] < best[0]
    best[0][take] = new[0][take]
    best[1][take] = new[1][take]


def _aligned_grid(a: np.ndarray, b: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Best (RMS, peak) over every crop of either image (6 per axis, both directions)."""
    za, zb = _normalised(a, floor), _normalised(b, floor)
    best = _residual(za, zb)
    for rows in GRID_MATRICES:
        for cols in GRID_MATRICES:
            _better(best, _residual(_normalised(rows @ a @ cols.T, floor), zb))
            _better(best, _residual(za, _normalised(rows @ b @ cols.T, floor)))
    return best


def _best_crops(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pair, the FINE_CROPS matrix that best maps the `source` mean profile (of a normalised
    thumbnail) onto `target`'s, and the RMS of what is left: a lower bound of the 2D RMS after that
    crop (the RMS of a residual is at least the RMS of its row or column means)."""
    warped = source[None] @ FINE_MATRICES.transpose(0, 2, 1)  # (crops, pairs, side)
    errors = ((warped - target[None]) ** 2).mean(axis=2)
    best = errors.argmin(axis=0)
    return FINE_MATRICES[best], np.sqrt(errors.min(axis=0))


def _aligned_profiles(
    a: np.ndarray, b: np.ndarray, floor: float, max_rms: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Best (RMS, peak) over one crop per direction, each axis's crop chosen from mean profiles;
    pairs whose profiles alone rule out an RMS under `max_rms` are not warped at all."""
    za, zb = _normalised(a, floor), _normalised(b, floor)
    best = _residual(za, zb)
    for moving, z_moving, z_fixed in ((a, za, zb), (b, zb, za)):
        rows, row_gap = _best_crops(z_moving.mean(axis=2), z_fixed.mean(axis=2))  # the vertical crop
        cols, col_gap = _best_crops(z_moving.mean(axis=1), z_fixed.mean(axis=1))
        # 1.1: the warped thumbnail is normalised again, which moves its scale a little
        hopeful = np.flatnonzero(np.maximum(row_gap, col_gap) <= 1.1 * max_rms)
        warped = rows[hopeful] @ moving[hopeful] @ cols[hopeful].transpose(0, 2, 1)
        rms, peak = _residual(_normalised(warped, floor), z_fixed[hopeful])
        take = rms < best[0][hopeful]
        best[0][hopeful[take]] = rms[take]
        best[1][hopeful[take]] = peak[take]
    return best


def photometric_match(
    mean: np.ndarray, std: np.ndarray, i: np.ndarray, j: np.ndarray, p: VerifyParams
) -> np.ndarray:
    """Whether a brightness/contrast edit can turn image i into image j (bool per pair)."""
    i_brighter = mean[i] >= mean[j]
    bright, dark = np.where(i_brighter, i, j), np.where(i_brighter, j, i)
    brightness = (mean[bright] + 1) / (mean[dark] + 1)
    contrast = std[bright] / np.maximum(std[dark], 1e-3) / brightness  # the contrast edit left over
    structured = np.minimum(std[i], std[j]) >= p.structured_contrast
    edit = (
        structured
        & (brightness <= p.max_brightness_ratio)
        & (contrast <= p.max_brightness_ratio)
        & (contrast >= 1 / p.max_brightness_ratio)
    )
    low, high = np.minimum(std[i], std[j]), np.maximum(std[i], std[j])
    floored = np.maximum(high, p.contrast_floor) <= p.contrast_ratio * np.maximum(low, p.contrast_floor)
    close = np.abs(mean[i] - mean[j]) <= np.maximum(p.mean_tolerance, p.mean_per_contrast * low)
    return edit | (close & floored)


def verify(
    thumbs: np.ndarray,
    pairs: np.ndarray,
    sizes: np.ndarray | None = None,
    params: VerifyParams = DEFAULT_PARAMS,
    chunk: int = 20_000,
) -> np.ndarray:
    """For each (i, j) row of `pairs`, whether thumbnails i and j show the same image (bool array).

    `sizes` is each file's (width, height), as the manifest has them; without it every pair is
    judged with the looser `other_grid` thresholds.
    """
    levels = np.asarray(thumbs, dtype=np.float32).reshape(-1, THUMB_SIDE, THUMB_SIDE)
    mean = levels.mean(axis=(1, 2))
    std = levels.std(axis=(1, 2))
    z = _normalised(levels, params.contrast_floor)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    same = np.zeros(len(pairs), dtype=bool)
    for start in range(0, len(pairs), chunk):
        i, j = pairs[start : start + chunk].T
        equal_size = np.zeros(len(i), dtype=bool) if sizes is None else (sizes[i] == sizes[j]).all(axis=1)
        max_rms = np.where(equal_size, params.same_grid[0], params.other_grid[0])
        max_peak = np.where(equal_size, params.same_grid[1], params.other_grid[1])
        photometric = photometric_match(mean, std, i, j, params)
        rms, peak = _residual(z[i], z[j])
        ok = photometric & (rms <= max_rms) & (peak <= max_peak)
        # Only files of different sizes can be crops of one another; aligning equal sizes too would
        # let distinct twins (two 28x28 handwritten 1s) shift into agreement.
        retry = photometric & ~ok & (rms <= params.align_below) & ~equal_size
        if params.align != "none" and retry.any():
            a, b = levels[i[retry]], levels[j[retry]]
            if params.align == "grid":
                a_rms, a_peak = _aligned_grid(a, b, params.contrast_floor)
            else:
                a_rms, a_peak = _aligned_profiles(a, b, params.contrast_floor, max_rms[retry])
            ok[retry] = (a_rms <= max_rms[retry]) & (a_peak <= max_peak[retry])
        same[start : start + chunk] = ok
    return same
