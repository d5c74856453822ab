"""The sizing forecast: from a learning curve's runs (fractions × seeds) to "do I need more images,
and how many?", with intervals, a plateau test, a self-check and a guard.

`forecast(runs)` takes the curve's runs table (runs.csv) (and optionally its per-class table) and:
1. groups the finished runs by training-set size (`points.Curve`): the mean error at each size
   and its standard error (the spread over seeds, never below the validation set's binomial noise);
2. backtests every curve family: fitted to the smaller sizes, each predicts the error measured at
   the larger ones (2x and 4x away, as the forecast will). The best candidate is chosen, and its
   backtest error is the forecast's self-check, shown beside that of `last1`, the last observed
   point, which every family must beat;
3. refits the chosen family to seed-resampled curves (bootstrap) and reads from each refit the
   error at 2x and 4x the current data, the gain per doubling at the current size and the images
   needed for a target error; quantiles of these are the intervals;
4. adds the plateau test, a monotonicity guard, the overfitting summary and the per-class ranking.

Choices, measured on synthetic curves in benchmarks/bench_forecast.py (see its docstring):
- candidates pow3, pow2, pow4, mmf4. The log law is fitted and backtested too, but is no default
  candidate: with 3-5 sizes the backtest picks it by chance on power-law curves, which cost more
  than it gained on log-shaped ones (mean absolute forecast error 0.0195 with it, 0.0171 without).
- the interval of a forecast error is for what a rerun at that size would *measure* (the mean over
  as many seeds as the largest size has now). Refits alone covered the truth 40% of the time, plus
  the measurement's noise 56%: the curve family itself is the larger error. So the family's own
  backtest error, per doubling extrapolated, times the doublings ahead, is added as a normal error
  (MISFIT_SCALE); coverage then 86% for a 10-90% interval (82-89% per scenario).
- the "conservative" images needed is the upper end of its interval (the 90th percentile by
  default): one-shot estimates often miss, and Mahmood et al. (CVPR 2022) advise planning for a
  high quantile and collecting in rounds; the median is reported beside it.
- the fitted floor (irreducible error) is never the headline: it is the least stable number a fit
  gives (Hoiem et al. 2021); the plateau test reads the gain per doubling instead, with the same
  family error added (drawn once per refit, shared with the images needed). Without it, 4 of the
  9 plateaus the benchmark declared were wrong; with it, none is declared there. A gain below half
  a point is rarely provable with 300-2000 validation images, so the verdict has a middle ground:
  "more images may help ... but the curve may be levelling off".

Computation only; nothing here prints.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from datasize.curves.folder import PER_CLASS_INPUT_COLUMNS, RUN_INPUT_COLUMNS
from datasize.forecasting.answer import Answer, decide
from datasize.forecasting.backtest import Backtest, backtest
from datasize.forecasting.bootstrap import bootstrap_fits
from datasize.forecasting.classes import per_class_forecast
from datasize.forecasting.estimates import (
    HORIZONS,
    MISFIT_SCALE,
    Guard,
    Horizon,
    ImagesNeeded,
    Plateau,
    PlateauRule,
    Reach,
    horizon,
    images_needed,
    midway,
    monotonicity_guard,
    refits_plateau,
)
from datasize.forecasting.families import CurveFamily, FitResult, fit_family
from datasize.forecasting.points import Curve, curve_from_runs, overfitting_summary, points_table
from datasize.io import jsonable
from datasize.noise import at_zero

DEFAULT_FAMILIES = (CurveFamily.POW3, CurveFamily.POW2, CurveFamily.POW4, CurveFamily.MMF4)


# --- the forecast -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Forecast:
    """Everything the forecast found; `verdict()` says it in words, `to_dict()` is JSON-ready."""

    n_train: int  # the current (largest) training-set size
    error_rate: float  # the mean error measured there
    points: pd.DataFrame  # per size: n_train, fraction, runs, error_rate (mean), sd, se
    excluded_runs: dict[str, int]  # runs left out of the fits, by status
    fit: FitResult  # the chosen family fitted to all finished runs
    backtest: Backtest  # every family's backtest error, the chosen one and last1's
    horizons: tuple[Horizon, ...]  # at 2x and 4x the current size (2x only when the guard fails)
    plateau: Plateau
    images_needed: ImagesNeeded | None  # None without a target error
    guard: Guard
    overfitting: pd.DataFrame  # see overfitting_summary
    per_class: pd.DataFrame | None  # see per_class_forecast; None without a per-class table
    refits: int  # bootstrap refits that succeeded
    seed: int
    interval: tuple[float, float]
    n_valid: int  # validation images (one fixed set for every run)

    @property
    def family(self) -> CurveFamily:
        return self.fit.family

    @property
    def at_zero(self) -> bool:
        """Whether the error at the current size is within one validation image of zero."""
        return at_zero(self.error_rate, self.n_valid)

    def answer(self) -> Answer:
        """The answer first (one of four kinds), its reasons, then the details (see `answer`)."""
        return decide(self)

    def verdict(self) -> str:
        """Plain sentences, the answer first, then its reasons and the details."""
        return self.answer().text()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN and infinities as None)."""
        return {
            "verdict": self.verdict(),
            "answer": self.answer().to_dict(),
            "n_train": self.n_train,
            "n_valid": self.n_valid,
            "error_rate": jsonable(self.error_rate),
            "family": str(self.family),
            "fit": jsonable(self.fit.to_dict()),
            "forecast": [h.to_dict() for h in self.horizons],
            "plateau": self.plateau.to_dict(),
            "images_needed": None if self.images_needed is None else self.images_needed.to_dict(),
            "backtest": self.backtest.to_dict(),
            "guard": self.guard.to_dict(),
            "overfitting": jsonable(self.overfitting.to_dict("records")),
            "per_class": None if self.per_class is None else jsonable(self.per_class.to_dict("records")),
            "points": jsonable(self.points.to_dict("records")),
            "excluded_runs": dict(self.excluded_runs),
            "bootstrap": {"refits": self.refits, "seed": self.seed, "interval": list(self.interval)},
        }


