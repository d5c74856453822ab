"""Which number should a forecast's headline give when its own self-check fails?

`datasize.forecast` chooses a curve family by backtest (fitted to the smaller sizes, scored on the
larger ones) and compares it with `last1`, the last measured point. This script measures, on curves
whose continuation is known, what a headline predicts at 2x and 4x the data it saw under each rule:

- `family`: the chosen family, always (datasize before #16);
- `last1`: the last measured point, always;
- `fallback`: the chosen family when its self-check beats the last point, else the last point;
- `mean`: the mean of the candidate families' fits;
- `horizon`: the family at 2x, the last point beyond 2x (Jain et al. 2023 limit the horizon).

Curves: (a) the synthetic curves of bench_forecast.py (six true shapes, binomial and seed noise,
fitted up to 1/4 or 1/2 of the set); (b) real curves, every run folder given with --runs (the
default ladder 1/32 ... 1, cut at 1/4 and at 1/2), e.g. bench_epochs.py's folders with --epochs 4
and --epochs auto. For each rule: the mean absolute error in points, split by whether the
self-check passed; for `family` and `fallback` the coverage of their 80% intervals.

    PYTHONPATH=. python benchmarks/bench_headline.py --curves 60 --runs /tmp/bench-epochs/*-e*
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.bench_forecast import SCENARIOS, SEEDS, SHAPES, measure, true_curve
from datasize.forecasting.bootstrap import bootstrap_fits
from datasize.forecasting.estimates import horizon
from datasize.forecasting.families import CurveFamily, fit_family
from datasize.forecasting.points import curve_from_runs
from datasize.forecasting.sizing import DEFAULT_FAMILIES, forecast

RULES = ("family", "last1", "fallback", "midpoint", "mean", "horizon", "datasize")


def predict(seen: pd.DataFrame, multiple: int, n_boot: int) -> dict[str, float | bool]:
    """Every rule's prediction at `multiple` x the largest size seen, and the intervals."""
    result = forecast(seen, n_boot=n_boot, seed=0)
    curve = curve_from_runs(seen[seen["status"] == "ok"])
    n = float(curve.n.max() * multiple)
    last = float(curve.mean[-1])
    headline = {h.multiple: h for h in result.horizons}.get(multiple)
    family = float(result.fit.predict(n))
    fits = [fit_family(f, curve.n, curve.mean, sigma=curve.se) for f in DEFAULT_FAMILIES]
    mean = float(np.nanmean([f.predict(n) for f in fits if f is not None] or [math.nan]))
    passed = bool(result.backtest.beats_baseline)
    # each one's own interval: its refits (seed-resampled) and its backtest error per doubling
    rng = np.random.default_rng(0)
    refits = bootstrap_fits(curve, result.fit, n_boot=n_boot, rng=rng) or [result.fit]
    misfit = result.backtest.misfit(result.fit.family)
    at = horizon(curve, result.fit, refits, multiple=multiple, misfit=misfit, interval=(0.1, 0.9), rng=rng)
    flat = fit_family(CurveFamily.LAST1, curve.n, curve.mean)
    refits = bootstrap_fits(curve, flat, n_boot=n_boot, rng=rng) or [flat]
    misfit = result.backtest.misfit(CurveFamily.LAST1)
    at_last = horizon(curve, flat, refits, multiple=multiple, misfit=misfit, interval=(0.1, 0.9), rng=rng)
    return {
        "passed": passed,
        "family": family,
        "last1": last,
        "fallback": family if passed else last,
        "mean": mean,
        "midpoint": family if passed else (family + last) / 2,
        "horizon": family if multiple <= 2 else last,
        "datasize": math.nan if headline is None else headline.expected,  # today's headline (midway)
        "low": at.low,
        "high": at.high,
        "fallback_low": at.low if passed else at_last.low,
        "fallback_high": at.high if passed else at_last.high,
        # failed: from the lower of the two intervals' ends to the higher (either may be right)
        "union_low": at.low if passed else min(at.low, at_last.low),
        "union_high": at.high if passed else max(at.high, at_last.high),
    }


