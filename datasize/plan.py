"""The collection planner: how many images of which class to collect next, and the error to expect.

`plan_collection(run_folder, budget=...)` (or `target_error=...`) reads the learning curve's
per-class table (per_class.csv) and:
1. groups the classes that the largest runs mistake for each other (one takes a third of the
   other's mistakes, and they mix up at least 1% of their validation images): more images of one
   class of such a group move the decision boundary, and its partner's error rises. A group is
   collected in its current proportions, as the learning curve grew it, so its curve still
   describes it; other classes stand alone;
2. fits each group's error (its classes' errors weighted by validation images) against its training
   images (pow3, else pow2, as the forecast's per-class ranking does) and refits it to curves whose
   seeds are resampled, jointly for every group (one run measures every class). Beyond the current
   data each refit also drifts from its curve by a draw of the family's own error per doubling:
   the whole curve's backtest error (forecasting.py's MISFIT term), one draw per refit shared by every
   group and shared out in proportion to each group's gain per doubling, so that groups growing in
   step drift as the whole curve does and a flat group not at all. A refit that drifts up is held
   at its current error: more images of the same kind do not raise the error;
3. writes the overall error as sum_g share_g x error_g(images_g), share_g being the group's part of
   the validation set, error_g the mean over the refits, and spends the budget greedily, chunk by
   chunk (1/200 of it), on the group with the largest cut in that expected error per unit of cost.
   The expected curves fall and, but where the cap bends them, are convex, where greedy marginal
   allocation is optimal up to one chunk (the tests check it against exhaustive search). A group
   whose curve has plateaued (forecast.plateau: a doubling surely cuts its error by less than half
   a point and a tenth) or has fewer than 3 sizes gets nothing, and the table says why;
4. gives each class's error after (its group's, times the class's part of the group's errors now)
   and the overall error an interval for what a rerun would measure (the refits, their drift, and
   the seeds' and validation set's noise, as forecast.horizon does);
5. for a target error, walks the same greedy path in steps of 1% of the data so far and stops at
   the first allocation whose overall error is at most the target in `confidence` (0.9) of the
   refits: conservative, as Mahmood et al. (CVPR 2022) advise, who also advise collecting in
   rounds. The plan suggests one round per doubling of the group that grows most (at most 5): the
   curves are backtested 2x ahead, and re-running the curve is cheaper than a miss.

Choices, measured in benchmarks/bench_plan.py (real training on generated 8x8 images whose classes
differ in difficulty, 2 pilots; and 120 synthetic trials of known curves):
- groups: planned class by class, the first version gave 264 images to one class of a confusable
  pair and none to its partner, whose error rose: measured 17.0% against 12.5% for spending evenly.
  With groups the plan beat spending evenly in 5 of 5 budgets (10.6% against 11.8% on average).
- the mean over the refits, not the fit to all runs, as the objective: the plan beat spending evenly
  (by the true curves) in 83/97/77/70% of synthetic trials at 0.5/1/2/4x the data, against
  83/87/73/60%, and made 69% of an oracle's cut over spending evenly (median), against 56%.
- the intervals: 10 of 10 80% intervals held the measured overall error in the real runs (47 of 48
  per class), 81% of them in the synthetic trials. The expected error leans pessimistic (by 0.8
  points in the real runs): a refit that drifts up is held flat, one that drifts down is not.
- a target planned for the 90th percentile is rarely certain: with the drift, most synthetic
  targets 2 doublings away were "uncertain" (half the refits reach them); collect in rounds.

Computation only; nothing here prints.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from datasize.curves_fit import (
    CurveFamily,
    FitResult,
    backtest,
    binomial_variance,
    curve_from_runs,
    finite_or_none,
    fit_family,
    gain_per_doubling,
    predict,
)
from datasize.forecasting import (
    MISFIT_SCALE,
    PER_CLASS_COLUMNS,
    SEARCH_LIMIT,
    Plateau,
    Reach,
    plateau,
    quantiles,
)

GREEDY_STEPS = 200  # a budget is spent in chunks of 1/200 of it
TARGET_STEP = 0.01  # for a target, each chunk is 1% of the cost of the data so far (a log-spaced path)
MAX_ROUNDS = 5  # Mahmood et al.'s example; one round per doubling of the group that grows most
DEFAULT_CONFIDENCE = 0.9
MIX_SHARE = 1 / 3  # classes are grouped when one takes this share of the other's mistakes ...
MIX_RATE = 0.01  # ... and they mix up at least this share of their validation images
ANY_CLASS = "*"  # a cost table's row for every class it does not name


class Reason(StrEnum):
    """Why a class gets the images it gets."""

    COLLECT = "collect"  # its group cuts the overall error the most per unit of cost
    OTHERS_FIRST = "others_first"  # other classes cut the overall error more per unit of cost
    PLATEAUED = "plateaued"  # a doubling would surely cut its error little: more of it will not help
    TOO_FEW_POINTS = "too_few_points"  # its curve has fewer than 3 sizes, or could not be fitted
    NOT_NEEDED = "not_needed"  # the target is reached without new images


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
    """Fit every group of classes of a per-class table (curve.py's per_class.csv), `n_boot` refits each.

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
    tested = backtest(overall, families=(family,))
    misfit = tested.misfit_per_doubling(family)
    misfit = misfit if math.isfinite(misfit) else tested.misfit_per_doubling(CurveFamily.LAST1)
    # The family's own error (the whole curve's backtest error per doubling), one draw per refit
    # shared by every group, each group's share in proportion to its gain per doubling: when the
    # groups grow in step, the overall error drifts as the whole curve's, and a flat group not at all.
    gains = np.array([g.gain for g in fitted])
    overall_gain = float(gains @ np.array([g.share for g in fitted]))
    scale = MISFIT_SCALE * np.nan_to_num(misfit) / overall_gain if overall_gain > 0 else 0.0
    z = np.random.default_rng([seed, 3]).standard_normal(n_boot)
    fitted = [
        _drifted(g, z * scale * gain, flat=(plateau_threshold, plateau_relative), interval=interval)
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

    As in curves_fit.resample_means, a resampled mean of k seeds varies (k-1)/k times less than the
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
    params = []
    for means in resampled_means(runs, weights):
        refit = fit_family(fit.family, curve.n, means, sigma=curve.se, start=fit.params)
        params.append((refit or fit).params)  # a failed refit keeps the point fit: draws stay paired
    return Group(**base, fit=fit, draws=np.array(params))


def _drifted(group: Group, drifts: np.ndarray, *, flat: tuple[float, float], interval) -> Group:
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
        threshold=flat[0],
        relative=flat[1],
        interval=interval,
    )
    return replace(group, drifts=drifts, plateau=test)


def confusion_groups(
    predictions: pd.DataFrame, *, share: float = MIX_SHARE, rate: float = MIX_RATE
) -> dict[str, str]:
    """Group the classes that are mistaken for each other, from validation predictions (label,
    predicted; several runs may be stacked): a and b are joined when b takes at least `share` of a's
    mistakes (or a of b's) and they mix up at least `rate` of their validation images. Returns
    class -> group name ("a+b") for the classes in a group of two or more.

    >>> p = pd.DataFrame({"label": list("aaaabbbbcc"), "predicted": list("abbbabbbcc")})
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
            if mixed > 0 and main >= share and mixed >= rate * (images[a] + images[b]):
                parent[root(b)] = root(a)
    found: dict[int, list[str]] = {}
    for i, label in enumerate(labels):
        found.setdefault(root(i), []).append(label)
    return {label: "+".join(g) for g in found.values() if len(g) > 1 for label in g}


def read_predictions(folder: str | os.PathLike) -> pd.DataFrame | None:
    """The validation predictions (label, predicted) of the largest finished runs that kept them."""
    records = []
    for path in sorted((Path(folder) / "runs").glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if record.get("status") == "ok" and record.get("predictions"):
            records.append(record)
    if not records:
        return None
    largest = max(r["n_train"] for r in records)
    rows = [p for r in records if r["n_train"] == largest for p in r["predictions"]]
    return pd.DataFrame(rows, columns=["label", "predicted"]).astype(str)


@dataclass(frozen=True)
class Outlook:
    """What an allocation is expected to give, with intervals for what a rerun would measure."""

    labels: tuple[str, ...]  # classes, in the groups' order
    expected: np.ndarray  # per class: its error after, the mean over the refits
    low: np.ndarray  # per class: the interval of a rerun's measured class error
    high: np.ndarray
    overall: float  # the overall expected error
    overall_low: float  # the interval of a rerun's measured overall error
    overall_high: float
    draws: np.ndarray  # (n_boot,) the overall error under each refit (the fits' uncertainty alone)


def outlook(curves: Curves, extra: np.ndarray, *, interval: tuple[float, float]) -> Outlook:
    """The errors expected after `extra` images per group, with their intervals."""
    rng = np.random.default_rng([curves.seed, 2])
    labels, expected, lows, highs = [], [], [], []
    sampled = np.column_stack([g.sampled(x) for g, x in zip(curves.groups, extra, strict=True)])
    for j, (g, x) in enumerate(zip(curves.groups, extra, strict=True)):
        for k, label in enumerate(g.labels):
            errors = sampled[:, j] * g.split[k]
            noise = g.spread[k] * binomial_variance(errors, max(int(g.n_valid[k]), 2)) / g.seeds
            low, high = quantiles(
                np.clip(errors + rng.standard_normal(len(errors)) * np.sqrt(noise), 0, 1), interval
            )
            labels.append(label)
            expected.append(g.expected(x) * g.split[k])
            lows.append(low)
            highs.append(high)
    draws = sampled @ curves.shares
    noise = curves.spread * binomial_variance(draws, curves.n_valid) / curves.seeds
    low, high = quantiles(np.clip(draws + rng.standard_normal(len(draws)) * np.sqrt(noise), 0, 1), interval)
    return Outlook(
        tuple(labels),
        np.array(expected),
        np.array(lows),
        np.array(highs),
        curves.expected(extra),
        low,
        high,
        draws,
    )


# --- spending --------------------------------------------------------------------------------------


def greedy_path(
    curves: Curves, unit_costs: np.ndarray, *, chunk: float | None, limit: float
) -> Iterator[tuple[float, np.ndarray]]:
    """Allocations of growing cost, each one chunk more than the last: (spent, images per group).

    Each step buys about `chunk` cost units of the group with the largest cut in the overall
    expected error (the mean over the refits) per unit of cost; `chunk=None` makes each step 1% of
    the cost of the data so far. Stops when no group cuts the error any more, or nothing more fits
    under `limit`.
    """
    eligible = [i for i, g in enumerate(curves.groups) if g.reason is None]
    extra = np.zeros(len(curves.groups))
    spent, base = 0.0, float(curves.images @ unit_costs)
    while True:
        step = chunk if chunk is not None else TARGET_STEP * (base + spent)
        best, best_rate, best_k = -1, 1e-15, 0.0
        for i in eligible:
            g, cost = curves.groups[i], unit_costs[i]
            k = min(max(1.0, round(step / cost)), math.floor((limit - spent) / cost + 1e-9))
            if k < 1:
                continue
            rate = g.share * (g.expected(extra[i]) - g.expected(extra[i] + k)) / (k * cost)
            if rate > best_rate:
                best, best_rate, best_k = i, rate, k
        if best < 0:
            return
        extra[best] += best_k
        spent += best_k * unit_costs[best]
        yield spent, extra.copy()


def uniform_allocation(curves: Curves, costs: Mapping[str, float], budget: float) -> np.ndarray:
    """The same budget spread evenly over every class, in cost, as images per group: the baseline."""
    labels = [x for g in curves.groups for x in g.labels]
    each = budget / len(labels)
    return np.array(
        [sum(math.floor(each / costs[x] + 1e-9) for x in g.labels) for g in curves.groups], dtype=float
    )


def suggested_rounds(images: np.ndarray, extra: np.ndarray) -> int:
    """One round per doubling of the group that grows most, at least 1 and at most MAX_ROUNDS.

    >>> suggested_rounds(np.array([100, 100]), np.array([300, 0]))
    2
    """
    grown = extra > 0
    if not grown.any():
        return 1
    multiple = float(np.max((images[grown] + extra[grown]) / images[grown]))
    return int(min(MAX_ROUNDS, max(1, math.ceil(math.log2(multiple) - 1e-9))))


# --- the plan ----------------------------------------------------------------------------------------

PLAN_COLUMNS = [
    "label",
    "group",  # the classes collected together with it ("a+b"), or the class alone
    "have",  # training images now (the largest run)
    "collect",  # new images to collect
    "first_round",  # of which, in the first round
    "cost",  # per image
    "error_now",  # measured in the largest runs
    "error_after",  # expected after collecting (the mean over the refits)
    "low",  # the interval of a rerun's measured class error after collecting
    "high",
    "share",  # of the validation images: the class's weight in the overall error
    "reason",  # Reason
]


@dataclass(frozen=True)
class CollectionPlan:
    """How many images of which class to collect; `verdict()` says it in words, `to_dict()` is JSON."""

    table: pd.DataFrame  # one row per class: PLAN_COLUMNS
    budget: float | None  # as asked, in cost units (images without a cost table)
    target_error: float | None  # as asked
    status: Reach | None  # for a target: reached, reachable, uncertain or unreachable
    confidence: float  # the share of refits that must reach the target
    priced: bool  # costs came from a cost table: budget and spent are in its units
    spent: float  # the plan's cost
    images: int  # new images in all
    rounds: int  # suggested collection rounds
    error_now: float  # the overall error measured in the largest runs
    expected: float  # the overall error expected after collecting
    low: float  # the interval of a rerun's measured overall error
    high: float
    quantile: float  # the `confidence` quantile of the overall error over the refits
    uniform_error: float  # the expected error if the same spend went evenly over every class
    floor: float  # the overall error the curves level off at (SEARCH_LIMIT x the data)
    limiting: tuple[str, ...]  # for an unreachable target: the groups that hold the error up most
    interval: tuple[float, float]
    n_boot: int
    seed: int

    def verdict(self) -> str:
        """Plain sentences, the answer first."""
        return " ".join(_verdict_sentences(self))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN and infinities as None)."""
        names = ("budget", "target_error", "confidence", "priced", "spent", "images", "rounds", "error_now")
        names += ("expected", "low", "high", "quantile", "uniform_error", "floor", "n_boot", "seed")
        records = [{k: finite_or_none(v) for k, v in r.items()} for r in self.table.to_dict("records")]
        return {
            "verdict": self.verdict(),
            "status": None if self.status is None else str(self.status),
            **{k: finite_or_none(getattr(self, k)) for k in names},
            "limiting": list(self.limiting),
            "interval": list(self.interval),
            "table": records,
        }


def plan_collection(
    folder_or_table: str | os.PathLike | pd.DataFrame,
    *,
    target_error: float | None = None,
    budget: float | None = None,
    cost: str | os.PathLike | pd.DataFrame | Mapping[str, float] | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    groups: Mapping[str, str] | None = None,
    n_boot: int = 200,
    seed: int = 0,
    interval: tuple[float, float] = (0.1, 0.9),
) -> CollectionPlan:
    """Plan which classes to collect images of: the fewest for a target error, or the best use of a budget.

    Args:
        folder_or_table: a `datasize curve` run folder (its per_class.csv, and the predictions its
            largest runs kept), or a per-class table like per_class.csv.
        target_error: the overall error to reach, in (0, 1): the plan is the cheapest allocation on
            the greedy path whose error is at most this in `confidence` of the refits.
        budget: new images to spend (cost units, with `cost`) where they cut the overall error most.
            Give exactly one of target_error and budget.
        cost: the cost of one image per class: a CSV with columns label and cost (a label `*` prices
            every class it does not name), a DataFrame like it, or a mapping; None: each costs 1. A
            class neither named nor covered by `*` is an error, as is a label not in the curve.
        confidence: for a target, the share of refits that must reach it (0.9: plan for the 90th
            percentile of the images needed).
        groups: class -> group name, for classes to collect together in their current proportions;
            None: from a run folder, the classes its largest runs mistake for each other
            (`confusion_groups`), from a table, none; {}: every class alone.
        n_boot: refits per group (seed resamples). seed: seeds them and the intervals' noise.
        interval: the quantiles of every interval.

    Returns:
        A CollectionPlan: `.table` has one row per class, `.verdict()` says what to collect.

    >>> rows = [{"n_train": 10 * n, "seed": s, "label": k, "n_train_class": 5 * n, "n_valid_class": 200,
    ...          "error_rate": (0.9 if k == "hard" else 0.05) * n ** -0.5} for n in (1, 2, 4, 8)
    ...         for s in (0, 1) for k in ("easy", "hard")]
    >>> plan = plan_collection(pd.DataFrame(rows), budget=40, n_boot=20)
    >>> plan.table.set_index("label")["collect"].to_dict()
    {'easy': 0, 'hard': 40}
    """
    _check_options(target_error, budget, confidence, n_boot, interval)
    table = read_per_class(folder_or_table)
    if groups is None and not isinstance(folder_or_table, pd.DataFrame):
        predictions = read_predictions(folder_or_table)
        groups = confusion_groups(predictions) if predictions is not None else {}
    curves = fit_curves(table, groups=groups, n_boot=n_boot, seed=seed, interval=interval)
    labels = [x for g in curves.groups for x in g.labels]
    prices = dict(zip(labels, read_costs(cost, labels), strict=True))
    unit_costs = np.array([g.unit_cost(np.array([prices[x] for x in g.labels])) for g in curves.groups])
    if budget is not None:
        steps = greedy_path(curves, unit_costs, chunk=budget / GREEDY_STEPS, limit=budget)
        path, status = [(0.0, np.zeros(len(curves.groups))), *steps], None
    else:
        path, status = _target_path(curves, unit_costs, target_error, confidence)
    spent, extra = path[-1]
    rounds = suggested_rounds(curves.images, extra)
    first = max((x for s, x in path if s <= spent / rounds + 1e-9), key=lambda x: x.sum())
    per_class = [
        np.concatenate([g.divide(x) for g, x in zip(curves.groups, e, strict=True)]) for e in (extra, first)
    ]
    extra = np.array([float(g.divide(x).sum()) for g, x in zip(curves.groups, extra, strict=True)])
    seen = outlook(curves, extra, interval=interval)
    spent = float(per_class[0] @ np.array([prices[x] for x in labels]))
    floors = np.array(
        [g.share * g.fitted(g.images * (SEARCH_LIMIT - 1) if g.reason is None else 0) for g in curves.groups]
    )
    limiting = tuple(
        curves.groups[i].name for i in np.argsort(-floors, kind="stable") if floors[i] >= floors.max() / 3
    )
    return CollectionPlan(
        table=_plan_table(curves, prices, per_class, seen, status),
        budget=None if budget is None else float(budget),
        target_error=target_error,
        status=status,
        confidence=float(confidence),
        priced=cost is not None,
        spent=spent,
        images=int(per_class[0].sum()),
        rounds=rounds,
        error_now=curves.error_now,
        expected=seen.overall,
        low=seen.overall_low,
        high=seen.overall_high,
        quantile=quantiles(seen.draws, (confidence, confidence))[0],
        uniform_error=curves.expected(uniform_allocation(curves, prices, spent)),
        floor=float(floors.sum()),
        limiting=limiting[:3] if status == Reach.UNREACHABLE else (),
        interval=(float(interval[0]), float(interval[1])),
        n_boot=n_boot,
        seed=seed,
    )


def _target_path(curves: Curves, unit_costs: np.ndarray, target: float, confidence: float):
    """The greedy path up to the first allocation that reaches `target` in `confidence` of the
    refits (reachable); else up to where half of them do (uncertain); else nothing (unreachable)."""
    sampled = np.column_stack([g.sampled(0) for g in curves.groups])
    path = [(0.0, np.zeros(len(curves.groups)))]

    if quantiles(sampled @ curves.shares, (confidence, confidence))[0] <= target:
        return path, Reach.REACHED
    median = None
    limit = (SEARCH_LIMIT - 1) * float(curves.images @ unit_costs)
    for spent, extra in greedy_path(curves, unit_costs, chunk=None, limit=limit):
        i = int(np.flatnonzero(extra != path[-1][1])[0])
        sampled[:, i] = curves.groups[i].sampled(extra[i])
        path.append((spent, extra))
        draws = sampled @ curves.shares
        if quantiles(draws, (confidence, confidence))[0] <= target:
            return path, Reach.REACHABLE
        if median is None and np.median(draws) <= target:
            median = len(path)
    if median is not None:
        return path[:median], Reach.UNCERTAIN
    return path[:1], Reach.UNREACHABLE


def _plan_table(curves: Curves, prices, per_class, seen: Outlook, status) -> pd.DataFrame:
    rows = []
    position = 0
    for g in curves.groups:
        for k, label in enumerate(g.labels):
            collect = int(per_class[0][position])
            if collect > 0:
                reason = Reason.COLLECT
            elif status == Reach.REACHED:
                reason = Reason.NOT_NEEDED
            else:
                reason = g.reason or Reason.OTHERS_FIRST
            rows.append(
                {
                    "label": label,
                    "group": g.name,
                    "have": int(g.have[k]),
                    "collect": collect,
                    "first_round": int(per_class[1][position]),
                    "cost": float(prices[label]),
                    "error_now": float(g.error_now[k]),
                    "error_after": float(seen.expected[position]),
                    "low": float(seen.low[position]),
                    "high": float(seen.high[position]),
                    "share": float(g.shares[k]),
                    "reason": str(reason),
                }
            )
            position += 1
    table = pd.DataFrame(rows, columns=PLAN_COLUMNS)
    return table.sort_values("label", kind="stable").reset_index(drop=True)


# --- inputs --------------------------------------------------------------------------------------


def read_per_class(folder_or_table: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """The per-class table of a run folder (per_class.csv), or the table itself; labels as text."""
    if isinstance(folder_or_table, pd.DataFrame):
        table = folder_or_table
    else:
        folder = Path(folder_or_table)
        if not folder.is_dir():
            raise FileNotFoundError(f"run folder {str(folder)!r} does not exist")
        if not (folder / "per_class.csv").is_file():
            raise FileNotFoundError(
                f"{str(folder)!r} has no per_class.csv: run `datasize curve DATA --out {folder}` first"
            )
        table = pd.read_csv(folder / "per_class.csv", dtype={"label": str}, keep_default_na=False)
    missing = [c for c in PER_CLASS_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(
            f"the per-class table lacks the columns {missing}; it needs {list(PER_CLASS_COLUMNS)}"
        )
    return table.assign(label=table["label"].astype(str))


def read_costs(
    cost: str | os.PathLike | pd.DataFrame | Mapping[str, float] | None, labels: list[str]
) -> np.ndarray:
    """The cost of one image of each class, in `labels` order (all 1 without a cost table).

    >>> read_costs({"rare": 5, "*": 1}, ["common", "rare"]).tolist()
    [1.0, 5.0]
    """
    if cost is None:
        return np.ones(len(labels))
    if isinstance(cost, Mapping):
        table = pd.DataFrame({"label": [str(k) for k in cost], "cost": list(cost.values())})
    elif isinstance(cost, pd.DataFrame):
        table = cost
    else:
        if not Path(cost).is_file():
            raise FileNotFoundError(f"cost file {str(cost)!r} does not exist")
        table = pd.read_csv(cost, dtype={"label": str}, keep_default_na=False)
    if not {"label", "cost"} <= set(table.columns):
        raise ValueError(f"a cost table needs the columns label and cost; got {list(table.columns)}")
    names = table["label"].astype(str).str.strip()
    values = pd.to_numeric(table["cost"], errors="coerce").astype(float)
    bad = ~(values > 0) | ~np.isfinite(values)
    if bad.any():
        shown = dict(zip(names[bad], table["cost"][bad], strict=True))
        raise ValueError(f"costs must be positive numbers; got {shown}")
    twice = sorted(set(names[names.duplicated()]))
    if twice:
        raise ValueError(f"the cost table lists {twice} more than once")
    unknown = sorted(set(names) - set(labels) - {ANY_CLASS})
    if unknown:
        raise ValueError(
            f"the cost table names classes not in the learning curve: {unknown}; its classes are {labels}"
        )
    prices = dict(zip(names, values, strict=True))
    missing = [x for x in labels if x not in prices]
    if missing and ANY_CLASS not in prices:
        raise ValueError(
            f"the cost table has no cost for {missing}: add a row for each, or a row '{ANY_CLASS},COST' "
            "for every class it does not name"
        )
    return np.array([prices.get(x, prices.get(ANY_CLASS)) for x in labels], dtype=float)


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


def _check_options(target_error, budget, confidence, n_boot, interval) -> None:
    if (target_error is None) == (budget is None):
        raise ValueError(
            "give exactly one of target_error and budget; "
            f"got target_error={target_error!r}, budget={budget!r}"
        )
    if target_error is not None and not (isinstance(target_error, int | float) and 0 < target_error < 1):
        raise ValueError(f"target_error={target_error!r} must be between 0 and 1 (an error rate: 0.05 is 5%)")
    if budget is not None and (
        isinstance(budget, bool) or not isinstance(budget, int | float) or not 0 < budget < math.inf
    ):
        raise ValueError(
            f"budget={budget!r} must be a positive number (images, or cost units with a cost table)"
        )
    if isinstance(confidence, bool) or not (isinstance(confidence, int | float) and 0 < confidence < 1):
        raise ValueError(
            f"confidence={confidence!r} must be between 0 and 1 (0.9: plan for the 90th percentile)"
        )
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 10:
        raise ValueError(f"n_boot={n_boot!r} must be an integer of at least 10")
    if len(interval) != 2 or not 0 < interval[0] < interval[1] < 1:
        raise ValueError(f"interval={tuple(interval)!r} must be two quantiles with 0 < low < high < 1")


# --- files ---------------------------------------------------------------------------------------


def write_plan(plan: CollectionPlan, folder: str | os.PathLike) -> list[Path]:
    """plan.json (everything) and plan.csv (the table) in `folder`, each atomically; returns their paths."""
    from datasize.io import write_csv_atomic, write_text_atomic

    folder = Path(folder)
    files = [folder / "plan.json", folder / "plan.csv"]
    write_text_atomic(files[0], json.dumps(plan.to_dict(), indent=2, sort_keys=True, allow_nan=False) + "\n")
    write_csv_atomic(files[1], plan.table)
    return files


# --- words ---------------------------------------------------------------------------------------


def _pct(error: float | None) -> str:
    if error is None or not math.isfinite(error):
        return "n/a"
    return f"{100 * error:.{1 if abs(error) >= 0.001 else 2}f}%"


def _names(labels: list[str]) -> str:
    quoted = [f"'{x}'" for x in labels]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _verdict_sentences(p: CollectionPlan) -> list[str]:
    width = round(100 * (p.interval[1] - p.interval[0]))
    t = p.table
    got = t[t["collect"] > 0].sort_values(["collect", "label"], ascending=[False, True], kind="stable")
    counts = ", ".join(f"{r.collect:,} of '{r.label}'" for r in got.itertuples())
    outcome = (
        f"expected error {_pct(p.expected)} ({width}% interval {_pct(p.low)}–{_pct(p.high)}), "
        f"from {_pct(p.error_now)} now"
    )
    cost = f" (cost {p.spent:,.2f})" if p.priced else ""
    if p.status == Reach.REACHED:
        out = [
            f"No new images are needed: by the curves, the error is at most {_pct(p.target_error)} "
            f"in {p.confidence:.0%} of refits already ({outcome})."
        ]
    elif p.status == Reach.UNREACHABLE:
        out = [
            f"{_pct(p.target_error)} is out of reach by adding images of the same kind: the curves level "
            f"off near an overall {_pct(p.floor)}, held up most by {_names(list(p.limiting))}; look at "
            "their labels, the model or the data's diversity."
        ]
    elif got.empty:
        out = [f"Collect nothing: no class's curve promises a cut in the error ({outcome})."]
    elif p.target_error is not None:
        out = [
            f"To reach {_pct(p.target_error)} with {p.confidence:.0%} confidence, collect {p.images:,} "
            f"images{cost}: {counts}; {outcome}."
        ]
    else:
        amount = f"{p.budget:,.2f} in cost" if p.priced else f"{p.budget:,.0f} new images"
        out = [f"With a budget of {amount}, collect {counts}{cost}; {outcome}."]
    if p.status == Reach.UNCERTAIN:
        out.append(
            f"Half of the refits reach {_pct(p.target_error)} there, but fewer than {p.confidence:.0%} do "
            f"within {SEARCH_LIMIT:,}x the data: it may be out of reach; collect in rounds and plan again."
        )
    if p.images:
        if p.budget is not None and p.spent < 0.9 * p.budget:
            out.append("The rest of the budget is left: by the curves, no class's error would fall further.")
        out.append(
            f"Spread evenly over every class, the same spend would give about {_pct(p.uniform_error)}."
        )
        together = sorted({x for x in t.loc[t["collect"] > 0, "group"] if "+" in x})
        if together:
            out.append(
                f"Classes the model mistakes for each other are collected together, in their current "
                f"proportions ({', '.join(together)}): more of one alone would raise the other's error."
            )
    for reason, words in (
        (Reason.PLATEAUED, "their curves have plateaued (a doubling would surely cut their error little)"),
        (Reason.TOO_FEW_POINTS, "their curves have too few sizes to fit"),
        (Reason.OTHERS_FIRST, "other classes cut the overall error more per unit of cost"),
    ):
        labels = t.loc[t["reason"] == str(reason), "label"].tolist()
        if labels and (reason != Reason.OTHERS_FIRST or p.images):
            out.append(f"{_names(labels)} {'gets' if len(labels) == 1 else 'get'} nothing: {words}.")
    if p.images and p.rounds > 1:
        out.append(
            f"Collect in {p.rounds} rounds: first about {int(t['first_round'].sum()):,} images (the "
            "first_round column), then re-run `datasize curve` and `datasize plan`: a forecast this far "
            "beyond the data often misses."
        )
    return out
