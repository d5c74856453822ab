"""Seeded validation splits that stay fixed: reproducible, duplicate-aware and fingerprinted.

Every later measurement (LR finder, learning curves, forecasts) compares models on one validation set,
so a split must be rebuilt exactly, next month and on another machine.

Methods (`SplitMethod`):
- ``random``: a seeded draw of round(valid_pct x n) images.
- ``stratified`` (the default when the dataset gives no split): each class gets the floor or the ceiling
  of valid_pct x its images (largest remainders first, so that the total stays round(valid_pct x n)), so
  every class keeps its share within one image.
- ``group``: whole groups (the manifest's ``group`` column, or `group_col`) go to one side, stratified
  as well as the groups allow. An image without a group is a group of its own.
- ``hash``: an image goes to valid when a keyed hash of its path (BLAKE2b, keyed with the seed) falls
  under valid_pct. Its side depends on nothing else, so adding images never moves an existing one, and
  raising valid_pct only moves images from train to valid. Class shares vary by chance.
- ``given``: the dataset's own split (top-level train/ and valid/ folders, or a split column in a labels
  CSV) is kept as it is; the default whenever the manifest carries one.

Duplicates. Exact and near copies form one unit that goes to one side, so the validation set never
holds a copy of a training image. Near copies are the pairs `duplicates.duplicate_groups` verifies
(candidates within `near_radius` bits of pHash, thumbnails at least `near_threshold` similar), the
same pairs `validate` reports, so look-alikes that are distinct images do not shape the split. With
user groups, the units are the connected union of both. With ``hash``, a unit goes to valid only when the
hash of every member says valid ("train wins"). Adding a copy of an existing image can then move that
image's group from valid to train, but never from train to valid, so an image that a past model trained
on never appears in a later validation set. No rule without stored state can do better, because a new
image can be a near copy of two existing images that sit on opposite sides.

Degenerate cases. A class with one image goes to train, and the result's warnings say so. The ``hash``
method is the exception: forcing such an image to train would move it once its class grows.

Determinism. Unreadable images (manifest ``error`` not "") are left out and counted. The rest are
sorted by path (code-point order) before anything is drawn. All draws come from one
``numpy.random.default_rng(seed)``, and ``hash`` draws nothing. The order in which the file system lists
files, the machine and the global random state never matter, and the global random state is never
touched.

Files. `write_split` writes the table as CSV (path, label, split and, for ``group``, group; sorted by
path; LF line ends) and `info` as JSON beside it (``split.csv.json``; sorted keys). The fingerprint is
the SHA-256 of the UTF-8 lines ``f"{path}\\t{split}\\n"`` in path order. It identifies the assignment
alone, whatever labels, method or seed produced it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from datasize.dataset import draws
from datasize.dataset.checks import CheckConfig, with_duplicate_groups
from datasize.dataset.duplicates import DEFAULT_NEAR_RADIUS
from datasize.dataset.thumbnails import DEFAULT_NEAR_THRESHOLD
from datasize.io import read_csv_text, write_csv_atomic, write_text_atomic
from datasize.vocab import Split, SplitMethod

SPLIT_COLUMNS = ["path", "label", "split"]  # then "group" for the group method
MANIFEST_COLUMNS_USED = [
    "path",
    "label",
    "split",
    "error",
    "width",
    "height",
    "sha256",
    "phash",
    "dhash",
    "thumb",
]
SIDES = frozenset(str(side) for side in Split)


@dataclass(frozen=True, eq=False)
class SplitResult:
    """A train/valid split: one row per readable image, and a record of how it was made."""

    table: pd.DataFrame  # path, label, split ("train"/"valid") [, group]; sorted by path
    info: dict[str, Any]  # method, seed, valid_pct, counts, fingerprint, duplicates, warnings, notes

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the sorted ``path<TAB>split`` lines; equal fingerprints, equal splits."""
        return self.info["fingerprint"]

    def __repr__(self) -> str:
        i = self.info
        return (
            f"SplitResult(method={i['method']!r}, n_train={i['n_train']}, n_valid={i['n_valid']}, "
            f"fingerprint={i['fingerprint'][:12]!r})"
        )


