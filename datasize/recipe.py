"""Recipes: a TOML file that describes the whole pipeline, run with `datasize run RECIPE`.

A recipe has these tables, every key optional except `data.path`; relative paths are relative to
the recipe file's folder. Unknown tables or keys, and values of the wrong type, are errors that
name the key.

    [data]    path, labels, path_col, label_col, group_col, split_col, label_re,
              allow_outside_root, follow_links (true/false, default false: see SECURITY.md),
              fail_on ("error", the default, "warning", "info" or "none": validation findings at or
              above it stop the run before training)
    [split]   file, method, valid_pct, seed, near_radius, near_threshold (near duplicates kept on
              one side, and in the validation's findings: see `datasize split --help`)
    [train]   model (a name, or a list of names: each measured on one split and compared, the first
              being the one in use; the backbone keys go to the backbones among them), size, resize,
              epochs ("auto", the default, or a number), max_epochs (with "auto": the longest the
              pilot tries, default 32), lr ("auto" or a number), batch_size,
              weight_decay, augment (default "shift", "none" with frozen), seed, device, precision,
              pretrained, weights (a local state dict for an efficientnet_lite backbone), frozen
              (true: the head alone on the body's features, computed once), freeze_epochs, lr_mult
    [curve]   fractions, sizes, seeds, seed_stop, budget, target_error, jobs, threads (torch threads
              per run: with jobs, each worker's; runs reproduce bit for bit at the same count)
    [labels]  run (true/false, default false: check every label with `datasize labels` first, in the
              same run folder, with the [train] model, epochs (with "auto", its own pilot) and lr
              and the [curve] jobs and threads; the curve's verdict and the report then use it),
              folds (default 5)
    [output]  folder, report (a list of "html", "md", "json")
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datasize.curves.pilot import FIRST_EPOCHS
from datasize.curves.plan import DEFAULT_MAX_EPOCHS, DEFAULT_SEED_STOP, CurveConfig
from datasize.dataset.splits import check_split_options
from datasize.labels.plan import LabelsConfig
from datasize.training.loop import model_configs

if TYPE_CHECKING:
    from datasize.comparison import ComparisonOutcome
    from datasize.curves.pilot import OnPilot
    from datasize.curves.runner import OnRun
    from datasize.labels.runner import OnFold
    from datasize.pipeline import CurveOutcome, Stage

# key -> accepted types, per table; one source for validation and for the docs above.
SCHEMA: dict[str, dict[str, tuple[type, ...]]] = {
    "data": {
        "path": (str,),
        "labels": (str,),
        "path_col": (str,),
        "label_col": (str,),
        "group_col": (str,),
        "split_col": (str,),
        "label_re": (str,),
        "allow_outside_root": (bool,),  # CSV paths may be absolute or use ".."
        "follow_links": (bool,),  # read through links that lead outside the dataset
        "fail_on": (str,),  # error (default), warning, info or none: what stops it before training
    },
    "split": {
        "file": (str,),
        "method": (str,),
        "valid_pct": (float, int),
        "seed": (int,),
        "near_radius": (int,),
        "near_threshold": (float, int),
    },
    "train": {
        "model": (str, list),
        "size": (int,),
        "resize": (str,),
        "epochs": (int, str),
        "max_epochs": (int,),
        "lr": (float, int, str),
        "batch_size": (int,),
        "weight_decay": (float, int),
        "augment": (str,),
        "seed": (int,),
        "device": (str,),
        "precision": (str,),
        "pretrained": (bool,),
        "weights": (str,),
        "frozen": (bool,),
        "freeze_epochs": (int,),
        "lr_mult": (float, int),
    },
    "curve": {
        "fractions": (list,),
        "sizes": (list,),
        "seeds": (int,),
        "seed_stop": (float, int),
        "budget": (str,),
        "target_error": (float, int),
        "jobs": (int,),
        "threads": (int,),
    },
    "labels": {"run": (bool,), "folds": (int,)},
    "output": {"folder": (str,), "report": (list,)},
}
REPORT_FORMATS = ("html", "md", "json")
FAIL_ON = ("error", "warning", "info", "none")
TYPE_WORDS = {
    int: "a whole number",
    float: "a number",
    str: "a string",
    bool: "true or false",
    list: "a list",
}


@dataclass(frozen=True)
class Recipe:
    """A parsed, checked recipe, with paths resolved against the recipe's folder."""

    source: Path  # the recipe file
    data: Path  # the dataset root
    scan_options: dict[str, Any]  # labels, path_col... for `scan`
    prepare_options: dict[str, Any]  # split file, valid_pct, seed, size, resize
    curve: CurveConfig
    jobs: int
    folder: Path  # the run folder
    reports: tuple[str, ...] = field(default=("html",))
    threads: int | None = None  # torch threads per run (None: torch's own, or the cores shared by jobs)
    fail_on: str | None = "error"  # validation findings at or above this stop the run; None: never
    labels: LabelsConfig | None = None  # check every label before the curve ([labels] run = true)
    compared: tuple[CurveConfig, ...] = ()  # with several [train] models: each one's curve, `curve` first


