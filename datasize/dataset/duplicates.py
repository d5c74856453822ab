"""Exact and near duplicates: content hashes, perceptual hashes and a Hamming-radius search."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

# Two images are near duplicates when both their 64-bit pHashes and their dHashes are this many bits
# apart or fewer. Re-encoding and resizing move either hash by 0-2 bits, brightness edits by 0-6;
# unrelated photos sit around 32 bits apart. Two hashes must agree, which keeps tiny low-detail
# images (8x8 digits) from matching by chance: on the digits sample, radius 5 links 36 pairs of
# genuinely near-identical scans and no pair across two labels.
DEFAULT_NEAR_RADIUS = 5


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
    edges = np.linspace(0, 64, radius + 2).astype(int)
    found = []
    for lo, hi in itertools.pairwise(edges):
        band = (hashes >> np.uint64(lo)) & np.uint64((1 << int(hi - lo)) - 1)
        order = np.argsort(band, kind="stable")
        keys = band[order]
        for offset in range(1, len(keys)):
            same = keys[offset:] == keys[:-offset]
            if not same.any():
                break  # no run of equal keys is longer than `offset`
            a, b = order[:-offset][same], order[offset:][same]
            close = np.bitwise_count(hashes[a] ^ hashes[b]) <= radius
            found.append(np.stack([np.minimum(a, b)[close], np.maximum(a, b)[close]], axis=1))
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    return np.unique(np.concatenate(found).astype(np.int64), axis=0)


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


def near_components(phash: np.ndarray, dhash: np.ndarray, *, radius: int = DEFAULT_NEAR_RADIUS) -> np.ndarray:
    """A component id per image: images linked by chains of near-duplicate pairs share one.

    A pair is near when its pHashes and its dHashes each differ in at most `radius` bits.
    """
    keys = np.stack([np.asarray(phash, dtype=np.uint64), np.asarray(dhash, dtype=np.uint64)], axis=1)
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    pairs = near_pairs(unique[:, 0], radius=radius)
    close = np.bitwise_count(unique[pairs[:, 0], 1] ^ unique[pairs[:, 1], 1]) <= radius
    roots = connected_roots(len(unique), pairs[close])
    return roots[inverse.ravel()]


def duplicate_groups(manifest: pd.DataFrame, *, radius: int = DEFAULT_NEAR_RADIUS) -> pd.DataFrame:
    """Exact (same file bytes) and near (pHash and dHash within `radius` bits) duplicate
    groups.

    Returns one row per manifest row that has a duplicate, with columns `path`, `exact_group`
    and `near_group` (the first path of its group, in path order; empty when it has none).
    Near groups are connected components, so they include exact copies.
    """
    readable = manifest[(manifest["error"] == "") & (manifest["phash"] != "")]
    readable = readable.sort_values("path", kind="stable").reset_index(drop=True)
    paths = readable["path"].to_numpy()
    # Rows are sorted by path, so "first" is the smallest path, without the slow string "min".
    exact = readable.groupby("sha256", sort=False)["path"].transform("first")
    exact_size = readable.groupby("sha256", sort=False)["path"].transform("size")
    phash = np.array([int(h, 16) for h in readable["phash"]], dtype=np.uint64)
    dhash = np.array([int(h, 16) for h in readable["dhash"]], dtype=np.uint64)
    component = near_components(phash, dhash, radius=radius)
    near = pd.Series(paths).groupby(component).transform("first")
    near_size = near.groupby(near).transform("size")
    out = pd.DataFrame(
        {
            "path": paths,
            "exact_group": exact.where(exact_size > 1, ""),
            "near_group": near.where(near_size > 1, ""),
        }
    )
    return out[(out["exact_group"] != "") | (out["near_group"] != "")].reset_index(drop=True)
