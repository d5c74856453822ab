"""What does `seed_stop` save, and what does it change in the forecast, against running every seed?

For each dataset one full learning curve is run (the default fractions 1/16..1, `--seeds` seeds,
the default TrainConfig: 4 epochs at 3e-3, the equal-step budget). Runs are deterministic and a
`seed_stop` decision depends only on the earlier seeds' records at the same size, so the runs a
`CurveConfig(seed_stop=R)` curve would keep are a subset of the full curve's, found without
retraining: seeds train.seed and +1 always; seed s at size n iff `seed_needed` says so from the ok
runs of the seeds before it. This is checked once for real: `learning_curve` with
seed_stop=`--verify-stop` on the first dataset must keep the same runs with the same error rates.

For each R in `--stops`, and for "seeds=2" (the first two seeds everywhere), the forecast on the
kept runs is compared with the forecast on all runs: runs kept (every run costs the same steps, so
this is the cost share) and the share of the runs' seconds; the error forecast at 2x and 4x the
training set with its 10-90% interval; the images needed for a target error T (0.75 x the error
measured at the full training set) with its interval; the plateau verdict; and the absolute
differences from the full curve's forecast. The row "all,boot1" is every run again under another
bootstrap seed: differences no larger than its own are the forecast's Monte Carlo noise. "per size"
is the seeds kept at each size, smallest first.

Datasets: digits (data/sample/digits) and noisy (digits with noise on 5-9, as bench_plan.py writes).

Usage:
    python benchmarks/bench_seed_stop.py                              # both datasets, 4 seeds, ~6 min
    python benchmarks/bench_seed_stop.py --datasets digits --stops 0.5 --workdir /tmp/seed-stop
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
from machine_info import load_average

from datasize.curves.plan import CurveConfig, seed_needed
from datasize.curves.runner import learning_curve
from datasize.forecasting.sizing import forecast
from datasize.training.loop import TrainConfig
from datasize.training.preparation import prepare

ROOT = Path(__file__).resolve().parents[1]
LR = 3e-3


def dataset_path(name: str, workdir: Path) -> Path:
    if name == "digits":
        return ROOT / "data" / "sample" / "digits"
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_plan import write_noisy_digits

    return write_noisy_digits(workdir / "noisy-digits", seed=0)


def kept_runs(runs: pd.DataFrame, first_seed: int, stop: float | None, *, max_seed: int | None = None):
    """The (n_train, seed) pairs a seed_stop=`stop` curve runs, from the full curve's runs."""
    kept = set()
    for n, at in runs.groupby("n_train"):
        for row in at.sort_values("seed").itertuples():
            if max_seed is not None:
                needed = row.seed <= max_seed
            elif row.seed < first_seed + 2 or stop is None:
                needed = True
            else:  # as plan.still_needed: the ok runs of the earlier seeds that were run
                done = at[at["seed"].lt(row.seed) & at["status"].eq("ok")]
                done = done[[(n, s) in kept for s in done["seed"]]]
                needed = done.empty or seed_needed(
                    done["error_rate"].astype(float).tolist(), int(done["n_valid"].iloc[0]), stop
                )
            if needed:
                kept.add((int(n), int(row.seed)))
    return kept


def subset(table: pd.DataFrame, kept: set[tuple[int, int]]) -> pd.DataFrame:
    pairs = zip(table["n_train"].astype(int), table["seed"].astype(int), strict=True)
    return table[[p in kept for p in pairs]].reset_index(drop=True)


def summarise(result, runs: pd.DataFrame, target: float) -> dict[str, float | str]:
    at = {h.multiple: h for h in result.horizons}
    need = result.images_needed
    flat = result.plateau
    row = {"runs": len(runs), "seconds": float(runs["seconds"].sum())}
    for m in (2, 4):
        h = at.get(m)
        row |= {f"x{m}": h.expected, f"x{m}_lo": h.low, f"x{m}_hi": h.high} if h else {f"x{m}": math.nan}
    row |= {"need": need.median, "need_lo": need.low, "need_hi": need.high, "status": str(need.status)}
    row["plateau"] = "plateau" if flat.plateaued else "helps" if flat.helps else "unclear"
    row["per_size"] = " ".join(str(c) for c in runs.groupby("n_train").size())
    return row


def pct(x: float) -> str:
    return "  n/a" if not math.isfinite(x) else f"{100 * x:5.1f}"


def count(x: float) -> str:
    return "inf" if math.isinf(x) else "n/a" if math.isnan(x) else f"{x:.0f}"


