"""Learning-curve families: error(n) as small pure functions, a bounded weighted fitter, and what a
fitted curve says (its floor, the gain per doubling, the images needed for a target error).

Every family is non-increasing in n (the fit's bounds see to it), so "the smallest n that reaches
a target" is well defined; it is found on a log grid, then by bisection. Parameters refer to n in
images (not fractions) and errors are fractions in [0, 1]; `predict` clips to that range. Fitting
works on n / n_ref (n_ref: the largest n fitted) so that the optimiser sees numbers near 1.

Families (names as in the LCDB survey, written for an error that falls with n):
    pow2   a·n^-b                    a straight line in log-log; no floor
    pow3   a·n^-b + c                the extended power law; c is the floor (irreducible error)
    pow4   a·(n + d)^-b + c          pow3 with an offset d: flat for n << d, the small-data knee
    mmf4   c + (a - c)/(1 + (n/k)^d) Morgan-Mercer-Flodin: a sigmoid in log n from a (no data) to c
    log2   a - b·ln n                the log law, clipped at 0
    last1  a                         the last observed mean: the baseline every family must beat

The fitter works on a scaled problem (`SCALED_MODELS`, `scaled_bounds`, `scaled_jacobian`,
`scaled_starts`, `to_scaled`, `result_from_scaled`), which `bootstrap` solves for many curves at once.

Computation only; nothing here prints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import ArrayLike

MAX_EXPONENT = 4.0  # steeper than n^-4 is not a learning curve; real exponents are ~0.07-1.5


class CurveFamily(StrEnum):
    """The curve families `fit_family` knows; see the module docstring for their formulas."""

    POW2 = "pow2"
    POW3 = "pow3"
    POW4 = "pow4"
    MMF4 = "mmf4"
    LOG2 = "log2"
    LAST1 = "last1"

    @property
    def param_names(self) -> tuple[str, ...]:
        return _PARAM_NAMES[self]

    @property
    def n_params(self) -> int:
        return len(_PARAM_NAMES[self])


_PARAM_NAMES = {
    CurveFamily.POW2: ("a", "b"),
    CurveFamily.POW3: ("a", "b", "c"),
    CurveFamily.POW4: ("a", "b", "c", "d"),
    CurveFamily.MMF4: ("a", "c", "k", "d"),
    CurveFamily.LOG2: ("a", "b"),
    CurveFamily.LAST1: ("a",),
}


@dataclass(frozen=True)
class FitResult:
    """A family fitted to (n, error) points."""

    family: CurveFamily
    params: tuple[float, ...]  # in the order of family.param_names; n in images
    chi2: float  # sum of squared residuals, each divided by its sigma
    n_points: int

    def predict(self, n: ArrayLike) -> np.ndarray:
        return predict(self.family, self.params, n)

    def to_dict(self) -> dict[str, object]:
        return {
            "family": str(self.family),
            "params": dict(zip(self.family.param_names, self.params, strict=True)),
            "chi2": self.chi2,
            "n_points": self.n_points,
        }


def predict(family: CurveFamily, params: ArrayLike, n: ArrayLike) -> np.ndarray:
    """The error the family predicts at n images, clipped to [0, 1].

    >>> predict(CurveFamily.POW3, (2.0, 0.5, 0.01), [100, 400]).round(6).tolist()
    [0.21, 0.11]
    """
    family = CurveFamily(family)
    n = np.asarray(n, dtype=float)
    p = np.asarray(params, dtype=float)
    if len(p) != family.n_params:
        raise ValueError(f"{family} takes {family.n_params} parameters {family.param_names}; got {len(p)}")
    if np.any(n <= 0):
        raise ValueError(f"n must be positive image counts; got {n.tolist()}")
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        if family == CurveFamily.POW2:
            y = p[0] * n ** -p[1]
        elif family == CurveFamily.POW3:
            y = p[0] * n ** -p[1] + p[2]
        elif family == CurveFamily.POW4:
            y = p[0] * (n + p[3]) ** -p[1] + p[2]
        elif family == CurveFamily.MMF4:
            y = p[1] + (p[0] - p[1]) / (1 + (n / p[2]) ** p[3])
        elif family == CurveFamily.LOG2:
            y = p[0] - p[1] * np.log(n)
        else:
            y = np.full_like(n, p[0])
    return np.clip(np.nan_to_num(y, nan=1.0, posinf=1.0, neginf=0.0), 0.0, 1.0)


def floor(family: CurveFamily, params: ArrayLike) -> float:
    """The error the family tends to as n grows without end.

    >>> floor(CurveFamily.POW3, (2.0, 0.5, 0.01))
    0.01
    """
    family = CurveFamily(family)
    p = [float(v) for v in params]
    if family in (CurveFamily.POW3, CurveFamily.POW4):
        return min(max(p[2], 0.0), 1.0) if p[1] > 0 else float(predict(family, p, 1.0))
    if family == CurveFamily.MMF4:
        return min(max(p[1], 0.0), 1.0)
    if family == CurveFamily.LAST1:
        return min(max(p[0], 0.0), 1.0)
    if family == CurveFamily.LOG2 and p[1] == 0:
        return min(max(p[0], 0.0), 1.0)
    return 0.0 if p[1] > 0 else min(max(p[0], 0.0), 1.0)


def gain_per_doubling(family: CurveFamily, params: ArrayLike, n: float) -> float:
    """How much the error falls from n to 2n images: predict(n) - predict(2n).

    >>> round(gain_per_doubling(CurveFamily.LOG2, (0.5, 0.01), 100), 5)  # b ln 2
    0.00693
    """
    low, high = predict(family, params, [n, 2 * n])
    return float(low - high)


def images_for_error(
    family: CurveFamily,
    params: ArrayLike,
    target: float,
    *,
    n_max: float,
    drift: float = 0.0,
    n_from: float = 1.0,
) -> float:
    """The smallest n (images) at which the predicted error is at most `target`; inf when no n up to
    n_max gets there (the floor is above the target, or it is too far away).

    `drift` adds drift x log2(n / n_from) to the error beyond n_from: a curve that bends away from
    the fit by `drift` per doubling (the family's own error, as the backtest measured it).

    >>> images_for_error(CurveFamily.POW2, (1.0, 0.5), 0.01, n_max=1e6)  # 1/sqrt(n) = 0.01
    10000.0
    >>> images_for_error(CurveFamily.POW3, (1.0, 0.5, 0.02), 0.01, n_max=1e6)
    inf
    """

    def error_at(log_n: np.ndarray) -> np.ndarray:
        n = np.exp(log_n)
        return predict(family, params, n) + drift * np.log2(np.maximum(n / n_from, 1.0))

    grid = np.linspace(0.0, math.log(n_max), 256)
    below = np.flatnonzero(error_at(grid) <= target)
    if below.size == 0:
        return math.inf
    if below[0] == 0:
        return 1.0
    lo, hi = grid[below[0] - 1], grid[below[0]]  # error_at(lo) > target >= error_at(hi)
    while hi - lo > 1e-7:
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if error_at(np.array(mid)) <= target else (mid, hi)
    n = math.exp(hi)
    return float(round(n)) if abs(n - round(n)) < 1e-3 else float(math.ceil(n))


# --- fitting ----------------------------------------------------------------------------------------


def fit_family(
    family: CurveFamily,
    n: ArrayLike,
    error: ArrayLike,
    *,
    sigma: ArrayLike | None = None,
    start: ArrayLike | None = None,
) -> FitResult | None:
    """Fit one family to (n, error) points by bounded weighted least squares; None when it cannot.

    Args:
        family: the curve family.
        n: training-set sizes in images (positive).
        error: the mean error at each n, in [0, 1].
        sigma: the standard error of each error value (residuals are divided by it); None: equal.
        start: raw parameters to start from (a fit to similar points, as in a bootstrap); the
            family's own starting points are tried only when this one fails.

    Returns:
        The best fit over several starting points, or None when the points are fewer than the
        family's parameters or no start converged. Never raises on a failed fit.

    >>> fit = fit_family(CurveFamily.POW2, [100, 400, 1600], [0.1, 0.05, 0.025])
    >>> [round(v, 3) for v in fit.params]
    [1.0, 0.5]
    """
    family = CurveFamily(family)
    n = np.asarray(n, dtype=float)
    y = np.asarray(error, dtype=float)
    s = np.ones_like(y) if sigma is None else np.asarray(sigma, dtype=float)
    if n.shape != y.shape or s.shape != y.shape:
        raise ValueError(
            f"n, error and sigma must have one value per point; got {n.shape}, {y.shape}, {s.shape}"
        )
    if len(n) < family.n_params or not (np.all(n > 0) and np.all(np.isfinite(y)) and np.all(s > 0)):
        return None
    if family == CurveFamily.LAST1:
        return FitResult(
            family, (float(y[np.argmax(n)]),), float(np.sum(((y - y[np.argmax(n)]) / s) ** 2)), len(y)
        )
    n_ref = float(n.max())
    x = n / n_ref
    if start is not None:
        warm = _fit_scaled(family, x, y, s, [to_scaled(family, np.asarray(start, dtype=float), n_ref)])
        if warm is not None:
            return result_from_scaled(family, warm.x, warm.cost, n_ref, len(y))
    best = _fit_scaled(family, x, y, s, scaled_starts(family, x, y, s))
    return None if best is None else result_from_scaled(family, best.x, best.cost, n_ref, len(y))


def _fit_scaled(family: CurveFamily, x: np.ndarray, y: np.ndarray, s: np.ndarray, starts: list[np.ndarray]):
    """The best scipy least_squares result over the starting points, or None."""
    from scipy.optimize import least_squares

    model = SCALED_MODELS[family]
    lower, upper = scaled_bounds(family, x)
    best = None
    for theta0 in starts:
        theta0 = np.clip(np.nan_to_num(theta0, nan=0.0), lower + 1e-9, upper - 1e-9)
        try:
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                result = least_squares(
                    lambda t: (model(t, x) - y) / s,
                    theta0,
                    jac=lambda t: scaled_jacobian(family, t, x) / s[:, None],
                    bounds=(lower, upper),
                    method="trf",
                    max_nfev=200,
                )
        except (ValueError, np.linalg.LinAlgError):
            continue
        good = result.status > 0 and np.all(np.isfinite(result.x)) and np.isfinite(result.cost)
        if good and (best is None or result.cost < best.cost):
            best = result
    return best


def result_from_scaled(
    family: CurveFamily, theta: np.ndarray, cost: float, n_ref: float, n_points: int
) -> FitResult | None:
    """The fit in raw parameters (n in images) from scaled ones and the half sum of squares; None
    when a parameter is not finite."""
    params = tuple(float(v) for v in _to_raw(family, theta, n_ref))
    if not all(math.isfinite(v) for v in params):
        return None
    return FitResult(family, params, float(2 * cost), n_points)


def _pow(t: np.ndarray, x: np.ndarray) -> np.ndarray:
    return t[0] * x ** -t[1]


def _pow3(t: np.ndarray, x: np.ndarray) -> np.ndarray:
    return t[0] * x ** -t[1] + t[2]


def _pow4(t: np.ndarray, x: np.ndarray) -> np.ndarray:
    return t[0] * (x + t[3]) ** -t[1] + t[2]


def _mmf4(t: np.ndarray, x: np.ndarray) -> np.ndarray:
    # (c, h, ln k, d): c + h / (1 + (x/k)^d), with h = a - c >= 0 so the curve never rises
    return t[0] + t[1] / (1 + np.exp(t[3] * (np.log(x) - t[2])))


def _log2(t: np.ndarray, x: np.ndarray) -> np.ndarray:
    return t[0] - t[1] * np.log(x)


def scaled_jacobian(family: CurveFamily, t: np.ndarray, x: np.ndarray) -> np.ndarray:
    """d model / d theta, one column per scaled parameter (finite differences are 10x slower).

    `t` is one parameter vector, or (params, curves, 1) for many curves at once (bootstrap.py).
    """
    ln_x = np.log(x)
    one = np.ones_like(x)
    if family in (CurveFamily.POW2, CurveFamily.POW3):
        power = x ** -t[1]
        columns = [power, -t[0] * power * ln_x] + ([one] if family == CurveFamily.POW3 else [])
    elif family == CurveFamily.POW4:
        u = x + t[3]
        power = u ** -t[1]
        columns = [power, -t[0] * power * np.log(u), one, -t[0] * t[1] * power / u]
    elif family == CurveFamily.MMF4:
        z = np.exp(t[3] * (ln_x - t[2]))
        q = 1 / (1 + z)
        columns = [one, q, t[1] * t[3] * z * q**2, -t[1] * (ln_x - t[2]) * z * q**2]
    else:  # log2
        columns = [one, -ln_x]
    return np.stack(np.broadcast_arrays(*columns), axis=-1)  # (points, params) or (curves, points, params)


SCALED_MODELS = {
    CurveFamily.POW2: _pow,
    CurveFamily.POW3: _pow3,
    CurveFamily.POW4: _pow4,
    CurveFamily.MMF4: _mmf4,
    CurveFamily.LOG2: _log2,
}


def scaled_bounds(family: CurveFamily, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    b = MAX_EXPONENT
    if family == CurveFamily.POW2:
        return np.array([0.0, 0.0]), np.array([2.0, b])
    if family == CurveFamily.POW3:
        return np.array([0.0, 0.0, 0.0]), np.array([2.0, b, 1.0])
    if family == CurveFamily.POW4:
        return np.array([0.0, 0.0, 0.0, 0.0]), np.array([1e3, b, 1.0, 10.0])
    if family == CurveFamily.MMF4:
        ln_min = float(np.log(x.min()))
        return np.array([0.0, 0.0, ln_min - 8, 0.05]), np.array([1.0, 1.0, 3.0, b])
    return np.array([-1.0, 0.0]), np.array([2.0, 1.0])  # log2


def _loglog_line(x: np.ndarray, y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """(a, b) of y ≈ a·x^-b by weighted least squares in log-log (relative weights y/s)."""
    ly = np.log(np.maximum(y, 1e-4))
    w = np.maximum(y, 1e-4) / s
    slope, intercept = np.polyfit(np.log(x), ly, 1, w=w) if len(x) >= 2 else (0.0, ly[0])
    return float(np.exp(intercept)), float(np.clip(-slope, 0.0, MAX_EXPONENT))


def scaled_starts(family: CurveFamily, x: np.ndarray, y: np.ndarray, s: np.ndarray) -> list[np.ndarray]:
    low = float(max(y.min(), 0.0))
    if family == CurveFamily.POW2:
        return [np.array(_loglog_line(x, y, s))]
    if family == CurveFamily.LOG2:
        slope, intercept = np.polyfit(np.log(x), y, 1, w=1 / s)
        return [np.array([intercept, max(-slope, 0.0)])]
    starts = []
    for share in (0.0, 0.5, 0.9):
        c = share * low
        a, b = _loglog_line(x, y - c, s)
        if family == CurveFamily.POW3:
            starts.append(np.array([a, b, c]))
        elif family == CurveFamily.POW4:
            starts += [np.array([a, b, c, 0.0]), np.array([a * (1 + x.min()) ** b, b, c, x.min()])]
        else:  # mmf4: the power-law limit c + h (x/k)^-d of the sigmoid, with k below the data
            for below in (1.0, 3.0):
                ln_k = float(np.log(x.min())) - below
                h = min(a * np.exp(-b * ln_k), 1.0)
                starts.append(np.array([c, h, ln_k, max(b, 0.1)]))
    return starts


def _to_raw(family: CurveFamily, t: np.ndarray, n_ref: float) -> np.ndarray:
    if family in (CurveFamily.POW2, CurveFamily.POW3):
        return np.array([t[0] * n_ref ** t[1], *t[1:]])
    if family == CurveFamily.POW4:
        return np.array([t[0] * n_ref ** t[1], t[1], t[2], t[3] * n_ref])
    if family == CurveFamily.MMF4:
        return np.array([t[0] + t[1], t[0], np.exp(t[2]) * n_ref, t[3]])
    return np.array([t[0] + t[1] * np.log(n_ref), t[1]])  # log2


def to_scaled(family: CurveFamily, p: np.ndarray, n_ref: float) -> np.ndarray:
    if family in (CurveFamily.POW2, CurveFamily.POW3):
        return np.array([p[0] * n_ref ** -p[1], *p[1:]])
    if family == CurveFamily.POW4:
        return np.array([p[0] * n_ref ** -p[1], p[1], p[2], p[3] / n_ref])
    if family == CurveFamily.MMF4:
        return np.array([p[1], p[0] - p[1], np.log(p[2] / n_ref), p[3]])
    return np.array([p[0] - p[1] * np.log(n_ref), p[1]])  # log2
