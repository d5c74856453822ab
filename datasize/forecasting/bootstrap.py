"""The bootstrap of a fitted learning curve: seed-resampled curves, and one family refitted to all of
them at once.

A bootstrap refits one family to a hundred or more curves that differ only in their means, each
started from the point fit. One scipy `least_squares` call costs ~3 ms whatever the size of the
problem, so `refit_many` solves every curve together instead: a Levenberg-Marquardt iteration on a
(curves x parameters) array, each step clipped to just inside the family's bounds (a parameter on a
bound whose gradient points outward is held there). A curve whose solve has not converged within
`MAX_ITERATIONS` is refitted alone by `fit_family` (scipy).

Only the families with a single valley near a warm start are solved together (BATCHED: pow2, pow3,
log2). On 3,000 noisy refits each (5 sizes), the batch and scipy's loop reached the same cost
(pow3: 1 refit worse by more than 1e-6 of its cost, and by 5e-4; 8 better) at 10-15x the speed.
The 4-parameter families have several valleys: from a degenerate start (a flat mmf4) scipy's
reflective trust region reached a lower one in ~1% of refits where the damped steps stalled, so
pow4 and mmf4 keep scipy's loop.

Computation only; nothing here prints.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
from numpy.typing import ArrayLike

from datasize.forecasting.families import (
    SCALED_MODELS,
    CurveFamily,
    FitResult,
    fit_family,
    result_from_scaled,
    scaled_bounds,
    scaled_jacobian,
    scaled_starts,
    to_scaled,
)
from datasize.forecasting.points import Curve

BATCHED = (CurveFamily.POW2, CurveFamily.POW3, CurveFamily.LOG2)  # see the module docstring
MAX_ITERATIONS = 200  # damped Gauss-Newton steps before a curve falls back to scipy; warm starts take ~5-20
RELATIVE_COST = 1e-10  # converged: a step that lowers the cost by less than this share of it...
RELATIVE_STEP = 1e-8  # ... and moves no parameter by more than this x the largest one (at least 1)
MAX_DAMPING = 1e12  # converged too: no step, however short, lowers the cost (a minimum on a bound)


def resample_means(curve: Curve, *, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Mean errors of `n_boot` curves whose seeds are resampled within each size: (n_boot, sizes).

    With k seeds a resampled mean varies (k-1)/k times less than the mean itself, so deviations are
    scaled back up by sqrt(k/(k-1)); a size with one seed moves by its standard error instead.
    """
    out = np.empty((n_boot, len(curve.n)))
    for j, (errors, se) in enumerate(zip(curve.errors, curve.se, strict=True)):
        k, centre = len(errors), errors.mean()
        if k > 1:
            drawn = errors[rng.integers(0, k, size=(n_boot, k))].mean(axis=1)
            out[:, j] = centre + math.sqrt(k / (k - 1)) * (drawn - centre)
        else:
            out[:, j] = centre + rng.normal(0.0, se, size=n_boot)
    return np.clip(out, 0.0, 1.0)


def bootstrap_fits(curve: Curve, fit: FitResult, *, n_boot: int, rng: np.random.Generator) -> list[FitResult]:
    """The fit's family refitted to `n_boot` seed-resampled curves (refits that fail are left out)."""
    means = resample_means(curve, n_boot=n_boot, rng=rng)
    refits = refit_many(fit.family, curve.n, means, sigma=curve.se, start=fit.params)
    return [refit for refit in refits if refit is not None]


def refit_many(
    family: CurveFamily, n: ArrayLike, errors: ArrayLike, *, sigma: ArrayLike, start: ArrayLike
) -> list[FitResult | None]:
    """`fit_family(family, n, row, sigma=sigma, start=start)` for every row of `errors`, solved together.

    Args:
        family: the curve family.
        n: the training-set sizes, shared by every curve (positive).
        errors: (curves, sizes) mean errors in [0, 1].
        sigma: the standard error of each size's mean, shared by every curve.
        start: raw parameters every curve starts from (the point fit).

    Returns:
        One FitResult per row (None where `fit_family` would return None), in row order; rows the
        batch did not bring to convergence are fitted by `fit_family` itself.
    """
    family = CurveFamily(family)
    n = np.asarray(n, dtype=float)
    y = np.atleast_2d(np.asarray(errors, dtype=float))
    s = np.asarray(sigma, dtype=float)
    if y.shape[1:] != n.shape or s.shape != n.shape:
        raise ValueError(f"errors must be (curves, {len(n)}) and sigma ({len(n)},); got {y.shape}, {s.shape}")
    solvable = (
        family in BATCHED
        and len(n) >= family.n_params
        and bool(np.all(n > 0) and np.all(s > 0) and np.all(np.isfinite(s)))
    )
    out: list[FitResult | None] = [None] * len(y)
    rows = np.flatnonzero(np.all(np.isfinite(y), axis=1)) if solvable else np.arange(0)
    if len(rows):
        n_ref = float(n.max())
        x = n / n_ref
        theta0 = to_scaled(family, np.asarray(start, dtype=float), n_ref)
        theta, cost, done = _solve(family, x, y[rows], s, theta0)
        _restart_on_bounds(family, x, y[rows], s, theta, cost, done)
        for row, t, c, ok in zip(rows, theta, cost, done, strict=True):
            out[row] = result_from_scaled(family, t, c, n_ref, len(n)) if ok else None
    for row in range(len(y)):  # not converged, or not solved together (see BATCHED)
        if out[row] is None:
            out[row] = fit_family(family, n, y[row], sigma=s, start=start)
    return out