def print_table(rows: list[tuple[str, dict]], total_runs: int) -> None:
    full = rows[0][1]
    head = (
        f"{'curve':<10} {'runs':>7} {'secs':>5} {'per size':>10}  {'2x % [10-90%]':<20} {'|d2x|':>5}  "
        f"{'4x % [10-90%]':<20} {'|d4x|':>5}  {'images for T [10-90%]':<24} {'/full':>5}  plateau"
    )
    print(head)
    for name, r in rows:
        cells = [f"{name:<10} {r['runs']:>3}/{total_runs:<3} {r['seconds'] / full['seconds']:>5.2f}"]
        cells.append(f"{r['per_size']:>10}")
        for m in (2, 4):
            interval = (
                f"{pct(r[f'x{m}'])} [{pct(r.get(f'x{m}_lo', math.nan))}, {pct(r.get(f'x{m}_hi', math.nan))}]"
            )
            cells.append(f" {interval:<20} {pct(abs(r[f'x{m}'] - full[f'x{m}'])):>5}")
        need = f"{count(r['need'])} [{count(r['need_lo'])}, {count(r['need_hi'])}]"
        ratio = r["need"] / full["need"] if full["need"] and math.isfinite(full["need"]) else math.nan
        cells.append(f" {need:<24} {ratio:>5.2f}  {r['plateau']} ({r['status']})")
        print(" ".join(cells))


def verify(prepared, config: CurveConfig, full, stop: float, folder: Path, jobs: int) -> bool:
    """Run the seed_stop curve for real; its runs and error rates must be the simulated subset."""
    shutil.rmtree(folder, ignore_errors=True)  # a real run, never a resumed one
    start = time.perf_counter()
    real = learning_curve(prepared, config=replace(config, seed_stop=stop), lr=LR, folder=folder, jobs=jobs)
    simulated = subset(full.runs, kept_runs(full.runs, config.train.seed, stop))
    got = real.runs[["n_train", "seed", "status", "error_rate"]].reset_index(drop=True)
    want = simulated[["n_train", "seed", "status", "error_rate"]].reset_index(drop=True)
    same = got.shape == want.shape and bool((got.astype(str) == want.astype(str)).all().all())
    print(
        f"verify seed_stop={stop}: real run {len(got)} runs ({len(real.skipped)} skipped) in "
        f"{time.perf_counter() - start:.0f} s, simulated {len(want)} runs: {'OK' if same else 'MISMATCH'}"
    )
    if not same:
        print(pd.concat({"real": got, "simulated": want}, axis=1).to_string())
    return same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=["digits", "noisy"], default=["digits", "noisy"])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--stops", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    parser.add_argument("--verify-stop", type=float, default=0.5, help="0 skips the real seed_stop run")
    parser.add_argument("--n-boot", type=int, default=200)
    parser.add_argument("--workdir", type=Path, default=None, help="kept, and resumed on reruns")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="datasize-bench-seed-stop-"))
    config = CurveConfig(seeds=args.seeds, lr=LR, train=TrainConfig(epochs=4, lr=LR, device="cpu"))
    print(f"command: {' '.join(sys.argv)}")
    print(f"load average before: {load_average()}", flush=True)
    start, ok = time.perf_counter(), True
    try:
        for k, name in enumerate(args.datasets):
            prepared = prepare(dataset_path(name, workdir), cache_dir=workdir / f"cache-{name}")
            t0 = time.perf_counter()
            full = learning_curve(
                prepared, config=config, lr=LR, folder=workdir / name / "full", jobs=args.jobs
            )
            runs, per_class = full.runs, full.per_class
            error_now = float(runs.loc[runs["n_train"].eq(runs["n_train"].max()), "error_rate"].mean())
            target = 0.75 * error_now
            print(
                f"\n{name}: {len(prepared.data.train)} train, {len(prepared.data.valid)} valid; "
                f"{len(runs)} runs ({full.resumed} resumed) in {time.perf_counter() - t0:.0f} s; "
                f"error at the full set {100 * error_now:.1f}%, target T {100 * target:.1f}%",
                flush=True,
            )
            if k == 0 and args.verify_stop > 0:
                folder = workdir / name / f"stop-{args.verify_stop:g}"
                ok = verify(prepared, config, full, args.verify_stop, folder, args.jobs) and ok
            first = config.train.seed
            # "all, boot 1": every run, another bootstrap seed: the forecast's own Monte Carlo noise
            curves = [("all", None, None, 0), ("all,boot1", None, None, 1)]
            curves += [(f"R={r:g}", r, None, 0) for r in args.stops] + [("seeds=2", None, first + 1, 0)]
            rows = []
            for label, stop, max_seed, boot in curves:
                kept = kept_runs(runs, first, stop, max_seed=max_seed)
                kept_runs_table = subset(runs, kept)
                result = forecast(
                    kept_runs_table,
                    per_class=subset(per_class, kept),
                    target_error=target,
                    n_boot=args.n_boot,
                    seed=boot,
                )
                rows.append((label, summarise(result, kept_runs_table, target)))
            print_table(rows, len(runs))
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nload average after: {load_average()} (other work on the machine shows here)")
    print(f"total {time.perf_counter() - start:.0f} s")
    if not ok:
        raise SystemExit("MISMATCH: the real seed_stop curve is not the simulated subset")


if __name__ == "__main__":
    main()
