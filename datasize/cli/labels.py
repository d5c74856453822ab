"""The command that checks every label: labels."""

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
    data_options,
    max_epochs_option,
    model_options,
    parse_epochs,
    parse_lr,
    scan_options,
)

EXIT_OVER = 1  # --fail-over: the estimated share of wrong labels is above the limit


@click.command()
@click.argument("data", type=click.Path())
@scan_options
@data_options
@model_options
@click.option(
    "--folds",
    type=click.IntRange(min=2),
    default=5,
    show_default=True,
    help="K: each image is predicted by a model trained on the other K-1 folds.",
)
@click.option(
    "--epochs",
    callback=parse_epochs,
    default="4",
    show_default=True,
    help="Epochs of each fold's model, or 'auto': a pilot on the split's training set doubles them from "
    "4 while that still pays (as curve's), about 2-3x the time. 4 met the labels benchmark's targets "
    "(benchmarks/README.md: bench_labels).",
)
@max_epochs_option
@click.option(
    "--lr",
    "lr",
    callback=parse_lr,
    default="3e-3",
    show_default=True,
    help="One max learning rate for every fold, or 'auto' (the LR finder on the split's training set, once).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write the suspected label errors as CSV (rank, path, given, suggested, self_confidence).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print images, folds, noise_rate, issues, per_class as JSON."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default="runs/labels",
    show_default=True,
    help="Run folder (a curve's folder may be shared); re-running resumes it.",
)
@click.option(
    "--fail-over",
    type=click.FloatRange(0, 1),
    default=None,
    help="Exit 1 when the estimated share of wrong labels is above this, e.g. 0.05 (for CI).",
)
@click.option(
    "--write-labels",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write a labels CSV of every image with the suggested labels applied to the flagged ones; "
    "review it, then give it to any command with --labels.",
)
@click.option(
    "--show",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="Suspects shown in the terminal.",
)
@api_errors
def labels(
    data: str,
    folds: int,
    epochs: int | None,
    max_epochs: int,
    lr: float | None,
    output: str | None,
    as_json: bool,
    out_dir: str,
    fail_over: float | None,
    write_labels: str | None,
    show: int,
    reading: ScanOptions,
    preparing: DataOptions,
    training: ModelOptions,
) -> None:
    """Find mislabelled images across the whole dataset: K-fold out-of-fold predictions and confident
    learning (cleanlab).

    Every image is predicted by a model trained on the other folds (stratified, seeded; copies share
    a fold), each fold saved in --out as it finishes, so an interrupted check resumes. Prints the
    estimated share of wrong labels, per class, and the suspects ranked by self-confidence (the
    probability the model gives to the given label). Nothing in DATA is moved, renamed or relabelled.

    Exit status: 0 (finding suspects is not a failure), 1 with --fail-over when the estimated share of
    wrong labels is above it, 2 for a usage error.
    """
    from datasize.cli.terminal import pilot_line, run_progress
    from datasize.curves.pilot import FIRST_EPOCHS
    from datasize.labels.plan import LabelsConfig
    from datasize.pipeline import run_labels

    config = LabelsConfig(
        folds=folds,
        lr=lr,
        train=training.train_config(epochs=epochs or FIRST_EPOCHS),
        auto_epochs=epochs is None,
        max_epochs=max_epochs,
    )
    prepare_options = {
        **preparing.prepare_kwargs(),
        **reading.scan_kwargs(),
        "max_pixels": reading.pixel_limit,
    }
    say = (lambda *_: None) if as_json else click.echo
    try:
        with run_progress(
            quiet=reading.quiet or as_json, echo=say, noun="folds", describe=_fold_line
        ) as on_fold:
            outcome = run_labels(
                data,
                config=config,
                out=out_dir,
                prepare_options=prepare_options,
                jobs=reading.jobs or 1,
                threads=training.threads,
                on_stage=lambda text: say(f"[{text}]"),
                on_fold=on_fold,
                on_pilot=None if as_json else lambda epochs, record: say(pilot_line(epochs, record)),
            )
    except KeyboardInterrupt:
        click.echo(
            f"Interrupted. Finished folds are saved in {out_dir}; run the same command again to resume.",
            err=True,
        )
        sys.exit(130)
    found = outcome.issues
    if output:
        from datasize.io import write_csv_atomic

        write_csv_atomic(output, found.issues)
    if as_json:
        click.echo(json.dumps(found.to_dict(), indent=2, sort_keys=True))
    else:
        for line in labels_lines(found, show=show):
            click.echo(line)
    if output:
        say(f"suspects written to {output}")
    if write_labels:
        _write_labels(write_labels, outcome, say)
    if fail_over is not None and found.noise_rate > fail_over:
        click.echo(
            f"FAILED: the estimated share of wrong labels, {100 * found.noise_rate:.1f}%, is above "
            f"--fail-over {100 * fail_over:.1f}%",
            err=True,
        )
        sys.exit(EXIT_OVER)


