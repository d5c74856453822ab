"""The thumbnail the probe keeps of every image, and the test that two thumbnails show one image.

Perceptual hashes find candidate pairs fast, but two 64-bit hashes cannot tell low-detail images
apart: thin strokes on black, flat shapes on gradients and dark crops all hash alike. So every
candidate pair is verified on the images themselves, as thumbnails: the image's luma resized to
16x16 (Pillow's antialiased bilinear), 256 bytes, kept in the manifest's ``thumb`` column as hex.
Luma only, so gray and colour files are measured the same way: a colour image and its gray copy
match, and so does a JPEG the probe decodes straight to gray.

The similarity of two thumbnails. Brightness and contrast are matched first: each thumbnail is
centred on its mean and divided by its standard deviation, and their difference, the residual, is
measured in units of the pair's contrast (the geometric mean of the two standard deviations), but
never of less than `NearRule.contrast_floor` gray levels, so the noise of two near-uniform images is
not blown up into structure. (A thumbnail with almost no contrast, under `NearRule.edit_contrast`,
is only centred and divided by the floor.) The residual is summed up by its RMS and by its peak (its
largest pixel: one differing stroke or shape is a local difference the RMS dilutes)::

    similarity = 1 - max(RMS, peak / 4.5)           files of equal width and height
    similarity = 1 - max(RMS / 2.5, peak / 12)      files of different sizes

clipped to 0..1; 1 is the same thumbnail once brightness and contrast are matched. A pair shows one
image when its similarity is at least the threshold (default 0.90: for equal sizes RMS <= 0.10 and
peak <= 0.45, for different sizes RMS <= 0.25 and peak <= 1.2). Equal sizes mean nothing was
resampled, so a copy differs only by its encoding and the residual must be tiny: that is what keeps
two distinct handwritten 1s apart. A resized copy also carries resampling error (a thin stroke moved
by a fraction of a pixel), hence the allowance. For files of different sizes that nearly pass, a crop
of up to 5% of each side of either image is undone before comparing again (per axis, the crop whose
row or column mean profile fits best), since a cropped copy is resampled too.

One more rule: the change in brightness and contrast must be one an edit makes. For images with
contrast (both standard deviations at least `NearRule.edit_contrast`) the brighter mean may be at
most `max_edit_ratio` times the darker, with a consistent contrast factor; otherwise (flat images)
the means may differ by at most `mean_tolerance` levels or the lower standard deviation. Two flat
images of different brightness are different images. Such pairs get similarity 0.

**A second look at detail, for files of equal size.** A 16x16 thumbnail cannot tell two plain
objects of one outline apart (two shirts photographed alike on black): their thumbnails match once
brightness and contrast are matched, whatever their texture. So a pair of files of the same width and
height that the thumbnails accept is compared again on the images themselves, decoded again (only
these few candidates), at their own size or `DETAIL_SIDE` px if larger (`detail_similarity`): the
second image's luma is fitted to the first's (one brightness and contrast, by least squares over
the unsaturated pixels, clipped as an edit clips), the residual is averaged over 3x3 pixels (JPEG's
noise largely cancels there, a different texture or detail does not) and its mean absolute value is
taken over the pixels that are not plain background. Its similarity is ``1 - mean / 30``: a copy
differs by at most 3 gray levels there at the default threshold 0.90. The pair's similarity is the
lower of the two looks. Files of different sizes keep the thumbnail's verdict (resampling blurs what
this look measures).

Every default was chosen on `benchmarks/bench_duplicates.py` (see benchmarks/README.md).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from PIL import Image

DETAIL_SIDE = 64  # the second look compares images at their own size up to this many px a side
DETAIL_LEVELS = 30.0  # gray levels of mean low-passed residual that make the detail similarity 0
COLOUR_TOLERANCE = 0.06  # the background-to-object colour step's direction: copies keep it within this
_BACKGROUND_LEVELS = 12  # pixels this close to the image's border level are plain background
THUMB_SIDE = 16  # 16x16 luma, 256 bytes a file; 12 px paired distinct images, 24 and 32 px found less

# Equal sizes: RMS <= 0.10 and peak <= 0.45; different sizes: RMS <= 0.25 and peak <= 1.2. On the
# duplicate benchmark (13,134 distinct hard images: handwritten and 8x8 digits, flat shapes, photo
# crops, strokes; 3,200 planted copies of eight transformations) the lowest threshold with no false
# pair among the distinct images: 0.954 of the copies found at pair precision 0.9995 (other seeds:
# 0.969 and 0.9991, 0.958 and 0.9988). 0.88 finds 0.962 but pairs distinct images across labels;
# 0.92 finds 0.932 (benchmarks/README.md).
DEFAULT_NEAR_THRESHOLD = 0.90
# A crop is undone by stretching [lo, 1 - hi] of an axis over the axis: every split of up to 5% of
# the side on a 1/80 grid (15 crops an axis).
_CROPS = tuple((lo / 80, hi / 80) for lo in range(5) for hi in range(5) if lo + hi <= 4)
_CHUNK = 20_000  # pairs compared at once: bounds the memory of the gathered thumbnails


@dataclass(frozen=True)
class NearRule:
    """How two thumbnails are compared; the defaults are the measured ones (see the module docstring)."""

    threshold: float = DEFAULT_NEAR_THRESHOLD  # one image when the similarity is at least this
    contrast_floor: float = 12.0  # gray levels: the residual's unit is never smaller (4: more misses)
    edit_contrast: float = 8.0  # both stds at least this: a brightness/contrast edit can be recognised
    match_contrast: bool = True  # ...and is undone; False: each divided by max(std, floor) (less recall)
    max_edit_ratio: float = 1.45  # brighter mean (+1) over darker (+1), and the contrast factor, at most
    mean_tolerance: float = 3.0  # flat images: the means differ by at most this or the lower std...
    contrast_ratio: float = 1.5  # ...and their stds (floored) by at most this factor
    resampled: float = 2.5  # files of different sizes: the RMS counts this many times less
    peak_same: float = 4.5  # the peak counts this many times less than the RMS (equal sizes)
    peak_resampled: float = 12.0  # the same for files of different sizes
    align: bool = True  # undo crops (files of different sizes) for pairs that nearly pass
    align_from: float = 2.0  # ...whose unaligned RMS is within this many times the RMS they may have

    def __post_init__(self) -> None:
        if not 0 <= self.threshold <= 1:
            raise ValueError(f"near_threshold={self.threshold} must be between 0 and 1")


def thumbnail(image: Image.Image, side: int = THUMB_SIDE) -> bytes:
    """The luma of a decoded image resized to side x side, as bytes (row-major uint8)."""
    gray = image if image.mode == "L" else image.convert("L")
    return gray.resize((side, side), Image.Resampling.BILINEAR).tobytes()


def thumbnails_array(column: Iterable[str], side: int = THUMB_SIDE) -> np.ndarray:
    """Thumbnails stored as hex (the manifest's ``thumb`` column) as one (n, side, side) uint8 array.

    >>> thumbnails_array(["00" * 256, "ff" * 256]).shape
    (2, 16, 16)
    """
    raw = b"".join(bytes.fromhex(text) for text in column)
    if len(raw) % (side * side):
        raise ValueError(f"thumbnails must be {side * side} bytes each ({2 * side * side} hex digits)")
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, side, side)


def similarities(
    thumbs: np.ndarray, sizes: np.ndarray, pairs: np.ndarray, rule: NearRule | None = None
) -> np.ndarray:
    """The similarity (0..1, see the module docstring) of each pair of thumbnails.

    Args:
        thumbs: (n, side, side) uint8 thumbnails.
        sizes: (n, 2) each file's width and height (the manifest's); equal sizes are judged strictly.
        pairs: (m, 2) indices into `thumbs`.
        rule: the thresholds. `rule.threshold` also says where to stop: a pair that cannot reach it
            gets a value under it that bounds its similarity (and a crop is undone only for pairs that
            may reach it), so values under the threshold are approximate.

    Returns:
        (m,) floats: pairs at or above `rule.threshold` show one image.

    >>> ring = np.zeros((16, 16), np.uint8); ring[4:12, 4:12] = 200; ring[6:10, 6:10] = 0
    >>> block = np.zeros((16, 16), np.uint8); block[4:12, 4:12] = 200
    >>> thumbs = np.stack([ring, (ring * 1.2).astype(np.uint8), block])  # a brighter copy, another shape
    >>> similarity = similarities(thumbs, np.array([[32, 32]] * 3), np.array([[0, 1], [0, 2]]))
    >>> similarity[0].round(3), bool(similarity[1] >= 0.9)
    (np.float64(1.0), False)
    """
    rule = rule or NearRule()
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if not len(pairs):  # also no thumbnails at all: a dataset without a readable image
        return np.zeros(0, dtype=np.float64)
    mean, std, coarse = _statistics(thumbs)
    sizes = np.asarray(sizes).reshape(-1, 2)
    out = np.zeros(len(pairs), dtype=np.float64)
    for start in range(0, len(pairs), _CHUNK):
        i, j = pairs[start : start + _CHUNK].T
        resampled = (sizes[i] != sizes[j]).any(axis=1)
        plausible = _edit_plausible(mean, std, i, j, rule)
        scale_i, scale_j = _contrast_scales(std[i], std[j], rule)
        # The residual's RMS is at least that of its block means: a pair whose block means already
        # differ too much cannot pass, even aligned (tried only within align_from of the limit), and
        # keeps the bound's similarity, below the threshold. Most candidates end here, 16x cheaper.
        bound = np.sqrt((((coarse[i] * scale_i[:, None]) - coarse[j] * scale_j[:, None]) ** 2).mean(axis=1))
        allowance = rule.resampled * (rule.align_from if rule.align else 1)
        limit = (1 - rule.threshold) * np.where(resampled, allowance, 1)
        look = np.flatnonzero(plausible & (bound <= limit))
        score = np.where(plausible, _score(bound, np.zeros_like(bound), resampled, rule), 0)
        a = _centred(thumbs, mean, i[look]) * scale_i[look, None, None]
        b = _centred(thumbs, mean, j[look]) * scale_j[look, None, None]
        rms, peak = _residual(a, b)
        score[look] = _score(rms, peak, resampled[look], rule)
        if rule.align:
            # Only files of different sizes can be crops of one another; aligning equal sizes too
            # would let distinct twins (two 28x28 handwritten 1s) shift into agreement.
            max_rms = rule.resampled * (1 - rule.threshold)
            near = (score[look] < rule.threshold) & (rms <= rule.align_from * max_rms)
            retry = look[resampled[look] & near]
            if len(retry):
                levels_i, levels_j = (np.asarray(thumbs[k], dtype=np.float32) for k in (i[retry], j[retry]))
                aligned = _aligned(levels_i, levels_j, rule, max_rms)
                score[retry] = np.maximum(score[retry], aligned)
        out[start : start + _CHUNK] = score
    return out


def _statistics(thumbs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each thumbnail's mean, standard deviation and centred 4x4 block means, computed a block of
    thumbnails at a time: the float copies of a million thumbnails would take gigabytes."""
    n = len(thumbs)
    mean, std = np.empty(n, dtype=np.float32), np.empty(n, dtype=np.float32)
    coarse = None
    for start in range(0, n, _CHUNK):
        levels = np.asarray(thumbs[start : start + _CHUNK], dtype=np.float32)
        block_mean = levels.mean(axis=(1, 2))
        centred = levels - block_mean[:, None, None]
        means = _block_means(centred)
        if coarse is None:
            coarse = np.empty((n, means.shape[1]), dtype=np.float32)
        mean[start : start + _CHUNK], std[start : start + _CHUNK] = block_mean, centred.std(axis=(1, 2))
        coarse[start : start + _CHUNK] = means
    return mean, std, coarse if coarse is not None else np.zeros((0, 16), dtype=np.float32)


