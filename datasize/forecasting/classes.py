"""Which classes need images most: each class's error fitted against its own training images, ranked
by the cut in the overall error that doubling them would bring.

Computation only; nothing here prints.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from datasize.forecasting.backtest import backtest
from datasize.forecasting.bootstrap import bootstrap_fits
from datasize.forecasting.estimates import MISFIT_SCALE, PlateauRule, refits_plateau
from datasize.forecasting.families import CurveFamily, fit_family
from datasize.forecasting.points import Curve, curve_from_runs


def per_class_forecast(
    per_class: pd.DataFrame,
    *,
    family: CurveFamily,
    n_boot: int,
    seed: int,
    rule: PlateauRule,
    interval: tuple[float, float],
) -> pd.DataFrame:
    """Each class's error fitted against its own training images, ranked by where to collect first.

    A class's error is taken to depend on its own images. Its expected reduction from doubling them
    (`reduction` = `error_fit` - `error_2x` on its fitted curve, with the interval `low`-`high` over
    its n_boot refits), times its share of the validation images, is its expected cut in
    the overall error (`overall_reduction`): the ranking's key. A class's curve is noisier than the
    whole's, so 4-parameter families are replaced by pow3. Classes with fewer than 3 sizes, or
    whose fit fails, get status "too_few_points" and rank last. As for the whole curve, the
    intervals hold the seeds' noise and the family's own error per doubling (backtested per class).
    """
    family = CurveFamily.POW3 if family.n_params > 3 else family
    valid = per_class.groupby("label")["n_valid_class"].max()
    rows = []
    for index, (label, table) in enumerate(per_class.groupby("label", sort=True)):
        sizes = table.groupby("n_train")["n_train_class"].median()
        table = table.assign(n_class=table["n_train"].map(sizes), n_valid=max(int(valid[label]), 2))
        curve = curve_from_runs(table, n_column="n_class")
        rng = np.random.default_rng([seed, index])
        rows.append(
            {"label": label, "share": float(valid[label] / valid.sum())}
            | _class_forecast(
                curve,
                family,
                n_boot=n_boot,
                rng=rng,
                rule=rule,
                ci=interval,
            )
        )
    out = pd.DataFrame(rows)
    out["overall_reduction"] = out["reduction"] * out["share"]
    out = out.sort_values("overall_reduction", ascending=False, kind="stable", na_position="last")
    return out.assign(rank=np.arange(1, len(out) + 1)).reset_index(drop=True)


def _class_forecast(
    curve: Curve, family: CurveFamily, *, n_boot: int, rng: np.random.Generator, rule: PlateauRule, ci
) -> dict[str, Any]:
    """One class's row of the ranking."""
    n_now = float(curve.n.max())
    row = {"n_train_class": int(n_now), "n_valid_class": curve.n_valid, "error_rate": float(curve.mean[-1])}
    fit = None
    if len(curve.n) >= 3:
        fit = fit_family(family, curve.n, curve.mean, sigma=curve.se)
        fit = fit or fit_family(CurveFamily.POW2, curve.n, curve.mean, sigma=curve.se)
    if fit is None:
        empty = {k: math.nan for k in ("error_fit", "error_2x", "reduction", "low", "high")}
        return row | {"family": None, **empty, "plateaued": False, "status": "too_few_points"}
    fits = bootstrap_fits(curve, fit, n_boot=n_boot, rng=rng) or [fit]
    drifts = MISFIT_SCALE * backtest(curve, families=(fit.family,), score_all=False).misfit(fit.family)
    drifts = drifts * rng.standard_normal(len(fits))
    test = refits_plateau(
        fit, fits, drifts, n_now=n_now, error_rate=row["error_rate"], rule=rule, interval=ci
    )
    return row | {
        "family": str(fit.family),
        "error_fit": float(fit.predict(n_now)),
        "error_2x": float(fit.predict(2 * n_now)),
        "reduction": test.gain,
        "low": test.low,
        "high": test.high,
        "plateaued": test.plateaued,
        "status": "plateaued" if test.plateaued else "ok",
    }
