"""The report's content, read from a run folder: sections of text, tables and figures.

Rendering (HTML, Markdown, JSON) lives in `datasize.report.render`; this module decides what a
reader sees and in which order: the verdict first, then the evidence behind it. A folder may hold a
learning curve, a labels check (`datasize labels`), or both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from datasize.curves.folder import RunFolder, read_json
from datasize.dataset.splits import sidecar_path
from datasize.labels.folder import ISSUE_COLUMNS, LabelsFolder
from datasize.labels.issues import PER_CLASS_COLUMNS
from datasize.labels.plateau import plateau_note
from datasize.noise import at_zero
from datasize.planning.collection import PLAN_COLUMNS
from datasize.report import plots
from datasize.report.section import Section
from datasize.report.training_files import read_lr_find
from datasize.report.validation_summary import validation_section
from datasize.text import pct


@dataclass(frozen=True)
class Report:
    """A whole report: a title, the verdict in plain words (the answer first), then the sections."""

    title: str
    verdict: str
    sections: list[Section]
    summary: dict[str, Any] = field(repr=False, default_factory=dict)
    answer: dict[str, Any] | None = None  # kind, sentence, why, details (curve_summary.json's answer)


def build_report(folder: str | os.PathLike, *, top_k: int = 16, show: int = 15) -> Report:
    """Read a `datasize curve` (or `datasize labels`) run folder into a Report; FileNotFoundError when
    it is neither."""
    run_folder = RunFolder(folder)
    labels = LabelsFolder(folder).read_summary()
    if labels is not None and not run_folder.summary_file.is_file():
        return _labels_report(folder, labels, top_k, show)
    summary = run_folder.read_summary()
    records = run_folder.run_records()
    plan = _plan_section(read_json(run_folder.plan_files[0]))
    # The first screen: the answer (above the sections), the curve, the lever table (the plan, else
    # the classes that need images most), then validation as a summary; the evidence follows.
    sections = [
        _curve_figure_section(summary),
        *(plan or [_per_class_section(summary, show)]),
        validation_section(summary, read_json(run_folder.validation_file), show),
        _curve_section(summary),
        _epochs_section(records, summary.get("epochs")),
        _split_section(read_json(sidecar_path(run_folder.split_csv))),
        _lr_section(summary, run_folder),
        *([_labels_section(labels, top_k, show)] if labels else []),
        _largest_run_section(records, summary, top_k),
        _problems_section(records),
    ]
    data = summary.get("data", {})
    title = f"datasize report: {Path(data.get('root', str(folder))).name}"
    late = _late_labels_note(summary, labels)
    verdict = " ".join(filter(None, [summary.get("verdict"), late]))
    answer = summary.get("answer")
    if answer and late:
        answer = {**answer, "details": [*answer.get("details", []), late]}
    return Report(title=title, verdict=verdict, sections=sections, summary=summary, answer=answer)


def _zero(summary: dict[str, Any]) -> bool:
    """Whether the curve's largest size scored within one validation image of zero."""
    forecast = summary.get("forecast") or {}
    n_valid = forecast.get("n_valid") or max(
        (r.get("n_valid") or 0 for r in summary.get("runs", [])), default=0
    )
    rate = forecast.get("error_rate")
    return bool(n_valid) and rate is not None and at_zero(float(rate), int(n_valid))


def _labels_report(folder: str | os.PathLike, labels: dict[str, Any], top_k: int, show: int) -> Report:
    """The report of a folder that holds a labels check and no curve."""
    root = (labels.get("data") or {}).get("root", str(folder))
    return Report(
        title=f"datasize labels report: {Path(root).name}",
        verdict=labels.get("verdict") or "",
        sections=[_labels_section(labels, top_k, show, verdict=False)],
        summary=labels,
    )


