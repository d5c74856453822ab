"""What the refitted curves say, with intervals: the error at 2x and 4x the data, the gain per doubling
and the plateau test, the images a target error needs, and the guard against a curve that rises.

Every interval is for what a rerun would measure: the refits' spread, the measurement's noise and
the family's own error per doubling extrapolated (MISFIT_SCALE; see `sizing` for how each choice
was measured).

Computation only; nothing here prints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from datasize.forecasting.families import FitResult, floor, gain_per_doubling, images_for_error
from datasize.forecasting.points import Curve
from datasize.io import jsonable
from datasize.noise import binomial_variance

HORIZONS = (2, 4)  # forecasts at these multiples of the current training set
SEARCH_LIMIT = 1000  # images needed beyond this multiple of the current data count as unreachable
NOISE_SIGMAS = 2.0  # the guard: a rise in error counts beyond this many standard errors
MISFIT_SCALE = 1.0  # sd of the family's own error = this x its backtest error per doubling x doublings
#   ahead (a 600-curve side study: 0.8 gave 81% coverage of a 10-90% interval, 1.0 84%, 1.25 87%)


class Reach(StrEnum):
    """Whether a target error can be reached with more images of the same kind."""

    REACHED = "reached"  # the current images already reach it, by the fitted curves
    REACHABLE = "reachable"  # every refit in the interval reaches it within SEARCH_LIMIT x the data
    UNCERTAIN = "uncertain"  # the median refit reaches it; the conservative one does not
    UNREACHABLE = "unreachable"  # the fitted floor is above the target, or the median refit never gets there
    UNRELIABLE = "unreliable"  # the guard forbids extrapolating that far


def quantiles(values: np.ndarray, interval: tuple[float, float]) -> tuple[float, float]:
    """The two quantiles of `values` (infinities allowed: then no interpolation across them).

    >>> quantiles(np.array([1.0, 2.0, 3.0, np.inf]), (0.25, 0.75))
    (1.0, 3.0)
    """
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return math.nan, math.nan
    method = "inverted_cdf" if np.isinf(values).any() else "linear"
    low, high = np.quantile(values, interval, method=method)
    return float(low), float(high)


@dataclass(frozen=True)
class Horizon:
    """The forecast error at a multiple of the current training set."""

    multiple: int
    n_train: int
    expected: float  # the headline: the fitted curve's, or midway (see `midway`)
    low: float  # the interval for the error a rerun at that size would measure
    high: float
    fitted: float = math.nan  # the fitted curve's own prediction (the same as expected unless midway)
    last: float = math.nan  # midway only: the last measured point it is blended with

    @property
    def midway(self) -> bool:
        """Whether the headline is midway between the fitted curve and the last measured point."""
        return math.isfinite(self.last)

    def to_dict(self) -> dict[str, Any]:
        return jsonable({**vars(self), "basis": "midway" if self.midway else "fitted curve"})


def midway(fitted: Horizon, last: Horizon) -> Horizon:
    """The headline when the fitted curve failed its self-check (predicted the sizes it had not
    seen no better than the last measured point): halfway between the two predictions, and an
    interval from the lower of their intervals' ends to the higher, since either may be right.

    Measured (benchmarks/bench_headline.py) where the self-check failed: mean absolute error at 2x
    and 4x on 41 synthetic curves 2.14 points midway, 2.32 the fitted curve, 2.79 the last point; on
    8 backtests of real curves (digits, photo crops, MNIST) 0.45, 0.75 and 0.51. Averaging the
    families (2.35, 0.74) and the last point beyond 2x (2.83, 0.58) did worse. The interval covered
    95% and 100% of the measured errors (the fitted curve's alone 85%, the last point's 66%).

    >>> h = midway(Horizon(2, 200, 0.10, 0.08, 0.12), Horizon(2, 200, 0.14, 0.11, 0.17))
    >>> round(h.expected, 3), h.low, h.high, h.fitted, h.last
    (0.12, 0.08, 0.17, 0.1, 0.14)
    """
    return Horizon(
        fitted.multiple,
        fitted.n_train,
        (fitted.expected + last.expected) / 2,
        min(fitted.low, last.low),
        max(fitted.high, last.high),
        fitted=fitted.expected,
        last=last.expected,
    )


def horizon(
    curve: Curve,
    fit: FitResult,
    fits: list[FitResult],
    *,
    multiple: int,
    misfit: float,
    interval: tuple[float, float],
    rng: np.random.Generator,
) -> Horizon:
    """The forecast at `multiple` x the current size. Its interval spreads each refit's prediction
    by the noise of measuring it (seed spread and binomial, over as many seeds as now) and by the
    family's own error (`misfit` per doubling, from the backtest)."""
    n = float(curve.n.max() * multiple)
    expected = np.array([float(f.predict(n)) for f in fits])
    measure = curve.spread_ratio() * binomial_variance(expected, curve.n_valid) / curve.seeds[-1]
    family_error = (MISFIT_SCALE * misfit * math.log2(multiple)) ** 2
    drawn = expected + rng.standard_normal(expected.size) * np.sqrt(measure + family_error)
    low, high = quantiles(np.clip(drawn, 0.0, 1.0), interval)
    expected_here = float(fit.predict(n))
    return Horizon(multiple, round(n), expected_here, low, high, fitted=expected_here)


