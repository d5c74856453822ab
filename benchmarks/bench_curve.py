"""What does a whole learning curve cost, against the model's own arithmetic and against a hand-written loop?

Measured in one run on the digits sample (or --data), the same plan for every contender:

- bare: the optimiser steps of every run of the curve, on pre-made normalised tensors (forward,
  cross_entropy, backward, fused AdamW step, nothing else): what the model's arithmetic costs.
- datasize jobs=1 / jobs=2 / dask: `datasize.learning_curve` (the runs only, in a fresh run folder);
  for jobs=1 the time inside its evaluation passes (validation each evaluated epoch, training error
  at the end: what the diagnosis reads) is measured apart. `--rounds N` runs bare and jobs=1 back
  to back N times and reports medians, and each round's ratio.
- the whole pipeline: the `datasize curve` command itself in a fresh process (imports, scan, split,
  decode into the cache, Great Expectations validation, the runs, forecast, printing), once at
  its default --lr and once with `--lr auto` (the LR finder first); the start of each stage is
  taken from the "[stage]" lines it prints, so the fixed costs around the runs are shown apart.
- plain: the same curve written by hand as users write it: for each fraction and seed, a fresh model
  and a torch `DataLoader` over a `Dataset` that decodes each PNG with PIL in `__getitem__`, every
  epoch, for the same number of steps, evaluating on the validation set at the end.

Ratios printed: datasize / bare (the overhead of everything around the model), the same without
its evaluation passes, `datasize curve` / bare, plain / datasize (fp32 and bf16), jobs=1 / jobs=2
and jobs=1 / dask (parallel scaling), bf16 / fp32.

Usage: python benchmarks/bench_curve.py [--fractions 1/16,1/8,1/4,1/2,1 --seeds 3 --epochs 4]
       [--rounds N] [--skip-dask] [--skip-parallel] [--skip-bf16] [--skip-plain] [--skip-cli]
(the defaults are `datasize curve`'s own: the issue's "whole default curve")
"""

from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

import datasize
from datasize.curves.plan import CurveConfig, nested_subsets, plan_runs, run_config
from datasize.curves.runner import learning_curve
from datasize.training.batches import Batcher, Normalizer
from datasize.training.loop import TrainConfig, steps_per_epoch
from datasize.training.models import make_model
from datasize.training.preparation import prepare

sys.path.insert(0, str(Path(__file__).parent))
from bench_train import evaluation_timer


def bare_steps(prepared, specs, train: TrainConfig) -> float:
    """Seconds for every run's optimiser steps on pre-made tensors (batches cut beforehand)."""
    data = prepared.data
    norm = Normalizer.fit(data.cache.images, data.train)
    batcher = Batcher(data, norm, torch.device("cpu"), train.augment)
    labels = np.array(data.cache.labels, dtype=object)[data.train]
    total = 0.0
    for spec in specs:
        rows = data.train[nested_subsets(labels, [spec.n_train], seed=spec.seed)[0]]
        per = steps_per_epoch(len(rows), train.batch_size)
        generator = torch.Generator().manual_seed(spec.seed)
        batches = []
        while len(batches) < train.steps:
            order = rows[torch.randperm(len(rows), generator=generator).numpy()]
            batches += [batcher.train_batch(b, generator) for b in np.array_split(order, per)]
        batches = batches[: train.steps]
        torch.manual_seed(spec.seed)
        model = make_model(train.model, in_channels=data.cache.channels, n_classes=data.n_classes)
        model = model.to(memory_format=torch.channels_last).train()
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=train.lr, weight_decay=train.weight_decay, fused=True
        )  # fused, as datasize's: the bare loop is the model's arithmetic at its cheapest
        start = time.perf_counter()
        for x, y in batches:
            loss = nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        total += time.perf_counter() - start
    return total


class PilDataset(Dataset):
    """Decode a PNG with PIL on every access, as a hand-written loop does."""

    def __init__(self, root: str, paths: list[str], targets: list[int], size: int, mean: float, std: float):
        self.root, self.paths, self.targets, self.size = root, paths, targets, size
        self.mean, self.std = mean, std

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        with Image.open(Path(self.root, self.paths[i])) as image:
            array = np.asarray(image.convert("L").resize((self.size, self.size)), dtype=np.float32)
        x = (torch.from_numpy(array)[None] - self.mean) / self.std
        return x, self.targets[i]