def _restart_on_bounds(
    family: CurveFamily, x: np.ndarray, y: np.ndarray, s: np.ndarray, theta, cost, done
) -> None:
    """Curves that stopped on a bound are solved again from the family's own starting points, and
    keep the best (updates theta, cost and done in place).

    On a bound the damped steps can stop in a corner they cannot leave: a flat pow3 measured with a
    tiny sigma, whose floor stopped at 0 where scipy's reflective steps found one at 0.2 (1.5-36%
    lower cost). Only such curves pay the extra solves.
    """
    lower, upper = scaled_bounds(family, x)
    margin = 1e-8 * (upper - lower)
    edge = np.flatnonzero(np.any((theta <= lower + margin) | (theta >= upper - margin), axis=1))
    if not len(edge):
        return
    starts = [scaled_starts(family, x, y[i], s) for i in edge]
    for j in range(min(len(a) for a in starts)):
        again, again_cost, again_done = _solve(family, x, y[edge], s, np.array([a[j] for a in starts]))
        better = again_done & (~done[edge] | (again_cost < cost[edge]))
        theta[edge[better]], cost[edge[better]] = again[better], again_cost[better]
        done[edge[better]] = True


def _steps(hessian: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Each curve's step; NaN for a curve whose system is singular (it then goes to scipy)."""
    try:
        return np.linalg.solve(hessian, rhs[..., None])[..., 0]
    except np.linalg.LinAlgError:  # one singular system fails the batch: solve them one by one
        out = np.full(rhs.shape, np.nan)
        for i in range(len(rhs)):
            with contextlib.suppress(np.linalg.LinAlgError):
                out[i] = np.linalg.solve(hessian[i], rhs[i])
        return out


def _solve(
    family: CurveFamily, x: np.ndarray, y: np.ndarray, s: np.ndarray, start: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Projected Levenberg-Marquardt on every curve at once: (theta, cost, converged) per curve."""
    model = SCALED_MODELS[family]
    lower, upper = scaled_bounds(family, x)
    curves, k = len(y), len(lower)
    inside = 1e-10 * (upper - lower)  # iterates stay strictly inside the bounds, as scipy's trf keeps
    lower, upper = lower + inside, upper - inside  # them: on a bound some families lose their gradient
    start = np.broadcast_to(np.nan_to_num(start, nan=0.0), (curves, k))  # one start, or one per curve
    theta = np.clip(start, lower + 1e-9, upper - 1e-9)
    diagonal = np.arange(k)

    def residuals(t: np.ndarray, target: np.ndarray) -> np.ndarray:
        return (model(t.T[..., None], x) - target) / s

    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        r = residuals(theta, y)
        cost = 0.5 * np.sum(r**2, axis=1)
        damping = np.full(curves, 1e-3)
        done = ~np.isfinite(cost)  # an unusable start: left for fit_family
        failed = done.copy()
        for _ in range(MAX_ITERATIONS):
            live = np.flatnonzero(~done)
            if not len(live):
                break
            t, res = theta[live], r[live]
            jac = scaled_jacobian(family, t.T[..., None], x) / s[:, None]
            jac = np.broadcast_to(jac, (len(live), len(x), k))  # log2's does not depend on theta
            grad = np.einsum("cpk,cp->ck", jac, res)
            free = ~(((t <= lower) & (grad > 0)) | ((t >= upper) & (grad < 0)))
            hessian = np.einsum("cpk,cpl->ckl", jac, jac) * (free[:, :, None] & free[:, None, :])
            scale = np.maximum(hessian[:, diagonal, diagonal], 1e-12)
            hessian[:, diagonal, diagonal] += np.where(free, damping[live, None] * scale, 1.0)
            step = _steps(hessian, -np.where(free, grad, 0.0))
            trial = np.clip(t + step, lower, upper)
            trial_r = residuals(trial, y[live])
            trial_cost = 0.5 * np.sum(trial_r**2, axis=1)
            better = np.isfinite(trial_cost) & (trial_cost < cost[live])
            short = np.abs(trial - t).max(axis=1) <= RELATIVE_STEP * np.maximum(np.abs(t).max(axis=1), 1.0)
            settled = better & (cost[live] - trial_cost <= RELATIVE_COST * cost[live]) & short
            accept = live[better]
            theta[accept], r[accept], cost[accept] = trial[better], trial_r[better], trial_cost[better]
            damping[live] = np.where(better, np.maximum(damping[live] / 3, 1e-10), damping[live] * 4)
            stuck = ~better & (damping[live] > MAX_DAMPING)
            done[live[settled | stuck]] = True
            failed[live[~np.isfinite(step).all(axis=1)]] = True
            done |= failed
    return theta, cost, done & ~failed