def forecast(
    runs: pd.DataFrame,
    *,
    per_class: pd.DataFrame | None = None,
    target_error: float | None = None,
    families: Sequence[CurveFamily | str] = DEFAULT_FAMILIES,
    n_boot: int = 200,
    seed: int = 0,
    plateau_threshold: float = 0.005,
    plateau_relative: float = 0.1,
    interval: tuple[float, float] = (0.1, 0.9),
) -> Forecast:
    """Fit the learning curve, choose its family by backtest, and forecast with bootstrap intervals.

    Args:
        runs: one row per training run, as the run folder's runs.csv holds it: n_train, seed,
            error_rate, n_valid and status are needed; fraction, train_error, diagnosis and
            overfit_onset_epoch are used when present. Runs whose status is not "ok" are left out of
            the fits and counted.
        per_class: one row per (run, class): n_train, seed, label, n_train_class, n_valid_class and
            error_rate. Adds a fit per class and the ranking of where to collect first.
        target_error: an error rate in (0, 1); adds the images needed to reach it.
        families: the candidate families, chosen among by backtest; the first wins ties.
        n_boot: bootstrap refits (seed-resampled curves), also per class.
        seed: seeds the bootstrap's own Generator.
        plateau_threshold: a plateau is a gain per doubling surely below this (0.005: half a point)
        plateau_relative: ... and surely below this share of the current error (0.1: a tenth).
        interval: the quantiles of every interval.

    Returns:
        A Forecast; `forecast(runs).verdict()` says it in words.
    """
    ok, excluded = _check_runs(runs)
    candidates = _check_options(families, n_boot, target_error, interval)
    rule = PlateauRule(plateau_threshold, plateau_relative)
    curve = curve_from_runs(ok)
    rng = np.random.default_rng(seed)
    tested = backtest(curve, families=candidates)
    fit = _fit_chosen(curve, tested)
    fits = bootstrap_fits(curve, fit, n_boot=n_boot, rng=rng) or [fit]  # every refit failed: no spread
    guard = monotonicity_guard(curve)
    n_now = float(curve.n.max())
    misfit = tested.misfit(fit.family)
    horizons = tuple(
        horizon(curve, fit, fits, multiple=m, misfit=misfit, interval=interval, rng=rng)
        for m in HORIZONS
        if m <= guard.max_multiple
    )
    failed = math.isfinite(tested.chosen_error) and not tested.beats_baseline and fit.family == tested.chosen
    # at zero there is no fall to blend: "midway between 0.00% and 0.00%" says nothing
    if failed and not at_zero(float(curve.mean[-1]), curve.n_valid):
        # its own generator: the draws below (plateau, images needed) stay those of the fitted curve
        own = np.random.default_rng([seed, 1])
        horizons = _midway(curve, tested, horizons, n_boot=n_boot, interval=interval, rng=own)
    # each refit bends away from its curve by a drift per doubling beyond the current size: the
    # family's own error, as the backtest measured it (the same draws for the gain and the target)
    drifts = MISFIT_SCALE * misfit * rng.standard_normal(len(fits))
    levelling = refits_plateau(
        fit, fits, drifts, n_now=n_now, error_rate=float(curve.mean[-1]), rule=rule, interval=interval
    )
    needed = None
    if target_error is not None:
        needed = images_needed(
            fit, fits, target=target_error, n_current=n_now, drifts=drifts, interval=interval
        )
        if not guard.monotone and needed.status != Reach.REACHED:
            nan = math.nan
            needed = ImagesNeeded(target_error, Reach.UNRELIABLE, nan, nan, nan, nan, needed.floor)
    classes = None
    if per_class is not None:
        table = _check_per_class(per_class, ok)
        classes = per_class_forecast(
            table,
            family=fit.family,
            n_boot=n_boot,
            seed=seed,
            rule=rule,
            interval=interval,
        )
    return Forecast(
        n_train=int(n_now),
        error_rate=float(curve.mean[-1]),
        points=points_table(ok, curve),
        excluded_runs=excluded,
        fit=fit,
        backtest=tested,
        horizons=horizons,
        plateau=levelling,
        images_needed=needed,
        guard=guard,
        overfitting=overfitting_summary(ok),
        per_class=classes,
        refits=len(fits),
        seed=seed,
        interval=(float(interval[0]), float(interval[1])),
        n_valid=curve.n_valid,
    )


