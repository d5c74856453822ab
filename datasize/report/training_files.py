"""Write what a training command produced into its output folder, every file atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from datasize.io import write_csv_atomic, write_json
from datasize.report.plots import plot_lr_find, plot_top_losses
from datasize.training.interpret import confusion_matrix, most_confused, top_losses
from datasize.training.loop import TrainResult
from datasize.training.lr_finder import LRFinderResult
from datasize.training.preparation import Prepared


def train_summary(result: TrainResult, prepared: Prepared, finder: LRFinderResult | None) -> dict[str, Any]:
    """Everything about one run that a report or a later stage needs, JSON-ready."""
    return {
        "data": prepared.summary(),
        "config": result.config.to_dict(),
        "lr": result.config.lr,
        "lr_finder": finder.suggestion.to_dict() if finder else None,
        "n_train": result.n_train,
        "n_valid": result.n_valid,
        "steps": result.steps,
        "diverged": result.diverged,
        "error_rate": result.error_rate,
        "best_error_rate": float(result.epochs["error_rate"].min()),
        "train_error": result.train_error,
        "epochs": result.epochs.to_dict("records"),
        "per_class": result.per_class.to_dict("records"),
        "diagnosis": result.diagnosis.to_dict() if result.diagnosis else None,
        "seconds": result.seconds,
    }


def write_lr_find(folder: str | os.PathLike, finder: LRFinderResult, *, chosen_lr: float) -> None:
    """lr_find.csv (the curve), lr_find.json (the suggestion) and lr_find.png (the plot)."""
    folder = Path(folder)
    write_csv_atomic(folder / "lr_find.csv", finder.curve)
    write_json(folder / "lr_find.json", {**finder.to_dict(), "chosen_lr": chosen_lr})
    plot_lr_find(finder, folder / "lr_find.png", chosen_lr=chosen_lr)


def read_chosen_lr(folder: str | os.PathLike) -> float | None:
    """The learning rate `write_lr_find` recorded as chosen in `folder`; None when there is none (or it
    cannot be read: the finder then runs again)."""
    path = Path(folder) / "lr_find.json"
    try:
        return float(json.loads(path.read_text(encoding="utf-8"))["chosen_lr"])
    except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError):
        return None


def read_lr_find(folder: str | os.PathLike) -> tuple[dict[str, Any] | None, bytes | None]:
    """What `write_lr_find` left in `folder`: the JSON record and the PNG plot, each None when absent."""
    folder = Path(folder)
    record, plot = folder / "lr_find.json", folder / "lr_find.png"
    found = json.loads(record.read_text(encoding="utf-8")) if record.is_file() else None
    return found, plot.read_bytes() if plot.is_file() else None


def write_training(
    folder: str | os.PathLike,
    result: TrainResult,
    prepared: Prepared,
    *,
    finder: LRFinderResult | None = None,
    top_k: int = 16,
) -> dict[str, Path]:
    """The run's files; returns their paths by name."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    predictions = result.valid_predictions
    losses = top_losses(predictions, k=min(top_k, len(predictions)))
    files = {
        "summary": folder / "train.json",
        "epochs": folder / "epochs.csv",
        "per_class": folder / "per_class.csv",
        "confusion": folder / "confusion.csv",
        "most_confused": folder / "most_confused.csv",
        "top_losses": folder / "top_losses.csv",
        "top_losses_plot": folder / "top_losses.png",
    }
    write_csv_atomic(files["epochs"], result.epochs)
    write_csv_atomic(files["per_class"], result.per_class)
    write_csv_atomic(files["confusion"], confusion_matrix(predictions, result.classes).reset_index())
    write_csv_atomic(files["most_confused"], most_confused(predictions))
    write_csv_atomic(files["top_losses"], losses)
    plot_top_losses(losses, prepared.cache, files["top_losses_plot"])
    if finder is not None:
        write_lr_find(folder, finder, chosen_lr=result.config.lr)
        files.update(lr_find=folder / "lr_find.png")
    write_json(files["summary"], train_summary(result, prepared, finder))
    return files
