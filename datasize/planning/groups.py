"""Groups of classes and their curves, for the collection planner (collection.py).

`confusion_groups` finds the classes that the largest runs mistake for each other: they are
collected together, in their current proportions, so that each group's curve still describes it.
`fit_curves` fits each group's error against its training images and refits it to seed-resampled
curves (one `Group` each), each refit drifting beyond the current data by a draw of the family's
own error per doubling; `Curves` holds them all. collection.py's docstring tells the whole method.

Measured in benchmarks/bench_plan.py (real training on generated 8x8 images whose classes differ
in difficulty, 2 pilots; and 120 synthetic trials of known curves):
- groups: planned class by class, the first version gave 264 images to one class of a confusable
  pair and none to its partner, whose error rose: measured 17.0% against 12.5% for spending evenly.
  With groups the plan beat spending evenly in 5 of 5 budgets (10.6% against 11.8% on average).

Computation only; nothing here prints.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np
import pandas as pd

from datasize.forecasting.backtest import backtest
from datasize.forecasting.bootstrap import refit_many
from datasize.forecasting.estimates import MISFIT_SCALE, Plateau, PlateauRule, plateau
from datasize.forecasting.families import CurveFamily, FitResult, fit_family, gain_per_doubling, predict
from datasize.forecasting.points import curve_from_runs

MIX_SHARE = 1 / 3  # classes are grouped when one takes this share of the other's mistakes ...
MIX_RATE = 0.01  # ... and they mix up at least this share of their validation images
MIX_SIGMAS = 2.0  # ... and their mix-ups exceed, by this many Poisson SDs, what the two classes' mistakes
#   would give the pair if spread evenly over every other class (issue #25: a class the model almost
#   never confused joined a 7-class group through one or two mistakes)


class Reason(StrEnum):
    """Why a class gets the images it gets."""

    COLLECT = "collect"  # its group cuts the overall error the most per unit of cost
    OTHERS_FIRST = "others_first"  # other classes cut the overall error more per unit of cost
    PLATEAUED = "plateaued"  # a doubling would surely cut its error little: more of it will not help
    TOO_FEW_POINTS = "too_few_points"  # its curve has fewer than 3 sizes, or could not be fitted
    NOT_NEEDED = "not_needed"  # the target is reached without new images


# --- groups of classes ------------------------------------------------------------------------------


def confusion_groups(
    predictions: pd.DataFrame, *, share: float = MIX_SHARE, rate: float = MIX_RATE
) -> dict[str, str]:
    """Group the classes that are mistaken for each other, from validation predictions (label,
    predicted; several runs may be stacked): a and b are joined when b takes at least `share` of a's
    mistakes (or a of b's), they mix up at least `rate` of their validation images, and their mix-ups
    are above noise: more than MIX_SIGMAS Poisson SDs above the count the two classes' mistakes would
    give the pair if spread evenly over the other classes. Returns class -> group name ("a+b") for the
    classes in a group of two or more.

    >>> truth, said = "aaaaaaaaaabbbbbbbbbbcc", "abbbbbbaaabbbbbaaaaacc"
    >>> p = pd.DataFrame({"label": list(truth), "predicted": list(said)})
    >>> confusion_groups(p)
    {'a': 'a+b', 'b': 'a+b'}
    """
    counts = pd.crosstab(predictions["label"].astype(str), predictions["predicted"].astype(str))
    labels = sorted(set(counts.index) | set(counts.columns))
    counts = counts.reindex(index=labels, columns=labels, fill_value=0)
    matrix = counts.to_numpy(dtype=float)
    images = matrix.sum(axis=1)
    mistakes = images - np.diag(matrix)
    parent = list(range(len(labels)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for a in range(len(labels)):
        for b in range(a + 1, len(labels)):
            mixed = matrix[a, b] + matrix[b, a]
            main = max(matrix[a, b] / max(mistakes[a], 1), matrix[b, a] / max(mistakes[b], 1))
            # with two classes every mistake is the pair's: there is no other class to spread over
            even = (mistakes[a] + mistakes[b]) / max(len(labels) - 1, 1)
            above_noise = len(labels) < 3 or mixed > even + MIX_SIGMAS * np.sqrt(even)
            if mixed > 0 and main >= share and mixed >= rate * (images[a] + images[b]) and above_noise:
                parent[root(b)] = root(a)
    found: dict[int, list[str]] = {}
    for i, label in enumerate(labels):
        found.setdefault(root(i), []).append(label)
    return {label: "+".join(g) for g in found.values() if len(g) > 1 for label in g}


# --- groups and their curves ------------------------------------------------------------------------


@dataclass(frozen=True)
class Group:
    """Classes collected together in their current proportions (often one class alone), and the
    curve of their validation-weighted error against their training images, with its refits."""

    labels: tuple[str, ...]
    shares: np.ndarray  # per class: its share of all validation images
    have: np.ndarray  # per class: training images in the largest run
    n_valid: np.ndarray  # per class: validation images
    error_now: np.ndarray  # per class: mean error measured in the largest runs
    spread: np.ndarray  # per class: one run's variance over the binomial noise alone
    seeds: int  # runs at the largest size
    fit: FitResult | None  # None: too few sizes, or the fit failed
    draws: np.ndarray  # (n_boot, n_params) refitted parameters; without a fit, (n_boot, 1) errors
    drifts: np.ndarray  # (n_boot,) each refit's error per doubling beyond the current images: the
    #   whole curve's backtest error per doubling, shared out by gain per doubling, one draw for all
    plateau: Plateau | None

    @property
    def name(self) -> str:
        return "+".join(self.labels)

    @property
    def share(self) -> float:
        return float(self.shares.sum())

    @property
    def images(self) -> float:
        return float(self.have.sum())

    @property
    def split(self) -> np.ndarray:
        """Each class's error as a multiple of the group's, now (1 when the group makes no mistakes)."""
        error = float(self.shares @ self.error_now) / self.share
        return self.error_now / error if error > 0 else np.ones(len(self.labels))

    @property
    def gain(self) -> float:
        """The error cut by doubling the group's images, on the point fit (0 without a fit)."""
        return 0.0 if self.fit is None else gain_per_doubling(self.fit.family, self.fit.params, self.images)

    @property
    def reason(self) -> Reason | None:
        """Why the group gets nothing whatever the budget (None: it may get images)."""
        if self.fit is None:
            return Reason.TOO_FEW_POINTS
        return Reason.PLATEAUED if self.plateau is not None and self.plateau.plateaued else None

    def expected(self, extra: float) -> float:
        """The group's error after `extra` more images: the mean over the refits, drift included."""
        if self.fit is None:
            return float(self.shares @ self.error_now) / self.share
        return float(self.sampled(extra).mean())

    def fitted(self, extra: float) -> float:
        """The group's error after `extra` more images on the fit to all runs (measured, without one)."""
        if self.fit is None:
            return self.expected(extra)
        return float(self.fit.predict(self.images + extra))

    def sampled(self, extra: float) -> np.ndarray:
        """The group's error after `extra` more images under each refit, drift included: (n_boot,)."""
        if self.fit is None:
            return self.draws[:, 0]
        params, size = self.draws.T, len(self.draws)
        now = predict(self.fit.family, params, np.full(size, self.images))
        n = self.images + extra
        errors = predict(self.fit.family, params, np.full(size, n)) + self.drifts * math.log2(n / self.images)
        return np.clip(np.minimum(errors, now), 0.0, 1.0)  # more images of the same kind never hurt

    def unit_cost(self, costs: np.ndarray) -> float:
        """The cost of one image of the group, collected in its current proportions."""
        return float(self.have @ costs) / self.images

    def divide(self, extra: float) -> np.ndarray:
        """`extra` images as whole images per class, in the current proportions (rounded down)."""
        return np.floor(extra * self.have / self.images + 1e-9)


@dataclass(frozen=True)
class Curves:
    """Every group's curve, and the overall error's own noise."""

    groups: tuple[Group, ...]  # sorted by their first label
    n_valid: int  # validation images, all classes
    error_now: float  # the overall error measured in the largest runs
    spread: float  # the overall error's seed spread over its binomial noise
    seeds: int
    n_boot: int
    seed: int

    @property
    def shares(self) -> np.ndarray:
        return np.array([g.share for g in self.groups])

    @property
    def images(self) -> np.ndarray:
        return np.array([g.images for g in self.groups])

    def expected(self, extra: np.ndarray) -> float:
        """The overall error after `extra` images per group (each group's mean over its refits)."""
        return float(sum(g.share * g.expected(x) for g, x in zip(self.groups, extra, strict=True)))


def fit_curves(
    per_class: pd.DataFrame,
    *,
    groups: Mapping[str, str] | None = None,
    n_boot: int = 200,
    seed: int = 0,
    family: CurveFamily = CurveFamily.POW3,
    plateau_threshold: float = 0.005,
    plateau_relative: float = 0.1,
    interval: tuple[float, float] = (0.1, 0.9),
) -> Curves:
    """Fit every group of classes of a per-class table (the run folder's per_class.csv), `n_boot` refits each.

    `groups` maps a class to its group's name; classes not named stand alone.
    """
    table = _check_table(per_class)
    labels = sorted(table["label"].unique())
    named = dict(groups or {})
    unknown = sorted(set(named) - set(labels))
    if unknown:
        raise ValueError(
            f"groups names classes not in the learning curve: {unknown}; its classes are {labels}"
        )
    members: dict[str, list[str]] = {}
    for label in labels:
        members.setdefault(named.get(label, f"\0{label}"), []).append(label)
    valid = table.groupby("label")["n_valid_class"].max()
    weights = seed_weights(table, n_boot=n_boot, rng=np.random.default_rng([seed, 0]))
    overall = curve_from_runs(_group_runs(table, valid))
    fitted = [
        _group(
            table[table["label"].isin(m)],
            valid=valid,
            weights=weights,
            family=family,
            rng=np.random.default_rng([seed, 1, i]),
        )
        for i, m in enumerate(sorted(members.values()))
    ]
    tested = backtest(overall, families=(family,), score_all=False)
    misfit = tested.misfit(family)
    # The family's own error (the whole curve's backtest error per doubling), one draw per refit
    # shared by every group, each group's share in proportion to its gain per doubling: when the
    # groups grow in step, the overall error drifts as the whole curve's, and a flat group not at all.
    gains = np.array([g.gain for g in fitted])
    overall_gain = float(gains @ np.array([g.share for g in fitted]))
    scale = MISFIT_SCALE * np.nan_to_num(misfit) / overall_gain if overall_gain > 0 else 0.0
    z = np.random.default_rng([seed, 3]).standard_normal(n_boot)
    rule = PlateauRule(plateau_threshold, plateau_relative)
    fitted = [
        _drifted(g, z * scale * gain, rule=rule, interval=interval)
        for g, gain in zip(fitted, gains, strict=True)
    ]
    return Curves(
        groups=tuple(fitted),
        n_valid=int(valid.sum()),
        error_now=float(overall.mean[-1]),
        spread=overall.spread_ratio(),
        seeds=int(overall.seeds[-1]),
        n_boot=n_boot,
        seed=seed,
    )


def seed_weights(table: pd.DataFrame, *, n_boot: int, rng: np.random.Generator) -> dict[int, pd.DataFrame]:
    """For each size, how often each seed is drawn in each of `n_boot` resamples, as weights summing
    to 1: (n_boot x seeds). Every group uses the same draws, so a run's classes move together."""
    out = {}
    for n_train, rows in table.groupby("n_train", sort=True):
        seeds = np.sort(rows["seed"].unique())
        picks = rng.integers(0, len(seeds), size=(n_boot, len(seeds)))
        counts = np.stack([np.bincount(p, minlength=len(seeds)) for p in picks]) / len(seeds)
        out[int(n_train)] = pd.DataFrame(counts, columns=seeds)
    return out


def resampled_means(runs: pd.DataFrame, weights: dict[int, pd.DataFrame]) -> np.ndarray:
    """A curve's mean error at each size under each seed resample: (n_boot, sizes).

    As in bootstrap.resample_means, a resampled mean of k seeds varies (k-1)/k times less than the
    mean itself, so deviations are scaled back up by sqrt(k/(k-1)); a size with one seed does not move.
    """
    columns = []
    for n_train, rows in runs.groupby("n_train", sort=True):
        errors = rows.set_index("seed")["error_rate"]
        w = weights[int(n_train)].reindex(columns=errors.index, fill_value=0.0).to_numpy()
        total = w.sum(axis=1, keepdims=True)
        drawn = np.where(
            total[:, 0] > 0, (w @ errors.to_numpy()) / np.maximum(total[:, 0], 1e-12), errors.mean()
        )
        k, centre = len(errors), errors.mean()
        columns.append(centre + math.sqrt(k / (k - 1)) * (drawn - centre) if k > 1 else drawn)
    return np.clip(np.column_stack(columns), 0.0, 1.0)


def _group_runs(rows: pd.DataFrame, valid: pd.Series) -> pd.DataFrame:
    """Each run's error over these classes (weighted by validation images) and their training images."""
    rows = rows.assign(w=rows["label"].map(valid), werr=lambda t: t["error_rate"] * t["w"])
    runs = rows.groupby(["n_train", "seed"], as_index=False)[["werr", "w", "n_train_class"]].sum()
    return runs.assign(
        error_rate=runs["werr"] / runs["w"], n_valid=int(rows.groupby("label")["w"].max().sum())
    )


def _group(rows: pd.DataFrame, *, valid: pd.Series, weights, family: CurveFamily, rng) -> Group:
    """A group's curve, its fit and refits; without drift or plateau test yet (see `_drifted`)."""
    runs = _group_runs(rows, valid)
    sizes = runs.groupby("n_train")["n_train_class"].median()
    curve = curve_from_runs(runs.assign(n_group=runs["n_train"].map(sizes)), n_column="n_group")
    largest = rows[rows["n_train"] == rows["n_train"].max()]
    per_class = [
        (str(label), curve_from_runs(r.assign(n_valid=max(int(valid[label]), 2))))
        for label, r in rows.groupby("label", sort=True)
    ]
    labels = tuple(label for label, _ in per_class)
    have = largest.groupby("label")["n_train_class"].median().reindex(labels).fillna(0).to_numpy(dtype=float)
    n_boot = len(next(iter(weights.values())))
    base = {
        "labels": labels,
        "shares": np.array([valid[x] for x in labels], dtype=float) / valid.sum(),
        "have": have,
        "n_valid": np.array([valid[x] for x in labels], dtype=float),
        "error_now": np.array([c.mean[-1] for _, c in per_class]),
        "spread": np.array([c.spread_ratio() for _, c in per_class]),
        "seeds": int(curve.seeds[-1]),
        "drifts": np.zeros(n_boot),
        "plateau": None,
    }
    fit = None
    if len(curve.n) >= 3:
        fit = fit_family(family, curve.n, curve.mean, sigma=curve.se)
        fit = fit or fit_family(CurveFamily.POW2, curve.n, curve.mean, sigma=curve.se)
    if fit is None:  # held at its measured error, give or take its standard error
        draws = np.clip(curve.mean[-1] + rng.standard_normal((n_boot, 1)) * float(curve.se[-1]), 0, 1)
        return Group(**base, fit=None, draws=draws)
    refits = refit_many(fit.family, curve.n, resampled_means(runs, weights), sigma=curve.se, start=fit.params)
    params = [(refit or fit).params for refit in refits]  # a failed refit keeps the point fit: paired draws
    return Group(**base, fit=fit, draws=np.array(params))


def _drifted(group: Group, drifts: np.ndarray, *, rule: PlateauRule, interval) -> Group:
    """The group with its refits' drifts, and its plateau test (which counts them, as forecast's does)."""
    if group.fit is None:
        return group
    n, size = group.images, len(group.draws)
    family, params = group.fit.family, group.draws.T
    gains = predict(family, params, np.full(size, n)) - predict(family, params, np.full(size, 2 * n))
    error = float(group.shares @ group.error_now) / group.share
    test = plateau(
        gains - drifts,
        group.gain,
        n_train=int(n),
        error_rate=error,
        rule=rule,
        interval=interval,
    )
    return replace(group, drifts=drifts, plateau=test)


def _check_table(per_class: pd.DataFrame) -> pd.DataFrame:
    table = per_class.copy()
    for column in ("n_train", "seed", "n_train_class", "n_valid_class", "error_rate"):
        table[column] = pd.to_numeric(table[column], errors="coerce")
    bad = table.loc[~table["error_rate"].between(0, 1), "error_rate"]
    if len(bad):
        raise ValueError(f"error_rate must be in [0, 1]; got {bad.tolist()[:5]}")
    table = table[table["n_train_class"] > 0]  # a class absent from a run has no point there
    sizes = sorted(int(n) for n in table["n_train"].unique())
    if len(sizes) < 3:
        raise ValueError(
            f"a plan needs per-class errors at 3 or more training-set sizes; got {len(sizes)} {sizes}: "
            "run the learning curve at more fractions"
        )
    table = table.astype({"n_train": int, "seed": int})
    return table.sort_values(["label", "n_train", "seed"], kind="stable").reset_index(drop=True)
