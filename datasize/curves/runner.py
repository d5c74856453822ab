"""Learning curves: train at growing, nested, stratified fractions of the training set, several seeds each.

Every (fraction, seed) run trains against the same fixed validation set, with one fixed learning rate
and, by default, the same number of optimiser steps (those of `epochs` passes over the full training
set), so that small fractions are not merely under-trained. Each finished run is written atomically
to ``<run folder>/runs/`` at once; running the same command again skips finished runs, and a changed
configuration is refused rather than mixed in. Runs go in this process, in local worker processes
(``jobs``), or to a Dask cluster (``scheduler``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from datasize.io import remove_stale_temporaries, usable_cores, write_csv_atomic
from datasize.report.training_files import jsonable, write_json
from datasize.training.batches import TrainData
from datasize.training.loop import TrainConfig, fit_one_cycle, steps_per_epoch
from datasize.training.preparation import Prepared

DEFAULT_FRACTIONS = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0)
CURVE_FORMAT = 1
RUN_COLUMNS = [
    "fraction",
    "n_train",
    "seed",
    "status",
    "error_rate",
    "best_error_rate",
    "train_error",
    "valid_loss",
    "n_valid",
    "diagnosis",
    "overfit_onset_epoch",
    "steps",
    "seconds",
    "message",
]
PER_CLASS_COLUMNS = ["fraction", "n_train", "seed", "label", "n_train_class", "n_valid_class", "error_rate"]


class Budget(StrEnum):
    """How much training each fraction gets."""

    STEPS = "steps"  # the optimiser steps of `epochs` passes over the full training set, at every fraction
    EPOCHS = "epochs"  # `epochs` passes over each subset: small fractions get few steps


@dataclass(frozen=True)
class CurveConfig:
    """The plan of a learning curve; stored in the run folder and compared on resume."""

    fractions: tuple[float, ...] = DEFAULT_FRACTIONS  # of the training set, in (0, 1]
    sizes: tuple[int, ...] | None = None  # absolute training-set sizes instead of fractions
    seeds: int = 3  # runs per fraction; seed s draws the subsets and seeds the training
    budget: Budget = Budget.STEPS  # equal optimiser steps (default) or equal epochs
    lr: float | None = None  # one fixed max LR for every run; None: the LR finder's, on the full set
    train: TrainConfig = field(default_factory=TrainConfig)  # model, epochs, batch size...
    target_error: float | None = None  # the forecast says how many images reach this error
    # Seeds beyond the second run only where the seeds so far disagree: at each size, another seed is
    # skipped once the standard error of the seeds' mean is under `seed_stop` x the validation set's
    # own standard error (a noise that more seeds cannot reduce: every run meets the same images).
    # None runs every seed. See `seed_needed`.
    seed_stop: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "budget", Budget(self.budget))
        fractions = tuple(sorted({float(f) for f in self.fractions}))
        if not fractions or any(not 0 < f <= 1 for f in fractions):
            raise ValueError(f"fractions={list(self.fractions)} must be numbers in (0, 1]")
        object.__setattr__(self, "fractions", fractions)
        if self.sizes is not None:
            sizes = tuple(sorted({int(s) for s in self.sizes}))
            if not sizes or sizes[0] < 1:
                raise ValueError(f"sizes={list(self.sizes)} must be positive image counts")
            object.__setattr__(self, "sizes", sizes)
        if self.seeds < 1:
            raise ValueError(f"seeds={self.seeds} must be at least 1")
        if self.lr is not None and not self.lr > 0:
            raise ValueError(f"lr={self.lr} must be positive (or None for the LR finder)")
        if self.seed_stop is not None and not (math.isfinite(self.seed_stop) and self.seed_stop > 0):
            raise ValueError(f"seed_stop={self.seed_stop} must be a positive number (or None: every seed)")
        if self.target_error is not None and not 0 < self.target_error < 1:
            raise ValueError(f"target_error={self.target_error} must be between 0 and 1")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["budget"] = str(self.budget)
        out["train"] = self.train.to_dict()
        return out


def nested_subsets(labels: np.ndarray, counts: list[int], *, seed: int) -> list[np.ndarray]:
    """Positions (into `labels`) of nested, stratified subsets of the given total sizes.

    Each class's positions are shuffled once by `seed`; a subset takes a prefix of every class, so a
    smaller subset always lies inside a larger one. Every class keeps its share (largest remainders
    decide the odd images) and at least one image.

    >>> subsets = nested_subsets(np.array(list("aaaabbbbbbbb")), [3, 6, 12], seed=0)
    >>> [len(s) for s in subsets], set(subsets[0]) <= set(subsets[1])
    ([3, 6, 12], True)
    """
    labels = np.asarray(labels)
    classes, codes = np.unique(labels, return_inverse=True)
    rng = np.random.default_rng(seed)
    order = [rng.permutation(np.flatnonzero(codes == k)) for k in range(len(classes))]
    sizes = np.array([len(o) for o in order])
    out = []
    for total in counts:
        if not len(classes) <= total <= len(labels):
            raise ValueError(
                f"a subset of {total} images cannot hold {len(classes)} classes of {len(labels)} images"
            )
        take = per_class_counts(sizes, total)
        out.append(np.sort(np.concatenate([o[:t] for o, t in zip(order, take, strict=True)])))
    return out


def per_class_counts(sizes: np.ndarray, total: int) -> np.ndarray:
    """Split `total` across classes in proportion to `sizes`, each at least 1 and at most its size.

    >>> per_class_counts(np.array([4, 8]), 3).tolist()
    [1, 2]
    """
    share = sizes * total / sizes.sum()
    take = np.clip(np.floor(share).astype(np.int64), 1, sizes)
    while take.sum() < total:  # largest remainders first, among classes with room
        room = take < sizes
        k = int(np.argmax(np.where(room, share - take, -np.inf)))
        take[k] += 1
    while take.sum() > total:  # the floor of 1 overshot: trim the largest
        k = int(np.argmax(np.where(take > 1, take - share, -np.inf)))
        take[k] -= 1
    return take


@dataclass(frozen=True)
class RunSpec:
    """One point of the curve: a subset size and a seed."""

    fraction: float
    n_train: int
    seed: int

    @property
    def name(self) -> str:
        return f"n{self.n_train:07d}-s{self.seed}"


def plan_runs(config: CurveConfig, n_train: int) -> list[RunSpec]:
    """Every (size, seed) run, smallest first: the forecast needs the small ones most.

    Seeds are `config.train.seed`, +1, ... (`seeds` of them); seed s draws the subsets and trains.
    """
    if config.sizes is not None:
        too_big = [s for s in config.sizes if s > n_train]
        if too_big:
            raise ValueError(f"sizes {too_big} exceed the {n_train} training images")
        sizes = list(config.sizes)
    else:
        sizes = sorted({max(1, round(f * n_train)) for f in config.fractions})
    seeds = range(config.train.seed, config.train.seed + config.seeds)
    return [RunSpec(fraction=n / n_train, n_train=n, seed=s) for n in sizes for s in seeds]


def seed_needed(errors: list[float], n_valid: int, seed_stop: float) -> bool:
    """Whether one more seed at a size is worth running, given the error rates of the seeds so far.

    Every run is measured on the same validation set, so its sampling error, sqrt(p(1-p)/n_valid),
    is shared by all seeds and no number of seeds removes it. Seeds only average out the seed-to-seed
    spread. Once the standard error of the seeds' mean, sd/sqrt(k), is under `seed_stop` times that
    shared noise, another seed changes the estimate by less than the noise already in it.
    At least two seeds are always run (one gives no spread).

    >>> seed_needed([0.10], n_valid=400, seed_stop=0.5)
    True
    >>> seed_needed([0.100, 0.105], n_valid=400, seed_stop=0.5)  # 0.0025 < 0.5 x 0.015
    False
    >>> seed_needed([0.08, 0.14], n_valid=400, seed_stop=0.5)  # 0.03 > 0.5 x 0.016
    True
    """
    if len(errors) < 2:
        return True
    values = np.asarray(errors, dtype=float)
    p = min(max(float(values.mean()), 0.5 / n_valid), 1 - 0.5 / n_valid)
    valid_se = math.sqrt(p * (1 - p) / n_valid)
    seeds_se = float(values.std(ddof=1)) / math.sqrt(len(values))
    return seeds_se >= seed_stop * valid_se


def _waves(specs: list[RunSpec], config: CurveConfig) -> list[list[RunSpec]]:
    """Runs in the order they may start: all at once, or (seed_stop) two seeds, then one seed a wave."""
    if config.seed_stop is None:
        return [specs]
    first = config.train.seed + 2
    later = sorted({s.seed for s in specs if s.seed >= first})
    return [[s for s in specs if s.seed < first], *[[s for s in specs if s.seed == seed] for seed in later]]


def _still_needed(spec: RunSpec, records: dict[str, dict[str, Any]], config: CurveConfig) -> bool:
    done = [
        r
        for r in records.values()
        if r.get("n_train") == spec.n_train
        and r.get("seed", spec.seed) < spec.seed
        and r.get("status") == "ok"
    ]
    if not done or config.seed_stop is None:
        return True
    return seed_needed([r["error_rate"] for r in done], int(done[0]["n_valid"]), config.seed_stop)


def run_config(config: CurveConfig, lr: float, n_full: int) -> TrainConfig:
    """The TrainConfig of every run: the fixed LR, and the step budget of the full training set."""
    train = replace(config.train, lr=lr)
    if config.budget == Budget.STEPS:
        train = replace(train, steps=train.epochs * steps_per_epoch(n_full, train.batch_size))
    return train


# --- running one point --------------------------------------------------------------------------


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
    import torch

    before = torch.get_num_threads()
    try:
        if task.threads is not None:
            torch.set_num_threads(task.threads)
        data = _worker_data(task)
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
    finally:
        torch.set_num_threads(before)  # in-process runs leave the caller's setting as it was
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


def _worker_data(task: RunTask) -> TrainData:
    if task.images_path is None:
        return task.data
    images = np.load(task.images_path, mmap_mode="r")
    return replace(task.data, cache=replace(task.data.cache, images=images))


def _shippable(data: TrainData) -> tuple[TrainData, str | None]:
    """The data to send to workers: a memory-mapped cache goes by its file name, not its bytes."""
    images = data.cache.images
    path = getattr(images, "filename", None)
    if isinstance(images, np.memmap) and path:
        empty = np.empty((0, *images.shape[1:]), dtype=images.dtype)
        return replace(data, cache=replace(data.cache, images=empty)), str(path)
    return data, None


# --- the run folder -------------------------------------------------------------------------------


def curve_identity(prepared: Prepared, config: CurveConfig) -> dict[str, Any]:
    """What must match for a run folder to be resumed: data, split, decoding and the whole plan."""
    return {
        "format": CURVE_FORMAT,
        "images": prepared.cache.key,
        "split_fingerprint": prepared.split.fingerprint,
        "curve": config.to_dict(),
    }


def _identity_key(identity: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def open_run_folder(folder: Path, identity: dict[str, Any]) -> None:
    """Create the folder, or check that it holds this same curve; raises ValueError naming the change."""
    record = folder / "curve.json"
    if record.exists():
        stored = json.loads(record.read_text(encoding="utf-8"))
        if stored.get("key") != _identity_key(identity):
            changed = _differences(stored.get("identity", {}), jsonable(identity))
            raise ValueError(
                f"{folder} holds a learning curve with another configuration "
                f"(changed: {', '.join(changed)}); use another --out folder, or delete that one to start over"
            )
        return
    folder.mkdir(parents=True, exist_ok=True)
    write_json(record, {"key": _identity_key(identity), "identity": identity})


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new))
        return [d for k in keys for d in _differences(old.get(k), new.get(k), f"{prefix}{k}.")]
    return [prefix.rstrip(".")] if old != new else []


def load_finished(folder: Path) -> dict[str, dict[str, Any]]:
    """Run records already written (unreadable ones are ignored and will be run again)."""
    finished = {}
    for path in sorted((folder / "runs").glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        finished[path.stem] = record
    return finished


def runs_table(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per run, in plan order (size, then seed)."""
    table = pd.DataFrame.from_records(
        [{c: r.get(c) for c in RUN_COLUMNS} for r in records], columns=RUN_COLUMNS
    )
    return table.sort_values(["n_train", "seed"], kind="stable").reset_index(drop=True)