@dataclass(frozen=True)
class Plateau:
    """The gain per doubling at the current size: how much doubling the images cuts the error."""

    n_train: int
    gain: float  # error(n) - error(2n) on the curve fitted to all runs
    low: float  # its interval over the refits
    high: float
    threshold: float  # in error-rate points
    relative: float  # as a share of the current error
    plateaued: bool  # the whole interval lies below both thresholds
    helps: bool  # the whole interval lies above one of them: a gain surely worth having

    def to_dict(self) -> dict[str, Any]:
        return jsonable(vars(self))


@dataclass(frozen=True)
class PlateauRule:
    """What counts as a plateau: a gain per doubling surely below both of these."""

    threshold: float = 0.005  # in error-rate points: half a point
    relative: float = 0.1  # as a share of the current error: a tenth

    def __post_init__(self) -> None:
        if not self.threshold > 0:
            raise ValueError(f"plateau_threshold={self.threshold!r} must be positive (0.005 is half a point)")
        if not 0 < self.relative < 1:
            raise ValueError(f"plateau_relative={self.relative!r} must be between 0 and 1 (0.1 is a tenth)")


def plateau(
    gains: np.ndarray,
    gain: float,
    *,
    n_train: int,
    error_rate: float,
    rule: PlateauRule,
    interval: tuple[float, float],
) -> Plateau:
    """Plateau when the upper end of the gain's interval is below `rule.threshold` points and below
    `rule.relative` x the current error: a doubling that surely cuts little, absolutely and
    relatively. (The relative test keeps a clean power law at 1% error, halving with each doubling,
    from being called a plateau because its gains are now small in points.)

    >>> gains, ci = np.array([0.001, 0.003]), (0.1, 0.9)
    >>> test = plateau(gains, 0.002, n_train=100, error_rate=0.07, rule=PlateauRule(), interval=ci)
    >>> round(test.high, 6), test.plateaued
    (0.0028, True)
    """
    low, high = quantiles(gains, interval)
    threshold, relative = rule.threshold, rule.relative
    plateaued = high < threshold and high <= relative * error_rate
    helps = low >= min(threshold, relative * error_rate) and low > 0
    return Plateau(n_train, gain, low, high, threshold, relative, bool(plateaued), bool(helps))


