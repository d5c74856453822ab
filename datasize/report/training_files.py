"""Write what a training command produced into its output folder, every file atomically."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from datasize.io import write_csv_atomic, write_text_atomic
from datasize.training.interpret import confusion_matrix, most_confused, plot_top_losses, top_losses
from datasize.training.loop import TrainResult
from datasize.training.lr_finder import LRFinderResult, plot_lr_find
from datasize.training.preparation import Prepared


def jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars unwrapped, NaN and infinities as null."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: str | os.PathLike, value: Any) -> None:
    """Sorted, indented JSON, written atomically."""
    write_text_atomic(path, json.dumps(jsonable(value), indent=2, sort_keys=True, allow_nan=False) + "\n")


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