def _late_labels_note(summary: dict[str, Any], labels: dict[str, Any] | None) -> str | None:
    """The curve's labels sentence when the labels check came after the curve (the curve's verdict,
    written before, could not say it)."""
    forecast = summary.get("forecast")
    if not labels or not forecast or summary.get("labels_note"):
        return None
    runs = pd.DataFrame(summary.get("runs", []))
    largest = runs[(runs["status"] == "ok") & (runs["n_train"] == forecast["n_train"])]
    data = summary.get("data", {})
    if largest.empty or not data.get("images_fingerprint"):
        return None
    return plateau_note(
        labels,
        error_rate=forecast["error_rate"],
        n_valid=int(largest["n_valid"].iloc[0]),
        levelling=not (forecast.get("plateau") or {}).get("helps", False),
        images_fingerprint=data["images_fingerprint"],
        split_fingerprint=data.get("split_fingerprint", ""),
    )


def _split_section(info: dict[str, Any] | None) -> Section:
    if not info:
        return Section("Validation split", ["No split record found."])
    text = [
        f"{info.get('method')} split, seed {info.get('seed')}, valid_pct {info.get('valid_pct')}: "
        f"{info.get('n_train')} train / {info.get('n_valid')} valid images. "
        f"Fingerprint {info.get('fingerprint')}.",
    ]
    if info.get("duplicate_groups"):
        text.append(
            f"{info['duplicate_groups']} groups of exact or near duplicates were kept on one side each, "
            "so no validation image has a copy in the training set."
        )
    text += list(info.get("warnings", []))
    counts = pd.DataFrame(
        [
            {"label": k, "train": v.get("train", 0), "valid": v.get("valid", 0)}
            for k, v in info.get("counts", {}).items()
        ]
    )
    return Section("Validation split", text, [("Images per class", counts)])


def _lr_section(summary: dict[str, Any], folder: RunFolder) -> Section:
    lr, source = summary.get("lr"), summary.get("lr_source")
    text = [f"Every run used the maximum learning rate {lr:.3g} ({source}) with one-cycle training."]
    figures = []
    finder, plot = read_lr_find(folder.path)
    if finder:
        s = finder.get("suggestion", {})
        text.append(
            f"LR finder suggestions: valley {s.get('valley'):.3g}, steep {s.get('steep'):.3g}, "
            f"minimum/10 {s.get('minimum'):.3g}"
            + ("" if s.get("confident") else "; low confidence: " + "; ".join(s.get("reasons", [])))
        )
    if plot is not None:
        figures.append(("LR range test: smoothed loss against learning rate", plot))
    return Section("Learning rate", text, figures=figures)


def _curve_section(summary: dict[str, Any]) -> Section:
    forecast = summary.get("forecast") or {}
    runs = pd.DataFrame(summary.get("runs", []))
    text = [
        f"Budget: {summary.get('budget')} (every size gets the same optimiser steps)"
        if summary.get("budget") == "steps"
        else f"Budget: {summary.get('budget')}"
    ]
    backtest = forecast.get("backtest") or {}
    if _zero(summary):  # no fall to fit: a self-check or an interval would be arithmetic on zeros
        backtest, forecast = {}, {}
    if backtest:
        text.append(
            "Forecast self-check (backtest): fitted on the smaller sizes, the chosen curve "
            f"({backtest.get('chosen')}) missed the held-out error by {pct(backtest.get('error'))}; "
            "the last observed point missed it by "
            f"{pct(backtest.get('baseline_error'))}."
        )
    for horizon in forecast.get("forecast") or []:
        basis = ""
        if horizon.get("basis") == "midway":
            basis = f"midway between the fitted curve's {pct(horizon['fitted'])} and the last point's; "
        text.append(
            f"At {horizon['multiple']}x the data ({horizon['n_train']:,} images): expected error "
            f"{pct(horizon['expected'])} ({basis}80% interval {pct(horizon['low'])}–{pct(horizon['high'])})."
        )
    tables = []
    if not runs.empty:
        ok = runs[runs["status"] == "ok"]
        table = (
            ok.groupby("n_train")
            .agg(
                runs=("seed", "size"),
                mean_error=("error_rate", "mean"),
                sd=("error_rate", "std"),
                train_error=("train_error", "mean"),
            )
            .reset_index()
        )
        tables.append(("Error by training-set size", table.round(4)))
    return Section("How the forecast was made", [*_answer_details(summary), *text], tables)


