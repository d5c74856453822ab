"""The whole pipeline behind `datasize curve` and recipes: prepare, LR, curve, forecast, files.

Each stage's output lands in the run folder as it is made, so an interrupted pipeline resumes: the
split, the decoded images, the chosen learning rate and every finished run are reused.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasize.curves.folder import RunFolder
from datasize.curves.plan import CurveConfig
from datasize.curves.runner import CurveResult, OnRun, learning_curve
from datasize.dataset.checks import CheckConfig
from datasize.dataset.splits import write_split
from datasize.dataset.validation import validate
from datasize.forecasting.sizing import Forecast, forecast
from datasize.io import write_json
from datasize.report.training_files import read_chosen_lr, write_lr_find
from datasize.training.lr_finder import lr_find
from datasize.training.preparation import Prepared, prepare

Stage = Callable[[str], None]  # called with a short description as each stage starts


@dataclass(frozen=True)
class CurveOutcome:
    """A finished (or resumed) curve, its forecast, and where everything was written."""

    prepared: Prepared = field(repr=False)
    curve: CurveResult = field(repr=False)
    forecast: Forecast | None  # None when too few sizes succeeded
    forecast_error: str | None  # why there is no forecast
    lr: float
    lr_source: str  # "given", "lr_find" or "lr_find (resumed)"
    folder: Path

    def verdict(self) -> str:
        """The forecast's verdict, then what the runs' diagnoses say about trusting it."""
        head = self.forecast.verdict() if self.forecast is not None else str(self.forecast_error)
        return " ".join([head, *training_notes(self.curve.runs)])

    def summary(self) -> dict[str, Any]:
        """The JSON the `curve` command prints and `curve_summary.json` holds."""
        forecast = self.forecast.to_dict() if self.forecast is not None else None
        return {
            "verdict": self.verdict(),
            "training_notes": training_notes(self.curve.runs),
            "data": self.prepared.summary(),
            "lr": self.lr,
            "lr_source": self.lr_source,
            "budget": str(self.curve.config.budget),
            "config": self.curve.config.to_dict(),
            "runs": self.curve.runs.to_dict("records"),
            "resumed_runs": self.curve.resumed,
            "skipped_runs": list(self.curve.skipped),
            "forecast": forecast,
            "plateau": forecast["plateau"] if forecast else None,
            "images_needed": forecast["images_needed"] if forecast else None,
            "backtest": forecast["backtest"] if forecast else None,
            "per_class": forecast["per_class"] if forecast else None,
            "folder": str(self.folder),
        }


def training_notes(runs: Any) -> list[str]:
    """Warnings from the runs' diagnoses that change how the curve should be read."""
    ok = runs[runs["status"] == "ok"]
    notes = []
    failed = len(runs) - len(ok)
    if failed:
        notes.append(f"{failed} of {len(runs)} runs did not finish cleanly (see runs.csv) and are left out.")
    if ok.empty:
        return notes
    largest = ok[ok["n_train"] == ok["n_train"].max()]
    short = int((largest["diagnosis"] == "too_few_epochs").sum())
    if short * 2 >= len(largest) and short:
        notes.append(
            f"The largest runs were still improving when training stopped ({short} of {len(largest)} "
            "diagnosed too_few_epochs): the right end of the curve is limited by training, not by data; "
            "re-run with more --epochs before trusting the plateau or the images needed."
        )
    for kind, words in (("lr_too_high", "too high"), ("lr_too_low", "too low")):
        count = int((ok["diagnosis"] == kind).sum())
        if count * 4 >= len(ok):
            notes.append(f"{count} of {len(ok)} runs found the learning rate {words}; choose another --lr.")
    return notes


def write_validation(prepared: Prepared, folder: RunFolder) -> None:
    """The dataset's validation findings (with the split's leakage check) as validation.json."""
    info = prepared.split.info
    near = {k: info[k] for k in ("near_radius", "near_threshold") if k in info}  # the split's own pairs
    findings = validate(prepared.manifest, split=prepared.split.table, config=CheckConfig(**near))
    write_json(folder.validation_file, findings.to_dict())


def choose_lr(prepared: Prepared, config: CurveConfig, folder: RunFolder) -> tuple[float, str]:
    """The curve's one learning rate: given, or the LR finder's on the full training set (run once)."""
    if config.lr is not None:
        return config.lr, "given"
    stored = read_chosen_lr(folder.path)
    if stored is not None:
        return stored, "lr_find (resumed)"
    finder = lr_find(prepared.data, config=config.train)
    write_lr_find(folder.path, finder, chosen_lr=finder.suggestion.chosen)
    return finder.suggestion.chosen, "lr_find"


def run_curve(
    data: str | os.PathLike,
    *,
    config: CurveConfig,
    out: str | os.PathLike,
    prepare_options: dict[str, Any] | None = None,
    jobs: int = 1,
    threads: int | None = None,
    scheduler: Any = None,
    on_stage: Stage | None = None,
    on_run: OnRun | None = None,
) -> CurveOutcome:
    """Prepare the data, fix the LR, run (or resume) the curve, forecast, and write every file.

    Args:
        data: the dataset folder.
        config: the curve plan (fractions, seeds, budget, training, lr, target error).
        out: the run folder.
        prepare_options: keyword arguments for `prepare` (split, size, scan options...). The decoded
            images are kept in ``<out>/cache`` unless a ``cache_dir`` is given.
        jobs, threads, scheduler: where runs go and how many torch threads each uses (see
            `learning_curve`).
    """
    folder = RunFolder(out)
    stage = on_stage or (lambda _: None)
    options = {"cache_dir": folder.cache_dir, **(prepare_options or {})}
    stage("scanning and decoding images")
    prepared = prepare(data, **options)
    folder.path.mkdir(parents=True, exist_ok=True)
    write_split(prepared.split, folder.split_csv)
    stage("validating the dataset")
    write_validation(prepared, folder)
    stage("choosing the learning rate")
    lr, source = choose_lr(prepared, config, folder)
    stage(f"training {config.seeds} seed(s) at each size")
    curve = learning_curve(
        prepared,
        config=config,
        lr=lr,
        folder=folder.path,
        jobs=jobs,
        threads=threads,
        scheduler=scheduler,
        on_run=on_run,
    )
    stage("forecasting")
    result, problem = _forecast(curve, config)
    outcome = CurveOutcome(prepared, curve, result, problem, lr, source, folder.path)
    folder.write_summary(outcome.summary())
    return outcome


def _forecast(curve: CurveResult, config: CurveConfig) -> tuple[Forecast | None, str | None]:
    try:
        result = forecast(curve.runs, per_class=curve.per_class, target_error=config.target_error)
    except ValueError as exc:
        return None, f"no forecast: {exc}"
    return result, None
