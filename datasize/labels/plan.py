"""The K-fold plan of a labels check: its configuration, and the folds every image is predicted in.

Each image is predicted by a model that never saw it: the dataset is cut into K folds, and the model of
fold k trains on the other K-1. Folds are stratified (every class keeps its share in each fold, within
an image), seeded, and duplicate-aware: exact and near copies (and the images of one group, when the
manifest has groups) share a fold, so that a wrong label is never "confirmed" by its own copy in the
training set. The same images give the same folds whatever order they are listed in.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from datasize.curves.plan import DEFAULT_MAX_EPOCHS
from datasize.dataset import draws
from datasize.dataset.duplicates import DEFAULT_NEAR_RADIUS
from datasize.training.loop import TrainConfig
from datasize.vocab import SplitMethod

FORMAT = 1


@dataclass(frozen=True)
class LabelsConfig:
    """How `find_label_issues` checks every label; stored in the run folder and compared on resume."""

    folds: int = 5  # K: each image is predicted by the model trained on the other K-1 folds
    # One fixed max LR for every fold; None: the LR finder's suggestion on the split's training set
    # (resolved by `datasize.pipeline.run_labels`, which then passes it here).
    lr: float | None = None
    # Model, epochs (passes over each fold's training set, as `train`), batch size...; its seed draws
    # the folds and seeds every fold's training. Its lr is replaced by `lr`.
    train: TrainConfig = field(default_factory=TrainConfig)
    near_radius: int = DEFAULT_NEAR_RADIUS  # verified near copies (pHash candidates within this) share a fold
    # `--epochs auto`: a pilot on the split's training set (the size of a fold's training set at
    # K = 5) doubles train.epochs up to max_epochs as a curve's does (`datasize.curves.pilot`), and
    # every fold then trains for the chosen epochs (resolved by `datasize.pipeline.run_labels`). The
    # folder records these settings, so a changed cap is a changed configuration; the same settings
    # give the same choice (kept in labels_epochs/pilot/choice.json).
    auto_epochs: bool = False
    max_epochs: int = DEFAULT_MAX_EPOCHS

    def __post_init__(self) -> None:
        if isinstance(self.folds, bool) or not isinstance(self.folds, int) or self.folds < 2:
            raise ValueError(f"folds={self.folds!r} must be a whole number, 2 or more (5 is usual)")
        if self.lr is not None and not (
            isinstance(self.lr, int | float) and math.isfinite(self.lr) and self.lr > 0
        ):
            raise ValueError(f"lr={self.lr!r} must be a positive number, or None for the LR finder's")
        if not 0 <= self.train.seed < 2**63:
            raise ValueError(f"seed={self.train.seed!r} must be an integer from 0 to 2**63 - 1")
        if not 0 <= self.near_radius <= 63:
            raise ValueError(f"near_radius={self.near_radius} must be between 0 and 63 bits")
        if self.auto_epochs and self.max_epochs < self.train.epochs:
            raise ValueError(
                f"max_epochs={self.max_epochs} must be at least the first length, {self.train.epochs}"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (the pilot's only with auto_epochs: a fixed length's folders read as before)."""
        out = {**asdict(self), "train": self.train.to_dict()}
        if not self.auto_epochs:
            del out["auto_epochs"], out["max_epochs"]
        return out


@dataclass(frozen=True)
class FoldSpec:
    """One fold of the plan: fold `fold` (0-based) of `folds`."""

    fold: int
    folds: int

    @property
    def name(self) -> str:
        return f"fold-{self.fold + 1}-of-{self.folds}"


