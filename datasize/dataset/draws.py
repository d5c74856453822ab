"""The seeded draws behind `splits`: units that never straddle, per-class quotas, keyed hashes.

Pure functions over sorted integer arrays, shared by `split` and the scikit-learn `SeededSplit`.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import pandas as pd

from datasize.dataset.duplicates import connected_roots
from datasize.vocab import SplitMethod

HASH_PERSON = b"datasize.split"  # BLAKE2b personalisation: keeps these draws apart from other keyed uses
EPS = 1e-9  # float slack, so that 0.29 x 100 counts as 29 images and not 28.999...


def codes(values: pd.Series | np.ndarray, *, none: Any = None) -> np.ndarray:
    """Integer codes in sorted value order; -1 where the value is `none`."""
    array = np.asarray(values)
    _, codes = np.unique(array, return_inverse=True)
    codes = codes.reshape(-1).astype(np.int64)
    if none is not None:
        codes[array == none] = -1
    return codes


def units(n: int, *groupings: np.ndarray) -> np.ndarray:
    """A unit id per item (its first item): items sharing a code (>= 0) in any grouping are one unit."""
    linked = [np.empty((0, 2), dtype=np.int64)]
    for codes in groupings:
        members = np.flatnonzero(codes >= 0)
        order = members[np.argsort(codes[members], kind="stable")]
        same = codes[order[1:]] == codes[order[:-1]]
        linked.append(np.stack([order[:-1][same], order[1:][same]], axis=1))
    return connected_roots(n, np.concatenate(linked))


def sides(
    keys: list[str],
    labels: np.ndarray | None,
    units: np.ndarray,
    *,
    method: SplitMethod,
    valid_pct: float,
    seed: int,
) -> np.ndarray:
    """True where an item goes to valid. Items come sorted by their unique `keys`; `labels` are codes."""
    if method is SplitMethod.HASH:
        return hash_sides(keys, units, valid_pct=valid_pct, seed=seed)
    n = len(keys)
    # One-image classes stay in train.
    forced = np.zeros(n, dtype=bool) if labels is None else np.bincount(labels)[labels] == 1
    stratify = labels is not None and method in (SplitMethod.STRATIFIED, SplitMethod.GROUP)
    strata = labels if stratify else np.zeros(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    per_stratum = quotas(strata, forced, valid_pct=valid_pct, rng=rng)
    return fill(units, strata, forced, per_stratum, rng=rng)


def round_half_up(x: float) -> int:
    return math.floor(x + 0.5 + EPS)


def quotas(
    strata: np.ndarray, forced: np.ndarray, *, valid_pct: float, rng: np.random.Generator
) -> list[int]:
    """Validation images per stratum: floor or ceiling of valid_pct x its size, round(valid_pct x n) in all.

    Largest remainders get the spare images (ties drawn at random). A stratum keeps at least one image in
    train, and draws only from images that are not forced to train.

    >>> quotas(np.array([0] * 6 + [1] * 4), np.zeros(10, bool), valid_pct=0.3, rng=np.random.default_rng(0))
    [2, 1]
    """
    sizes = np.bincount(strata)
    eligible = np.bincount(strata, weights=~forced, minlength=len(sizes)).astype(np.int64)
    target = valid_pct * sizes
    cap = np.minimum(sizes - 1, eligible).clip(min=0)
    quota = np.minimum(np.floor(target + EPS).astype(np.int64), cap)
    spare = round_half_up(valid_pct * len(strata)) - int(quota.sum())
    remainder = np.round(target - quota, 9)
    tiebreak = rng.random(len(sizes))
    for s in np.lexsort((tiebreak, -remainder)).tolist():
        if spare <= 0:
            break
        if quota[s] < cap[s] and remainder[s] > 0:
            quota[s] += 1
            spare -= 1
    return quota.tolist()


def fill(
    units: np.ndarray,
    strata: np.ndarray,
    forced: np.ndarray,
    quotas: list[int],
    *,
    rng: np.random.Generator,
) -> np.ndarray:
    """Units in a seeded order go to valid while they fit the quotas, then while they bring it closer.

    The first pass never overshoots a quota, so single images fill every quota exactly; the second takes
    a larger unit (a group, a duplicate set) when it lowers the total distance to the quotas.
    """
    ids, inverse = np.unique(units, return_inverse=True)
    inverse = inverse.reshape(-1)
    n_strata = len(quotas)
    pairs, counts = np.unique(inverse * n_strata + strata, return_counts=True)
    composition: list[list[tuple[int, int]]] = [[] for _ in ids]
    for pair, count in zip(pairs.tolist(), counts.tolist(), strict=True):
        composition[pair // n_strata].append((pair % n_strata, count))
    blocked = np.zeros(len(ids), dtype=bool)
    np.logical_or.at(blocked, inverse, forced)
    taken = [0] * n_strata
    in_valid = np.zeros(len(ids), dtype=bool)
    order = rng.permutation(len(ids)).tolist()

    def take(u: int) -> None:
        in_valid[u] = True
        for s, c in composition[u]:
            taken[s] += c

    for u in order:
        if not blocked[u] and all(taken[s] + c <= quotas[s] for s, c in composition[u]):
            take(u)
    for u in order:
        if blocked[u] or in_valid[u]:
            continue
        change = sum(abs(taken[s] + c - quotas[s]) - abs(taken[s] - quotas[s]) for s, c in composition[u])
        if change < 0:
            take(u)
    return in_valid[inverse]


def hash_sides(keys: list[str], units: np.ndarray, *, valid_pct: float, seed: int) -> np.ndarray:
    """Valid where the keyed hash of the key is under valid_pct, for every member of the unit."""
    secret = int(seed).to_bytes(8, "big")
    draws = np.array([unit_draw(key, secret) for key in keys], dtype=np.float64)
    _, inverse = np.unique(units, return_inverse=True)
    inverse = inverse.reshape(-1)
    to_train = np.zeros(inverse.max(initial=-1) + 1, dtype=bool)
    np.logical_or.at(to_train, inverse, draws >= valid_pct)  # train wins: see the module docstring
    return ~to_train[inverse]


def unit_draw(key: str, secret: bytes) -> float:
    """A number in [0, 1) fixed by the key and the secret: the first 8 bytes of a keyed BLAKE2b."""
    digest = hashlib.blake2b(
        key.encode("utf-8", "surrogateescape"), digest_size=8, key=secret, person=HASH_PERSON
    ).digest()
    return int.from_bytes(digest, "big") / 2**64