def _fit_chosen(curve: Curve, tested: Backtest) -> FitResult:
    """The chosen family on all points; if that fit fails, the next candidates by backtest, then last1."""
    scores = tested.scores[tested.scores["candidate"]].sort_values("error", kind="stable")
    for family in dict.fromkeys([tested.chosen, *map(CurveFamily, scores["family"])]):
        fit = fit_family(family, curve.n, curve.mean, sigma=curve.se)
        if fit is not None:
            return fit
    return fit_family(CurveFamily.LAST1, curve.n, curve.mean)


def _midway(
    curve: Curve,
    tested: Backtest,
    fitted: tuple[Horizon, ...],
    *,
    n_boot: int,
    interval: tuple[float, float],
    rng: np.random.Generator,
) -> tuple[Horizon, ...]:
    """The horizons when the fitted curve failed its self-check: midway between it and the last
    measured point (refitted to seed-resampled curves of its own, with its own backtest error)."""
    flat = fit_family(CurveFamily.LAST1, curve.n, curve.mean)
    flats = bootstrap_fits(curve, flat, n_boot=n_boot, rng=rng) or [flat]
    misfit = tested.misfit(CurveFamily.LAST1)
    return tuple(
        midway(h, horizon(curve, flat, flats, multiple=h.multiple, misfit=misfit, interval=interval, rng=rng))
        for h in fitted
    )


# --- checks at the door ------------------------------------------------------------------------------


def _check_runs(runs: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    if not isinstance(runs, pd.DataFrame):
        raise ValueError(
            f"runs must be a pandas DataFrame (the curve's runs table); got {type(runs).__name__}"
        )
    missing = [c for c in RUN_INPUT_COLUMNS if c not in runs.columns]
    if missing:
        raise ValueError(f"runs lacks the columns {missing}; a forecast needs {list(RUN_INPUT_COLUMNS)}")
    status = runs["status"].astype(str)
    excluded = {str(k): int(v) for k, v in status[status != "ok"].value_counts().sort_index().items()}
    ok = runs[status == "ok"].copy()
    for column in ("n_train", "error_rate", "n_valid"):
        ok[column] = pd.to_numeric(ok[column], errors="coerce")
    bad = ok.loc[~ok["error_rate"].between(0, 1), "error_rate"]
    if len(bad):
        raise ValueError(f"error_rate must be in [0, 1] for finished runs; got {bad.tolist()}")
    bad = ok.loc[~(ok["n_train"] >= 1), "n_train"]
    if len(bad):
        raise ValueError(f"n_train must be positive image counts; got {bad.tolist()}")
    bad = ok.loc[~(ok["n_valid"] >= 2), "n_valid"]
    if len(bad):
        raise ValueError(f"n_valid must be the validation set's size, 2 or more; got {bad.tolist()}")
    sizes = sorted(int(n) for n in ok["n_train"].unique())
    if len(sizes) < 3:
        raise ValueError(
            f"a forecast needs finished runs at 3 or more training-set sizes; got {len(sizes)} {sizes}: "
            "run the learning curve at more fractions"
        )
    return ok.assign(n_train=ok["n_train"].astype(int), n_valid=ok["n_valid"].astype(int)), excluded


def _check_options(families, n_boot, target_error, interval) -> tuple[CurveFamily, ...]:
    names = [str(f) for f in CurveFamily if f != CurveFamily.LAST1]
    if isinstance(families, str) or not all(str(f) in names for f in families) or not families:
        raise ValueError(f"families={families!r} must be one or more of {names} (last1 is the baseline)")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 10:
        raise ValueError(f"n_boot={n_boot!r} must be an integer of at least 10")
    if target_error is not None and not 0 < target_error < 1:
        raise ValueError(f"target_error={target_error!r} must be between 0 and 1 (an error rate: 0.05 is 5%)")
    if len(interval) != 2 or not 0 < interval[0] < interval[1] < 1:
        raise ValueError(f"interval={tuple(interval)!r} must be two quantiles with 0 < low < high < 1")
    return tuple(CurveFamily(f) for f in families)


def _check_per_class(per_class: pd.DataFrame, ok: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in PER_CLASS_INPUT_COLUMNS if c not in per_class.columns]
    if missing:
        raise ValueError(f"per_class lacks the columns {missing}; it needs {list(PER_CLASS_INPUT_COLUMNS)}")
    finished = ok[["n_train", "seed"]].drop_duplicates()
    table = per_class.astype({"n_train": int, "seed": int})
    table = table.merge(finished.astype({"seed": int}), on=["n_train", "seed"], how="inner")  # finished only
    return table[table["n_train_class"] > 0]