def check_classes(labels: pd.Series | np.ndarray, folds: int) -> None:
    """ValueError unless there are 2 classes or more and each has at least `folds` images.

    >>> check_classes(np.array(["a"] * 5 + ["b"] * 2), folds=3)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: class 'b' has 2 images, fewer than the 3 folds: ...; use 2 folds, add images to 'b', ...
    """
    counts = pd.Series(np.asarray(labels, dtype=object)).value_counts().sort_index()
    if len(counts) < 2:
        named = f" ({counts.index[0]!r})" if len(counts) else ""
        raise ValueError(f"checking labels needs at least 2 classes; the dataset has {len(counts)}{named}")
    small = counts[counts < folds]
    if len(small):
        label, n = small.index[0], int(small.iloc[0])
        fewest = int(counts.min())
        fix = f"use {fewest} folds, add images to {label!r}" if fewest >= 2 else f"add images to {label!r}"
        raise ValueError(
            f"class {label!r} has {n} image{'s' if n != 1 else ''}, fewer than the {folds} folds: every fold "
            f"must hold each class; {fix}, or leave it out"
        )


def assign_folds(
    paths: pd.Series | list[str],
    labels: pd.Series | np.ndarray,
    *,
    folds: int,
    seed: int,
    copies: pd.Series | np.ndarray | None = None,
    groups: pd.Series | np.ndarray | None = None,
) -> np.ndarray:
    """The fold (0..folds-1) of every image: stratified, seeded, and with each unit in one fold.

    A unit is a set of images that must share a fold: those with the same non-empty `copies` key (a
    duplicate group) or the same non-empty `groups` value. Fold k takes 1/(K-k) of the images still
    unassigned, per class (`datasize.dataset.draws`, as a validation split does), so every class keeps
    its share in each fold within an image. Images are sorted by path before anything is drawn.

    >>> labels = np.array(list("aaaaaabbbbbb"))
    >>> folds = assign_folds([f"{i:02d}.png" for i in range(12)], labels, folds=3, seed=0)
    >>> np.bincount(folds).tolist(), ["".join(sorted(set(labels[folds == k]))) for k in range(3)]
    ([4, 4, 4], ['ab', 'ab', 'ab'])
    """
    keys = [str(p) for p in paths]
    n = len(keys)
    order = np.argsort(np.array(keys, dtype=object), kind="stable")
    if len(set(keys)) != n:
        raise ValueError("paths must be unique to assign folds")
    labels = np.asarray(labels, dtype=object)[order]
    groupings = [
        draws.codes(np.asarray(v, dtype=object)[order].astype(str), none="")
        for v in (copies, groups)
        if v is not None
    ]
    units = draws.units(n, *groupings)
    sorted_keys = [keys[i] for i in order]
    fold = np.full(n, folds - 1, dtype=np.int64)
    remaining = np.arange(n)
    for k in range(folds - 1):
        if len(remaining) < 2:
            break
        picked = draws.sides(
            [sorted_keys[i] for i in remaining],
            draws.codes(labels[remaining]),
            units[remaining],
            method=SplitMethod.STRATIFIED,
            valid_pct=1 / (folds - k),
            seed=fold_seed(seed, k),
        )
        fold[remaining[picked]] = k
        remaining = remaining[~picked]
    out = np.empty(n, dtype=np.int64)
    out[order] = fold
    return out


def fold_seed(seed: int, fold: int) -> int:
    """The seed of fold `fold`'s draw: distinct for every (seed, fold) pair.

    >>> fold_seed(0, 1) != fold_seed(1, 0)
    True
    """
    return int(np.random.SeedSequence([seed, fold]).generate_state(1, dtype=np.uint64)[0])


def check_every_fold_learns_every_class(labels: np.ndarray, fold: np.ndarray) -> None:
    """ValueError naming a class whose images all fell in one fold (one duplicate group or group)."""
    labels = np.asarray(labels, dtype=object)
    for label in sorted(set(labels)):
        held = set(fold[labels == label].tolist())
        if len(held) < 2:
            n = int((labels == label).sum())
            raise ValueError(
                f"class {label!r}: its {n} images are copies of one another or one group, so they share a "
                "fold and no model could learn the class from the other folds"
            )
