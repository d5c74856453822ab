"""The whole pipelines behind `datasize curve`, `datasize labels` and recipes: prepare, LR, curve or
labels check, forecast, files.

Each stage's output lands in the run folder as it is made, so an interrupted pipeline resumes: the
split, the decoded images, the chosen learning rate and every finished run or fold are reused. A
labels check and a curve may share a run folder: the curve's verdict then says when wrong labels
explain its plateau.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from datasize.curves.cost import CurvePlan, full_training_steps, plan_cost, spent_cost
from datasize.curves.folder import RunFolder
from datasize.curves.pilot import OnPilot, choose_epochs, pilot_note, pilot_specs
from datasize.curves.plan import CurveConfig, check_plan
from datasize.curves.runner import CurveResult, OnRun, learning_curve
from datasize.dataset.checks import CheckConfig
from datasize.dataset.manifest import list_images
from datasize.dataset.splits import SplitResult, write_split
from datasize.dataset.validation import validate
from datasize.errors import RunsFailed, ValidationFailed
from datasize.forecasting.answer import Answer, labels_first, pilot_capped, training_limited
from datasize.forecasting.sizing import Forecast, forecast
from datasize.io import folder_lock, write_json
from datasize.labels.folder import LabelsFolder, labels_identity
from datasize.labels.issues import LabelIssues
from datasize.labels.plan import LabelsConfig, check_classes
from datasize.labels.plateau import plateau_note
from datasize.labels.runner import OnFold, find_label_issues
from datasize.noise import at_zero
from datasize.report.training_files import read_chosen_lr, write_lr_find
from datasize.training.batches import torch_threads
from datasize.training.features import body_seconds_per_image, stand_in_features
from datasize.training.loop import TrainConfig
from datasize.training.lr_finder import lr_find
from datasize.training.models import ModelFactory
from datasize.training.preparation import Check, Prepared, prepare

Stage = Callable[[str], None]  # called with a short description as each stage starts


@dataclass(frozen=True)
class CurveOutcome:
    """A finished (or resumed) curve, its forecast, and where everything was written."""

    prepared: Prepared = field(repr=False)
    curve: CurveResult = field(repr=False)
    forecast: Forecast | None  # None when too few sizes succeeded
    forecast_error: str | None  # why there is no forecast
    lr: float
    lr_source: str  # "given", "the default", "lr_find" or "lr_find (resumed)"
    folder: Path
    labels: dict[str, Any] | None = field(default=None, repr=False)  # a labels check's summary, if at hand

    def answer(self) -> Answer | None:
        """The forecast's answer, revised when wrong labels explain its plateau (fix them first) or the
        largest runs were cut short by training (longer training would tell); None without a forecast."""
        if self.forecast is None:
            return None
        answer = self.forecast.answer()
        note = self.labels_note()
        if note:
            answer = labels_first(answer, note)
        short, largest = cut_short(self.curve.runs)
        limited = training_limited(answer, short, largest) if short else answer
        capped = pilot_note(self.curve.epochs)
        if capped and limited is answer:
            limited = pilot_capped(answer, capped)
        notes = training_notes(self.curve.runs, answered=limited is not answer)
        return limited.with_notes([*notes, self._measured()])

    def verdict(self) -> str:
        """The answer, its reasons and the details (the runs' diagnoses among them), as one paragraph."""
        answer = self.answer()
        if answer is None:
            return " ".join([str(self.forecast_error), *training_notes(self.curve.runs), self._measured()])
        return answer.text()

    def _measured(self) -> str:
        return f"Measured with {self.curve.config.train.describe()}."

    def labels_note(self) -> str | None:
        """The sentence a labels check of the same data and split adds when the curve levels off near
        its estimated share of wrong labels (see `datasize.labels.plateau`); None otherwise."""
        if self.forecast is None or self.labels is None:
            return None
        runs = self.curve.runs
        largest = runs[(runs["status"] == "ok") & (runs["n_train"] == self.forecast.n_train)]
        data = self.prepared.summary()
        return plateau_note(
            self.labels,
            error_rate=self.forecast.error_rate,
            n_valid=int(largest["n_valid"].iloc[0]),
            levelling=not self.forecast.plateau.helps,
            images_fingerprint=data["images_fingerprint"],
            split_fingerprint=data["split_fingerprint"],
        )

    def epochs_summary(self) -> dict[str, Any]:
        """The training length: chosen by the pilot (its runs and reason), or as given."""
        choice = self.curve.epochs
        if choice is None:
            return {"epochs": self.curve.config.train.epochs, "source": "given"}
        return {**choice.to_dict(), "source": "pilot", "reused_runs": self.curve.reused}

    def suggestion(self) -> str | None:
        """For colour images measured with a model trained from scratch: the comparison with an
        ImageNet-pretrained body that would tell whether the model is the better lever. Not made for
        gray images, where frozen ImageNet features lost to a small CNN trained from scratch on every
        set measured (benchmarks/README.md: bench_pretrained.py)."""
        train = self.curve.config.train
        if train.backbone is not None or train.pretrained or self.prepared.image_channels != 3:
            return None
        return (
            "Your images are in colour: an ImageNet-pretrained model may need fewer of them. Measure it "
            f"beside this one on the same split: datasize curve {self.prepared.root} --model {train.model} "
            "--model efficientnet_lite0 --pretrained --frozen (about one pass of its body over the images; "
            "pip install 'datasize-toolkit[pretrained]')."
        )

    def cost(self) -> dict[str, Any]:
        """What the curve spent, in full trainings (the steps of one run on the whole training set at
        the chosen length) and seconds: the pilot's runs and the curve's (the reused ones counted
        once, in the pilot)."""
        config, n_train = self.curve.config, len(self.prepared.data.train)
        full = full_training_steps(config, n_train)
        choice = self.curve.epochs
        # The pilot's runs (the same seeds at every length) at the chosen length are the curve's
        # largest runs: counted once, as the pilot's.
        specs = pilot_specs(config, n_train) if choice is not None else []
        folder = RunFolder(self.folder)
        found = [
            folder.pilot_run(p.epochs, s.seed) for p in (choice.lengths if choice else ()) for s in specs
        ]
        pilot_records = [r for r in found if r is not None]
        shared = {(s.n_train, s.seed) for s in specs}
        curve = spent_cost([r for r in self.curve.records if (r["n_train"], r["seed"]) not in shared], full)
        pilot = spent_cost(pilot_records, full)
        total = curve.full_trainings + pilot.full_trainings
        return {"curve": curve.to_dict(), "pilot": pilot.to_dict(), "full_trainings": round(total, 2)}

    def summary(self) -> dict[str, Any]:
        """The JSON the `curve` command prints and `curve_summary.json` holds."""
        forecast = self.forecast.to_dict() if self.forecast is not None else None
        answer = self.answer()
        return {
            "verdict": self.verdict(),
            "answer": None if answer is None else answer.to_dict(),
            "model": self.curve.config.train.describe(),
            "suggestion": self.suggestion(),
            "cost": self.cost(),
            "training_notes": training_notes(self.curve.runs),
            "labels_note": self.labels_note(),
            "data": self.prepared.summary(),
            "lr": self.lr,
            "lr_source": self.lr_source,
            "epochs": self.epochs_summary(),
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


def cut_short(runs: Any) -> tuple[int, int]:
    """(runs diagnosed too_few_epochs, runs) at the largest size when at least half of them were, and
    their error is not at zero (where longer training cannot show a gain); (0, runs) otherwise."""
    ok = runs[runs["status"] == "ok"]
    if ok.empty:
        return 0, 0
    largest = ok[ok["n_train"] == ok["n_train"].max()]
    short = int((largest["diagnosis"] == "too_few_epochs").sum())
    n_valid = int(largest["n_valid"].max()) if "n_valid" in largest else 0
    if n_valid and at_zero(float(largest["error_rate"].mean()), n_valid):
        return 0, len(largest)
    return (short if short * 2 >= len(largest) else 0), len(largest)


def training_notes(runs: Any, *, answered: bool = False) -> list[str]:
    """Warnings from the runs' diagnoses that change how the curve should be read (`answered`: the
    answer already says that the largest runs were cut short)."""
    ok = runs[runs["status"] == "ok"]
    notes = []
    failed = len(runs) - len(ok)
    if failed:
        notes.append(f"{failed} of {len(runs)} runs did not finish cleanly (see runs.csv) and are left out.")
    if ok.empty:
        return notes
    short, largest = cut_short(runs)
    if short and not answered:
        notes.append(
            f"The largest runs were still improving when training stopped ({short} of {largest} "
            "diagnosed too_few_epochs): the right end of the curve is limited by training, not by data; "
            "re-run with more --epochs before trusting the plateau or the images needed."
        )
    for kind, words in (("lr_too_high", "too high"), ("lr_too_low", "too low")):
        count = int((ok["diagnosis"] == kind).sum())
        if count * 4 >= len(ok):
            notes.append(f"{count} of {len(ok)} runs found the learning rate {words}; choose another --lr.")
    return notes


def validation_gate(
    folder: RunFolder, fail_on: str | None, stage: Stage, near: dict[str, Any] | None = None
) -> Check:
    """The check `prepare` runs once the dataset is scanned: validate it (with a split file's leakage),
    write validation.json, say the summary, and stop with ValidationFailed on what would make the
    measurement wrong (findings at or above `fail_on`; None measures whatever was found). Files that
    cannot be read are left out and counted. Near duplicates are found with `near` (near_radius,
    near_threshold: those the split is made with) or, with a split file, those it was made with."""

    def check(manifest: pd.DataFrame, given: SplitResult | None) -> None:
        settings = {**(near or {}), **({} if given is None else _near_settings(given.info))}
        table = None if given is None else given.table
        findings = validate(manifest, split=table, config=CheckConfig(**settings))
        threshold = fail_on or "error"  # the record says what was found; "none" only lets it through
        write_json(folder.validation_file, findings.to_dict(threshold))
        left = findings.left_out()
        stage(
            f"validation: {findings.summary_line(threshold)}"
            + (f"; {left} file(s) that cannot be read are left out" if left else "")
            + (
                "; measuring anyway (--fail-on none)"
                if fail_on is None and not findings.passed(threshold)
                else ""
            )
        )
        blocking = findings.blocking(fail_on)
        if len(blocking):
            counts = blocking.groupby("check", sort=False).size()
            found = ", ".join(f"{n} {check}" for check, n in counts.items())
            first = blocking.iloc[0]
            example = f"{first['path'] or '-'}: {first['detail']}"
            raise ValidationFailed(
                f"validation failed, so the measurement would be wrong: {found} (e.g. {example}); see "
                f"{folder.validation_file} or run `datasize validate`, fix the data, or measure anyway "
                'with --fail-on none (recipe: fail_on = "none")'
            )

    return check


def _near_settings(options: dict[str, Any]) -> dict[str, Any]:
    """The near-duplicate settings among split options or a split record (older records lack some)."""
    return {k: options[k] for k in ("near_radius", "near_threshold") if k in options}


def choose_lr(
    prepared: Prepared,
    config: CurveConfig,
    folder: RunFolder,
    model_factory: ModelFactory | None = None,
    lr_given: bool = True,
) -> tuple[float, str]:
    """The curve's one learning rate: given (or the default, when `lr_given` is False: the user gave
    none), or the LR finder's on the full training set (run once)."""
    if config.lr is not None:
        return config.lr, "given" if lr_given else "the default"
    stored = read_chosen_lr(folder.path)
    if stored is not None:
        return stored, "lr_find (resumed)"
    finder = lr_find(prepared.data, config=config.train, model_factory=model_factory)
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
    on_pilot: OnPilot | None = None,
    fail_on: str | None = "error",
    model_factory: ModelFactory | None = None,
    lr_given: bool = True,
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
        fail_on: validation findings at or above this severity stop the pipeline before anything is
            decoded or trained (ValidationFailed); None measures whatever validation found.
        model_factory: your own model for the LR finder, the pilot and every run (see
            `learning_curve`).
        lr_given: whether `config.lr` was the user's (False: the default, said so in the outcome).
    """
    folder = RunFolder(out)
    check_before_work(data, config, prepare_options or {})  # before the folder is made or an image read
    existed = folder.path.exists()
    try:
        return _run_curve(
            data, config, folder, prepare_options, jobs, threads, scheduler, on_stage, on_run, on_pilot,
            fail_on, model_factory, lr_given,
        )  # fmt: skip
    except (ValueError, FileNotFoundError):
        if not existed:
            _remove_if_empty(folder.path)  # a failed start leaves no empty --out behind
        raise


def _run_curve(
    data, config, folder, prepare_options, jobs, threads, scheduler, on_stage, on_run, on_pilot, fail_on,
    model_factory, lr_given,
) -> CurveOutcome:  # fmt: skip
    with folder_lock(folder.path):  # one command per run folder (FolderBusy otherwise)
        stage = on_stage or (lambda _: None)
        options = {"cache_dir": folder.cache_dir, **_model_input(config.train), **(prepare_options or {})}
        folder.path.mkdir(parents=True, exist_ok=True)
        stage("scanning, validating and decoding images")
        gate = validation_gate(folder, fail_on, stage, _near_settings(options))
        prepared = prepare(data, check=gate, **options)
        write_split(prepared.split, folder.split_csv)
        stage("choosing the learning rate")
        lr, source = choose_lr(prepared, config, folder, model_factory, lr_given)
        where = {"jobs": jobs, "threads": threads, "scheduler": scheduler, "model_factory": model_factory}
        if config.auto_epochs:
            stage("choosing the training length (a pilot at the largest size)")
            choice = choose_epochs(prepared, config, lr=lr, folder=folder, on_pilot=on_pilot, **where)
            stage(f"training for {choice.epochs} epochs' steps: {choice.reason}")
        stage(f"training {_seeds_words(config)} at each size")
        # With auto_epochs the curve resumes the pilot just run (its runs are read, not trained again).
        curve = learning_curve(prepared, config=config, lr=lr, folder=folder.path, on_run=on_run, **where)
        RunsFailed.check(curve.records, "the curve")
        stage("forecasting")
        result, problem = _forecast(curve, config)
        labels = LabelsFolder(folder.path).read_summary()
        outcome = CurveOutcome(prepared, curve, result, problem, lr, source, folder.path, labels)
        folder.write_summary(outcome.summary())
        return outcome


LISTING_OPTIONS = (
    "labels",
    "path_col",
    "label_col",
    "group_col",
    "split_col",
    "label_re",
    "allow_outside_root",
)


def check_before_work(data: str | os.PathLike, config: CurveConfig, options: dict[str, Any]) -> None:
    """The curve's sizes against the classes and images the folder listing (or labels CSV) shows,
    before any image is read: ValueError for a subset too small to hold every class or a size larger
    than the training set (its size estimated from the listing: files that turn out unreadable are
    left out later, and `learning_curve` checks the plan again on the images it has)."""
    listed = list_images(data, **{k: options[k] for k in LISTING_OPTIONS if k in options})
    n_classes = listed["label"].nunique()
    if listed.empty or n_classes < 2:
        return  # validation says what is wrong, with its own words
    given = listed["split"].eq("train").sum(), listed["split"].eq("valid").sum()
    if all(given):
        n_train = int(given[0])
    elif options.get("split_file") is not None:
        n_train = _split_file_train(options["split_file"])
        if n_train is None:
            return
    else:  # a stratified split: each class keeps its share of validation images, within one image
        share = float(options.get("valid_pct", 0.2))
        counts = listed["label"].value_counts()
        n_train = int(sum(n - round(share * n) for n in counts))
    check_plan(config, n_train=n_train, n_classes=n_classes)


def _split_file_train(path: str | os.PathLike) -> int | None:
    """The training images a split file names (None when it cannot be read: `prepare` will say why)."""
    try:
        return int(pd.read_csv(path, dtype=str)["split"].eq("train").sum())
    except (OSError, ValueError, KeyError):
        return None


def _remove_if_empty(path: Path) -> None:
    with contextlib.suppress(OSError):  # not empty (or gone): leave it
        path.rmdir()


def _seeds_words(config: CurveConfig) -> str:
    """How many seeds each size gets: with a seed stop, two, and more only where they disagree."""
    if config.seed_stop is None or config.seeds <= 2:
        return f"{config.seeds} seed{'s' if config.seeds > 1 else ''}"
    return f"2 seeds (up to {config.seeds} where they disagree beyond the validation noise: --seed-stop)"


def plan_curve(
    data: str | os.PathLike,
    *,
    config: CurveConfig,
    prepare_options: dict[str, Any] | None = None,
    model_factory: ModelFactory | None = None,
    threads: int | None = None,
) -> CurvePlan:
    """What `run_curve` would cost, without training or writing anything: the data scanned, split
    and decoded in memory, a few optimiser steps timed. A frozen body's feature pass is timed on one
    batch and the head's steps on stand-in features of their shape; `threads` as the runs' (a busy
    machine's step takes longer with more)."""
    with torch_threads(threads):
        return _plan_curve(data, config, prepare_options, model_factory)


def _plan_curve(
    data: str | os.PathLike,
    config: CurveConfig,
    prepare_options: dict[str, Any] | None,
    model_factory: ModelFactory | None,
) -> CurvePlan:
    options = {**_model_input(config.train), **(prepare_options or {})}
    backbone, lr = options.get("backbone"), config.lr or config.train.lr
    if backbone is None or not backbone.frozen:
        return plan_cost(prepare(data, **options).data, config, lr=lr, model_factory=model_factory)
    images = prepare(data, **{**options, "backbone": replace(backbone, frozen=False)})
    per_image = body_seconds_per_image(images.cache, backbone, device=config.train.device)
    plan = plan_cost(stand_in_features(images.data, backbone), config, lr=lr)
    return replace(plan, feature_seconds=per_image * len(images.cache.paths))


def _model_input(train: TrainConfig) -> dict[str, Any]:
    """What `prepare` needs to know of the model: a backbone's preprocessing, a frozen body's features."""
    return {"backbone": train.backbone, "device": train.device}


def _forecast(curve: CurveResult, config: CurveConfig) -> tuple[Forecast | None, str | None]:
    try:
        result = forecast(curve.runs, per_class=curve.per_class, target_error=config.target_error)
    except ValueError as exc:
        return None, f"no forecast: {exc}"
    return result, None


@dataclass(frozen=True)
class LabelsOutcome:
    """A finished (or resumed) labels check and the data it read."""

    prepared: Prepared = field(repr=False)
    issues: LabelIssues


def run_labels(
    data: str | os.PathLike,
    *,
    config: LabelsConfig,
    out: str | os.PathLike,
    prepare_options: dict[str, Any] | None = None,
    jobs: int = 1,
    threads: int | None = None,
    scheduler: Any = None,
    on_stage: Stage | None = None,
    on_fold: OnFold | None = None,
    on_pilot: OnPilot | None = None,
) -> LabelsOutcome:
    """Prepare the data, fix the LR, train (or resume) every fold and flag the likely label errors.

    Args:
        data: the dataset folder.
        config: folds and training (`config.lr` None: the LR finder on the split's training set, run
            once and kept in ``<out>/labels_lr_find``).
        out: the run folder (a curve's folder may be shared: its verdict then uses the result).
        prepare_options: keyword arguments for `prepare`; the decoded images are kept in
            ``<out>/cache`` unless a ``cache_dir`` is given.
        jobs, threads, scheduler: where folds go and how many torch threads each uses.
        on_pilot: called with (epochs, record) after each pilot run (config.auto_epochs).
    """
    folder = LabelsFolder(out)
    with folder_lock(folder.path):  # one command per run folder (FolderBusy otherwise)
        stage = on_stage or (lambda _: None)
        options = {"cache_dir": folder.cache_dir, **_model_input(config.train), **(prepare_options or {})}
        stage("scanning and decoding images")
        prepared = prepare(data, **options)
        check_classes(prepared.cache.labels, config.folds)  # before the folder records this configuration
        folder.open(labels_identity(prepared, config))  # a changed configuration is refused before any work
        stage("choosing the learning rate")
        lr, source = _labels_lr(prepared, config, folder)
        epochs = None
        if config.auto_epochs:
            stage("choosing the training length (a pilot on the split's training set)")
            pilot = CurveConfig(train=config.train, auto_epochs=True, max_epochs=config.max_epochs)
            where = {"jobs": jobs, "threads": threads, "scheduler": scheduler, "on_pilot": on_pilot}
            choice = choose_epochs(prepared, pilot, lr=lr, folder=RunFolder(folder.epochs_dir), **where)
            stage(f"training for {choice.epochs} epochs: {choice.reason}")
            epochs = choice.epochs
        stage(f"training {config.folds} folds")
        issues = find_label_issues(
            prepared,
            config=config,
            lr=lr,
            folder=folder.path,
            jobs=jobs,
            threads=threads,
            scheduler=scheduler,
            lr_source=source,
            on_fold=on_fold,
            epochs=epochs,
        )
        return LabelsOutcome(prepared, issues)


def _labels_lr(prepared: Prepared, config: LabelsConfig, folder: LabelsFolder) -> tuple[float, str]:
    """Every fold's learning rate: given, or the LR finder's on the split's training set (run once)."""
    if config.lr is not None:
        return config.lr, "given"
    stored = read_chosen_lr(folder.lr_dir)
    if stored is not None:
        return stored, "lr_find (resumed)"
    finder = lr_find(prepared.data, config=config.train)
    write_lr_find(folder.lr_dir, finder, chosen_lr=finder.suggestion.chosen)
    return finder.suggestion.chosen, "lr_find"