def per_class_table(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (run, class): that class's training images and validation error."""
    rows = [
        {"fraction": r["fraction"], "n_train": r["n_train"], "seed": r["seed"], **c}
        for r in records
        if r.get("status") == "ok"
        for c in r.get("per_class", [])
    ]
    table = pd.DataFrame.from_records(rows, columns=PER_CLASS_COLUMNS)
    return table.sort_values(["n_train", "seed", "label"], kind="stable").reset_index(drop=True)


# --- the whole curve ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CurveResult:
    """Every run of the curve, its per-class errors, and where they were written."""

    config: CurveConfig
    lr: float
    runs: pd.DataFrame  # RUN_COLUMNS
    per_class: pd.DataFrame  # PER_CLASS_COLUMNS
    records: list[dict[str, Any]] = field(repr=False)
    folder: Path | None = None
    resumed: int = 0  # runs found finished in the folder and not run again
    skipped: tuple[str, ...] = ()  # runs `seed_stop` found not worth running (their RunSpec names)


OnRun = Callable[[int, int, dict[str, Any]], None]  # (done, total, record)


def learning_curve(
    prepared: Prepared,
    *,
    config: CurveConfig | None = None,
    lr: float,
    folder: str | os.PathLike,
    jobs: int = 1,
    threads: int | None = None,
    scheduler: str | None = None,
    on_run: OnRun | None = None,
) -> CurveResult:
    """Run (or resume) every (fraction, seed) of the curve and write each run as it finishes.

    Args:
        prepared: from `prepare` (the split is the fixed validation set).
        config: the plan (fractions, seeds, budget, training settings).
        lr: the fixed max LR of every run (the LR finder's, or the user's).
        folder: the run folder; finished runs there are kept and skipped.
        jobs: local worker processes (1: in this process). Threads per worker are set so that the
            workers together use the cores once.
        threads: torch threads of each run instead (a shared machine runs steadier with fewer);
            results can differ in the last bits between thread counts.
        scheduler: a Dask distributed scheduler address ("tcp://host:8786") or a `distributed.Client`;
            runs are submitted there instead.
        on_run: called after each run with (done, total, record).
    """
    config = config or CurveConfig()
    if jobs < 1:
        raise ValueError(f"jobs={jobs} must be at least 1")
    if threads is not None and threads < 1:
        raise ValueError(f"threads={threads} must be at least 1")
    folder = Path(folder)
    open_run_folder(folder, curve_identity(prepared, config))
    data = prepared.data
    specs = plan_runs(config, len(data.train))
    train_config = run_config(config, lr, len(data.train))
    finished = load_finished(folder)
    todo = [s for s in specs if s.name not in finished]
    records = {name: r for name, r in finished.items() if name in {s.name for s in specs}}
    resumed = len(records)
    if on_run:
        on_run(len(records), len(specs), {})
    (folder / "runs").mkdir(parents=True, exist_ok=True)
    for place in (folder, folder / "runs"):  # what a run killed mid-write left behind
        remove_stale_temporaries(place)
    skipped: list[str] = []
    for wave in _waves(todo, config):
        # Decided from the finished runs alone, so a resumed curve decides the same way.
        needed = [s for s in wave if _still_needed(s, records, config)]
        skipped += [s.name for s in wave if s not in needed]
        tasks = _tasks(prepared, config, needed, train_config, jobs if scheduler is None else None, threads)
        for spec, record in _execute(tasks, jobs=jobs, scheduler=scheduler):
            write_json(folder / "runs" / f"{spec.name}.json", record)
            records[spec.name] = record
            if on_run:
                on_run(len(records), len(specs) - len(skipped), record)
    ordered = [records[s.name] for s in specs if s.name in records]
    result = CurveResult(
        config=config,
        lr=lr,
        runs=runs_table(ordered),
        per_class=per_class_table(ordered),
        records=ordered,
        folder=folder,
        resumed=resumed,
        skipped=tuple(skipped),
    )
    write_csv_atomic(folder / "runs.csv", result.runs)
    write_csv_atomic(folder / "per_class.csv", result.per_class)
    return result


def _tasks(
    prepared: Prepared,
    config: CurveConfig,
    specs: list[RunSpec],
    train_config: TrainConfig,
    jobs: int | None,
    threads: int | None = None,
) -> list[RunTask]:
    data = prepared.data
    labels = np.array(data.cache.labels, dtype=object)[data.train]
    counts = sorted({s.n_train for s in specs})
    shipped, path = _shippable(data) if (jobs or 2) > 1 else (data, None)
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


def _execute(tasks: list[RunTask], *, jobs: int, scheduler: Any) -> Iterator[tuple[RunSpec, dict[str, Any]]]:
    if not tasks:
        return
    if scheduler is not None:
        yield from _execute_dask(tasks, scheduler)
    elif jobs == 1:
        for task in tasks:
            yield task.spec, run_one(task)
    else:
        yield from _execute_processes(tasks, jobs)


def _execute_processes(tasks: list[RunTask], jobs: int) -> Iterator[tuple[RunSpec, dict[str, Any]]]:
    import multiprocessing

    # forkserver: forking a process that already runs torch's thread pools can deadlock.
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures: dict[Future, RunSpec] = {pool.submit(run_one, t): t.spec for t in tasks}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _execute_dask(tasks: list[RunTask], scheduler: Any) -> Iterator[tuple[RunSpec, dict[str, Any]]]:
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError:
        raise ValueError("--scheduler needs dask.distributed: pip install 'datasize-toolkit[dask]'") from None
    client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    try:
        futures = {
            client.submit(run_one, t, pure=False, key=f"datasize-{t.spec.name}-{os.getpid()}"): t.spec
            for t in tasks
        }
        try:
            for future in dask_completed(futures):
                yield futures[future], future.result()
        except BaseException:
            client.cancel(list(futures))
            raise
    finally:
        if client is not scheduler:
            client.close()