def _check_types(raw: dict[str, Any], source: Path) -> None:
    for table, values in raw.items():
        if table not in SCHEMA:
            raise ValueError(
                f"{source}: unknown table [{table}]; recipes have {', '.join(f'[{t}]' for t in SCHEMA)}"
            )
        if not isinstance(values, dict):
            raise ValueError(f"{source}: [{table}] must be a table")
        for key, value in values.items():
            allowed = SCHEMA[table].get(key)
            if allowed is None:
                raise ValueError(
                    f"{source}: unknown key {table}.{key}; [{table}] takes {', '.join(SCHEMA[table])}"
                )
            if (isinstance(value, bool) and bool not in allowed) or not isinstance(value, allowed):
                names = " or ".join(TYPE_WORDS[t] for t in allowed)
                raise ValueError(f"{source}: {table}.{key} = {value!r} must be {names}")


def load_recipe(path: str | os.PathLike) -> Recipe:
    """Read and check a recipe; ValueError names the bad key, FileNotFoundError a missing file."""
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"recipe {str(path)!r} does not exist")
    try:
        raw = tomllib.loads(source.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{source}: not valid TOML: {exc}") from None
    _check_types(raw, source)
    base = source.resolve().parent
    data, split, train, curve, labels, output = (
        raw.get(t, {}) for t in ("data", "split", "train", "curve", "labels", "output")
    )
    if "path" not in data:
        raise ValueError(f"{source}: data.path is required (the dataset folder)")

    def where(value: str) -> Path:
        return (base / value).resolve() if not os.path.isabs(value) else Path(value)

    fail_on = data.get("fail_on", "error")
    if fail_on not in FAIL_ON:
        raise ValueError(f"{source}: data.fail_on = {fail_on!r} is not one of {', '.join(FAIL_ON)}")
    scan_options = {k: v for k, v in data.items() if k not in ("path", "fail_on")}
    near = {k: split[k] for k in ("near_radius", "near_threshold") if k in split}
    if "labels" in scan_options:
        scan_options["labels"] = where(scan_options["labels"])
    _keyed(
        source,
        "split",
        lambda: check_split_options(
            method=split.get("method"),
            valid_pct=split.get("valid_pct", 0.2),
            seed=split.get("seed", 42),
            **near,
        ),
    )
    prepare_options: dict[str, Any] = {
        "valid_pct": float(split.get("valid_pct", 0.2)),
        "split_seed": split.get("seed", 42),
        "split_method": split.get("method"),
        **({"split_file": where(split["file"])} if "file" in split else {}),
        **near,
        **{k: train[k] for k in ("size", "resize") if k in train},
    }
    lr = train.get("lr", 3e-3)
    if isinstance(lr, str) and lr != "auto":
        raise ValueError(f'{source}: train.lr = {lr!r} must be a number or "auto"')
    epochs = train.get("epochs", "auto")
    if isinstance(epochs, str) and epochs != "auto":
        raise ValueError(f'{source}: train.epochs = {epochs!r} must be a whole number or "auto"')
    auto = {"auto_epochs": epochs == "auto", "max_epochs": train.get("max_epochs", DEFAULT_MAX_EPOCHS)}
    skip = ("model", "size", "resize", "lr", "epochs", "max_epochs")
    settings = {k: v for k, v in train.items() if k not in skip}
    if "weights" in settings:
        settings["weights"] = str(where(settings["weights"]))
    models = train.get("model", "convnet")
    models = [models] if isinstance(models, str) else models
    if not models or not all(isinstance(m, str) for m in models):
        raise ValueError(f"{source}: train.model = {models!r} must be a name or a list of names")
    trainings = _keyed(
        source,
        "train",
        lambda: model_configs(models, epochs=FIRST_EPOCHS if epochs == "auto" else epochs, **settings),
    )
    training = trainings[0]
    plan: dict[str, Any] = {k: tuple(curve[k]) for k in ("fractions", "sizes") if k in curve}
    plan.update({k: curve[k] for k in ("seeds", "budget", "target_error") if k in curve})
    plan["seed_stop"] = curve.get("seed_stop", DEFAULT_SEED_STOP) or None  # 0: every seed
    compared = tuple(
        _keyed(
            source,
            "curve",
            lambda t=t: CurveConfig(lr=None if lr == "auto" else float(lr), train=t, **auto, **plan),
        )
        for t in trainings
    )
    config = compared[0]
    reports = tuple(output.get("report", ["html"]))
    unknown = [r for r in reports if r not in REPORT_FORMATS]
    if unknown:
        raise ValueError(f"{source}: output.report has {unknown}; formats are {', '.join(REPORT_FORMATS)}")
    jobs = curve.get("jobs", 1)
    if jobs < 1:
        raise ValueError(f"{source}: curve.jobs = {jobs} must be at least 1")
    threads = curve.get("threads")
    if threads is not None and threads < 1:
        raise ValueError(f"{source}: curve.threads = {threads} must be at least 1")
    folder = where(output.get("folder", f"runs/{source.stem}"))
    checking = None
    if labels.get("run", False) and len(compared) > 1:
        raise ValueError(
            f"{source}: labels.run checks labels with one model; train.model lists {len(models)}"
        )
    if labels.get("run", False):
        checking = _keyed(
            source,
            "labels",
            lambda: LabelsConfig(folds=labels.get("folds", 5), lr=config.lr, train=training, **auto),
        )
    elif "folds" in labels:
        raise ValueError(f"{source}: labels.folds is set but labels.run is not true; add run = true")
    return Recipe(
        source,
        where(data["path"]),
        scan_options,
        prepare_options,
        config,
        jobs,
        folder,
        reports,
        threads,
        None if fail_on == "none" else fail_on,
        checking,
        compared,
    )


def _plan_for_target(recipe: Recipe, on_stage: Stage | None) -> None:
    """The collection plan for the recipe's target error, written beside the curve (plan.json,
    plan.csv) for the report; a curve the planner cannot read (too few sizes) gets a note instead."""
    from datasize.planning.collection import plan_collection, write_plan

    try:
        plan = plan_collection(recipe.folder, target_error=recipe.curve.target_error)
    except ValueError as exc:
        if on_stage:
            on_stage(f"no collection plan: {exc}")
        return
    write_plan(plan, recipe.folder)
    if on_stage:
        on_stage(f"collection plan for {recipe.curve.target_error:.1%}: plan.json and plan.csv")


def _keyed(source: Path, table: str, build: Any) -> Any:
    """Build a config, prefixing its ValueError with the recipe and table, so the key is named."""
    try:
        return build()
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{source}: [{table}] {exc}") from None


def run_recipe(
    recipe: Recipe,
    *,
    on_stage: Stage | None = None,
    on_run: OnRun | None = None,
    on_fold: OnFold | None = None,
    on_pilot: OnPilot | None = None,
) -> tuple[CurveOutcome | ComparisonOutcome, list[Path]]:
    """Run (or resume) the recipe's labels check (when asked) and curve, then write its reports;
    returns the curve's outcome and the report paths. With several [train] models, every model's
    curve and report (`compare_models`), and the comparison instead of one curve's outcome."""
    from datasize.comparison import compare_models
    from datasize.curves.folder import RunFolder
    from datasize.pipeline import run_curve, run_labels
    from datasize.report.comparison import build_comparison_report
    from datasize.report.document import build_report
    from datasize.report.render import write_report

    if recipe.labels is not None:
        run_labels(
            recipe.data,
            config=recipe.labels,
            out=recipe.folder,
            prepare_options={**recipe.prepare_options, **recipe.scan_options},
            jobs=recipe.jobs,
            threads=recipe.threads,
            on_stage=on_stage,
            on_fold=on_fold,
            on_pilot=on_pilot,
        )
    where = {
        "prepare_options": {**recipe.prepare_options, **recipe.scan_options},
        "jobs": recipe.jobs,
        "threads": recipe.threads,
        "fail_on": recipe.fail_on,
        "on_stage": on_stage,
        "on_run": on_run,
        "on_pilot": on_pilot,
    }
    if len(recipe.compared) > 1:
        compared = compare_models(recipe.data, configs=list(recipe.compared), out=recipe.folder, **where)
        written = []
        for outcome in compared.outcomes:  # each model's own report, in its own folder
            folder = RunFolder(outcome.folder)
            report = build_report(folder.path)
            written += [write_report(report, folder.report_file(fmt), fmt)[0] for fmt in recipe.reports]
        both = build_comparison_report(recipe.folder)
        top = RunFolder(recipe.folder)
        written += [write_report(both, top.report_file(fmt), fmt)[0] for fmt in recipe.reports]
        return compared, written
    outcome = run_curve(recipe.data, config=recipe.curve, out=recipe.folder, **where)
    if recipe.curve.target_error is not None:
        _plan_for_target(recipe, on_stage)
    report = build_report(recipe.folder)
    folder = RunFolder(recipe.folder)
    written = [write_report(report, folder.report_file(fmt), fmt)[0] for fmt in recipe.reports]
    return outcome, written
