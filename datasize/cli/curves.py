"""The commands of the learning curve and what follows from it: curve, run, report and plan."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from datasize.cli.options import (
    DataOptions,
    ModelOptions,
    ScanOptions,
    api_errors,
    check_device,
    data_options,
    float_list,
    max_epochs_option,
    model_options,
    parse_epochs,
    parse_lr,
    scan_options,
)
from datasize.text import pct


@click.command()
@click.argument("data", type=click.Path())
@scan_options
@data_options
@model_options
@click.option(
    "--fractions",
    callback=float_list,
    default=None,
    help="Fractions of the training set, e.g. '1/16,1/8,1/4,1/2,1' [default].",
)
@click.option(
    "--sizes",
    callback=float_list,
    default=None,
    help="Absolute training-set sizes instead of fractions, e.g. '100,200,400'.",
)
@click.option(
    "--seeds",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Runs per size (subset draw and training seed).",
)
@click.option(
    "--seed-stop",
    type=click.FloatRange(min=0),
    default=1.0,  # curves.plan.DEFAULT_SEED_STOP (that module imports torch: not at --help)
    show_default=True,
    help="Run seeds beyond the second only where they disagree: skip one once the seeds' standard "
    "error is under this times the validation set's own; 0 runs every seed (with --epochs auto it "
    "saved 18-35% of a curve's time, its forecast moving 0.07 points or less: benchmarks/README.md).",
)
@click.option(
    "--epochs",
    callback=parse_epochs,
    default="auto",
    show_default=True,
    help="Epochs of the full training set, or 'auto': a pilot at the largest size tries 4, 8, 16... "
    "(two seeds each) and keeps the first length a doubling no longer improves beyond noise; its runs "
    "become the curve's.",
)
@max_epochs_option
@click.option(
    "--budget",
    type=click.Choice(["steps", "epochs"]),
    default="steps",
    show_default=True,
    help="steps: every size gets the optimiser steps of --epochs passes over the full set; "
    "epochs: --epochs passes over each subset.",
)
@click.option(
    "--lr",
    "lr",
    callback=parse_lr,
    default="3e-3",
    show_default=True,
    help="One max learning rate for every run, or 'auto' (the LR finder on the full training set, once).",
)
@click.option(
    "--target-error",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=None,
    help="Say how many images reach this validation error, e.g. 0.02.",
)
@click.option(
    "--fail-on",
    type=click.Choice(["error", "warning", "info", "none"]),
    default="error",
    show_default=True,
    help="Stop before training (exit 1) when validation finds this or worse (files that cannot be read "
    "are left out instead); none: measure whatever was found.",
)
@click.option(
    "--scheduler", default=None, help="A Dask scheduler address (tcp://host:8786): submit the runs there."
)
@click.option("--verbose", "-v", is_flag=True, help="Print the answer's details (intervals, self-check) too.")
@click.option(
    "--out",
    "-o",
    "out_dir",
    type=click.Path(file_okay=False),
    default="runs/curve",
    show_default=True,
    help="Run folder; re-running resumes it.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print runs, forecast, plateau, images_needed, backtest, per_class as JSON.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the plan (runs, full trainings, the pilot's least and most) and its time on this "
    "machine from a few timed steps; train nothing, write nothing in --out.",
)
@api_errors
def curve(
    data: str,
    fractions: tuple | None,
    sizes: tuple | None,
    seeds: int,
    seed_stop: float | None,
    epochs: int | None,
    max_epochs: int,
    budget: str,
    lr: float | None,
    target_error: float | None,
    fail_on: str,
    scheduler: str | None,
    verbose: bool,
    out_dir: str,
    as_json: bool,
    dry_run: bool,
    reading: ScanOptions,
    preparing: DataOptions,
    training: ModelOptions,
) -> None:
    """Learning curve: train at growing fractions of the training set and forecast the error with more images.

    Every run uses the same fixed validation set and learning rate; subsets are nested and
    stratified. Each finished run is saved in --out at once, so an interrupted curve resumes where
    it stopped. Prints the verdict first: where error plateaus, how many images a target error
    needs (with an interval), and which classes need images most.
    """
    from datasize.cli.terminal import curve_lines, interrupted_line, pilot_line, run_progress
    from datasize.comparison import compare_models
    from datasize.curves.pilot import FIRST_EPOCHS
    from datasize.curves.plan import CurveConfig
    from datasize.pipeline import run_curve

    if sizes is not None and fractions is not None:
        raise ValueError("give --fractions or --sizes, not both")
    plan: dict[str, Any] = {"fractions": fractions} if fractions else {}
    if sizes is not None:
        plan["sizes"] = tuple(int(s) for s in sizes)
    configs = [
        CurveConfig(
            seeds=seeds,
            seed_stop=seed_stop or None,  # 0: every seed
            budget=budget,
            lr=lr,
            train=train,
            target_error=target_error,
            auto_epochs=epochs is None,
            max_epochs=max_epochs,
            **plan,
        )
        for train in training.train_configs(epochs=epochs or FIRST_EPOCHS)
    ]
    config = configs[0]
    preparing.check()
    if scheduler is None:  # a cluster's workers may have the device this machine lacks
        check_device(config.train.device)
    prepare_options = {
        **preparing.prepare_kwargs(),
        **reading.scan_kwargs(),
        "max_pixels": reading.pixel_limit,
    }
    if dry_run:
        from datasize.pipeline import plan_curve

        options = {"prepare_options": prepare_options, "threads": training.threads}
        plans = [(c, plan_curve(data, config=c, **options)) for c in configs]
        if as_json:
            click.echo(json.dumps([{"model": c.train.describe(), **p.to_dict()} for c, p in plans], indent=2))
            return
        click.echo("dry run: nothing trained or written")
        for c, p in plans:
            click.echo(f"{c.train.describe()}:")
            for line in p.lines():
                click.echo(f"  {line}")
        return
    say = (lambda *_: None) if as_json else click.echo
    try:
        with run_progress(quiet=reading.quiet or as_json, echo=say) as on_run:
            where = {
                "prepare_options": prepare_options,
                "jobs": reading.jobs or 1,  # --jobs: parallel runs (and image probing)
                "threads": training.threads,  # also each worker's, with --jobs
                "scheduler": scheduler,
                "on_stage": lambda text: say(f"[{text}]"),
                "on_run": on_run,
                "on_pilot": None if as_json else lambda epochs, record: say(pilot_line(epochs, record)),
                "fail_on": None if fail_on == "none" else fail_on,
                "lr_given": _given("lr"),
            }
            if len(configs) > 1:
                compared = compare_models(data, configs=configs, out=out_dir, **where)
            else:
                outcome = run_curve(data, config=config, out=out_dir, **where)
    except KeyboardInterrupt:
        click.echo(interrupted_line(out_dir), err=True)
        sys.exit(130)
    if as_json:
        from datasize.io import jsonable

        done = compared if len(configs) > 1 else outcome
        click.echo(json.dumps(jsonable(done.summary()), indent=2, sort_keys=True))
        return
    if len(configs) > 1:
        for line in comparison_lines(compared):
            click.echo(line)
        return
    for line in curve_lines(outcome, verbose=verbose):
        click.echo(line)


def comparison_lines(compared: Any) -> list[str]:
    """Several models' curves: the answer first, then a row per model, then each model's verdict."""
    lines = [f"ANSWER: {compared.comparison.sentence() if compared.comparison else compared.problem}"]
    if compared.comparison is not None:
        lines.append(f"{'model':<52}  {'n_train':>7}  {'error now (80%)':>21}  {'at 2x (80%)':>27}")
        for m in compared.comparison.models:
            now = f"{pct(m.error_rate)} ({pct(m.low)}-{pct(m.high)})"
            h = m.at_2x
            later = f"{pct(h.expected)} ({pct(h.low)}-{pct(h.high)}) at {h.n_train:,}" if h else "n/a"
            lines.append(f"{m.model:<52}  {m.n_train:>7,}  {now:>21}  {later:>27}")
    for outcome in compared.outcomes:
        lines.append(f"{outcome.curve.config.train.describe()}: {outcome.verdict()}")
    lines.append(
        f"files in {compared.folder}: comparison.json, comparison.png and one run folder per model "
        f"(report: datasize report {compared.folder})"
    )
    return lines


def _given(name: str) -> bool:
    """Whether the user gave the option (not its default)."""
    source = click.get_current_context().get_parameter_source(name)
    return source is not None and source != click.core.ParameterSource.DEFAULT


@click.command()
@click.argument("run_folder", type=click.Path(file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["html", "md", "json"]), default="html", show_default=True)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where to write [default: RUN_FOLDER/report.<format>].",
)
@api_errors
def report(run_folder: str, fmt: str, output: str | None) -> None:
    """Write a report of a `datasize curve` run folder (or of a comparison of several models): the
    verdict first, then the evidence.

    HTML is one self-contained file (plots embedded, no network); Markdown comes with its PNGs in a
    folder beside it; JSON holds the text and tables.
    """
    from datasize.curves.folder import RunFolder
    from datasize.report.comparison import build_comparison_report, is_comparison
    from datasize.report.document import build_report
    from datasize.report.render import write_report

    target = output or RunFolder(run_folder).report_file(fmt)
    build = build_comparison_report if is_comparison(run_folder) else build_report
    written = write_report(build(run_folder), target, fmt)
    click.echo(f"report written to {written[0]}")


@click.command(name="run")
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@click.option("--verbose", "-v", is_flag=True, help="Print the answer's details (intervals, self-check) too.")
@api_errors
def run_command(recipe: str, quiet: bool, verbose: bool) -> None:
    """Run a whole pipeline described by a TOML recipe (see recipes/); re-running resumes it.

    Scans and validates the data, fixes the split, chooses the learning rate, checks every label
    when the recipe asks ([labels] run = true), runs the learning curve, forecasts, and writes the
    reports; prints the verdict and the report's path last.
    """
    from datasize.cli.terminal import curve_lines, interrupted_line, pilot_line, run_progress
    from datasize.recipe import load_recipe, run_recipe

    loaded = load_recipe(recipe)
    check_device(loaded.curve.train.device)
    click.echo(f"recipe {loaded.source}: data {loaded.data}, run folder {loaded.folder}")
    try:
        with run_progress(quiet=quiet, echo=click.echo) as on_run:
            outcome, reports = run_recipe(
                loaded,
                on_stage=lambda text: click.echo(f"[{text}]"),
                on_run=on_run,
                on_pilot=lambda epochs, record: click.echo(pilot_line(epochs, record)),
            )
    except KeyboardInterrupt:
        click.echo(interrupted_line(loaded.folder), err=True)
        sys.exit(130)
    if len(loaded.compared) > 1:
        for line in comparison_lines(outcome):
            click.echo(line)
    else:
        for line in curve_lines(outcome, verbose=verbose):
            click.echo(line)
    if len(loaded.compared) == 1 and outcome.labels:
        click.echo(f"LABELS: {outcome.labels.get('verdict')} (datasize labels; see the report)")
    for path in sorted(reports, key=lambda p: p.suffix == ".html"):  # the HTML report's path last
        click.echo(f"report: {path}")


@click.command()
@click.argument("run_folder", type=click.Path(file_okay=False))
@click.option(
    "--target-error",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=None,
    help="Plan the fewest new images whose overall error is at most this, e.g. 0.05.",
)
@click.option(
    "--budget",
    type=click.FloatRange(0, min_open=True),
    default=None,
    help="Plan the best use of this many new images (of this much money, with --cost).",
)
@click.option(
    "--cost",
    "cost_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="CSV with columns label,cost: the cost of one image of each class; a row '*,COST' prices "
    "every class it does not name [default: every image costs 1].",
)
@click.option(
    "--confidence",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.9,
    show_default=True,
    help="With --target-error: the share of the curves' refits that must reach it.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the refits.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False), default=None, help="Also write the table as CSV here."
)
@api_errors
def plan(
    run_folder: str,
    target_error: float | None,
    budget: float | None,
    cost_file: str | None,
    confidence: float,
    seed: int,
    as_json: bool,
    output: str | None,
) -> None:
    """Plan which classes to collect images of: the fewest for --target-error, or the best use of --budget.

    Reads the per-class learning curves of RUN_FOLDER (made by `datasize curve`) and spends new
    images where they cut the overall error most per unit of cost; classes the model mistakes for
    each other are collected together, plateaued classes get nothing. Prints each class's images to
    collect and its expected error after, with intervals, and writes plan.json and plan.csv into
    RUN_FOLDER (`datasize report` shows them). A target is planned for the --confidence quantile.
    """
    if (target_error is None) == (budget is None):
        raise ValueError("give exactly one of --target-error and --budget")
    from datasize.io import write_csv_atomic
    from datasize.planning.collection import plan_collection, write_plan

    result = plan_collection(
        run_folder, target_error=target_error, budget=budget, cost=cost_file, confidence=confidence, seed=seed
    )
    files = write_plan(result, run_folder)
    if output:
        write_csv_atomic(output, result.table)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, sort_keys=True))
        return
    for line in _plan_lines(result):
        click.echo(line)
    click.echo(f"plan written to {files[0]} and {files[1]}" + (f"; table to {output}" if output else ""))


def _plan_lines(result: Any) -> list[str]:
    """The plan's verdict, then its table in aligned columns."""
    width = round(100 * (result.interval[1] - result.interval[0]))
    head = [
        "class",
        "group",
        "have",
        "collect",
        "1st round",
        "error now",
        "after",
        f"{width}% interval",
        "reason",
    ]
    rows = [
        [
            str(r.label),
            str(r.group),
            f"{r.have:,}",
            f"{r.collect:,}",
            f"{r.first_round:,}",
            f"{r.error_now:.1%}",
            f"{r.error_after:.1%}",
            f"{r.low:.1%}–{r.high:.1%}",
            str(r.reason),
        ]
        for r in result.table.itertuples()
    ]
    total = [
        "overall",
        "",
        f"{int(result.table['have'].sum()):,}",
        f"{result.images:,}",
        f"{int(result.table['first_round'].sum()):,}",
        f"{result.error_now:.1%}",
        f"{result.expected:.1%}",
        f"{result.low:.1%}–{result.high:.1%}",
        "",
    ]
    widths = [max(len(row[i]) for row in [head, *rows, total]) for i in range(len(head))]

    def line(row: list[str]) -> str:
        cells = [
            c.ljust(w) if i in (0, 1, 8) else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    return [result.verdict(), "", line(head), *map(line, rows), line(total)]