def _centred(thumbs: np.ndarray, mean: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The thumbnails of `rows` as floats, centred on their means."""
    return np.asarray(thumbs[rows], dtype=np.float32) - mean[rows, None, None]


def _contrast_scales(std_a: np.ndarray, std_b: np.ndarray, rule: NearRule) -> tuple[np.ndarray, np.ndarray]:
    """Per pair, the factors that put two centred thumbnails in units of the pair's contrast."""
    floor = rule.contrast_floor
    contrast = np.sqrt(std_a * std_b)
    damp = contrast / np.maximum(contrast, floor)
    structured = (np.minimum(std_a, std_b) >= rule.edit_contrast) & rule.match_contrast
    scale_a = np.where(structured, damp / np.maximum(std_a, 1e-6), 1 / np.maximum(std_a, floor))
    scale_b = np.where(structured, damp / np.maximum(std_b, 1e-6), 1 / np.maximum(std_b, floor))
    return scale_a, scale_b


def _matched_residual(a: np.ndarray, b: np.ndarray, rule: NearRule) -> tuple[np.ndarray, np.ndarray]:
    """(RMS, peak) of the residual of thumbnails a and b (levels), brightness and contrast matched."""
    a = a - a.mean(axis=(-2, -1), keepdims=True)
    b = b - b.mean(axis=(-2, -1), keepdims=True)
    scale_a, scale_b = _contrast_scales(a.std(axis=(-2, -1)), b.std(axis=(-2, -1)), rule)
    return _residual(a * scale_a[:, None, None], b * scale_b[:, None, None])


def _block_means(z: np.ndarray) -> np.ndarray:
    """(n, blocks): the means of each thumbnail's 4x4-pixel blocks (smaller ones if 4 does not divide it)."""
    n, side = z.shape[0], z.shape[-1]
    block = next(b for b in (4, 3, 2, 1) if side % b == 0)
    return z.reshape(n, side // block, block, side // block, block).mean(axis=(2, 4)).reshape(n, -1)


def _normalised(levels: np.ndarray, floor: float) -> np.ndarray:
    """(levels - mean) / max(std, floor) over the last two axes."""
    centred = levels - levels.mean(axis=(-2, -1), keepdims=True)
    return centred / np.maximum(centred.std(axis=(-2, -1), keepdims=True), floor)


def _residual(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(RMS, peak) of a - b over the last two axes."""
    diff = np.abs(a - b)
    return np.sqrt((diff * diff).mean(axis=(-2, -1))), diff.max(axis=(-2, -1))


def _score(rms: np.ndarray, peak: np.ndarray, resampled: np.ndarray, rule: NearRule) -> np.ndarray:
    """The similarity of residuals of this RMS and peak (see the module docstring)."""
    same = np.maximum(rms, peak / rule.peak_same)
    other = np.maximum(rms / rule.resampled, peak / rule.peak_resampled)
    return np.clip(1 - np.where(resampled, other, same), 0, 1).astype(np.float64)


def _edit_plausible(
    mean: np.ndarray, std: np.ndarray, i: np.ndarray, j: np.ndarray, rule: NearRule
) -> np.ndarray:
    """Whether a brightness/contrast edit can turn image i into image j (bool per pair)."""
    i_brighter = mean[i] >= mean[j]
    bright, dark = np.where(i_brighter, i, j), np.where(i_brighter, j, i)
    brightness = (mean[bright] + 1) / (mean[dark] + 1)
    contrast = std[bright] / np.maximum(std[dark], 1e-3) / brightness  # the contrast edit left over
    low, high = np.minimum(std[i], std[j]), np.maximum(std[i], std[j])
    edit = (
        (low >= rule.edit_contrast)
        & (brightness <= rule.max_edit_ratio)
        & (contrast <= rule.max_edit_ratio)
        & (contrast >= 1 / rule.max_edit_ratio)
    )
    close = np.abs(mean[i] - mean[j]) <= np.maximum(rule.mean_tolerance, low)
    floor = rule.contrast_floor
    similar_contrast = np.maximum(high, floor) <= rule.contrast_ratio * np.maximum(low, floor)
    return edit | (close & similar_contrast)


@functools.cache
def _crop_matrices(side: int) -> np.ndarray:
    """(crops, side, side): linear interpolation stretching [lo, 1 - hi] of an axis over the axis."""
    matrices = np.zeros((len(_CROPS), side, side), dtype=np.float32)
    for k, (lo, hi) in enumerate(_CROPS):
        for u in range(side):
            x = min(max(lo * side + (u + 0.5) * (1 - lo - hi) - 0.5, 0.0), side - 1.0)
            i = int(x)
            matrices[k, u, i] += 1 - (x - i)
            matrices[k, u, min(i + 1, side - 1)] += x - i
    return matrices


def _best_crops(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pair, the crop that best maps the `source` mean profile onto `target`'s, and the RMS left:
    a lower bound of the 2D RMS after that crop (a residual's RMS is at least that of its means)."""
    matrices = _crop_matrices(source.shape[-1])
    errors = (((source[None] @ matrices.transpose(0, 2, 1)) - target[None]) ** 2).mean(axis=2)
    return matrices[errors.argmin(axis=0)], np.sqrt(errors.min(axis=0))


def _aligned(a: np.ndarray, b: np.ndarray, rule: NearRule, max_rms: float) -> np.ndarray:
    """The best similarity after undoing one crop of a, or one of b (profiles choose it per axis)."""
    za, zb = _normalised(a, rule.contrast_floor), _normalised(b, rule.contrast_floor)
    best = np.zeros(len(a), dtype=np.float64)
    always = np.ones(len(a), dtype=bool)
    for moving, fixed, z_moving, z_fixed in ((a, b, za, zb), (b, a, zb, za)):
        rows, row_gap = _best_crops(z_moving.mean(axis=2), z_fixed.mean(axis=2))
        cols, col_gap = _best_crops(z_moving.mean(axis=1), z_fixed.mean(axis=1))
        # Profiles that leave more than the RMS allowed cannot pass once warped (1.1: the warped
        # thumbnail is normalised again, which moves its scale a little).
        hopeful = np.flatnonzero(np.maximum(row_gap, col_gap) <= 1.1 * max_rms)
        warped = rows[hopeful] @ moving[hopeful] @ cols[hopeful].transpose(0, 2, 1)
        score = _score(*_matched_residual(warped, fixed[hopeful], rule), always[hopeful], rule)
        best[hopeful] = np.maximum(best[hopeful], score)
    return best


def detail_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """The second look of two images of one size (uint8 HxW or HxWx3; see the module docstring): 1 is
    the same picture up to brightness and contrast, 0.9 a mean residual of 3 gray levels.

    >>> flat = np.full((28, 28), 40, np.uint8); flat[6:22, 6:22] = 180
    >>> textured = flat.copy(); textured[6:22:2, 6:22] += 24  # same outline, another weave
    >>> darker = (flat * 0.8).astype(np.uint8)  # a brightness edit
    >>> round(detail_similarity(flat, darker), 3), detail_similarity(flat, textured) < 0.9
    (1.0, True)
    """
    if a.shape[:2] != b.shape[:2]:
        raise ValueError(f"detail_similarity compares images of one size, not {a.shape} and {b.shape}")
    if a.ndim == 3 and b.ndim == 3 and _colours_differ(a, b):
        return 0.0
    x, y = _as_channels(a, b)
    lx, ly = x.mean(axis=2), y.mean(axis=2)
    unsaturated = (lx > 2) & (lx < 253) & (ly > 2) & (ly < 253)
    if unsaturated.sum() < 8:
        unsaturated[:] = True
    xs, ys = x[unsaturated], y[unsaturated]
    spread = float(xs.var())
    slope = float(((xs - xs.mean()) * (ys - ys.mean())).mean() / spread) if spread > 1 else 1.0
    slope = min(max(slope, 0.6), 1.6)
    fitted = np.clip(slope * (x - xs.mean()) + ys.mean(), 0, 255)
    residual = np.abs(_box3(y - fitted)).max(axis=2)
    covered = _foreground(fitted.mean(axis=2)) | _foreground(ly)
    if covered.sum() < 4:
        covered[:] = True
    return float(np.clip(1 - residual[covered].mean() / DETAIL_LEVELS, 0, 1))


def _as_channels(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both images' luma as float HxWx1: JPEG keeps luma far better than colour (it halves the colour
    resolution), and a gray copy of a colour image is the same picture."""
    luma = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    gray = [
        (z.astype(np.float32) @ luma if z.ndim == 3 else z.astype(np.float32))[:, :, None] for z in (a, b)
    ]
    return gray[0], gray[1]


def _colours_differ(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two colour images' objects differ in hue: the direction (each channel's signed share) of
    the colour step from background to object, mean over the object, differs by over
    `COLOUR_TOLERANCE` in some channel. Brightness and contrast edits scale that step and JPEG keeps
    it; luma alone cannot tell a red product from a green one. Objects barely apart from their
    background (a step under 30 levels, summed over the channels) are not judged."""
    levels = (a.astype(np.float32).mean(axis=2), b.astype(np.float32).mean(axis=2))
    covered = _foreground(levels[0]) | _foreground(levels[1])
    if covered.sum() < 4 or covered.all():
        return False
    directions = []
    for z in (a, b):
        z = z.astype(np.float64)
        step = z[covered].mean(axis=0) - np.median(_border(z), axis=0)
        if np.abs(step).sum() < 30:
            return False
        directions.append(step / np.abs(step).sum())
    return bool(np.abs(directions[0] - directions[1]).max() > COLOUR_TOLERANCE)


def _border(z: np.ndarray) -> np.ndarray:
    """The pixels of an image's border (rows of channels for a colour image)."""
    return np.concatenate([z[0], z[-1], z[:, 0], z[:, -1]])


def _box3(z: np.ndarray) -> np.ndarray:
    """The mean of each pixel's 3x3 neighbourhood (edges repeated), per channel."""
    padded = np.pad(z, ((1, 1), (1, 1), (0, 0)), mode="edge")
    h, w = z.shape[:2]
    return sum(padded[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)) / 9.0


def _foreground(levels: np.ndarray) -> np.ndarray:
    """Pixels that differ from the level of the image's border (its background) by over 12 levels."""
    border = np.concatenate([levels[0], levels[-1], levels[:, 0], levels[:, -1]])
    return np.abs(levels - np.median(border)) > _BACKGROUND_LEVELS
