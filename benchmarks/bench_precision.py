"""Does `--precision bf16` change what a learning curve measures, and what does it save?

For each dataset one learning curve is run twice in this process, fp32 then bf16 (bfloat16 autocast
on forward passes, weights and optimiser in fp32), with the same plan (datasize's default fractions,
`--seeds` seeds, 4 epochs, LR 3e-3, the same subsets, initial weights and batches). Printed per
dataset and size: the mean validation error over the seeds in each precision, their difference, and
that difference in units of its own standard error (from the seeds' spread of both means); then the
forecast error at 2x the data from each curve, and the runs' wall time bf16 / fp32.

A difference within ~2 standard errors at every size is what two fp32 curves under other seeds
would show too: bf16 did not change the measurement.

Datasets (`--datasets`):
    digits  data/sample/digits, 8x8 grey, 10 classes (1,438 training images)
    noisy   the same with Gaussian noise (sd 90 grey levels) on digits 5-9 (as bench_plan.py writes it)
    shapes  bench_plan.py's generated 8x8 shapes: 8 classes, easy, hard and label-noisy ones,
            300 training and 100 validation images per class

Usage: python benchmarks/bench_precision.py [--datasets digits noisy shapes] [--seeds 3] [--workdir DIR]
Needs a CPU with native bfloat16 (AVX512-BF16 or AMX) to be faster; elsewhere bf16 is slower.
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
import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_plan import write_noisy_digits, write_shapes
from machine_info import machine_lines

from datasize.curves.plan import CurveConfig
from datasize.curves.runner import learning_curve
from datasize.forecasting.sizing import forecast
from datasize.training.loop import TrainConfig
from datasize.training.preparation import prepare

ROOT = Path(__file__).resolve().parents[1]
LR = 3e-3


def dataset(name: str, workdir: Path) -> Path:
    if name == "digits":
        return ROOT / "data" / "sample" / "digits"
    if name == "noisy":
        return write_noisy_digits(workdir / "noisy-digits", seed=0)
    return write_shapes(workdir / "shapes", n_train=300, n_valid=100, seed=0)


def by_size(runs: pd.DataFrame) -> pd.DataFrame:
    ok = runs[runs["status"] == "ok"]
    return ok.groupby("n_train")["error_rate"].agg(["mean", "std", "count"])


def compare(name: str, path: Path, seeds: int, workdir: Path) -> dict[str, float]:
    prepared = prepare(path, cache_dir=workdir / f"cache-{name}")
    config = CurveConfig(seeds=seeds, lr=LR, train=TrainConfig(epochs=4))
    curves, seconds = {}, {}
    for precision in ("fp32", "bf16"):
        run = replace(config, train=replace(config.train, precision=precision))
        folder = workdir / f"{name}-{precision}"
        shutil.rmtree(folder, ignore_errors=True)
        start = time.perf_counter()
        curves[precision] = learning_curve(prepared, config=run, lr=LR, folder=folder)
        seconds[precision] = time.perf_counter() - start
    a, b = by_size(curves["fp32"].runs), by_size(curves["bf16"].runs)
    print(f"\n{name}: {len(prepared.data.train)} training, {len(prepared.data.valid)} validation images")
    print(f"  {'n_train':>7} {'fp32':>7} {'bf16':>7} {'bf16-fp32':>9} {'in SEs':>7}")
    worst = 0.0
    for n in a.index:
        se = math.sqrt(a.at[n, "std"] ** 2 / a.at[n, "count"] + b.at[n, "std"] ** 2 / b.at[n, "count"])
        diff = b.at[n, "mean"] - a.at[n, "mean"]
        z = diff / se if se > 0 else (0.0 if diff == 0 else math.inf)
        worst = max(worst, abs(z))
        print(f"  {n:>7} {a.at[n, 'mean']:>7.2%} {b.at[n, 'mean']:>7.2%} {diff:>+9.2%} {z:>+7.1f}")
    at_2x = {}
    for precision, curve in curves.items():
        f = forecast(curve.runs)
        at_2x[precision] = f.horizons[0].expected
    print(
        f"  forecast at 2x: fp32 {at_2x['fp32']:.2%}, bf16 {at_2x['bf16']:.2%}; "
        f"runs' time bf16 / fp32: {seconds['bf16'] / seconds['fp32']:.2f}x "
        f"({seconds['fp32']:.1f} s, {seconds['bf16']:.1f} s)"
    )
    return {"worst_z": worst, "ratio": seconds["bf16"] / seconds["fp32"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["digits", "noisy", "shapes"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None, help="keep generated data here")
    args = parser.parse_args()
    for line in machine_lines():
        print(line)
    print(f"native bf16 (oneDNN): {torch.ops.mkldnn._is_mkldnn_bf16_supported()}")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="datasize-bench-precision-"))
    workdir.mkdir(parents=True, exist_ok=True)
    torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))])  # torch.optim's one-off import, before timing
    try:
        results = {name: compare(name, dataset(name, workdir), args.seeds, workdir) for name in args.datasets}
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print("\nsummary: largest |bf16 - fp32| in standard errors, time bf16 / fp32")
    for name, r in results.items():
        print(f"  {name:<8} {r['worst_z']:>5.1f}  {r['ratio']:.2f}x")


if __name__ == "__main__":
    main()
