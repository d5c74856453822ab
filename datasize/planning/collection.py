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
   the whole curve's backtest error (forecasting's MISFIT term), one draw per refit shared by every
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

Steps 1 and 2 are in groups.py, 3 to 5 in allocation.py, each with the choices measured in
benchmarks/bench_plan.py for its part; this module reads the inputs, assembles the CollectionPlan
and says it in words.

Computation only; nothing here prints.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from datasize.curves.folder import PER_CLASS_INPUT_COLUMNS, RunFolder
from datasize.forecasting.estimates import SEARCH_LIMIT, Reach, quantiles
from datasize.io import jsonable, write_csv_atomic, write_json
from datasize.noise import at_zero, confirmable_gain, valid_images_for
from datasize.planning.allocation import (
    GREEDY_STEPS,
    Outlook,
    greedy_path,
    outlook,
    suggested_rounds,
    target_path,
    uniform_allocation,
)
from datasize.planning.groups import Curves, Reason, confusion_groups, fit_curves
from datasize.text import pct

DEFAULT_CONFIDENCE = 0.9
ANY_CLASS = "*"  # a cost table's row for every class it does not name


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
    n_valid: int = 0  # validation images, all classes
    at_zero: bool = False  # the error now is within one validation image of zero: nothing is spent

    def verdict(self) -> str:
        """Plain sentences, the answer first."""
        return " ".join(_verdict_sentences(self))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN and infinities as None)."""
        names = ("budget", "target_error", "confidence", "priced", "spent", "images", "rounds", "error_now")
        names += ("expected", "low", "high", "quantile", "uniform_error", "floor", "n_boot", "seed")
        names += ("n_valid", "at_zero")
        return {
            "verdict": self.verdict(),
            "status": None if self.status is None else str(self.status),
            **{k: jsonable(getattr(self, k)) for k in names},
            "limiting": list(self.limiting),
            "interval": list(self.interval),
            "table": jsonable(self.table.to_dict("records")),
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
        predictions = RunFolder(folder_or_table).largest_predictions()
        groups = confusion_groups(predictions) if predictions is not None else {}
    curves = fit_curves(table, groups=groups, n_boot=n_boot, seed=seed, interval=interval)
    labels = [x for g in curves.groups for x in g.labels]
    prices = dict(zip(labels, read_costs(cost, labels), strict=True))
    unit_costs = np.array([g.unit_cost(np.array([prices[x] for x in g.labels])) for g in curves.groups])
    zero = at_zero(curves.error_now, curves.n_valid)
    if zero:  # no class can be shown to gain: spend nothing, whatever the budget
        path, status = [(0.0, np.zeros(len(curves.groups)))], None if target_error is None else Reach.REACHED
    elif budget is not None:
        steps = greedy_path(curves, unit_costs, chunk=budget / GREEDY_STEPS, limit=budget)
        path, status = [(0.0, np.zeros(len(curves.groups))), *steps], None
    else:
        path, status = target_path(curves, unit_costs, target_error, confidence)
    path_cost, planned = path[-1]  # images per group, fractional, and their cost on the greedy path
    rounds = suggested_rounds(curves.images, planned)
    first_planned = max((x for s, x in path if s <= path_cost / rounds + 1e-9), key=lambda x: x.sum())
    collect = _whole_images(curves, planned)  # per class
    first_round = _whole_images(curves, first_planned)
    bought = np.array([float(g.divide(x).sum()) for g, x in zip(curves.groups, planned, strict=True)])
    seen = outlook(curves, bought, interval=interval)
    spent = float(collect @ np.array([prices[x] for x in labels]))
    floors = np.array(
        [g.share * g.fitted(g.images * (SEARCH_LIMIT - 1) if g.reason is None else 0) for g in curves.groups]
    )
    limiting = tuple(
        curves.groups[i].name for i in np.argsort(-floors, kind="stable") if floors[i] >= floors.max() / 3
    )
    return CollectionPlan(
        table=_plan_table(curves, prices, collect, first_round, seen, status, zero),
        budget=None if budget is None else float(budget),
        target_error=target_error,
        status=status,
        confidence=float(confidence),
        priced=cost is not None,
        spent=spent,
        images=int(collect.sum()),
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
        n_valid=curves.n_valid,
        at_zero=zero,
    )


def _whole_images(curves: Curves, per_group: np.ndarray) -> np.ndarray:
    """Images per group as whole images per class (in the groups' class order), rounded down."""
    return np.concatenate([g.divide(x) for g, x in zip(curves.groups, per_group, strict=True)])


def _plan_table(
    curves: Curves,
    prices,
    collect: np.ndarray,
    first_round: np.ndarray,
    seen: Outlook,
    status,
    zero: bool = False,
) -> pd.DataFrame:
    rows = []
    position = 0
    for g in curves.groups:
        for k, label in enumerate(g.labels):
            images = int(collect[position])
            if images > 0:
                reason = Reason.COLLECT
            elif status == Reach.REACHED or zero:
                reason = Reason.NOT_NEEDED
            else:
                reason = g.reason or Reason.OTHERS_FIRST
            rows.append(
                {
                    "label": label,
                    "group": g.name,
                    "have": int(g.have[k]),
                    "collect": images,
                    "first_round": int(first_round[position]),
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
        table = RunFolder(folder_or_table).read_per_class()
    missing = [c for c in PER_CLASS_INPUT_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(
            f"the per-class table lacks the columns {missing}; it needs {list(PER_CLASS_INPUT_COLUMNS)}"
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
    """plan.json (everything) and plan.csv (the table) in the run folder, each atomically; returns their
    paths."""
    files = RunFolder(folder).plan_files
    write_json(files[0], plan.to_dict())
    write_csv_atomic(files[1], plan.table)
    return list(files)


# --- words ---------------------------------------------------------------------------------------


def _names(labels: list[str]) -> str:
    quoted = [f"'{x}'" for x in labels]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _what_it_cannot_promise(p: CollectionPlan) -> list[str]:
    """When the validation set is too small to confirm the gain the plan expects, say so, with the
    smallest gain it can confirm and the validation images that would resolve this one."""
    gain = p.error_now - p.expected
    if not p.n_valid or not gain > 0:
        return []
    least = confirmable_gain(p.error_now, p.n_valid)
    if gain >= least:
        return []
    return [
        f"This cannot be confirmed on the current validation set: {p.n_valid:,} validation images tell "
        f"a gain of about {100 * least:.1f} points or more from noise, and this plan expects "
        f"{100 * gain:.1f}; measuring it takes about {valid_images_for(gain, p.error_now):,} validation "
        "images (a larger --valid-pct, or new images held out for validation)."
    ]


def _verdict_sentences(p: CollectionPlan) -> list[str]:
    width = round(100 * (p.interval[1] - p.interval[0]))
    t = p.table
    got = t[t["collect"] > 0].sort_values(["collect", "label"], ascending=[False, True], kind="stable")
    counts = ", ".join(f"{r.collect:,} of '{r.label}'" for r in got.itertuples())
    outcome = (
        f"expected error {pct(p.expected)} ({width}% interval {pct(p.low)}–{pct(p.high)}), "
        f"from {pct(p.error_now)} now"
    )
    cost = f" (cost {p.spent:,.2f})" if p.priced else ""
    if p.at_zero:
        return [
            f"Collect nothing: the error is already within one of {p.n_valid:,} validation images of zero "
            f"({pct(p.error_now)}), so no class can be shown to gain from more images; only a larger "
            "validation set can measure lower."
        ]
    if p.status == Reach.REACHED:
        out = [
            f"No new images are needed: by the curves, the error is at most {pct(p.target_error)} "
            f"in {p.confidence:.0%} of refits already ({outcome})."
        ]
    elif p.status == Reach.UNREACHABLE:
        out = [
            f"{pct(p.target_error)} is out of reach by adding images of the same kind: the curves level "
            f"off near an overall {pct(p.floor)}, held up most by {_names(list(p.limiting))}; look at "
            "their labels, the model or the data's diversity."
        ]
    elif got.empty:
        out = [f"Collect nothing: no class's curve promises a cut in the error ({outcome})."]
    elif p.target_error is not None:
        out = [
            f"To reach {pct(p.target_error)} with {p.confidence:.0%} confidence, collect {p.images:,} "
            f"images{cost}: {counts}; {outcome}."
        ]
    else:
        amount = f"{p.budget:,.2f} in cost" if p.priced else f"{p.budget:,.0f} new images"
        out = [f"With a budget of {amount}, collect {counts}{cost}; {outcome}."]
    if p.status == Reach.UNCERTAIN:
        out.append(
            f"Half of the refits reach {pct(p.target_error)} there, but fewer than {p.confidence:.0%} do "
            f"within {SEARCH_LIMIT:,}x the data: it may be out of reach; collect in rounds and plan again."
        )
    if p.images:
        out += _what_it_cannot_promise(p)
        if p.budget is not None and p.spent < 0.9 * p.budget:
            out.append("The rest of the budget is left: by the curves, no class's error would fall further.")
        out.append(f"Spread evenly over every class, the same spend would give about {pct(p.uniform_error)}.")
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