def _fold_line(record: dict) -> str:
    rate = record.get("error_rate")
    shown = (
        f"error {rate:.4f} on its {record.get('n_valid')} held-out images" if isinstance(rate, float) else ""
    )
    detail = record.get("diagnosis") if record.get("status") == "ok" else record.get("message")
    return f"fold {record['fold'] + 1} {record.get('status')}, {shown} ({detail})"


def _write_labels(path: str, outcome: Any, say: Any) -> None:
    from datasize.io import write_csv_atomic
    from datasize.labels.issues import relabelled

    table = relabelled(outcome.prepared.manifest, outcome.issues.issues)
    write_csv_atomic(path, table)
    extra = "".join(f" --{c}-col {c}" for c in ("group", "split") if c in table.columns)
    changed = int((table["label"] != table["given"]).sum())
    say(
        f"labels written to {path} ({changed:,} flagged images given their suggested label; column 'given' "
        f"keeps the old one): review it, then run any command with --labels {path}{extra}"
    )


def labels_lines(found: Any, *, show: int) -> list[str]:
    """The terminal summary: the verdict, the folds, the classes, then the suspects, most likely first."""
    from datasize.text import pct

    runs = found.fold_runs
    lines = [
        "VERDICT: " + found.verdict(),
        f"{found.config.folds} folds, {found.config.train.epochs} epochs each"
        + (" (the pilot's choice)" if found.config.auto_epochs else "")
        + f" at max lr {found.lr:.3g} "
        f"({found.lr_source}); held-out error against the given labels {pct(1 - found.agreement)} (per fold "
        f"{pct(runs['error_rate'].min())}–{pct(runs['error_rate'].max())})",
    ]
    per_class = found.per_class.sort_values(["noise_rate", "label"], ascending=[False, True], kind="stable")
    width = max([len("class"), *(len(str(label)) for label in per_class["label"].head(15))])
    lines.append(f"{'class':<{width}}  {'images':>6}  {'flagged':>7}  {'wrong (est.)':>12}  mostly really")
    for r in per_class.head(15).itertuples():
        lines.append(
            f"{r.label!s:<{width}}  {r.images:>6,}  {r.issues:>7,}  {pct(r.noise_rate):>12}  "
            f"{r.confused_with}"
        )
    if len(per_class) > 15:
        lines.append(f"... {len(per_class) - 15} more classes in labels_summary.json")
    if len(found.issues) and show:
        lines.append(
            "suspects, most likely wrong first (self-confidence: the probability of the given label):"
        )
        for r in found.issues.head(show).itertuples():
            lines.append(f"{r.rank:>5}  {r.self_confidence:.3f}  {r.given} -> {r.suggested}  {r.path}")
        if len(found.issues) > show:
            lines.append(f"... {len(found.issues) - show:,} more in label_issues.csv")
    if len(found.skipped):
        lines.append(
            f"{len(found.skipped):,} unreadable image(s) not checked (listed in labels_summary.json), e.g. "
            f"{found.skipped['path'].iloc[0]}: {found.skipped['reason'].iloc[0]}"
        )
    lines.append(
        f"files in {found.folder}: label_issues.csv, label_scores.csv, labels_summary.json "
        f"(report: datasize report {found.folder})"
    )
    return lines
