"""The report of a model comparison (`datasize curve` with several --model, or a recipe's list):
the answer, the table of each model's error now and at 2x, the curves on one plot, and each model's
own verdict with where its full report is."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from datasize.report.document import Report, Section
from datasize.text import pct

COMPARISON_FILE = "comparison.json"
COMPARISON_PLOT = "comparison.png"


def is_comparison(folder: str | os.PathLike) -> bool:
    """Whether `folder` holds a model comparison rather than one curve."""
    return (Path(folder) / COMPARISON_FILE).is_file()


def build_comparison_report(folder: str | os.PathLike) -> Report:
    """Read a comparison folder into a Report: the answer first, then the models side by side."""
    folder = Path(folder)
    summary = json.loads((folder / COMPARISON_FILE).read_text(encoding="utf-8"))
    comparison = summary.get("comparison") or {}
    sections = [Section("Models compared on one split", paragraphs=_why(comparison))]
    if comparison:
        sections[0].tables.append(
            ("Each model's error now and forecast at twice the images", _table(comparison))
        )
    plot = folder / COMPARISON_PLOT
    if plot.is_file():
        caption = "Validation error against training images, per model; squares: the forecast at 2x (80%)"
        sections[0].figures.append((caption, plot.read_bytes()))
    each = Section("Each model's verdict")
    for model in summary.get("models", []):
        each.paragraphs.append(
            f"{model['model']}: {model['verdict']} (its report: datasize report {model['folder']})"
        )
    sections.append(each)
    return Report("datasize: which model, or more images?", str(summary.get("answer")), sections, summary)


def _why(comparison: dict) -> list[str]:
    if not comparison:
        return []
    return [
        f"The model in use is listed first ({comparison['baseline']}); the lowest error at today's images "
        f"is {comparison['best_now']}'s. Intervals are 80%: the seeds' spread or the validation set's "
        "binomial noise, whichever is larger, for the error now; the forecast's refits for 2x."
    ]


def _table(comparison: dict) -> pd.DataFrame:
    rows = []
    for m in comparison["models"]:
        at_2x = "n/a"
        if m.get("expected_2x") is not None:
            at_2x = f"{pct(m['expected_2x'])} ({pct(m['low_2x'])}-{pct(m['high_2x'])}) at {m['n_train_2x']:,}"
        rows.append(
            {
                "model": m["model"],
                "training images": f"{m['n_train']:,}",
                "error now (80%)": f"{pct(m['error_rate'])} ({pct(m['low'])}-{pct(m['high'])})",
                "at 2x the images (80%)": at_2x,
            }
        )
    return pd.DataFrame(rows)
