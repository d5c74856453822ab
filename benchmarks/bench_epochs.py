"""`--epochs auto` against a fixed `--epochs 4`: the curve's right end, its forecasts checked, its cost.

For each dataset, `datasize curve` runs twice in a fresh process (fractions 1/32 ... 1, 3 seeds), once
with `--epochs 4` (the old default) and once with `--epochs auto` (the pilot), each into its own run
folder (a folder already there is resumed and its recorded time reused). Then, on each curve:

- the largest size's diagnoses (how many runs are `too_few_epochs`), and whether the error at the
  full set is above the half set's beyond noise (two standard errors of the difference);
- the forecasts checked against the curve itself: fitted on the sizes up to 1/4 of the set, the error
  predicted at 1/2 (2x) and at the full set (4x); fitted up to 1/2, at the full set (2x). Predictors:
  `datasize` (the forecast's headline and its 80% interval), `last1` (the last measured mean),
  `pow2`, `pow3` and `mean` (the mean of the candidate families' fits). Absolute errors in points,
  and whether the measured error fell inside datasize's interval (coverage);
- the command's wall time with each setting, and their ratio;
- what `--seed-stop` would have saved on the same curve (simulated from its runs: the third seed runs
  only where the first two disagree beyond that share of the validation noise), and how far the
  forecast at 2x moves from the full plan's, against the full plan's own 80% interval.

Run (the sets are ImageNet-style folders; benchmarks/hard_sets.py writes them):

    python benchmarks/hard_sets.py mnist /tmp/sets/mnist
    python benchmarks/bench_epochs.py --set digits=data/sample/digits --set mnist=/tmp/sets/mnist \\
        --out /tmp/bench-epochs

`--evaluate-only` reads the run folders and trains nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from datasize.curves.plan import seed_needed
from datasize.forecasting.families import CurveFamily, fit_family
from datasize.forecasting.points import curve_from_runs
from datasize.forecasting.sizing import DEFAULT_FAMILIES, forecast

FRACTIONS = "1/32,1/16,1/8,1/4,1/2,1"
MODES = ("4", "auto")
# (largest size fitted, as a share of the set; the size predicted; its name)
BACKTESTS = ((0.25, 0.5, "2x from 1/4"), (0.25, 1.0, "4x from 1/4"), (0.5, 1.0, "2x from 1/2"))


def run_curve(name: str, data: str, mode: str, out: Path, threads: int | None) -> float:
    """Run (or resume) one curve in a fresh process; returns the wall time of its first run."""
    folder = out / f"{name}-e{mode}"
    timing = folder / "bench_seconds.json"
    if timing.is_file():
        return float(json.loads(timing.read_text())["seconds"])
    command = [sys.executable, "-m", "datasize", "curve", data, "--fractions", FRACTIONS, "--seeds", "3",
               "--epochs", mode, "-q", "-o", str(folder)]  # fmt: skip
    if threads:
        command += ["--threads", str(threads)]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    timing.write_text(json.dumps({"seconds": seconds}))
    return seconds


def right_end(runs: pd.DataFrame) -> dict[str, object]:
    """The largest size's diagnoses, and the change from the half set to the full set with its noise."""
    ok = runs[runs["status"] == "ok"]
    curve = curve_from_runs(ok)
    largest = ok[ok["n_train"] == ok["n_train"].max()]
    rise = float(curve.mean[-1] - curve.mean[-2])
    noise = 2 * math.hypot(curve.se[-1], curve.se[-2])
    return {
        "too_few_at_largest": int((largest["diagnosis"] == "too_few_epochs").sum()),
        "runs_at_largest": len(largest),
        "half": float(curve.mean[-2]),
        "full": float(curve.mean[-1]),
        "rise_beyond_noise": bool(rise > noise),
    }


def predictions(runs: pd.DataFrame, fitted_share: float, target_share: float) -> dict[str, object]:
    """Every predictor's error at the target size, fitted on the sizes up to `fitted_share`."""
    ok = runs[runs["status"] == "ok"]
    sizes = np.sort(ok["n_train"].unique())
    full = sizes.max()
    cut = sizes[sizes <= fitted_share * full * 1.1].max()
    target = sizes[np.argmin(np.abs(sizes - target_share * full))]
    measured = float(ok.loc[ok["n_train"] == target, "error_rate"].mean())
    seen = ok[ok["n_train"] <= cut]
    curve = curve_from_runs(seen)
    multiple = round(target / cut)
    out: dict[str, object] = {"measured": measured, "last1": float(curve.mean[-1])}
    try:
        result = forecast(seen, n_boot=200, seed=0)
        horizon = next(h for h in result.horizons if h.multiple == multiple)
        out |= {"datasize": horizon.expected, "low": horizon.low, "high": horizon.high}
        out["checked"] = result.backtest.beats_baseline  # its own self-check, on the sizes it saw
    except (ValueError, StopIteration):
        out |= {"datasize": math.nan, "low": math.nan, "high": math.nan, "checked": None}
    n_target = curve.n.max() * multiple
    fits = {}
    for family in (*DEFAULT_FAMILIES, CurveFamily.POW2):
        fit = fit_family(family, curve.n, curve.mean, sigma=curve.se)
        fits[str(family)] = float(fit.predict(n_target)) if fit is not None else math.nan
    out |= {"pow2": fits["pow2"], "pow3": fits["pow3"]}
    out["mean"] = float(np.nanmean([fits[str(f)] for f in DEFAULT_FAMILIES]))
    return out