def _answer_details(summary: dict[str, Any]) -> list[str]:
    """The answer's details (intervals, self-check, notes) as curve_summary.json holds them."""
    answer = summary.get("answer")
    return list(answer.get("details", [])) if answer else []


def _curve_figure_section(summary: dict[str, Any]) -> Section:
    runs = summary.get("runs", [])
    if not runs:
        return Section("Learning curve", ["No finished runs."])
    caption = "Learning curve: each seed, the mean, the fit, the extrapolation and its interval"
    if _zero(summary):
        caption = (
            "Learning curve: each seed and the mean; at zero error, the 95% upper bound instead of a fit"
        )
    return Section("Learning curve", figures=[(caption, plots.learning_curve_png(summary))])


def _epochs_section(records: list[dict[str, Any]], epochs: dict[str, Any] | None) -> Section:
    text, tables = _length_text(epochs)
    if not records:
        return Section("Training per size", [*text, "No finished runs."], tables)
    text.append(
        "Train and validation loss per epoch, one run per size; a dashed line marks where overfitting begins."
    )
    figures = [("Loss per epoch", plots.epoch_curves_png(records))]
    return Section("Training per size", text, tables, figures)


def _length_text(epochs: dict[str, Any] | None) -> tuple[list[str], list[tuple[str, pd.DataFrame]]]:
    """How long every size trained, and, when the pilot chose it, what the pilot saw."""
    if not epochs:
        return [], []
    if epochs.get("source") != "pilot":
        return [f"Every size trained for the optimiser steps of {epochs['epochs']} epochs (given)."], []
    text = (
        f"Every size trained for the optimiser steps of {epochs['epochs']} epochs of the largest, the "
        f"length a pilot at the largest size chose: {epochs['reason']}."
    )
    table = pd.DataFrame(
        [
            {
                "epochs": p["epochs"],
                "errors": ", ".join(pct(e) for e in p["errors"]),
                "mean error": pct(p["mean_error"]),
                "standard error": pct(p["se"]),
                "too few epochs": "yes" if p["limited"] else "no",
            }
            for p in epochs.get("lengths", [])
        ]
    )
    return [text], [("The pilot: the largest size at each length tried (one run per seed)", table)]


def _per_class_section(summary: dict[str, Any], show: int) -> Section:
    forecast = summary.get("forecast") or {}
    per_class = forecast.get("per_class")
    if _zero(summary):
        return Section(
            "Which classes need images",
            [
                "None more than another: the whole set is within one validation image of zero, so no class "
                "can be shown to gain from more images."
            ],
        )
    if not per_class:
        return Section("Which classes need images", ["No per-class forecast."])
    interval = forecast.get("bootstrap", {}).get("interval") or [0.1, 0.9]
    width = round(100 * (interval[1] - interval[0]))
    text = [
        "Each row is one class: its training images and validation error now, the error expected if "
        f"its images doubled (with a {width}% interval), and how much that would cut the error of the "
        "whole set; rank 1 gains most, so collect from the top. The full table is in the JSON report."
    ]
    table = per_class_table(per_class, width).head(max(show, 30))
    return Section("Which classes need images", text, [("Which classes need images", table)])


