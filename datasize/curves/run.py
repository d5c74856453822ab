"""One run of a learning curve: train on one subset and return its record; what a worker needs for it.

A run's failure is recorded with its error, never raised, so that the curve goes on.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from datasize.curves.plan import CurveConfig, RunSpec, nested_subsets, plan_runs
from datasize.io import usable_cores
from datasize.training.batches import TrainData, torch_threads
from datasize.training.loop import TrainConfig, fit_one_cycle
from datasize.training.preparation import Prepared


@dataclass(frozen=True)
class RunTask:
    """Everything a worker needs for one run; the images travel as a file path when they can."""

    spec: RunSpec
    train_rows: np.ndarray  # cache rows of this subset
    data: TrainData  # the full data; its images are emptied when `images_path` is set
    images_path: str | None  # a memory-mapped cache file that workers open themselves
    config: TrainConfig
    threads: int | None  # torch threads in this worker (None: leave as is)
    keep_predictions: bool = False  # keep every validation prediction (the largest runs: for the report)


def run_one(task: RunTask) -> dict[str, Any]:
    """Train one run and return its record; a failure is recorded with its error, not raised."""
    start = time.perf_counter()
    spec = task.spec
    base = {"fraction": spec.fraction, "n_train": spec.n_train, "seed": spec.seed}
    try:
        with torch_threads(task.threads):  # in-process runs leave the caller's setting as it was
            data = unshipped(task.data, task.images_path)
            result = fit_one_cycle(replace(data, train=task.train_rows), config=task.config)
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"
        return {
            **base,
            "status": "failed",
            "message": message,
            "trace": traceback.format_exc(limit=5),
            "seconds": time.perf_counter() - start,
        }
    diagnosis = result.diagnosis
    labels = np.array(data.cache.labels, dtype=object)
    n_class = pd.Series(labels[task.train_rows]).value_counts()
    per_class = result.per_class.assign(n_train_class=lambda t: t["label"].map(n_class).fillna(0).astype(int))
    return {
        **base,
        "status": "diverged" if result.diverged else "ok",
        "error_rate": result.error_rate,
        "best_error_rate": float(result.epochs["error_rate"].min()),
        "train_error": result.train_error,
        "valid_loss": float(result.epochs["valid_loss"].iloc[-1]),
        "n_valid": result.n_valid,
        "diagnosis": str(diagnosis.primary),
        "overfit_onset_epoch": diagnosis.overfit_onset_epoch,
        "diagnosis_detail": diagnosis.to_dict(),
        "steps": result.steps,
        "epochs": result.epochs.to_dict("records"),
        "per_class": per_class[["label", "n_train_class", "n_valid", "error_rate"]]
        .rename(columns={"n_valid": "n_valid_class"})
        .to_dict("records"),
        "seconds": time.perf_counter() - start,
        "message": diagnosis.summary(),
        "predictions": result.valid_predictions.to_dict("records") if task.keep_predictions else None,
    }


def unshipped(data: TrainData, images_path: str | None) -> TrainData:
    """The data a worker trains on: `shippable`'s data with its memory-mapped images opened again."""
    if images_path is None:
        return data
    images = np.load(images_path, mmap_mode="r")
    return replace(data, cache=replace(data.cache, images=images))


def shippable(data: TrainData) -> tuple[TrainData, str | None]:
    """The data to send to workers: a memory-mapped cache goes by its file name, not its bytes."""
    images = data.cache.images
    path = getattr(images, "filename", None)
    if isinstance(images, np.memmap) and path:
        empty = np.empty((0, *images.shape[1:]), dtype=images.dtype)
        return replace(data, cache=replace(data.cache, images=empty)), str(path)
    return data, None


def make_tasks(
    prepared: Prepared,
    config: CurveConfig,
    specs: list[RunSpec],
    train_config: TrainConfig,
    jobs: int | None,
    threads: int | None = None,
) -> list[RunTask]:
    """The tasks of the runs `specs`, smallest first: each its seed's nested subset and `train_config`
    with its seed; the largest size keeps its predictions. With `jobs` > 1 a memory-mapped cache
    travels by its file name, and threads are shared out among the workers unless `threads` is given."""
    data = prepared.data
    labels = np.array(data.cache.labels, dtype=object)[data.train]
    counts = sorted({s.n_train for s in specs})
    shipped, path = shippable(data) if (jobs or 2) > 1 else (data, None)
    if threads is None and jobs and jobs > 1:
        threads = max(1, usable_cores() // jobs)
    largest = max(plan_runs(config, len(data.train)), key=lambda s: s.n_train).n_train
    tasks = []
    for seed in sorted({s.seed for s in specs}):
        subsets = dict(zip(counts, nested_subsets(labels, counts, seed=seed), strict=True))
        for spec in (s for s in specs if s.seed == seed):
            rows = data.train[subsets[spec.n_train]]
            config_s = replace(train_config, seed=spec.seed)
            keep = spec.n_train == largest
            tasks.append(RunTask(spec, rows, shipped, path, config_s, threads, keep_predictions=keep))
    return sorted(tasks, key=lambda t: (t.spec.n_train, t.spec.seed))
