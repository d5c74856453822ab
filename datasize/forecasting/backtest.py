"""The backtest: each curve family fitted to the smaller sizes of a curve and scored on the larger ones
it did not see, against `last1`, the last observed point, which every family must beat.

Computation only; nothing here prints.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from datasize.forecasting.families import CurveFamily, fit_family
from datasize.forecasting.points import Curve
from datasize.io import jsonable


@dataclass(frozen=True)
class Backtest:
    """How well each family, fitted to the smaller sizes, predicted the measured larger ones."""

    scores: pd.DataFrame  # family, n_params, candidate, error (mean absolute), one column per split
    residuals: pd.DataFrame  # family, split, n_train, doublings (from the largest size fitted),
    #   predicted, observed: every held-out prediction
    chosen: CurveFamily
    chosen_error: float  # the chosen family's backtest error (NaN when none could be backtested)
    baseline_error: float  # last1's

    @property
    def beats_baseline(self) -> bool:
        return bool(self.chosen_error < self.baseline_error)

    def misfit_per_doubling(self, family: CurveFamily) -> float:
        """The family's mean absolute backtest error per doubling extrapolated (NaN if none)."""
        rows = self.residuals[self.residuals["family"] == family]
        if rows.empty:
            return math.nan
        miss = (rows["predicted"] - rows["observed"]).abs() / rows["doublings"].clip(lower=0.5)
        return float(miss.mean())

    def misfit(self, family: CurveFamily) -> float:
        """The family's error per doubling (`misfit_per_doubling`); last1's when the family could not be
        backtested: the drift a forecast with this family must allow for."""
        misfit = self.misfit_per_doubling(family)
        return misfit if math.isfinite(misfit) else self.misfit_per_doubling(CurveFamily.LAST1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "chosen": str(self.chosen),
            "error": jsonable(self.chosen_error),
            "baseline_error": jsonable(self.baseline_error),
            "beats_baseline": self.beats_baseline,
            "families": jsonable(self.scores.to_dict("records")),
            "residuals": jsonable(self.residuals.to_dict("records")),
        }


def backtest_splits(n: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """The backtests: fit the sizes below the largest and predict it; with 5 or more sizes, also fit
    those up to a quarter of the largest and predict the rest (2x and 4x away).

    >>> [(name, keep.tolist()) for name, keep in backtest_splits(np.array([1, 2, 4, 8, 16]))]
    [('to_largest', [True, True, True, True, False]), ('from_quarter', [True, True, True, False, False])]
    """
    splits = [("to_largest", n < n.max())]
    quarter = n <= n.max() / 4 * 1.1  # the curve plan rounds each fraction's size to whole images
    if len(n) >= 5 and quarter.sum() >= 3:
        splits.append(("from_quarter", quarter))
    return splits


def backtest(curve: Curve, *, families: Sequence[CurveFamily], score_all: bool = True) -> Backtest:
    """Score every family (and last1) by its extrapolation error, and choose among `families`.

    A family's score is its mean absolute error over the backtests; it is scored only where each
    backtest has at least as many sizes to fit as it has parameters. The chosen family has the
    lowest score among `families`; ties, and curves where none could be scored, go to the first.
    Every family is scored, so that the table shows how the others would have done; with
    `score_all=False` only `families` and last1 are (where only the misfit is read: 6x fewer fits).
    """
    splits = backtest_splits(curve.n)
    scored = [f for f in CurveFamily if score_all or f in families or f == CurveFamily.LAST1]
    scores, residuals = [], []
    for family in scored:
        row: dict[str, Any] = {
            "family": str(family),
            "n_params": family.n_params,
            "candidate": family in families,
        }
        for name, keep in splits:
            held = _holdout(curve, keep, family)
            row[name] = float(np.mean(np.abs(held["predicted"] - held["observed"]))) if held else math.nan
            residuals += [{"family": str(family), "split": name, **r} for r in _rows(held)]
        split_scores = [row[name] for name, _ in splits]
        row["error"] = float(np.mean(split_scores)) if all(map(math.isfinite, split_scores)) else math.nan
        scores.append(row)
    table = pd.DataFrame(
        scores, columns=["family", "n_params", "candidate", "error", *[s for s, _ in splits]]
    )
    order = {str(f): i for i, f in enumerate(families)}
    ranked = table[table["candidate"]].dropna(subset=["error"])
    ranked = ranked.assign(order=ranked["family"].map(order)).sort_values(["error", "order"], kind="stable")
    chosen = CurveFamily(ranked["family"].iloc[0]) if len(ranked) else CurveFamily(families[0])
    chosen_error = float(ranked["error"].iloc[0]) if len(ranked) else math.nan
    baseline = float(table.loc[table["family"] == CurveFamily.LAST1, "error"].iloc[0])
    columns = ["family", "split", "n_train", "doublings", "predicted", "observed"]
    return Backtest(table, pd.DataFrame(residuals, columns=columns), chosen, chosen_error, baseline)


def _holdout(curve: Curve, keep: np.ndarray, family: CurveFamily) -> dict[str, np.ndarray] | None:
    train = curve.subset(keep)
    if len(train.n) < family.n_params:
        return None
    fit = fit_family(family, train.n, train.mean, sigma=train.se)
    if fit is None:
        return None
    n = curve.n[~keep]
    return {
        "n_train": n,
        "doublings": np.log2(n / train.n.max()),
        "predicted": fit.predict(n),
        "observed": curve.mean[~keep],
    }


def _rows(held: dict[str, np.ndarray] | None) -> list[dict[str, float]]:
    if held is None:
        return []
    return [{k: float(v[i]) for k, v in held.items()} for i in range(len(held["n_train"]))]