def seed_stop_effect(runs: pd.DataFrame, stop: float) -> dict[str, object]:
    """Runs `--seed-stop stop` would have skipped, and the forecast's move at 2x against its interval."""
    ok = runs[runs["status"] == "ok"]
    kept = []
    for _, size in ok.groupby("n_train"):
        first = size[size["seed"] < size["seed"].min() + 2]
        later = size[size["seed"] >= size["seed"].min() + 2]
        errors = first["error_rate"].tolist()
        kept.append(first)
        for _, run in later.sort_values("seed").iterrows():
            if not seed_needed(errors, int(run["n_valid"]), stop):
                break
            kept.append(run.to_frame().T)
            errors.append(run["error_rate"])
    fewer = pd.concat(kept).astype(ok.dtypes.to_dict())
    full, cut = forecast(ok, n_boot=200, seed=0).horizons[0], forecast(fewer, n_boot=200, seed=0).horizons[0]
    return {
        "seed_stop": stop,
        "runs_saved": len(ok) - len(fewer),
        "seconds_saved": float(ok["seconds"].sum() - fewer["seconds"].sum()) / float(ok["seconds"].sum()),
        "move_2x": 100 * abs(cut.expected - full.expected),
        "full_interval_2x": f"{100 * full.low:.2f}-{100 * full.high:.2f}",
        "within_interval": bool(full.low <= cut.expected <= full.high),
    }


def evaluate(folder: Path) -> tuple[dict[str, object], list[dict[str, object]]]:
    runs = pd.read_csv(folder / "runs.csv")
    rows = []
    for fitted, target, name in BACKTESTS:
        p = predictions(runs, fitted, target)
        row: dict[str, object] = {"backtest": name}
        for predictor in ("datasize", "last1", "pow2", "pow3", "mean"):
            row[predictor] = 100 * abs(float(p[predictor]) - float(p["measured"]))
        row["covered"] = bool(p["low"] <= p["measured"] <= p["high"])
        row["self_check_passed"] = p["checked"]
        row["interval"] = f"{100 * p['low']:.1f}-{100 * p['high']:.1f}"
        rows.append(row)
    return right_end(runs), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", action="append", required=True, help="NAME=PATH of an ImageNet-style folder")
    parser.add_argument("--out", type=Path, required=True, help="where the run folders go (resumed)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads per run")
    parser.add_argument("--evaluate-only", action="store_true", help="read the run folders, train nothing")
    args = parser.parse_args()
    summary, checks, savings = [], [], []
    for spec in args.set:
        name, data = spec.split("=", 1)
        seconds = {}
        for mode in MODES:
            folder = args.out / f"{name}-e{mode}"
            if not args.evaluate_only:
                seconds[mode] = run_curve(name, data, mode, args.out, args.threads)
            elif (folder / "bench_seconds.json").is_file():
                seconds[mode] = json.loads((folder / "bench_seconds.json").read_text())["seconds"]
            if not (folder / "runs.csv").is_file():
                continue
            end, rows = evaluate(folder)
            runs = pd.read_csv(folder / "runs.csv")
            savings += [{"set": name, "epochs": mode, **seed_stop_effect(runs, s)} for s in (0.5, 1.0)]
            summary_file = json.loads((folder / "curve_summary.json").read_text())
            chosen = summary_file.get("epochs", {}).get("epochs")
            summary.append(
                {"set": name, "epochs": mode, "chosen": chosen, **end, "seconds": seconds.get(mode)}
            )
            checks += [{"set": name, "epochs": mode, **row} for row in rows]
        if len(seconds) == 2:
            print(f"{name}: auto / 4 epochs wall time {seconds['auto'] / seconds['4']:.2f}x")
    pd.set_option("display.width", 160)
    print(pd.DataFrame(summary).round(4).to_string(index=False))
    table = pd.DataFrame(checks)
    print(table.round(2).to_string(index=False))
    if not table.empty:
        predictors = ["datasize", "last1", "pow2", "pow3", "mean"]
        means = table.groupby(["epochs", "backtest"])[predictors].mean()
        print("mean absolute error (points) by setting and backtest:")
        print(means.round(2).to_string())
        print(pd.DataFrame(savings).round(3).to_string(index=False))
        print(
            "coverage of datasize's 80% intervals:",
            table.groupby("epochs")["covered"].mean().round(2).to_dict(),
        )


if __name__ == "__main__":
    main()
