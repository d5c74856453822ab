"""Exact and near duplicates: hashes find candidate pairs, thumbnails verify them, components group them.

Exact duplicates share their file's SHA-256. Near duplicates are found in two stages:

1. candidates: pairs whose 64-bit pHashes are within `radius` bits and whose dHashes are within
   `DHASH_RADIUS` (`candidate_pairs`: a multi-index search, fast at any size);
2. verification: the two images' thumbnails compared pixel by pixel (`thumbnails.similarities`);
   only pairs at or above the threshold are near duplicates. Hashes alone cannot tell low-detail
   images apart (distinct handwritten 1s, flat shapes on gradients, dark crops hash alike).
3. a second look for files of equal size: the pairs the thumbnails accept are compared again on the
   images themselves, decoded again on demand (`thumbnails.detail_similarity`), when the caller can
   give their pixels (`duplicate_groups` does for a scanned folder): a thumbnail cannot tell two plain
   objects of one outline apart.
4. one original for a resized copy: a file verified as a copy of two images of another size that are
   not themselves verified alike keeps only the link to the closer one. Resampling error can hide
   the difference between distinct look-alikes (8x8 digit scans a gray level apart), so a resized
   copy of one may pass as a copy of the other; without this rule it would join two distinct
   images into one group.

Duplicate groups are the connected components of verified pairs and exact copies. `duplicate_groups`
is the one source of them: `validate`'s findings and the split's units both come from it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from datasize.dataset.manifest import StepProgress
from datasize.dataset.probe import ProbeOptions, detail_pixels
from datasize.dataset.thumbnails import (
    DEFAULT_NEAR_THRESHOLD,
    THUMB_SIDE,
    NearRule,
    detail_similarity,
    similarities,
    thumbnails_array,
)

# A manifest row (its position in the table verified) decoded again, or None when it cannot be.
Pixels = Callable[[int], "np.ndarray | None"]
SAME_BYTES = "file bytes"
THUMBNAILS = f"{THUMB_SIDE}x{THUMB_SIDE} thumbnails"

# The candidate stage: pHash within 10 bits and dHash within 16. On the duplicate benchmark it lets
# 0.979 of the planted copies through at 8.3 candidates an image (pHash and dHash within 5, the rule
# before verification: 0.811), and verification keeps 0.954. pHash within 8 keeps 0.943 for under
# half the search; within 12, 0.964 with a false pair and nearly twice the search. Both hashes must
# agree: "either within 8" makes 112 candidates an image. On 100,000 tiny low-detail images the
# search costs 0.74x their decode and hashes, on photo-like images a few percent (benchmarks/README.md).
DEFAULT_NEAR_RADIUS = 10
DHASH_RADIUS = 16
_LONG_RUN, _TILE = 64, 256  # band-key runs this long are compared in tiles of this side
_EXPAND = 1 << 22  # pairs of items expanded from pHash neighbours at a time
_UPPER = np.triu(np.ones((_TILE, _TILE), dtype=bool), 1)


def near_pairs(hashes: np.ndarray, *, radius: int = DEFAULT_NEAR_RADIUS) -> np.ndarray:
    """Index pairs (i < j) of `hashes` that differ in at most `radius` bits, as an (n, 2) array.

    Multi-index hashing: split the 64 bits into radius+1 bands; by pigeonhole, two hashes within
    `radius` bits agree exactly on at least one band, so only band-mates are compared. Pass unique
    hashes: a run of identical hashes would make the candidate list quadratic.

    >>> near_pairs(np.array([0b1011, 0b1001, 0xFFFF], dtype=np.uint64), radius=1).tolist()
    [[0, 1]]
    """
    if not 0 <= radius <= 63:
        raise ValueError(f"radius={radius} must be between 0 and 63 bits")
    hashes = np.asarray(hashes, dtype=np.uint64)
    n = len(hashes)
    edges = np.linspace(0, 64, radius + 2).astype(int)
    found = [np.empty(0, dtype=np.int64)]
    for lo, hi in itertools.pairwise(edges):
        band = (hashes >> np.uint64(lo)) & np.uint64((1 << int(hi - lo)) - 1)
        order = np.argsort(band, kind="stable")
        keys = band[order]
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        a, b = _band_mates(hashes[order], starts, np.diff(np.r_[starts, n]), radius)
        i, j = order[a], order[b]
        found.append(np.minimum(i, j) * n + np.maximum(i, j))  # one code a pair: found in several bands
    codes = np.unique(np.concatenate(found))
    return np.stack([codes // n, codes % n], axis=1) if n else np.empty((0, 2), dtype=np.int64)


def _band_mates(
    hashes: np.ndarray, starts: np.ndarray, lengths: np.ndarray, radius: int
) -> tuple[np.ndarray, np.ndarray]:
    """Positions (a < b) within runs of equal band keys (`hashes` sorted by band) within `radius` bits.

    Short runs are compared offset by offset, all runs at once; long runs (the clustered hashes of
    low-detail images make runs of thousands) in square tiles that stay in the CPU cache, which made
    radius 10 on 100,000 such images 2.5x faster than offsets alone.
    """
    end = np.repeat(starts + lengths, lengths)  # one past the run of each position
    long = lengths >= _LONG_RUN
    active = np.flatnonzero(~np.repeat(long, lengths) & (end - np.arange(len(hashes)) > 1))
    pairs_a, pairs_b = [np.empty(0, dtype=np.int64)], [np.empty(0, dtype=np.int64)]
    offset = 1
    while len(active):
        partner = active + offset
        close = np.bitwise_count(hashes[active] ^ hashes[partner]) <= radius
        pairs_a.append(active[close])
        pairs_b.append(partner[close])
        offset += 1
        active = active[end[active] > active + offset]
    for start, stop in zip(starts[long].tolist(), (starts + lengths)[long].tolist(), strict=True):
        for row in range(start, stop, _TILE):
            rows = hashes[row : min(row + _TILE, stop)]
            for col in range(row, stop, _TILE):
                cols = hashes[col : min(col + _TILE, stop)]
                close = np.bitwise_count(rows[:, None] ^ cols[None, :]) <= radius
                if col == row:
                    close &= _UPPER[: len(rows), : len(cols)]
                k, c = np.nonzero(close)
                pairs_a.append(row + k)
                pairs_b.append(col + c)
    return np.concatenate(pairs_a), np.concatenate(pairs_b)


def connected_roots(n: int, pairs: np.ndarray) -> np.ndarray:
    """For items 0..n-1 linked by `pairs` (an (m, 2) array), each item's component: its smallest member.

    >>> connected_roots(5, np.array([[3, 1], [1, 4]])).tolist()
    [0, 1, 2, 1, 1]
    """
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]  # path halving keeps the trees flat
            i = parent[i]
        return i

    for a, b in np.asarray(pairs).reshape(-1, 2).tolist():
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.array([find(i) for i in range(n)], dtype=np.int64)


def candidate_pairs(
    phash: np.ndarray,
    dhash: np.ndarray,
    *,
    radius: int = DEFAULT_NEAR_RADIUS,
    dhash_radius: int = DHASH_RADIUS,
) -> np.ndarray:
    """Index pairs (i < j) whose pHashes differ in at most `radius` bits and dHashes in `dhash_radius`.

    Items with equal hashes are candidates too (two flat images of different brightness hash alike);
    the search itself runs over the distinct pHashes.

    >>> phash = np.array([0, 0, 1, 0xFF], dtype=np.uint64)  # the last is 8 bits from the others
    >>> candidate_pairs(phash, np.array([0, 3, 0, 0], dtype=np.uint64), radius=1, dhash_radius=2).tolist()
    [[0, 1], [0, 2], [1, 2]]
    """
    phash, dhash = np.asarray(phash, dtype=np.uint64), np.asarray(dhash, dtype=np.uint64)
    unique, inverse = np.unique(phash, return_inverse=True)
    inverse = inverse.reshape(-1)
    itself = np.repeat(np.arange(len(unique), dtype=np.int64)[:, None], 2, axis=1)
    key_pairs = np.concatenate([itself, near_pairs(unique, radius=radius)])
    members = _Members(inverse, len(unique))
    # Expanded a block at a time, so that memory holds the candidates, not every pHash neighbour.
    expanded = np.cumsum(members.counts[key_pairs[:, 0]] * members.counts[key_pairs[:, 1]])
    cuts = np.searchsorted(expanded, np.arange(_EXPAND, expanded[-1] if len(expanded) else 0, _EXPAND))
    found = [np.empty((0, 2), dtype=np.int64)]
    for block in np.split(key_pairs, cuts):
        pairs = members.pairs(block)
        found.append(pairs[np.bitwise_count(dhash[pairs[:, 0]] ^ dhash[pairs[:, 1]]) <= dhash_radius])
    return np.concatenate(found)


class _Members:
    """The items of each key (`inverse` gives each item's key), to expand pairs of keys into items."""

    def __init__(self, inverse: np.ndarray, n_keys: int) -> None:
        self.order = np.argsort(inverse, kind="stable")
        self.counts = np.bincount(inverse, minlength=n_keys)
        self.starts = np.cumsum(self.counts) - self.counts

    def pairs(self, key_pairs: np.ndarray) -> np.ndarray:
        """Every pair (i < j) of items whose keys form one of `key_pairs`, (a, a) or (a, b)."""
        a, b = key_pairs[:, 0], key_pairs[:, 1]
        sizes = self.counts[a] * self.counts[b]
        which = np.repeat(np.arange(len(a)), sizes)
        offset = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        width = self.counts[b][which]
        i = self.order[self.starts[a][which] + offset // width]
        j = self.order[self.starts[b][which] + offset % width]
        keep = (a[which] != b[which]) | (i < j)
        i, j = i[keep], j[keep]
        return np.stack([np.minimum(i, j), np.maximum(i, j)], axis=1).astype(np.int64)


@dataclass(frozen=True)
class Links:
    """Verified pairs of manifest rows: positions (i < j), similarities and what each compared."""

    pairs: np.ndarray  # (m, 2) row positions
    scores: np.ndarray  # (m,) similarity, 1.0 for identical files
    compared: np.ndarray  # (m,) str: "file bytes", "16x16 thumbnails" or "WxH pixels"


def verified_pairs(
    readable: pd.DataFrame,
    *,
    radius: int = DEFAULT_NEAR_RADIUS,
    threshold: float = DEFAULT_NEAR_THRESHOLD,
    pixels: Pixels | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Row positions (i < j) of manifest rows that show one image, and each pair's similarity.

    Rows with the same file bytes are linked without a comparison; rows with the same hashes and
    thumbnail, and every other candidate pair, are verified (see the module docstring, which also
    says when a verified link of a resized copy is dropped). `readable` holds decoded rows only;
    `pixels` gives a row's image decoded again for the second look at files of equal size.
    """
    links = verified_links(readable, radius=radius, threshold=threshold, pixels=pixels)
    return links.pairs, links.scores


def verified_links(
    readable: pd.DataFrame,
    *,
    radius: int = DEFAULT_NEAR_RADIUS,
    threshold: float = DEFAULT_NEAR_THRESHOLD,
    pixels: Pixels | None = None,
    progress: StepProgress | None = None,
) -> Links:
    """`verified_pairs`, with what each pair compared; `progress(step, done, total)` follows its steps."""
    say = progress or (lambda step, done, total: None)
    thumbs = thumbnails_array(readable["thumb"])
    sizes = readable[["width", "height"]].to_numpy(dtype=np.int64)
    signature = readable.groupby(["phash", "dhash", "thumb"], sort=False).ngroup().to_numpy()
    same_bytes = readable.groupby("sha256", sort=False).ngroup().to_numpy()
    exact = _links_to_first(same_bytes)
    alike = _links_to_first(signature)
    alike = alike[same_bytes[alike[:, 0]] != same_bytes[alike[:, 1]]]
    first = np.unique(signature, return_index=True)[1]  # one row per signature
    phash = np.array([int(h, 16) for h in readable["phash"].iloc[first]], dtype=np.uint64)
    dhash = np.array([int(h, 16) for h in readable["dhash"].iloc[first]], dtype=np.uint64)
    say("near-duplicate candidates (images hashed)", 0, len(first))
    candidates = first[candidate_pairs(phash, dhash, radius=radius)]
    say("near-duplicate candidates (images hashed)", len(first), len(first))
    say("thumbnails compared (candidate pairs)", 0, len(candidates))
    similarity = similarities(thumbs, sizes, candidates, NearRule(threshold=threshold))
    say("thumbnails compared (candidate pairs)", len(candidates), len(candidates))
    passed = similarity >= threshold
    near = np.concatenate([alike, candidates[passed]])
    scores = np.concatenate([np.ones(len(alike)), similarity[passed]])
    compared = np.full(len(near), THUMBNAILS, dtype=object)
    if pixels is not None:
        scores, compared = second_look(near, scores, compared, sizes, pixels, progress=progress)
    keep = scores >= threshold
    # After the second look, so that two look-alikes it told apart no longer vouch for each other.
    keep[keep] = _closest_originals(near[keep], scores[keep], sizes)
    return Links(
        pairs=np.concatenate([exact, near[keep]]).astype(np.int64).reshape(-1, 2),
        scores=np.concatenate([np.ones(len(exact)), scores[keep]]),
        compared=np.concatenate([np.full(len(exact), SAME_BYTES, dtype=object), compared[keep]]),
    )


def second_look(
    pairs: np.ndarray,
    scores: np.ndarray,
    compared: np.ndarray,
    sizes: np.ndarray,
    pixels: Pixels,
    *,
    progress: StepProgress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The pairs' scores and what they compared once files of equal size are compared at detail
    (`thumbnails.detail_similarity`): the lower of the two similarities. Each image is decoded once."""
    scores, compared = scores.copy(), compared.copy()
    equal = np.flatnonzero((sizes[pairs[:, 0]] == sizes[pairs[:, 1]]).all(axis=1))
    decoded: dict[int, np.ndarray | None] = {}
    step = "second look (pairs decoded again)"
    if progress:
        progress(step, 0, len(equal))
    for done, k in enumerate(equal.tolist(), start=1):
        if progress and (done % 256 == 0 or done == len(equal)):
            progress(step, done, len(equal))
        i, j = (int(v) for v in pairs[k])
        for row in (i, j):
            if row not in decoded:
                decoded[row] = pixels(row)
        a, b = decoded[i], decoded[j]
        if a is None or b is None or a.shape[:2] != b.shape[:2]:
            continue  # unreadable since the scan: the thumbnails' verdict stands
        scores[k] = min(scores[k], detail_similarity(a, b))
        compared[k] = f"{a.shape[1]}x{a.shape[0]} pixels"
    return scores, compared


def file_pixels(readable: pd.DataFrame, root: str) -> Pixels:
    """A `Pixels` that decodes the manifest's files under `root` again (`probe.detail_pixels`)."""
    options = ProbeOptions(root=root)
    paths = readable["path"].tolist()
    return lambda row: detail_pixels(paths[row], options)


def verify_candidates(
    thumbs: np.ndarray, sizes: np.ndarray, candidates: np.ndarray, rule: NearRule | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Which candidate pairs show one image (bool each), and their similarities: stages 2 and 3 of
    the module docstring.

    Args:
        thumbs: (n, side, side) thumbnails; sizes: (n, 2) the files' widths and heights.
        candidates: (m, 2) index pairs, each pair once.
        rule: how thumbnails are compared (default `NearRule()`; its threshold decides).
    """
    rule = rule or NearRule()
    similarity = similarities(thumbs, sizes, candidates, rule)
    same = similarity >= rule.threshold
    same[same] = _closest_originals(candidates[same], similarity[same], sizes)
    return same, similarity


def _closest_originals(pairs: np.ndarray, scores: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Which verified pairs to keep (bool each): a link (a, b) between files of different sizes goes
    when a has a closer link to some c of b's size, and b and c are not verified alike."""
    n, m = len(sizes), len(pairs)
    edges = pd.DataFrame(
        {
            "a": np.concatenate([pairs[:, 0], pairs[:, 1]]),
            "b": np.concatenate([pairs[:, 1], pairs[:, 0]]),
            "score": np.concatenate([scores, scores]),
            "edge": np.tile(np.arange(m), 2),
        }
    )
    edges["width"], edges["height"] = sizes[edges["b"], 0], sizes[edges["b"], 1]
    resampled = (sizes[edges["a"]] != sizes[edges["b"]]).any(axis=1)
    others = edges[["a", "b", "score", "width", "height"]].rename(columns={"b": "c", "score": "closer"})
    rivals = edges[resampled].merge(others, on=["a", "width", "height"])
    rivals = rivals[(rivals["c"] != rivals["b"]) & (rivals["closer"] > rivals["score"])]
    low, high = np.minimum(rivals["b"], rivals["c"]), np.maximum(rivals["b"], rivals["c"])
    alike = np.isin(low * n + high, pairs.min(axis=1) * n + pairs.max(axis=1))
    return ~np.isin(np.arange(m), rivals["edge"].to_numpy()[~alike])


def _links_to_first(codes: np.ndarray) -> np.ndarray:
    """Pairs (first item of a code, later item of the same code), as an (m, 2) array."""
    first = np.unique(codes, return_index=True)[1][codes]
    later = np.flatnonzero(first != np.arange(len(codes)))
    return np.stack([first[later], later], axis=1).astype(np.int64)


def duplicate_groups(
    manifest: pd.DataFrame,
    *,
    radius: int = DEFAULT_NEAR_RADIUS,
    threshold: float = DEFAULT_NEAR_THRESHOLD,
    pixels: Pixels | None = None,
    progress: StepProgress | None = None,
) -> pd.DataFrame:
    """Exact (same file bytes) and near (verified, see the module docstring) duplicate groups.

    Returns one row per manifest row that has a duplicate, with columns `path`, `exact_group` and
    `near_group` (the first path of its group, in path order; empty when it has none), `similarity`
    (the highest similarity of the image to another of its near group; 1.0 for identical copies) and
    `compared` (what that similarity compared: file bytes, thumbnails or WxH pixels). Near groups are
    connected components, so they include exact copies. Files of equal size are compared again at
    detail when their pixels can be had: from `pixels` (a row position of the readable rows, sorted by
    path, to its image), else from the files under ``manifest.attrs["root"]`` when a scan set it.
    """
    readable = manifest[(manifest["error"] == "") & (manifest["phash"] != "")]
    readable = readable.sort_values("path", kind="stable").reset_index(drop=True)
    paths = readable["path"].to_numpy()
    # Rows are sorted by path, so "first" is the smallest path, without the slow string "min".
    exact = readable.groupby("sha256", sort=False)["path"].transform("first")
    exact_size = readable.groupby("sha256", sort=False)["path"].transform("size")
    root = manifest.attrs.get("root")
    if pixels is None and root:
        pixels = file_pixels(readable, root)
    links = verified_links(readable, radius=radius, threshold=threshold, pixels=pixels, progress=progress)
    pairs = links.pairs
    best, compared = _best_links(len(readable), links)
    near = pd.Series(paths).groupby(connected_roots(len(readable), pairs)).transform("first")
    near_size = near.groupby(near).transform("size")
    out = pd.DataFrame(
        {
            "path": paths,
            "exact_group": exact.where(exact_size > 1, ""),
            "near_group": near.where(near_size > 1, ""),
            "similarity": best,
            "compared": compared,
        }
    )
    return out[(out["exact_group"] != "") | (out["near_group"] != "")].reset_index(drop=True)


def _best_links(n: int, links: Links) -> tuple[np.ndarray, np.ndarray]:
    """Per row, its highest similarity to another and what that link compared ("" when it has none)."""
    rows = links.pairs.T.ravel()
    scores, compared = np.tile(links.scores, 2), np.tile(links.compared, 2)
    order = np.lexsort((-scores, rows))
    rows, scores, compared = rows[order], scores[order], compared[order]
    first = np.r_[True, rows[1:] != rows[:-1]] if len(rows) else np.zeros(0, dtype=bool)
    best, what = np.zeros(n), np.full(n, "", dtype=object)
    best[rows[first]], what[rows[first]] = scores[first], compared[first]
    return best, what