def check_split_options(
    *,
    method: SplitMethod | str | None = None,
    valid_pct: float = 0.2,
    seed: int = 42,
    near_radius: int = DEFAULT_NEAR_RADIUS,
    near_threshold: float = DEFAULT_NEAR_THRESHOLD,
) -> SplitMethod | None:
    """Check the arguments of `split` before any work (the CLI calls it before scanning).

    Returns:
        The method as a `SplitMethod`, or None when it is left to the data.
    """
    if method is not None:
        try:
            method = SplitMethod(method)
        except ValueError:
            known = ", ".join(m.value for m in SplitMethod)
            raise ValueError(f"method={method!r} is not one of {known}") from None
    if isinstance(valid_pct, bool) or not isinstance(valid_pct, int | float | np.integer | np.floating):
        raise TypeError(f"valid_pct={valid_pct!r} must be a number between 0 and 1")
    if not 0 < valid_pct < 1:
        raise ValueError(
            f"valid_pct={valid_pct} must be between 0 and 1, both excluded (0.2 puts a fifth of the "
            "images in valid)"
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**64:
        raise ValueError(f"seed={seed!r} must be an integer from 0 to 2**64 - 1")
    CheckConfig(near_radius=near_radius, near_threshold=near_threshold)  # raises outside their ranges
    return method


def split(
    manifest: pd.DataFrame,
    *,
    method: SplitMethod | str | None = None,
    valid_pct: float = 0.2,
    seed: int = 42,
    group_col: str | None = None,
    keep_duplicates_together: bool = True,
    near_radius: int = DEFAULT_NEAR_RADIUS,
    near_threshold: float = DEFAULT_NEAR_THRESHOLD,
) -> SplitResult:
    """Split the readable images of a manifest into train and valid, reproducibly.

    Args:
        manifest: a manifest from `datasize.scan` (or `read_manifest`); it is not modified.
        method: a `SplitMethod` (see the module docstring). None (the default) keeps the dataset's
            given split when the manifest has one, and draws a stratified split otherwise.
        valid_pct: the share of images for validation, strictly between 0 and 1.
        seed: seeds the draw (or keys the hash); the same seed gives the same split.
        group_col: for ``group``, the manifest column that names each image's group (default ``group``,
            which `scan(labels=..., group_col=...)` fills).
        keep_duplicates_together: put exact and near copies on one side (the default). When False,
            copies that straddle the split are only counted and reported.
        near_radius: near-duplicate candidates differ in at most this many bits of pHash (and 16 of dHash).
        near_threshold: candidates are near duplicates when their thumbnails are at least this similar
            (0..1, see `datasize.dataset.thumbnails`).

    Returns:
        A `SplitResult`. Its ``info`` holds method, seed, valid_pct, n_images, n_train, n_valid,
        valid_share, counts (per label: train and valid), group_col, n_groups, near_radius, near_threshold,
        duplicates_kept_together, duplicate_groups, duplicate_images, duplicate_groups_kept_together,
        duplicate_groups_straddling, excluded_unreadable, fingerprint, warnings and notes. For ``given``,
        seed and valid_pct are None.

    Raises:
        ValueError: for an argument outside its range, a missing group column, a partial given split,
            or a request that leaves train or valid without an image.

    Example:
        >>> result = split(scan("data/sample/digits"), valid_pct=0.2, seed=42)  # doctest: +SKIP
        >>> write_split(result, "split.csv")  # doctest: +SKIP
    """
    requested = check_split_options(
        method=method, valid_pct=valid_pct, seed=seed, near_radius=near_radius, near_threshold=near_threshold
    )
    if group_col is not None and requested is not SplitMethod.GROUP:
        shown = "None (automatic)" if requested is None else repr(requested.value)
        raise ValueError(f"group_col={group_col!r} only applies to method='group', not method={shown}")
    _check_columns(manifest, group_col)
    rows, excluded = _readable_rows(manifest)
    chosen, notes = _resolve_method(requested, rows)
    duplicates = _duplicate_keys(rows, CheckConfig(near_radius=near_radius, near_threshold=near_threshold))
    groups = _group_values(manifest, rows, group_col) if chosen is SplitMethod.GROUP else None
    if chosen is SplitMethod.GIVEN:
        in_valid = (rows["split"] == Split.VALID).to_numpy()
    else:
        _check_sizes(len(rows), valid_pct, noun="readable images")
        keys = rows["path"].tolist()
        labels = draws.codes(rows["label"])
        groupings = [draws.codes(duplicates, none="")] if keep_duplicates_together else []
        if groups is not None:
            groupings.append(draws.codes(groups, none=""))
        units = draws.units(len(rows), *groupings)
        in_valid = draws.sides(keys, labels, units, method=chosen, valid_pct=valid_pct, seed=seed)
    table = _table(rows, in_valid, groups)
    _check_both_sides(table, chosen, valid_pct)
    notes += _excluded_notes(excluded) + (_group_notes(groups) if groups is not None else [])
    info = _info(
        table,
        method=chosen,
        valid_pct=valid_pct,
        seed=seed,
        group_col=(group_col or "group") if groups is not None else None,
        n_groups=int(groups[groups != ""].nunique()) if groups is not None else None,
        duplicates=duplicates,
        kept_together=keep_duplicates_together and chosen is not SplitMethod.GIVEN,
        near=(near_radius, near_threshold),
        excluded=excluded,
        notes=notes,
    )
    return SplitResult(table=table, info=info)


# --- the manifest side ------------------------------------------------------------------------


def _check_columns(manifest: pd.DataFrame, group_col: str | None) -> None:
    missing = [c for c in MANIFEST_COLUMNS_USED if c not in manifest.columns]
    if missing:
        raise ValueError(f"the manifest lacks columns {missing}; build it with datasize.scan")
    if group_col is not None and group_col not in manifest.columns:
        raise ValueError(
            f"group_col={group_col!r} is not a column of the manifest; its columns are "
            f"{', '.join(map(repr, manifest.columns))}"
        )
    if manifest["path"].duplicated().any():
        twice = manifest.loc[manifest["path"].duplicated(), "path"].iloc[0]
        raise ValueError(f"the manifest lists path {twice!r} more than once; paths must be unique")


def _readable_rows(manifest: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Readable rows sorted by path (code-point order, as on every machine), and how many were left out."""
    readable = manifest[manifest["error"] == ""]
    rows = readable.sort_values("path", kind="stable").reset_index(drop=True)
    return rows, len(manifest) - len(readable)


def _resolve_method(requested: SplitMethod | None, rows: pd.DataFrame) -> tuple[SplitMethod, list[str]]:
    """The method that runs, and a note when an explicit method overrides the dataset's given split."""
    given = rows["split"]
    marked = int((given != "").sum())
    if requested is None:
        requested = SplitMethod.GIVEN if marked else SplitMethod.STRATIFIED
    if requested is not SplitMethod.GIVEN:
        note = f"the dataset's given split was ignored: method={requested.value!r} draws a new one"
        return requested, [note] if marked else []
    if marked == 0:
        raise ValueError(
            "method='given' needs a given split: top-level train/ and valid/ folders, or a labels CSV "
            "with a split column (split_col)"
        )
    if marked < len(given):
        example = rows.loc[given == "", "path"].iloc[0]
        raise ValueError(
            f"the given split covers {marked} of {len(given)} readable images ({example!r} has no side); "
            "give every image a side, or choose a method to draw a new split"
        )
    odd = sorted(set(given) - SIDES)
    if odd:
        raise ValueError(f"the given split holds values {odd}; a side must be 'train' or 'valid'")
    return requested, []


def _duplicate_keys(rows: pd.DataFrame, config: CheckConfig) -> pd.Series:
    """Each row's duplicate group (its first path; "" when unique); near groups include exact copies."""
    grouped = with_duplicate_groups(rows, config)
    return grouped["near_group"].reset_index(drop=True)


def _group_values(manifest: pd.DataFrame, rows: pd.DataFrame, group_col: str | None) -> pd.Series:
    column = group_col or "group"
    if column not in manifest.columns:
        raise ValueError(f"method='group' needs a group column; the manifest has no {column!r} column")
    groups = rows[column].astype(str).str.strip()
    if (groups == "").all():
        raise ValueError(
            f"method='group' needs groups, but column {column!r} is empty for every image; scan with "
            "labels=CSV and group_col=COLUMN (CLI: --labels FILE --group-col COLUMN)"
        )
    return groups


def _check_sizes(n: int, valid_pct: float, *, noun: str) -> None:
    wanted = draws.round_half_up(valid_pct * n)
    if n < 2:
        raise ValueError(f"a split needs at least 2 {noun}; there are {n}")
    if wanted < 1:
        raise ValueError(
            f"valid_pct={valid_pct} of {n} {noun} is {valid_pct * n:.2g}, under one; use a larger valid_pct"
        )
    if wanted >= n:
        raise ValueError(
            f"valid_pct={valid_pct} of {n} {noun} asks for {wanted} in valid and leaves none to train on; "
            "use a smaller valid_pct"
        )


def _table(rows: pd.DataFrame, in_valid: np.ndarray, groups: pd.Series | None) -> pd.DataFrame:
    table = pd.DataFrame(
        {
            "path": rows["path"].astype(str),
            "label": rows["label"].astype(str),
            "split": np.where(in_valid, str(Split.VALID), str(Split.TRAIN)),
        }
    )
    if groups is not None:
        table["group"] = groups.to_numpy()
    return table


def _check_both_sides(table: pd.DataFrame, method: SplitMethod, valid_pct: float) -> None:
    counts = table["split"].value_counts()
    for side in (Split.VALID, Split.TRAIN):
        if counts.get(str(side), 0) == 0:
            raise ValueError(
                f"method={method.value!r} leaves no image in {side} ({len(table)} readable images"
                f"{'' if method is SplitMethod.GIVEN else f', valid_pct={valid_pct}'}): {_why_empty(method)}"
            )


def _why_empty(method: SplitMethod) -> str:
    return {
        SplitMethod.GIVEN: "the given split has only one side",
        SplitMethod.GROUP: "the groups are too large or too few for this valid_pct",
        SplitMethod.HASH: "with so few images the hash left one side empty by chance; try another seed",
    }.get(method, "duplicate groups and one-image classes leave nothing that can go to valid")


# --- the record -------------------------------------------------------------------------------


def fingerprint(table: pd.DataFrame) -> str:
    """SHA-256 (hex) of the UTF-8 lines ``f"{path}\\t{split}\\n"`` sorted by path."""
    digest = hashlib.sha256()
    for path, side in sorted(zip(table["path"], table["split"], strict=True)):
        digest.update(f"{path}\t{side}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def _info(
    table: pd.DataFrame,
    *,
    method: SplitMethod,
    valid_pct: float,
    seed: int,
    group_col: str | None,
    n_groups: int | None,
    duplicates: pd.Series,
    kept_together: bool,
    near: tuple[int, float],
    excluded: int,
    notes: list[str],
) -> dict[str, Any]:
    given = method is SplitMethod.GIVEN
    n_valid = int((table["split"] == Split.VALID).sum())
    counts = _counts(table)
    dup_groups, dup_images, straddling = _duplicate_stats(table, duplicates)
    return {
        "method": method.value,
        "seed": None if given else int(seed),
        "valid_pct": None if given else float(valid_pct),
        "n_images": len(table),
        "n_train": len(table) - n_valid,
        "n_valid": n_valid,
        "valid_share": round(n_valid / len(table), 6),
        "counts": counts,
        "group_col": group_col,
        "n_groups": n_groups,
        "near_radius": int(near[0]),
        "near_threshold": float(near[1]),
        "duplicates_kept_together": bool(kept_together),
        "duplicate_groups": dup_groups,
        "duplicate_images": dup_images,
        "duplicate_groups_kept_together": dup_groups - len(straddling),
        "duplicate_groups_straddling": len(straddling),
        "excluded_unreadable": int(excluded),
        "fingerprint": fingerprint(table),
        "warnings": _class_warnings(counts, method) + _straddle_warnings(straddling),
        "notes": notes,
    }


def _counts(table: pd.DataFrame) -> dict[str, dict[str, int]]:
    counts = {}
    for label, group in table.groupby("label", sort=True):
        sides = group["split"].value_counts()
        counts[str(label)] = {str(side): int(sides.get(str(side), 0)) for side in Split}
    return counts


def _duplicate_stats(table: pd.DataFrame, duplicates: pd.Series) -> tuple[int, int, list[list[str]]]:
    """Duplicate groups, images in them, and the groups (as path lists) that straddle the split."""
    members = pd.DataFrame({"group": duplicates.to_numpy(), "path": table["path"], "split": table["split"]})
    members = members[members["group"] != ""]
    straddling = [
        sorted(g["path"]) for _, g in members.groupby("group", sort=True) if g["split"].nunique() > 1
    ]
    return int(members["group"].nunique()), len(members), straddling


def _brief(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(map(repr, items[:limit]))
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _class_warnings(counts: dict[str, dict[str, int]], method: SplitMethod) -> list[str]:
    single = [label for label, c in counts.items() if sum(c.values()) == 1]
    no_valid = [label for label, c in counts.items() if c["valid"] == 0 and label not in single]
    no_train = [label for label, c in counts.items() if c["train"] == 0]
    warnings = []
    if single and method is SplitMethod.HASH:
        warnings.append(f"classes with one image, on the side their hash gives: {_brief(single)}")
    elif single:
        warnings.append(f"classes with one image, kept in train (none to validate on): {_brief(single)}")
    if no_valid:
        warnings.append(f"classes with no validation image: {_brief(no_valid)}")
    if no_train:
        warnings.append(f"classes with no training image: {_brief(no_train)}")
    return warnings


def _straddle_warnings(straddling: list[list[str]]) -> list[str]:
    if not straddling:
        return []
    example = " ~ ".join(straddling[0][:3])
    return [
        f"duplicate groups straddling train and valid: {len(straddling)} (e.g. {example}); the "
        "validation set holds copies of training images"
    ]


def _excluded_notes(excluded: int) -> list[str]:
    return [f"unreadable images left out: {excluded} (datasize validate lists them)"] if excluded else []


def _group_notes(groups: pd.Series) -> list[str]:
    alone = int((groups == "").sum())
    return [f"images without a group, each a group of its own: {alone}"] if alone else []


# --- files ------------------------------------------------------------------------------------


def sidecar_path(path: str | os.PathLike) -> Path:
    """Where the JSON record of a split CSV lives: the CSV's name plus ``.json``."""
    target = Path(path)
    return target.with_name(target.name + ".json")


def write_split(result: SplitResult, path: str | os.PathLike) -> None:
    """Write the split table as CSV and its info as JSON beside it (``<path>.json``), each atomically."""
    write_csv_atomic(path, result.table)
    text = json.dumps(result.info, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    write_text_atomic(sidecar_path(path), text)


def read_split(path: str | os.PathLike) -> SplitResult:
    """Read a split written by `write_split`, checking the CSV against the fingerprint in its sidecar.

    Raises:
        FileNotFoundError: when the CSV or its ``.json`` sidecar is missing.
        ValueError: when the CSV lacks columns, holds a side other than train/valid, or was changed
            after it was written (its fingerprint differs from the sidecar's).
    """
    csv_path, side_path = Path(path), sidecar_path(path)
    if not csv_path.is_file():
        raise FileNotFoundError(f"split file {str(path)!r} does not exist")
    if not side_path.is_file():
        raise FileNotFoundError(f"split file {str(path)!r} has no sidecar {str(side_path)!r}")
    table = read_csv_text(csv_path, what="split file")
    missing = [c for c in SPLIT_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{str(path)!r} is not a split file: missing columns {missing}")
    odd = sorted(set(table["split"]) - SIDES)
    if odd:
        raise ValueError(f"{str(path)!r} holds split values {odd}; a side must be 'train' or 'valid'")
    try:
        info = json.loads(side_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"split record {str(side_path)!r} is not JSON: {exc}") from None
    if not isinstance(info, dict):
        raise ValueError(f"split record {str(side_path)!r} is not a JSON object")
    found, recorded = fingerprint(table), info.get("fingerprint")
    if found != recorded:
        raise ValueError(
            f"{str(path)!r} does not match the fingerprint in {side_path.name} (recorded {recorded}, "
            f"found {found}): the CSV was changed after it was written"
        )
    return SplitResult(table=table, info=info)


# --- scikit-learn -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SeededSplit:
    """One seeded train/valid split as a scikit-learn cross-validator (pass it as ``cv=``).

    `split(X, y, groups)` yields exactly one ``(train_idx, valid_idx)`` pair of int arrays, and
    `get_n_splits` returns 1. The methods are those of `split`, without ``given`` and without duplicate
    detection (pass copies as one group). ``stratified`` needs y; ``group`` needs groups and stratifies
    by y when y is given. A class with one row goes to train, except with ``hash``.

    Rows are known by their values when X is a 1-D sequence of strings (file paths, say): row order
    then does not matter, and with ``hash`` adding rows never moves one. Otherwise rows are known by
    their position.

    Example:
        >>> cross_val_score(model, X, y, cv=SeededSplit(valid_pct=0.25, seed=0))  # doctest: +SKIP
    """

    method: SplitMethod | str = SplitMethod.STRATIFIED  # any SplitMethod except "given"
    valid_pct: float = 0.2  # share of rows for validation, strictly between 0 and 1
    seed: int = 42  # seeds the draw (or keys the hash)

    def __post_init__(self) -> None:
        method = check_split_options(method=self.method, valid_pct=self.valid_pct, seed=self.seed)
        if method is None or method is SplitMethod.GIVEN:
            known = ", ".join(m.value for m in SplitMethod if m is not SplitMethod.GIVEN)
            raise ValueError(f"SeededSplit method={self.method!r} must be one of {known}")
        object.__setattr__(self, "method", method)

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """Always 1: a fixed validation set, not folds."""
        return 1

    def split(self, X: Any, y: Any = None, groups: Any = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield one (train indices, validation indices) pair that partitions the rows of X."""
        n = int(X.shape[0]) if hasattr(X, "shape") else len(X)
        if self.method is SplitMethod.STRATIFIED and y is None:
            raise ValueError("SeededSplit method='stratified' needs y, the labels to stratify by")
        if self.method is SplitMethod.GROUP and groups is None:
            raise ValueError("SeededSplit method='group' needs groups, one per row")
        keys, order = _row_keys(X, n)
        labels = None if y is None else draws.codes(_column(y, n, "y"))[order]
        units = np.arange(n, dtype=np.int64)
        if self.method is SplitMethod.GROUP:
            units = draws.units(n, draws.codes(_column(groups, n, "groups"))[order])
        _check_sizes(n, self.valid_pct, noun="rows")
        in_valid_sorted = draws.sides(
            [keys[i] for i in order],
            labels,
            units,
            method=self.method,
            valid_pct=self.valid_pct,
            seed=self.seed,
        )
        in_valid = np.empty(n, dtype=bool)
        in_valid[order] = in_valid_sorted
        if in_valid.all() or not in_valid.any():
            side = "valid" if not in_valid.any() else "train"
            raise ValueError(f"SeededSplit leaves no row in {side}: {_why_empty(self.method)}")
        return iter([(np.flatnonzero(~in_valid), np.flatnonzero(in_valid))])


def _column(values: Any, n: int, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or len(array) != n:
        raise ValueError(f"{name} must hold one value per row of X ({n}); got shape {array.shape}")
    return array


def _row_keys(X: Any, n: int) -> tuple[list[str], np.ndarray]:
    """Keys that identify rows (X's strings when X is 1-D text, else positions) and their sorted order."""
    if (X.ndim if hasattr(X, "ndim") else np.ndim(X)) == 1:
        values = list(X)
        if values and all(isinstance(v, str) for v in values):
            if len(set(values)) != n:
                raise ValueError("X holds the same string twice; rows known by their values must be unique")
            return values, np.argsort(np.array(values, dtype=object), kind="stable")
    return [str(i) for i in range(n)], np.arange(n)
