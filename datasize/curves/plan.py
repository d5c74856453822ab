"""The plan of a learning curve: which training-set sizes and seeds to run, and the nested, stratified
subsets each run trains on.

Every (size, seed) run trains against the same fixed validation set, with one fixed learning rate
and, by default, the same number of optimiser steps (those of `epochs` passes over the full training
set), so that small fractions are not merely under-trained. Seed s draws the subsets and seeds the
training; subsets of one seed are nested, so a smaller one always lies inside a larger one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

import numpy as np

from datasize.noise import binomial_variance
from datasize.training.loop import TrainConfig, steps_per_epoch

DEFAULT_FRACTIONS = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0)


class Budget(StrEnum):
    """How much training each fraction gets."""

    STEPS = "steps"  # the optimiser steps of `epochs` passes over the full training set, at every fraction
    EPOCHS = "epochs"  # `epochs` passes over each subset: small fractions get few steps


# `curve` and recipes default to seed_stop 1.0 (0 runs every seed): on the default curves of the digits
# sample, photo crops and MNIST with --epochs auto it skipped 3-6 of 18 runs (18-35% of the time) and
# moved the forecast at 2x by 0.07 points or less, inside its own 80% interval (bench_epochs.py).
DEFAULT_SEED_STOP = 1.0

# `--epochs auto`'s longest training length unless --max-epochs says otherwise (curves, labels, recipes).
DEFAULT_MAX_EPOCHS = 32


@dataclass(frozen=True)
class CurveConfig:
    """The plan of a learning curve; stored in the run folder and compared on resume."""

    fractions: tuple[float, ...] = DEFAULT_FRACTIONS  # of the training set, in (0, 1]
    sizes: tuple[int, ...] | None = None  # absolute training-set sizes instead of fractions
    seeds: int = 3  # runs per fraction; seed s draws the subsets and seeds the training
    budget: Budget = Budget.STEPS  # equal optimiser steps (default) or equal epochs
    lr: float | None = None  # one fixed max LR for every run; None: the LR finder's, on the full set
    train: TrainConfig = field(default_factory=TrainConfig)  # model, epochs, batch size...
    target_error: float | None = None  # the forecast says how many images reach this error
    # Seeds beyond the second run only where the seeds so far disagree: at each size, another seed is
    # skipped once the standard error of the seeds' mean is under `seed_stop` x the validation set's
    # own standard error (a noise that more seeds cannot reduce: every run meets the same images).
    # None runs every seed. See `seed_needed`.
    seed_stop: float | None = None
    # `--epochs auto`: before the curve, a pilot at its largest size doubles the training length from
    # train.epochs up to max_epochs until another doubling no longer pays (see `pilot`); the curve
    # then trains every size for the optimiser steps of the chosen length.
    auto_epochs: bool = False
    max_epochs: int = DEFAULT_MAX_EPOCHS

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "budget", Budget(self.budget))
        except ValueError:
            choices = ", ".join(b.value for b in Budget)
            raise ValueError(f"budget={self.budget!r} is not one of {choices}") from None
        # Taken in increasing order, whatever order they were given in; one listed twice is refused
        # (a typo that would silently run fewer sizes than asked).
        fractions = tuple(sorted({float(f) for f in self.fractions}))
        if not fractions or any(not 0 < f <= 1 for f in fractions):
            raise ValueError(f"fractions={list(self.fractions)} must be numbers in (0, 1]")
        _refuse_repeats("fractions", [float(f) for f in self.fractions])
        object.__setattr__(self, "fractions", fractions)
        if self.sizes is not None:
            sizes = tuple(sorted({int(s) for s in self.sizes}))
            if not sizes or sizes[0] < 1:
                raise ValueError(f"sizes={list(self.sizes)} must be positive image counts")
            _refuse_repeats("sizes", [int(s) for s in self.sizes])
            object.__setattr__(self, "sizes", sizes)
        if self.seeds < 1:
            raise ValueError(f"seeds={self.seeds} must be at least 1")
        if self.lr is not None and not self.lr > 0:
            raise ValueError(f"lr={self.lr} must be positive (or None for the LR finder)")
        if self.seed_stop is not None and not (math.isfinite(self.seed_stop) and self.seed_stop > 0):
            raise ValueError(f"seed_stop={self.seed_stop} must be a positive number (or None: every seed)")
        if self.target_error is not None and not 0 < self.target_error < 1:
            raise ValueError(f"target_error={self.target_error} must be between 0 and 1")
        whole = isinstance(self.max_epochs, int) and not isinstance(self.max_epochs, bool)
        if self.auto_epochs and not (whole and self.max_epochs >= self.train.epochs):
            raise ValueError(
                f"max_epochs={self.max_epochs!r} must be a whole number of at least the first length the "
                f"pilot tries, epochs={self.train.epochs}"
            )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["budget"] = str(self.budget)
        out["train"] = self.train.to_dict()
        if not self.auto_epochs:  # a fixed length: the record (and a folder's identity) as before
            del out["auto_epochs"], out["max_epochs"]
        return out


def _refuse_repeats(name: str, values: list) -> None:
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        shown = ", ".join(f"{v:g}" for v in repeated)
        raise ValueError(f"{name} lists {shown} more than once; give each size once")


def check_plan(config: CurveConfig, *, n_train: int, n_classes: int) -> None:
    """ValueError when the plan cannot run on about `n_train` training images of `n_classes` classes
    (from the folder listing, before any image is read): a size larger than the training set, or a
    subset too small to hold one image of every class.

    >>> try:
    ...     check_plan(CurveConfig(fractions=(0.001, 1.0)), n_train=1200, n_classes=7)
    ... except ValueError as exc:
    ...     print(str(exc).split("; ")[1])
    use fractions of at least 0.00583
    """
    if config.sizes is not None:
        too_big = [s for s in config.sizes if s > n_train]
        if too_big:
            raise ValueError(
                f"sizes {too_big} exceed the about {n_train:,} training images this dataset gives "
                f"(after the validation split); use sizes of at most {n_train:,}, or --fractions"
            )
        if config.sizes[0] < n_classes:
            raise ValueError(
                f"the smallest size, {config.sizes[0]}, cannot hold one image of each of the {n_classes} "
                f"classes; use sizes of at least {n_classes}"
            )
        return
    smallest = max(1, round(config.fractions[0] * n_train))
    if smallest < n_classes:
        raise ValueError(
            f"the smallest fraction, {config.fractions[0]:g} of about {n_train:,} training images, is "
            f"{smallest} image{'s' if smallest > 1 else ''}: too few to hold one image of each of the "
            f"{n_classes} classes; use fractions of at least {n_classes / n_train:.3g}"
        )


def nested_subsets(labels: np.ndarray, counts: list[int], *, seed: int) -> list[np.ndarray]:
    """Positions (into `labels`) of nested, stratified subsets of the given total sizes.

    Each class's positions are shuffled once by `seed`; a subset takes a prefix of every class, so a
    smaller subset always lies inside a larger one. Every class keeps its share (largest remainders
    decide the odd images) and at least one image.

    >>> subsets = nested_subsets(np.array(list("aaaabbbbbbbb")), [3, 6, 12], seed=0)
    >>> [len(s) for s in subsets], set(subsets[0]) <= set(subsets[1])
    ([3, 6, 12], True)
    """
    labels = np.asarray(labels)
    classes, codes = np.unique(labels, return_inverse=True)
    rng = np.random.default_rng(seed)
    order = [rng.permutation(np.flatnonzero(codes == k)) for k in range(len(classes))]
    sizes = np.array([len(o) for o in order])
    out = []
    for total in counts:
        if not len(classes) <= total <= len(labels):
            raise ValueError(
                f"a subset of {total} images cannot hold {len(classes)} classes of {len(labels)} images"
            )
        take = per_class_counts(sizes, total)
        out.append(np.sort(np.concatenate([o[:t] for o, t in zip(order, take, strict=True)])))
    return out


def per_class_counts(sizes: np.ndarray, total: int) -> np.ndarray:
    """Split `total` across classes in proportion to `sizes`, each at least 1 and at most its size.

    >>> per_class_counts(np.array([4, 8]), 3).tolist()
    [1, 2]
    """
    share = sizes * total / sizes.sum()
    take = np.clip(np.floor(share).astype(np.int64), 1, sizes)
    while take.sum() < total:  # largest remainders first, among classes with room
        room = take < sizes
        k = int(np.argmax(np.where(room, share - take, -np.inf)))
        take[k] += 1
    while take.sum() > total:  # the floor of 1 overshot: trim the largest
        k = int(np.argmax(np.where(take > 1, take - share, -np.inf)))
        take[k] -= 1
    return take


@dataclass(frozen=True)
class RunSpec:
    """One point of the curve: a subset size and a seed."""

    fraction: float
    n_train: int
    seed: int

    @property
    def name(self) -> str:
        return f"n{self.n_train:07d}-s{self.seed}"


def plan_runs(config: CurveConfig, n_train: int) -> list[RunSpec]:
    """Every (size, seed) run, smallest first: the forecast needs the small ones most.

    Seeds are `config.train.seed`, +1, ... (`seeds` of them); seed s draws the subsets and trains.
    """
    if config.sizes is not None:
        too_big = [s for s in config.sizes if s > n_train]
        if too_big:
            raise ValueError(f"sizes {too_big} exceed the {n_train} training images")
        sizes = list(config.sizes)
    else:
        sizes = sorted({max(1, round(f * n_train)) for f in config.fractions})
    seeds = range(config.train.seed, config.train.seed + config.seeds)
    return [RunSpec(fraction=n / n_train, n_train=n, seed=s) for n in sizes for s in seeds]


def seed_needed(errors: list[float], n_valid: int, seed_stop: float) -> bool:
    """Whether one more seed at a size is worth running, given the error rates of the seeds so far.

    Every run is measured on the same validation set, so its sampling error, sqrt(p(1-p)/n_valid),
    is shared by all seeds and no number of seeds removes it. Seeds only average out the seed-to-seed
    spread. Once the standard error of the seeds' mean, sd/sqrt(k), is under `seed_stop` times that
    shared noise, another seed changes the estimate by less than the noise already in it.
    At least two seeds are always run (one gives no spread).

    >>> seed_needed([0.10], n_valid=400, seed_stop=0.5)
    True
    >>> seed_needed([0.100, 0.105], n_valid=400, seed_stop=0.5)  # 0.0025 < 0.5 x 0.015
    False
    >>> seed_needed([0.08, 0.14], n_valid=400, seed_stop=0.5)  # 0.03 > 0.5 x 0.016
    True
    """
    if len(errors) < 2:
        return True
    values = np.asarray(errors, dtype=float)
    valid_se = math.sqrt(float(binomial_variance(values.mean(), n_valid)))
    seeds_se = float(values.std(ddof=1)) / math.sqrt(len(values))
    return seeds_se >= seed_stop * valid_se


def waves(specs: list[RunSpec], config: CurveConfig) -> list[list[RunSpec]]:
    """Runs in the order they may start: all at once, or (seed_stop) two seeds, then one seed a wave."""
    if config.seed_stop is None:
        return [specs]
    first = config.train.seed + 2
    later = sorted({s.seed for s in specs if s.seed >= first})
    return [[s for s in specs if s.seed < first], *[[s for s in specs if s.seed == seed] for seed in later]]


def still_needed(spec: RunSpec, records: dict[str, dict[str, Any]], config: CurveConfig) -> bool:
    done = [
        r
        for r in records.values()
        if r.get("n_train") == spec.n_train
        and r.get("seed", spec.seed) < spec.seed
        and r.get("status") == "ok"
    ]
    if not done or config.seed_stop is None:
        return True
    return seed_needed([r["error_rate"] for r in done], int(done[0]["n_valid"]), config.seed_stop)


def run_config(config: CurveConfig, lr: float, n_full: int) -> TrainConfig:
    """The TrainConfig of every run: the fixed LR, and the step budget of the full training set."""
    train = replace(config.train, lr=lr)
    if config.budget == Budget.STEPS:
        train = replace(train, steps=train.epochs * steps_per_epoch(n_full, train.batch_size))
    return train
