"""One fold of a labels check: train on the other folds, predict the held-out images' probabilities.

A fold's failure is recorded with its error, never raised, so that the other folds go on (a resumed
check trains it again).
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from datasize.curves.run import unshipped
from datasize.labels.plan import FoldSpec
from datasize.training.batches import TrainData, torch_threads
from datasize.training.loop import TrainConfig, fit_one_cycle

DECIMALS = 6  # probabilities are stored rounded: a resumed check reads back exactly what a fresh one used


@dataclass(frozen=True)
class FoldTask:
    """Everything a worker needs for one fold; the images travel as a file path when they can."""

    spec: FoldSpec
    train_rows: np.ndarray  # cache rows of the other folds
    held_out: np.ndarray  # cache rows of this fold: the images it predicts
    data: TrainData  # every image, every class; its images are emptied when `images_path` is set
    images_path: str | None  # a memory-mapped cache file that workers open themselves
    config: TrainConfig
    threads: int | None  # torch threads in this worker (None: leave as is)


def run_fold(task: FoldTask) -> dict[str, Any]:
    """Train fold `task.spec` and return its record, with the held-out images' probabilities."""
    start = time.perf_counter()
    base = {"fold": task.spec.fold, "folds": task.spec.folds}
    try:
        with torch_threads(task.threads):
            data = replace(unshipped(task.data, task.images_path), train=task.train_rows, valid=task.held_out)
            result = fit_one_cycle(data, config=task.config)
    except Exception as exc:
        return {
            **base,
            "status": "failed",
            "message": f"{type(exc).__name__}: {exc}",
            "trace": traceback.format_exc(limit=5),
            "seconds": time.perf_counter() - start,
        }
    probabilities = result.valid_probabilities
    finite = bool(np.isfinite(probabilities).all())
    return {
        **base,
        "status": "ok" if finite and not result.diverged else "diverged",
        "paths": [data.cache.paths[i] for i in task.held_out],
        "probabilities": np.round(probabilities, DECIMALS).tolist() if finite else None,
        "n_train": result.n_train,
        "n_valid": result.n_valid,
        "error_rate": result.error_rate,
        "train_error": result.train_error,
        "diagnosis": str(result.diagnosis.primary),
        "steps": result.steps,
        "epochs": result.epochs.to_dict("records"),
        "message": result.diagnosis.summary(),
        "seconds": time.perf_counter() - start,
    }