def per_class_table(per_class: list[dict[str, Any]], width: int) -> pd.DataFrame:
    """The per-class ranking in reading order with plain names; intervals within 0%-100%.

    A class's `reduction` is its error's fall from doubling its images (interval `low`-`high`), so
    the error expected at 2x lies between its fitted error now less `high` and less `low`.
    """
    rows = []
    for r in sorted(per_class, key=lambda r: r["rank"]):
        fitted = r.get("error_fit")
        if r.get("status") == "too_few_points" or fitted is None:
            expected, gain = "too few sizes to fit", "n/a"
        else:
            low, high = (min(max(fitted - r[k], 0.0), 1.0) for k in ("high", "low"))
            expected = f"{pct(min(max(r['error_2x'], 0.0), 1.0))} ({pct(low)}–{pct(high)})"
            gain = f"{100 * r['overall_reduction']:.2f} points"
        rows.append(
            {
                "class": r["label"],
                "images now": r["n_train_class"],
                "error now": pct(r["error_rate"]),
                f"expected at 2x ({width}% interval)": expected,
                "gain for the whole set": gain,
                "rank": r["rank"],
            }
        )
    return pd.DataFrame(rows)


def _plan_section(plan: dict[str, Any] | None) -> list[Section]:
    """The collection plan `datasize plan` wrote into the folder, when there is one."""
    if not plan:
        return []
    interval = plan.get("interval") or [0.1, 0.9]
    width = round(100 * (interval[1] - interval[0]))
    table = pd.DataFrame(plan.get("table", []))
    table = table[[c for c in PLAN_COLUMNS if c in table] + [c for c in table if c not in PLAN_COLUMNS]]
    if plan.get("at_zero"):
        return [Section("Collection plan", [plan.get("verdict", "")])]
    text = [
        plan.get("verdict", ""),
        f"Overall: {pct(plan.get('error_now'))} now, {pct(plan.get('expected'))} expected after collecting "
        f"({width}% interval {pct(plan.get('low'))}–{pct(plan.get('high'))}); spread evenly over every "
        f"class, the same spend would give {pct(plan.get('uniform_error'))}. Re-run `datasize plan` after "
        "re-running the curve: this plan was made from the curve as it was then.",
    ]
    caption = f"Images to collect per class, and each class's error expected after ({width}% interval)"
    return [Section("Collection plan", text, [(caption, table.round(4))] if not table.empty else [])]


def _largest_run_section(records: list[dict[str, Any]], summary: dict[str, Any], top_k: int) -> Section:
    from datasize.training.interpret import confusion_matrix, most_confused, top_losses

    with_predictions = [r for r in records if r.get("predictions")]
    if not with_predictions:
        return Section("Largest run: confusion and top losses", ["No predictions were kept."])
    run = with_predictions[0]
    predictions = pd.DataFrame(run["predictions"])
    classes = summary.get("data", {}).get("classes") or sorted(set(predictions["label"]))
    matrix = confusion_matrix(predictions, classes)
    wrong = predictions[predictions["label"] != predictions["predicted"]]
    text = [
        f"Run with {run['n_train']} training images, seed {run['seed']}: "
        f"validation error {pct(run.get('error_rate'))}."
    ]
    figures = [("Confusion matrix (rows: actual)", plots.confusion_png(matrix))]
    if wrong.empty:
        text.append(
            "No validation image was predicted wrong: there is no confusion and no label to re-check."
        )
        return Section("Largest run: confusion and top losses", text, figures=figures)
    losses = top_losses(wrong, k=min(top_k, len(wrong)))
    text.append(
        f"The {len(losses)} wrongly predicted validation image(s) the model was most confident about: "
        "check their labels first."
    )
    root = summary.get("data", {}).get("root", ".")
    return Section(
        "Largest run: confusion and top losses",
        text,
        tables=[
            ("Most confused pairs", most_confused(predictions).head(15)),
            (
                "Most confidently wrong",
                losses[["path", "label", "predicted", "probability", "loss"]].round(4),
            ),
        ],
        figures=[
            *figures,
            (
                "Most confidently wrong: predicted / actual / loss / probability",
                plots.top_losses_png(losses, root),
            ),
        ],
    )


