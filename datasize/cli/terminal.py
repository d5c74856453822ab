"""Terminal output with rich: progress bars for long steps, tables for results.

Progress bars show only on an interactive terminal and not with --quiet, so CI logs stay plain.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    import pandas as pd

    from datasize.dataset.manifest import Progress, StepProgress
    from datasize.dataset.validation import Findings

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}


def console(*, stderr: bool = False) -> Console:
    """A console that degrades to plain text when the stream is not a terminal."""
    return Console(stderr=stderr, highlight=False, soft_wrap=False)


@contextmanager
def progress_bar(description: str, *, quiet: bool = False) -> Iterator[Progress | None]:
    """A `progress(done, total)` callback drawing a bar on stderr, or None when not shown."""
    err = console(stderr=True)
    if quiet or not err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )
    with bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@contextmanager
def step_bars(*, quiet: bool = False) -> Iterator[StepProgress | None]:
    """A `progress(step, done, total)` callback drawing one bar per step on stderr, with the count done
    and the rate; None when not shown (not a terminal, or --quiet)."""
    err = console(stderr=True)
    if quiet or not err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TimeRemainingColumn
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.0f}/s" if speed else "", style="progress.data.speed")

    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        Rate(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )
    with bar:
        tasks: dict[str, Any] = {}

        def update(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total)
            bar.update(tasks[step], completed=done, total=total)

        yield update


def manifest_summary(manifest: pd.DataFrame) -> Table:
    """Images per class, with unreadable counts."""
    table = Table(title=f"{len(manifest)} images", title_justify="left")
    table.add_column("label")
    table.add_column("images", justify="right")
    table.add_column("unreadable", justify="right")
    readable = manifest["error"] == ""
    for label, group in manifest.groupby("label", sort=True):
        bad = int((~readable[group.index]).sum())
        table.add_row(escape(str(label)), str(len(group)), str(bad) if bad else "")
    return table


def _verdict(findings: Findings, fail_on: str, *, markup: bool) -> str:
    line = findings.summary_line(fail_on)
    if not markup:
        return line
    word, rest = line.split(" ", 1)
    return f"[bold {'green' if word == 'PASSED' else 'red'}]{word}[/] {rest}"


def _shown(findings: Findings) -> Any:
    """The findings to print: a group of duplicates once (its first member names the others), not once
    per member; --json and -o keep every row."""
    from datasize.report.validation_summary import one_row_per_group

    return one_row_per_group(findings.table)


def findings_lines(findings: Findings, *, fail_on: str, show: int) -> list[str]:
    """Plain text for logs: one line per finding (`severity check path: detail`), then the verdict."""
    lines = []
    for check, group in _shown(findings).groupby("check", sort=False):
        for row in group.head(show).itertuples():
            where = row.path or (f"class {row.label}" if row.label else "-")
            lines.append(f"{row.severity:<7} {check:<18} {where}: {row.detail}")
        if len(group) > show:
            lines.append(f"{'':<7} {check:<18} ... and {len(group) - show} more (all in --json or -o)")
    return [*lines, _verdict(findings, fail_on, markup=False)]


def findings_report(findings: Findings, *, fail_on: str, show: int) -> list:
    """Renderables for an interactive terminal: a table of findings, then the verdict line."""
    out: list = [_verdict(findings, fail_on, markup=True)]
    if findings.table.empty:
        return out
    table = Table(show_lines=False, expand=False)
    for column in ("severity", "check", "path", "detail"):
        table.add_column(column, overflow="fold")
    for check, group in _shown(findings).groupby("check", sort=False):
        for row in group.head(show).itertuples():
            where = row.path or (f"class {row.label}" if row.label else "")
            style = SEVERITY_STYLE.get(row.severity, "")
            table.add_row(f"[{style}]{row.severity}[/]", check, escape(where), escape(row.detail))
        if len(group) > show:
            table.add_row("", check, f"... and {len(group) - show} more", "(all in --json or -o)")
    out.insert(0, table)
    return out


def echo_plain_error(message: str) -> None:
    """One line on stderr, for usage errors."""
    print(f"Error: {message}", file=sys.stderr)


def split_lines(info: dict[str, Any], *, show: int = 30) -> list[tuple[str, str]]:
    """The split summary as (text, rich style) lines: totals, classes, duplicates, warnings, notes."""
    share = f"{info['valid_share']:.1%}"
    how = "" if info["seed"] is None else f", seed {info['seed']}, valid_pct {info['valid_pct']:g}"
    lines = [
        (f"{info['method']} split{how}: {info['n_train']} train, {info['n_valid']} valid ({share})", "bold"),
        (f"fingerprint {info['fingerprint']}", ""),
    ]
    counts = info["counts"]
    width = min(30, max(5, *(len(label) for label in counts)))
    lines.append((f"{'label':<{width}}  {'train':>7}  {'valid':>7}", "dim"))
    for label in list(counts)[:show]:
        c = counts[label]
        lines.append((f"{label[:width]:<{width}}  {c['train']:>7}  {c['valid']:>7}", ""))
    if len(counts) > show:
        lines.append((f"... and {len(counts) - show} more classes (all in the JSON record)", "dim"))
    lines.append((_duplicate_line(info), ""))
    lines += [(f"warning: {w}", "yellow") for w in info["warnings"]]
    lines += [(f"note: {n}", "dim") for n in info["notes"]]
    return lines


def _duplicate_line(info: dict[str, Any]) -> str:
    found = info["duplicate_groups"]
    radius = f"exact and near copies: pHash within {info['near_radius']} bits"
    if "near_threshold" in info:  # older split records (hashes only) lack it
        radius += f", verified at similarity {info['near_threshold']:g}"
    if not found:
        return f"duplicates: none found ({radius})"
    what = f"duplicates: {found} groups, {info['duplicate_images']} images ({radius})"
    if info["duplicate_groups_straddling"] == 0:
        return f"{what}, each kept on one side: no validation image has a copy in train"
    return f"{what}, {info['duplicate_groups_straddling']} straddling train and valid"


EPOCH_WIDTHS = (
    ("epoch", 5),
    ("train_loss", 10),
    ("valid_loss", 10),
    ("error_rate", 10),
    ("accuracy", 8),
    ("time", 6),
)


def epoch_header() -> str:
    """The header of the per-epoch table, fastai style."""
    return "  ".join(f"{name:<{width}}" for name, width in EPOCH_WIDTHS)


def epoch_line(row: dict) -> str:
    """One epoch: losses to 6 places, rates to 4, time as mm:ss."""
    minutes, seconds = divmod(round(row["time"]), 60)
    cells = [
        f"{row['epoch']:<5}",
        f"{row['train_loss']:<10.6f}",
        f"{row['valid_loss']:<10.6f}",
        f"{row['error_rate']:<10.4f}",
        f"{row['accuracy']:<8.4f}",
        f"{minutes:02d}:{seconds:02d}",
    ]
    return "  ".join(cells)


@contextmanager
def run_progress(
    *, quiet: bool, echo: Any, noun: str = "runs", describe: Callable[[dict], str] | None = None
) -> Iterator[Any]:
    """An `on_run(done, total, record)` callback: a bar on a terminal, else one plain line per run
    (`describe(record)` says what it did; by default, a curve's run)."""
    err = console(stderr=True)
    if quiet:
        yield None
        return
    if not err.is_terminal:
        say = describe or _describe_run
        planned: list[int] = []

        def line(done: int, total: int, record: dict) -> None:
            if not record or "start" in record:
                planned.append(total)
                echo(start_line(done, total, record.get("start") if record else None, noun))
                return
            skipped = planned[0] - total if planned else 0
            of = f"{done}/{total}" + (f" ({skipped} skipped: their seeds agreed)" if skipped > 0 else "")
            echo(f"{noun[:-1]} {of}: {say(record)}")

        yield line
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

    bar = Progress(
        noun,
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )
    with bar:
        task = bar.add_task(noun, total=None)

        def update(done: int, total: int, record: dict) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def interrupted_line(folder: Any) -> str:
    """What Ctrl-C leaves: the finished runs that the same command resumes from, or that none is."""
    from datasize.curves.folder import RunFolder

    run_folder = RunFolder(folder)
    runs = len(run_folder.finished_runs())
    pilot = len(list(run_folder.pilot_dir.glob("e*-s*.json")))
    if runs or pilot:
        kept = [f"{runs} finished run(s)"] if runs else []
        kept += [f"{pilot} pilot run(s)"] if pilot else []
        return f"Interrupted. {' and '.join(kept)} saved in {folder}; run the same command again to resume."
    return (
        f"Interrupted before any run finished: nothing trained is saved yet (the split and decoded images in "
        f"{folder} are reused); the same command starts again from the first run."
    )


def start_line(done: int, total: int, start: dict | None, noun: str = "runs") -> str:
    """What a curve (or labels check) starts from: how many runs it has to train, which are already
    finished from an earlier command, which the pilot trained."""
    if not done:
        return f"{total} {noun} to train"
    resumed, from_pilot = (done, 0) if start is None else (start["resumed"], start["from_pilot"])
    parts = []
    if resumed:
        parts.append(f"{resumed} already finished by an earlier command (resuming)")
    if from_pilot:
        parts.append(f"{from_pilot} trained by the pilot")
    left = f"at most {total - done} to train" if total > done else "nothing left to train"
    return f"{total} {noun}: {'; '.join(parts)}; {left}"


def _describe_run(record: dict) -> str:
    rate = record.get("error_rate")
    shown = f"error {rate:.4f}" if isinstance(rate, float) else record.get("status", "")
    return (
        f"n_train={record['n_train']} seed={record['seed']} {shown} "
        f"({record.get('diagnosis') or record.get('status')})"
    )


def pilot_line(epochs: int, record: dict) -> str:
    """One pilot run as it finishes."""
    return f"pilot: {epochs} epochs, {_describe_run(record)}"


def epochs_line(summary: dict[str, Any]) -> str:
    """How long every run trained, and why."""
    if summary["source"] == "given":
        return f"training length: {summary['epochs']} epochs (given)"
    tried = ", ".join(f"{p['epochs']} -> {100 * p['mean_error']:.2f}%" for p in summary["lengths"])
    return f"training length: {summary['epochs']} epochs, chosen by the pilot ({tried}): {summary['reason']}"


def cost_line(cost: dict[str, Any]) -> str:
    """What the curve cost, in full trainings and seconds."""
    curve, pilot = cost["curve"], cost["pilot"]
    text = f"cost: {cost['full_trainings']:.1f} full trainings"
    parts = [f"curve {curve['runs']} runs, {curve['full_trainings']:.1f} ({curve['seconds']:.0f} s)"]
    if pilot["runs"]:
        parts.insert(
            0, f"pilot {pilot['runs']} runs, {pilot['full_trainings']:.1f} ({pilot['seconds']:.0f} s)"
        )
    return f"{text}: {'; '.join(parts)}"


def answer_lines(outcome: Any, *, verbose: bool = False) -> list[str]:
    """The answer in one sentence, its reasons one per line, and (verbose) the details."""
    answer = outcome.answer()
    if answer is None:
        return ["ANSWER: " + outcome.verdict()]
    lines = [f"ANSWER ({answer.kind}): {answer.sentence}", *(f"  - {why}" for why in answer.why)]
    if verbose:
        lines += [f"  {detail}" for detail in answer.details]
    elif answer.details:
        lines.append("  (details: --verbose, or the report)")
    return lines


def curve_lines(outcome: Any, *, verbose: bool = False) -> list[str]:
    """The curve's terminal summary: the answer first, then the table of sizes, then the details."""
    forecast = outcome.forecast
    lines = answer_lines(outcome, verbose=verbose)
    runs = outcome.curve.runs
    ok = runs[runs["status"] == "ok"]
    lines.append(
        f"model {outcome.curve.config.train.describe()}; learning rate {outcome.lr:.3g} "
        f"({outcome.lr_source}); budget: {outcome.curve.config.budget}"
    )
    lines.append(epochs_line(outcome.epochs_summary()))
    lines.append(cost_line(outcome.cost()))
    if outcome.suggestion():
        lines.append(f"try: {outcome.suggestion()}")
    lines.append(
        f"{'n_train':>8}  {'runs':>4}  {'mean error':>10}  {'sd':>7}  {'train error':>11}  diagnoses"
    )
    for n, group in runs.groupby("n_train", sort=True):
        good = group[group["status"] == "ok"]
        diagnoses = ", ".join(f"{k} x{v}" for k, v in good["diagnosis"].value_counts().items())
        bad = len(group) - len(good)
        if bad:
            statuses = ", ".join(sorted(set(group["status"]) - {"ok"}))
            diagnoses += f"{', ' if diagnoses else ''}{bad} not ok ({statuses})"
        mean = good["error_rate"].mean() if len(good) else float("nan")
        sd = good["error_rate"].std(ddof=1) if len(good) > 1 else float("nan")
        lines.append(
            f"{n:>8}  {len(good):>4}  {mean:>10.4f}  {sd:>7.4f}  "
            f"{good['train_error'].mean():>11.4f}  {diagnoses}"
        )
    if forecast is not None and not forecast.at_zero:  # at zero a self-check compares zeros
        bt = forecast.backtest.to_dict()
        if bt.get("error") is not None and bt.get("baseline_error") is not None:
            lines.append(
                f"forecast self-check (backtest): fitted on smaller sizes, {bt['chosen']} missed the "
                f"held-out error by {100 * bt['error']:.2f} points; the last observed point by "
                f"{100 * bt['baseline_error']:.2f}"
            )
    lines.append(
        f"files in {outcome.folder}: runs.csv, per_class.csv, curve_summary.json "
        f"(report: datasize report {outcome.folder})"
    )
    if len(ok) < len(runs):
        lines.append(f"{len(runs) - len(ok)} run(s) did not finish cleanly; see runs.csv")
    skipped = outcome.curve.skipped
    if skipped:
        lines.append(
            f"{len(skipped)} run(s) skipped by --seed-stop (their size's seeds already agreed within the "
            f"validation noise): {', '.join(skipped)}"
        )
    return lines