@dataclass(frozen=True)
class ImagesNeeded:
    """How many training images the fitted curves need to reach `target` error."""

    target: float
    status: Reach
    median: float  # inf: not reached within SEARCH_LIMIT x the current data
    conservative: float  # the interval's upper end: plan for this many (and collect in rounds)
    low: float
    high: float
    floor: float  # where the fitted curve levels off, for the "not reachable" message

    def to_dict(self) -> dict[str, Any]:
        return jsonable({**vars(self), "status": str(self.status)})


def images_needed(
    fit: FitResult,
    fits: list[FitResult],
    *,
    target: float,
    n_current: float,
    drifts: np.ndarray | None = None,
    interval: tuple[float, float],
) -> ImagesNeeded:
    """The distribution of the images needed for `target` over the refits, each bent beyond the
    current size by its drift (error per doubling: the family's own error, drawn per refit).

    >>> from datasize.forecasting.families import CurveFamily, FitResult
    >>> flat = FitResult(CurveFamily.POW3, (1.0, 0.5, 0.05), 0.0, 5)
    >>> images_needed(flat, [flat] * 10, target=0.01, n_current=100, interval=(0.1, 0.9)).status
    <Reach.UNREACHABLE: 'unreachable'>
    """
    limit = n_current * SEARCH_LIMIT
    drifts = np.zeros(len(fits)) if drifts is None else drifts
    needed = np.array(
        [
            images_for_error(f.family, f.params, target, n_max=limit, drift=d, n_from=n_current)
            for f, d in zip(fits, drifts, strict=True)
        ]
    )
    low, high = quantiles(needed, interval)
    median = quantiles(needed, (0.5, 0.5))[0]
    level = floor(fit.family, fit.params)
    if level >= target or math.isinf(median):
        status = Reach.UNREACHABLE
    elif high <= n_current:
        status = Reach.REACHED
    else:
        status = Reach.UNCERTAIN if math.isinf(high) else Reach.REACHABLE
    return ImagesNeeded(target, status, median, high, low, high, level)


@dataclass(frozen=True)
class Guard:
    """Whether the curve falls as a learning curve should; if not, how far the forecast may reach."""

    monotone: bool
    rises: pd.DataFrame  # n_small, n_large, rise (mean error increase), noise (its standard error)
    max_multiple: int  # forecasts beyond this multiple of the current data are withheld

    def to_dict(self) -> dict[str, Any]:
        return {
            "monotone": self.monotone,
            "max_multiple": self.max_multiple,
            "rises": jsonable(self.rises.to_dict("records")),
        }


def refits_plateau(
    fit: FitResult,
    fits: list[FitResult],
    drifts: np.ndarray,
    *,
    n_now: float,
    error_rate: float,
    rule: PlateauRule,
    interval: tuple[float, float],
) -> Plateau:
    """The plateau test at `n_now` on the fit's gain per doubling, with the interval of the refits'
    gains each less its drift."""
    gains = np.array([gain_per_doubling(f.family, f.params, n_now) for f in fits]) - drifts
    return plateau(
        gains,
        gain_per_doubling(fit.family, fit.params, n_now),
        n_train=int(n_now),
        error_rate=error_rate,
        rule=rule,
        interval=interval,
    )


def monotonicity_guard(curve: Curve, *, sigmas: float = NOISE_SIGMAS) -> Guard:
    """Flag each pair of sizes where the larger one's mean error is higher by more than `sigmas`
    standard errors (seed spread and binomial noise); a flagged curve is extrapolated 2x at most."""
    rows = []
    mean, se = curve.mean, curve.se
    for i in range(len(curve.n)):
        for j in range(i + 1, len(curve.n)):
            rise, noise = float(mean[j] - mean[i]), math.hypot(se[i], se[j])
            if rise > sigmas * noise:
                rows.append(
                    {"n_small": int(curve.n[i]), "n_large": int(curve.n[j]), "rise": rise, "noise": noise}
                )
    rises = pd.DataFrame(rows, columns=["n_small", "n_large", "rise", "noise"])
    return Guard(rises.empty, rises, max(HORIZONS) if rises.empty else min(HORIZONS))