def _labels_section(labels: dict[str, Any], top_k: int, show: int, *, verdict: bool = True) -> Section:
    """A labels check: the estimated share of wrong labels per class, the noise matrix, the suspects."""
    config = labels.get("config") or {}
    train = config.get("train") or {}
    issues = pd.DataFrame(labels.get("issues") or [], columns=ISSUE_COLUMNS)
    per_class = pd.DataFrame(labels.get("per_class") or [], columns=PER_CLASS_COLUMNS)
    folds = pd.DataFrame(labels.get("fold_runs") or [])
    text = [labels.get("verdict", "")] if verdict else []
    text += [
        f"Every image was predicted by a model that never saw it: {labels.get('folds')} folds, stratified "
        "and seeded, copies of one image in one fold; each fold's model ({}, {} epochs, max lr {}) trained "
        "on the other folds. Confident learning (cleanlab) then estimated, from these out-of-fold "
        "probabilities, how often each given label is really another class, and flagged the images "
        "whose label is likely wrong, ranked by self-confidence (the probability the model gives to "
        "the given label: the lower, the likelier wrong).".format(
            train.get("model"), train.get("epochs"), _number(labels.get("lr"))
        ),
        "Nothing in the dataset was changed. To apply a decision, run datasize labels with "
        "--write-labels FILE, review FILE, then give it to any command with --labels FILE.",
    ]
    if len(folds):
        text.append(
            f"Held-out error of the folds' models against the given labels: {pct(folds['error_rate'].min())}"
            f"–{pct(folds['error_rate'].max())}."
        )
    skipped = labels.get("skipped") or []
    if skipped:
        text.append(f"{len(skipped)} unreadable image(s) could not be checked (see labels_summary.json).")
    tables = []
    if not per_class.empty:
        tables.append(("Estimated share of wrong labels per given label", per_class.round(4)))
    if not issues.empty:
        caption = (
            f"Suspected label errors, most likely first (at most {max(show, 30)}; all in label_issues.csv)"
        )
        tables.append((caption, issues.head(max(show, 30)).round(4)))
    figures = []
    classes = labels.get("classes") or []
    if classes and labels.get("joint"):
        counts = (
            pd.DataFrame(labels["joint"], index=classes, columns=classes) * labels.get("images", 0)
        ).round()
        figures.append(
            (
                "Noise matrix: estimated images by given label (rows) and true label (columns); "
                "off the diagonal, the wrong labels",
                plots.noise_matrix_png(counts.astype(int)),
            )
        )
    if not issues.empty:
        root = (labels.get("data") or {}).get("root", ".")
        figures.append(
            (
                "Top suspects: given -> suggested label, self-confidence",
                plots.label_issues_png(issues.head(top_k), root),
            )
        )
    return Section("Label errors", text, tables, figures)


def _number(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, int | float) else "?"


def _problems_section(records: list[dict[str, Any]]) -> Section:
    """Runs that failed (no result), then finished runs whose diagnosis is not clean."""
    failed = [r for r in records if r.get("status") != "ok"]
    diagnosed = [r for r in records if r.get("status") == "ok" and r.get("diagnosis") not in (None, "ok")]
    if not failed and not diagnosed:
        return Section("Runs that failed or were diagnosed", ["Every run finished and trained cleanly."])

    def rows(chosen: list[dict[str, Any]], column: str) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {
                    "n_train": r["n_train"],
                    "seed": r["seed"],
                    column: r.get(column),
                    "detail": r.get("message", ""),
                }
                for r in chosen
            ]
        )

    text = [
        f"{len(failed)} run(s) failed and are left out of the forecast; {len(diagnosed)} finished run(s) "
        "have a diagnosis worth reading (they count in the forecast)."
    ]
    tables = ([("Failed runs", rows(failed, "status"))] if failed else []) + (
        [("Finished runs with a diagnosis", rows(diagnosed, "diagnosis"))] if diagnosed else []
    )
    return Section("Runs that failed or were diagnosed", text, tables)
