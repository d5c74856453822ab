"""How well does `datasize.forecast` extrapolate a learning curve, against the last observed point?

A synthetic backtest study. Each trial draws a true curve error(n) from one of several shapes (power
law with and without a floor, a small-data knee, early saturation, a log law, a plateau), a dataset
size N, a validation set of 300-2000 images and a seed spread; then measures it as curve.py would:
3 seeds per size, each run's error = Binomial(n_valid, true error x seed noise) / n_valid.
The forecast sees only the sizes up to a quarter or a half of N and predicts the error measured at N
(the mean of 3 fresh runs there), as the judges of the forecast will do on real datasets.

Scenarios (the sizes the forecast sees, as fractions of N):
    quarter-3  1/16 1/8 1/4           -> N is 4x away (a full curve cut at 1/4)
    quarter-5  1/64 ... 1/4           -> 4x (the default ladder run on a quarter of the data)
    half-4     1/16 ... 1/2           -> 2x (a full curve cut at 1/2)
    half-5     1/32 ... 1/2           -> 2x (the default ladder run on half the data)

Printed per scenario: the mean absolute error of the forecast and of the last observed point, how
often the forecast is the closer of the two, the coverage of the measured truth by the 10-90%
interval (aim: 80%), the interval's mean width, the guard's false alarms (every true curve here is
monotone) and which families the backtest chose.

Usage:
    python benchmarks/bench_forecast.py                   # 120 curves per scenario, 2 processes
    python benchmarks/bench_forecast.py --curves 40 --n-boot 100 --jobs 1
    python benchmarks/bench_forecast.py --families pow3 pow2 log2 pow4 mmf4   # the log law as a candidate
"""

from __future__ import annotations

import argparse
import math
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from datasize.forecasting.sizing import DEFAULT_FAMILIES, forecast

SEEDS = 3
SCENARIOS = {
    "quarter-3": (1 / 16, 1 / 8, 1 / 4),
    "quarter-5": (1 / 64, 1 / 32, 1 / 16, 1 / 8, 1 / 4),
    "half-4": (1 / 16, 1 / 8, 1 / 4, 1 / 2),
    "half-5": (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2),
}
SHAPES = ("power", "power_floor", "knee", "saturating", "log", "plateau")


@dataclass(frozen=True)
class Trial:
    scenario: str
    index: int
    seed: int
    n_boot: int
    families: tuple[str, ...]


def true_curve(shape: str, rng: np.random.Generator, n_full: int):
    """A monotone true error(n), scaled so the error at N/16 is 8-45% and at N 0.5-20%."""
    e16 = rng.uniform(0.08, 0.45)  # error at N/16
    n16 = n_full / 16
    if shape in ("power", "power_floor", "plateau"):
        b = rng.uniform(0.3, 1.2) if shape != "plateau" else rng.uniform(0.5, 1.5)
        share = {"power": 0.0, "power_floor": rng.uniform(0.1, 0.5), "plateau": rng.uniform(0.6, 0.9)}[shape]
        c, a = share * e16, (1 - share) * e16 * n16**b
        return lambda n: a * np.asarray(n, float) ** -b + c
    if shape == "knee":  # flat near chance at the smallest sizes, then a power law (mmf4 shape)
        top, d = rng.uniform(0.5, 0.9), rng.uniform(0.6, 1.6)
        c = rng.uniform(0, 0.3) * e16
        k = n16 * ((top - c) / (e16 - c) - 1) ** (-1 / d) if e16 < top else n16
        return lambda n: c + (top - c) / (1 + (np.asarray(n, float) / k) ** d)
    if shape == "saturating":  # exponential approach to a floor: flattens faster than any power law
        c = rng.uniform(0.0, 0.4) * e16
        scale = n16 * rng.uniform(0.5, 4)
        a = (e16 - c) / math.exp(-math.sqrt(n16 / scale))
        return lambda n: c + a * np.exp(-np.sqrt(np.asarray(n, float) / scale))
    # log law: error falls by the same amount per doubling, until it would pass the last 1%
    drop = rng.uniform(0.15, 0.6) * e16 / 4  # per doubling, so that N is still above zero
    return lambda n: np.maximum(e16 - drop * np.log2(np.asarray(n, float) / n16), 0.005)


def measure(error: np.ndarray, rng: np.random.Generator, *, spread: float, n_valid: int) -> np.ndarray:
    """One run per value: seed noise (relative, log-normal) then binomial validation noise."""
    p = np.clip(error * np.exp(spread * rng.standard_normal(error.shape)), 0, 1)
    return rng.binomial(n_valid, p) / n_valid


