"""Recipes: a TOML file that describes the whole pipeline, run with `datasize run RECIPE`.

A recipe has these tables, every key optional except `data.path`; relative paths are relative to
the recipe file's folder. Unknown tables or keys, and values of the wrong type, are errors that
name the key.

    [data]    path, labels, path_col, label_col, group_col, split_col, label_re,
              allow_outside_root, follow_links (true/false, default false: see SECURITY.md)
    [split]   file, method, valid_pct, seed, near_radius, near_threshold (near duplicates kept on
              one side, and the leakage check: see `datasize split --help`)
    [train]   model, size, resize, epochs, lr ("auto" or a number), batch_size, weight_decay,
              augment, seed, device, precision, pretrained, freeze_epochs, lr_mult
    [curve]   fractions, sizes, seeds, seed_stop, budget, target_error, jobs, threads (torch threads
              per run: with jobs, each worker's; runs reproduce bit for bit at the same count)
    [output]  folder, report (a list of "html", "md", "json")
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasize.curves.plan import CurveConfig
from datasize.dataset.checks import CheckConfig
from datasize.training.loop import TrainConfig

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
        "model": (str,),
        "size": (int,),
        "resize": (str,),
        "epochs": (int,),
        "lr": (float, int, str),
        "batch_size": (int,),
        "weight_decay": (float, int),
        "augment": (str,),
        "seed": (int,),
        "device": (str,),
        "precision": (str,),
        "pretrained": (bool,),
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
    "output": {"folder": (str,), "report": (list,)},
}
REPORT_FORMATS = ("html", "md", "json")


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
                names = " or ".join(t.__name__ for t in allowed)
                raise ValueError(f"{source}: {table}.{key} = {value!r} must be a {names}")


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
    data, split, train, curve, output = (
        raw.get(t, {}) for t in ("data", "split", "train", "curve", "output")
    )
    if "path" not in data:
        raise ValueError(f"{source}: data.path is required (the dataset folder)")

    def where(value: str) -> Path:
        return (base / value).resolve() if not os.path.isabs(value) else Path(value)

    scan_options = {k: v for k, v in data.items() if k != "path"}
    near = {k: split[k] for k in ("near_radius", "near_threshold") if k in split}
    _keyed(source, "split", lambda: CheckConfig(**near))  # their ranges, checked before any work
    if "labels" in scan_options:
        scan_options["labels"] = where(scan_options["labels"])
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
    training = _keyed(
        source,
        "train",
        lambda: TrainConfig(**{k: v for k, v in train.items() if k not in ("size", "resize", "lr")}),
    )
    plan: dict[str, Any] = {k: tuple(curve[k]) for k in ("fractions", "sizes") if k in curve}
    plan.update({k: curve[k] for k in ("seeds", "seed_stop", "budget", "target_error") if k in curve})
    config = _keyed(
        source, "curve", lambda: CurveConfig(lr=None if lr == "auto" else float(lr), train=training, **plan)
    )
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
    return Recipe(
        source, where(data["path"]), scan_options, prepare_options, config, jobs, folder, reports, threads
    )


def _keyed(source: Path, table: str, build: Any) -> Any:
    """Build a config, prefixing its ValueError with the recipe and table, so the key is named."""
    try:
        return build()
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{source}: [{table}] {exc}") from None


def run_recipe(recipe: Recipe, *, on_stage: Any = None, on_run: Any = None) -> tuple[Any, list[Path]]:
    """Run (or resume) the recipe's curve and write its reports; returns the outcome and report paths."""
    from datasize.curves.folder import RunFolder
    from datasize.pipeline import run_curve
    from datasize.report.document import build_report
    from datasize.report.render import write_report

    outcome = run_curve(
        recipe.data,
        config=recipe.curve,
        out=recipe.folder,
        prepare_options={**recipe.prepare_options, **recipe.scan_options},
        jobs=recipe.jobs,
        threads=recipe.threads,
        on_stage=on_stage,
        on_run=on_run,
    )
    report = build_report(recipe.folder)
    folder = RunFolder(recipe.folder)
    written = [write_report(report, folder.report_file(fmt), fmt)[0] for fmt in recipe.reports]
    return outcome, written
