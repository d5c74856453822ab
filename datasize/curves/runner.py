"""Learning curves: train at growing, nested, stratified fractions of the training set, several seeds each.

Every (fraction, seed) run trains against the same fixed validation set, with one fixed learning rate
and, by default, the same number of optimiser steps (see `plan`). Each finished run is written
atomically to the run folder at once (`folder`); running the same command again skips finished runs,
and a changed configuration is refused rather than mixed in. Runs go in this process, in local worker
processes (``jobs``), or to a Dask cluster (``scheduler``) (`executors`). With ``auto_epochs`` a pilot
first chooses the training length (`pilot`) and its runs at that length become the curve's.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from datasize.curves.executors import execute
from datasize.curves.folder import RunFolder, curve_identity
from datasize.curves.pilot import EpochChoice, OnPilot, choose_epochs, reuse_pilot_runs, with_epochs
from datasize.curves.plan import (
    CurveConfig,
    plan_runs,
    run_config,
    still_needed,
    waves,
)
from datasize.curves.run import make_tasks
from datasize.training.models import ModelFactory
from datasize.training.preparation import Prepared


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
    epochs: EpochChoice | None = None  # the pilot's choice of training length (auto_epochs)
    reused: int = 0  # runs the pilot had trained already, at the chosen length


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
    on_pilot: OnPilot | None = None,
    model_factory: ModelFactory | None = None,
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
        on_run: called after each run with (done, total, record); first with (done, total,
            {"start": {"resumed": ..., "from_pilot": ...}}): the runs found finished and why.
        on_pilot: with `config.auto_epochs`, called after each pilot run with (epochs, record).
        model_factory: ``factory(in_channels, n_classes) -> nn.Module``, your own model for every run
            instead of `config.train.model` (a module-level function when runs go to other processes).
    """
    config = config or CurveConfig()
    if jobs < 1:
        raise ValueError(f"jobs={jobs} must be at least 1")
    if threads is not None and threads < 1:
        raise ValueError(f"threads={threads} must be at least 1")
    run_folder = RunFolder(folder)
    data = prepared.data
    choice, reused = None, 0
    if config.auto_epochs:
        choice = choose_epochs(
            prepared,
            config,
            lr=lr,
            folder=run_folder,
            jobs=jobs,
            threads=threads,
            scheduler=scheduler,
            on_pilot=on_pilot,
            model_factory=model_factory,
        )
        config = with_epochs(config, choice.epochs)
    # With auto_epochs the identity holds the chosen length: a pilot that chooses otherwise on a
    # resume (another machine's arithmetic, say) is a changed configuration, never mixed in.
    run_folder.open(curve_identity(prepared, config, model_factory))
    if choice is not None:
        reused = reuse_pilot_runs(config, choice, n_train=len(data.train), folder=run_folder)
    specs = plan_runs(config, len(data.train))
    train_config = run_config(config, lr, len(data.train))
    finished = run_folder.finished_runs()
    todo = [s for s in specs if s.name not in finished]
    records = {name: r for name, r in finished.items() if name in {s.name for s in specs}}
    resumed = len(records) - reused
    if on_run:  # the start: runs already finished, those of them the pilot trained
        on_run(len(records), len(specs), {"start": {"resumed": resumed, "from_pilot": reused}})
    run_folder.prepare_runs()
    skipped: list[str] = []
    for wave in waves(todo, config):
        # Decided from the finished runs alone, so a resumed curve decides the same way.
        needed = [s for s in wave if still_needed(s, records, config)]
        skipped += [s.name for s in wave if s not in needed]
        local = jobs if scheduler is None else None
        tasks = make_tasks(prepared, config, needed, train_config, local, threads, model_factory)
        for spec, record in execute(tasks, jobs=jobs, scheduler=scheduler):
            run_folder.write_run(spec.name, record)
            records[spec.name] = record
            if on_run:
                on_run(len(records), len(specs) - len(skipped), record)
    ordered = [records[s.name] for s in specs if s.name in records]
    runs, per_class = run_folder.write_tables(ordered)
    return CurveResult(
        config=config,
        lr=lr,
        runs=runs,
        per_class=per_class,
        records=ordered,
        folder=run_folder.path,
        resumed=resumed,
        skipped=tuple(skipped),
        epochs=choice,
        reused=reused,
    )