def run_trial(trial: Trial) -> dict:
    rng = np.random.default_rng([trial.seed, trial.index])
    shape = SHAPES[trial.index % len(SHAPES)]
    n_full = int(rng.choice([800, 1500, 3000, 6000, 12000, 24000]))
    n_valid = int(rng.integers(300, 2001))
    spread = rng.uniform(0.03, 0.15)
    curve = true_curve(shape, rng, n_full)
    sizes = [max(8, round(f * n_full)) for f in SCENARIOS[trial.scenario]]
    rows = []
    for n in sizes:
        errors = measure(np.full(SEEDS, float(curve(n))), rng, spread=spread, n_valid=n_valid)
        rows += [
            {
                "fraction": n / n_full,
                "n_train": n,
                "seed": s,
                "error_rate": e,
                "n_valid": n_valid,
                "status": "ok",
            }
            for s, e in enumerate(errors)
        ]
    truth = float(measure(np.full(SEEDS, float(curve(n_full))), rng, spread=spread, n_valid=n_valid).mean())
    runs = pd.DataFrame(rows)
    last = float(runs.loc[runs["n_train"] == max(sizes), "error_rate"].mean())
    target = float(curve(n_full))  # the images needed for the true error at N should be about N
    result = forecast(
        runs, n_boot=trial.n_boot, seed=trial.index, target_error=target, families=trial.families
    )
    need = result.images_needed
    multiple = round(n_full / max(sizes))
    at = {h.multiple: h for h in result.horizons}.get(multiple)
    return {
        "scenario": trial.scenario,
        "shape": shape,
        "truth": truth,
        "expected_true": float(curve(n_full)),
        "forecast": float(result.fit.predict(n_full)),
        "last": last,
        "low": math.nan if at is None else at.low,
        "high": math.nan if at is None else at.high,
        "family": str(result.family),
        "guard": not result.guard.monotone,
        "beats_in_backtest": result.backtest.beats_baseline,
        "plateau": result.plateau.plateaued,
        "true_gain": float(curve(max(sizes)) - curve(2 * max(sizes))),
        "needed_low": need.low,
        "needed_median": need.median,
        "needed_conservative": need.conservative,
        "n_full": n_full,
    }


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for scenario, t in [*table.groupby("scenario", sort=False), ("all", table)]:
        err, base = (t["forecast"] - t["truth"]).abs(), (t["last"] - t["truth"]).abs()
        given = t.dropna(subset=["low"])
        covered = (given["low"] <= given["truth"]) & (given["truth"] <= given["high"])
        rows.append(
            {
                "scenario": scenario,
                "curves": len(t),
                "mae_forecast": err.mean(),
                "mae_last": base.mean(),
                "median_ae_forecast": err.median(),
                "median_ae_last": base.median(),
                "closer": (err < base).mean(),
                "coverage": covered.mean(),
                "below": (given["truth"] < given["low"]).mean(),
                "above": (given["truth"] > given["high"]).mean(),
                "width": (given["high"] - given["low"]).mean(),
                "withheld": t["low"].isna().mean(),
                "guard": t["guard"].mean(),
                "plateaus": t["plateau"].mean(),
                "plateaus_right": (t["true_gain"] < 0.005)[t["plateau"]].mean()
                if t["plateau"].any()
                else math.nan,
                "n_within": (
                    (t["needed_low"] <= t["n_full"]) & (t["n_full"] <= t["needed_conservative"])
                ).mean(),
                "n_enough": (t["needed_conservative"] >= t["n_full"]).mean(),
                "n_ratio": (t["needed_median"] / t["n_full"]).median(),
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--curves", type=int, default=120, help="curves per scenario")
    parser.add_argument("--n-boot", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--scenarios", nargs="*", default=list(SCENARIOS))
    parser.add_argument("--families", nargs="*", default=[str(f) for f in DEFAULT_FAMILIES])
    args = parser.parse_args()
    families = tuple(args.families)
    trials = [
        Trial(s, i, args.seed, args.n_boot, families) for s in args.scenarios for i in range(args.curves)
    ]
    start = time.perf_counter()
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            results = list(pool.map(run_trial, trials, chunksize=4))
    else:
        results = [run_trial(t) for t in trials]
    table = pd.DataFrame(results)
    seconds = time.perf_counter() - start
    pd.set_option("display.width", 200)
    print(
        f"{len(trials)} forecasts in {seconds:.0f} s "
        f"({seconds / len(trials):.2f} s each, {args.jobs} processes)"
    )
    print(summarise(table).round(4).to_string(index=False))
    print()
    print("absolute error by true shape (all scenarios):")
    by_shape = table.assign(
        ae_forecast=(table["forecast"] - table["truth"]).abs(),
        ae_last=(table["last"] - table["truth"]).abs(),
        covered=(table["low"] <= table["truth"]) & (table["truth"] <= table["high"]),
    )
    print(
        by_shape.groupby("shape")[["ae_forecast", "ae_last", "covered", "plateau"]]
        .mean()
        .round(4)
        .to_string()
    )
    print()
    print("families chosen:", dict(Counter(table["family"])))


if __name__ == "__main__":
    main()