def plain_curve(prepared, specs, train: TrainConfig) -> float:
    """The same curve as a hand-written loop with a PIL Dataset; returns seconds."""
    data = prepared.data
    paths = np.array(data.cache.paths, dtype=object)
    labels = np.array(data.cache.labels, dtype=object)[data.train]
    mean, std = (
        Normalizer.fit(data.cache.images, data.train).mean[0],
        Normalizer.fit(data.cache.images, data.train).std[0],
    )
    size = data.cache.size
    valid = PilDataset(
        prepared.root, list(paths[data.valid]), list(data.targets[data.valid]), size, mean, std
    )
    start = time.perf_counter()
    for spec in specs:
        rows = data.train[nested_subsets(labels, [spec.n_train], seed=spec.seed)[0]]
        dataset = PilDataset(prepared.root, list(paths[rows]), list(data.targets[rows]), size, mean, std)
        loader = DataLoader(
            dataset,
            batch_size=min(train.batch_size, len(rows)),
            shuffle=True,
            drop_last=False,
            generator=torch.Generator().manual_seed(spec.seed),
        )
        torch.manual_seed(spec.seed)
        model = make_model(train.model, in_channels=data.cache.channels, n_classes=data.n_classes).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=train.lr, weight_decay=train.weight_decay)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=train.lr, total_steps=train.steps + 1
        )
        step = 0
        while step < train.steps:
            for x, y in loader:
                if len(y) < 2:
                    continue
                loss = nn.functional.cross_entropy(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                scheduler.step()
                step += 1
                if step >= train.steps:
                    break
        model.eval()
        with torch.no_grad():
            for x, _ in DataLoader(valid, batch_size=256):
                model(x)
    return time.perf_counter() - start


def cli_curve(data: str, out: Path, options: list[str]) -> tuple[float, list[tuple[str, float]]]:
    """Wall seconds of `datasize curve` in a fresh process, and the seconds of each stage it printed."""
    command = [sys.executable, "-m", "datasize", "curve", data, "--out", str(out), "-q", *options]
    start = time.perf_counter()
    marks = [("start-up (imports)", start)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        for line in process.stdout:
            line = line.strip()
            if line.startswith("[") and line.endswith("]"):
                marks.append((line[1:-1], time.perf_counter()))
        if process.wait() != 0:
            raise SystemExit(f"{' '.join(command)} failed with exit status {process.returncode}")
    end = time.perf_counter()
    names = [name for name, _ in marks]
    names[-1] += " (and printing the results)"
    times = [t for _, t in marks] + [end]
    return end - start, [(n, b - a) for n, a, b in zip(names, times, times[1:], strict=False)]


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/sample/digits")
    parser.add_argument("--fractions", default="1/16,1/8,1/4,1/2,1", help="default: datasize's own")
    parser.add_argument("--seeds", type=int, default=3, help="default: datasize's own")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument(
        "--rounds", type=int, default=1, help="bare and jobs=1 this many times, back to back (medians)"
    )
    parser.add_argument("--skip-dask", action="store_true")
    parser.add_argument("--skip-parallel", action="store_true", help="no jobs=2 and no Dask rows")
    parser.add_argument("--skip-bf16", action="store_true")
    parser.add_argument("--skip-cli", action="store_true", help="no `datasize curve` rows")
    parser.add_argument("--skip-plain", action="store_true")
    args = parser.parse_args()
    fractions = tuple(float(Fraction(f)) for f in args.fractions.split(","))
    print(f"command: {' '.join(sys.argv)}")
    print(
        f"machine: {platform.platform()}; torch {torch.__version__} ({torch.get_num_threads()} threads); "
        f"datasize {datasize.__version__}"
    )
    work = Path(tempfile.mkdtemp(prefix="datasize-bench-curve-"))
    try:
        prepared = prepare(args.data, cache_dir=work / "cache")
        config = CurveConfig(
            fractions=fractions, seeds=args.seeds, lr=3e-3, train=TrainConfig(epochs=args.epochs)
        )
        specs = plan_runs(config, len(prepared.data.train))
        train = run_config(config, 3e-3, len(prepared.data.train))
        print(
            f"plan: {len(specs)} runs (sizes {sorted({s.n_train for s in specs})}, {args.seeds} seeds), "
            f"{train.steps} steps each"
        )
        rows = []
        pairs = []  # (bare, jobs=1, jobs=1's evaluation passes) of each round, run back to back
        for round_ in range(args.rounds):
            folder = work / f"j1-{round_}"
            bare = bare_steps(prepared, specs, train)
            with evaluation_timer() as evaluation:
                t, _ = timed(
                    lambda f=folder: learning_curve(prepared, config=config, lr=3e-3, folder=f, jobs=1)
                )
            pairs.append((bare, t, evaluation[0]))
        t_bare, t1, t_eval = (float(np.median([p[i] for p in pairs])) for i in (0, 1, 2))
        rows.append(("bare optimiser steps", t_bare))
        rows.append(("datasize learning_curve jobs=1", t1))
        rows.append(("  of which its evaluation passes", t_eval))
        t2 = t_bf16 = None
        if not args.skip_parallel:
            t2, _ = timed(
                lambda: learning_curve(prepared, config=config, lr=3e-3, folder=work / "j2", jobs=2)
            )
            rows.append(("datasize learning_curve jobs=2", t2))
        if not args.skip_bf16:
            bf16 = replace(config, train=replace(config.train, precision="bf16"))
            t_bf16, _ = timed(
                lambda: learning_curve(prepared, config=bf16, lr=3e-3, folder=work / "bf16", jobs=1)
            )
            rows.append(("datasize learning_curve jobs=1 bf16", t_bf16))
        plan = ["--fractions", args.fractions, "--seeds", str(args.seeds), "--epochs", str(args.epochs)]
        t_pipe = t_auto = None
        stages, auto_stages = [], []
        if not args.skip_cli:
            t_pipe, stages = cli_curve(args.data, work / "pipe", [*plan, "--lr", "3e-3"])
            rows.append(("`datasize curve` (fresh process, --lr 3e-3)", t_pipe))
            t_auto, auto_stages = cli_curve(args.data, work / "auto", [*plan, "--lr", "auto"])
            rows.append(("  the same with the LR finder (--lr auto)", t_auto))
        t_dask = None
        if not (args.skip_dask or args.skip_parallel):
            from distributed import Client, LocalCluster

            with (
                LocalCluster(
                    n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
                ) as cluster,
                Client(cluster) as client,
            ):
                t_dask, _ = timed(
                    lambda: learning_curve(
                        prepared, config=config, lr=3e-3, folder=work / "dask", scheduler=client
                    )
                )
            rows.append(("datasize learning_curve dask 2 workers", t_dask))
        t_plain = None
        if not args.skip_plain:
            t_plain = plain_curve(prepared, specs, train)
            rows.append(("plain PIL DataLoader curve", t_plain))
        print(f"\n{'contender':<46} {'seconds':>8}")
        for name, seconds in rows:
            print(f"{name:<46} {seconds:>8.1f}")
        for title, marks in (("--lr 3e-3", stages), ("--lr auto", auto_stages)) if t_pipe else ():
            print(f"\n`datasize curve {title}`, by stage (seconds)")
            for name, seconds in marks:
                print(f"  {name:<44} {seconds:>6.1f}")
            runs = sum(sec for name, sec in marks if name.startswith("training"))
            print(f"  {'everything but the runs':<44} {sum(sec for _, sec in marks) - runs:>6.1f}")
        print("\nratios")
        ratios = sorted(b / a for a, b, _ in pairs)
        print(
            f"  learning_curve jobs=1 / bare steps:        {t1 / t_bare:.2f}x  "
            f"(overhead {100 * (t1 / t_bare - 1):.0f}%)"
            + (f"; each round {' '.join(f'{r:.2f}' for r in ratios)}" if len(pairs) > 1 else "")
        )
        print(f"  ... without its evaluation passes:         {(t1 - t_eval) / t_bare:.2f}x")
        if t_pipe:
            print(f"  `datasize curve` / bare steps:             {t_pipe / t_bare:.2f}x")
            print(f"  ... with the LR finder / bare steps:       {t_auto / t_bare:.2f}x")
        if t2:
            print(f"  jobs=1 / jobs=2 (speed-up):                {t1 / t2:.2f}x")
        if t_bf16:
            print(f"  bf16 / fp32, learning_curve jobs=1:        {t_bf16 / t1:.2f}x")
        if t_dask:
            print(f"  jobs=1 / dask 2 workers (speed-up):        {t1 / t_dask:.2f}x")
        if t_plain:
            print(f"  plain PIL curve / learning_curve jobs=1:   {t_plain / t1:.2f}x")
        if t_plain and t_bf16:
            print(f"  plain PIL curve / learning_curve bf16:     {t_plain / t_bf16:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