def synthetic(curves: int, n_boot: int) -> list[dict]:
    rows = []
    for scenario, fractions in SCENARIOS.items():
        for index in range(curves):
            rng = np.random.default_rng([7, index, len(fractions), int(1 / fractions[-1])])
            shape = SHAPES[index % len(SHAPES)]
            n_full = int(rng.choice([800, 1500, 3000, 6000, 12000, 24000]))
            n_valid = int(rng.integers(300, 2001))
            spread = rng.uniform(0.03, 0.15)
            curve = true_curve(shape, rng, n_full)
            sizes = [max(8, round(f * n_full)) for f in fractions]
            runs = pd.DataFrame(
                [
                    {"n_train": n, "seed": s, "error_rate": e, "n_valid": n_valid, "status": "ok"}
                    for n in sizes
                    for s, e in enumerate(
                        measure(np.full(SEEDS, float(curve(n))), rng, spread=spread, n_valid=n_valid)
                    )
                ]
            )
            truth = float(
                measure(np.full(SEEDS, float(curve(n_full))), rng, spread=spread, n_valid=n_valid).mean()
            )
            multiple = round(n_full / max(sizes))
            rows.append({"source": "synthetic", "case": f"{scenario}/{shape}", "multiple": multiple,
                         "truth": truth, **predict(runs, multiple, n_boot)})  # fmt: skip
    return rows


def real(folders: list[Path], n_boot: int) -> list[dict]:
    rows = []
    for folder in folders:
        runs = pd.read_csv(folder / "runs.csv")
        ok = runs[runs["status"] == "ok"]
        sizes = np.sort(ok["n_train"].unique())
        full = sizes.max()
        for fitted, target in ((0.25, 0.5), (0.25, 1.0), (0.5, 1.0)):
            cut = sizes[sizes <= fitted * full * 1.1].max()
            goal = sizes[np.argmin(np.abs(sizes - target * full))]
            seen = ok[ok["n_train"] <= cut]
            if seen["n_train"].nunique() < 3:
                continue
            truth = float(ok.loc[ok["n_train"] == goal, "error_rate"].mean())
            multiple = round(goal / cut)
            case = f"{folder.name} {fitted:g}->{target:g}"
            rows.append({"source": "real", "case": case, "multiple": multiple, "truth": truth,
                         **predict(seen, multiple, n_boot)})  # fmt: skip
    return rows


def summary(table: pd.DataFrame) -> pd.DataFrame:
    out = []
    groups = [
        ("all", table),
        *[(f"self-check {'passed' if k else 'failed'}", g) for k, g in table.groupby("passed")],
    ]
    for name, group in groups:
        for multiple, g in [("2x and 4x", group), *[(f"{m}x", h) for m, h in group.groupby("multiple")]]:
            row = {"curves": name, "at": multiple, "n": len(g)}
            for rule in RULES:
                row[rule] = 100 * (g[rule] - g["truth"]).abs().mean()
            row["cover_family"] = ((g["low"] <= g["truth"]) & (g["truth"] <= g["high"])).mean()
            row["cover_fallback"] = (
                (g["fallback_low"] <= g["truth"]) & (g["truth"] <= g["fallback_high"])
            ).mean()
            row["width_fallback"] = 100 * (g["fallback_high"] - g["fallback_low"]).mean()
            row["cover_union"] = ((g["union_low"] <= g["truth"]) & (g["truth"] <= g["union_high"])).mean()
            row["width_union"] = 100 * (g["union_high"] - g["union_low"]).mean()
            row["width_family"] = 100 * (g["high"] - g["low"]).mean()
            out.append(row)
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--curves", type=int, default=60, help="synthetic curves per scenario (0: none)")
    parser.add_argument("--runs", type=Path, nargs="*", default=[], help="run folders with runs.csv")
    parser.add_argument("--n-boot", type=int, default=100)
    args = parser.parse_args()
    pd.set_option("display.width", 200)
    rows = synthetic(args.curves, args.n_boot) + real(args.runs, args.n_boot)
    table = pd.DataFrame(rows)
    for source, part in table.groupby("source"):
        print(f"--- {source} curves: mean absolute error at the predicted size, points")
        print(summary(part).round(2).to_string(index=False))
    real_rows = table[table["source"] == "real"]
    if len(real_rows):
        print("--- real curves, one by one (points)")
        view = real_rows[["case", "passed", "truth", *RULES, "fallback_low", "fallback_high"]].copy()
        for column in ["truth", *RULES, "fallback_low", "fallback_high"]:
            view[column] = 100 * view[column]
        print(view.round(2).to_string(index=False))


if __name__ == "__main__":
    main()
