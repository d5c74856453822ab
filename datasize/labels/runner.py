"""`find_label_issues`: check every label with K-fold out-of-fold predictions and confident learning.

The dataset is cut into K stratified, seeded, duplicate-aware folds (`plan`); fold k's model trains on
the other folds with the training engine (`fit_one_cycle`, one fixed learning rate) and predicts the
probabilities of fold k's images (`fold_run`). Each finished fold is written atomically to the run
folder at once (`folder`): running the same check again trains only the folds still missing, and a
changed configuration is refused rather than mixed in. Folds run in this process, in local worker
processes or on a Dask cluster, as a learning curve's runs do (`datasize.curves.executors`). cleanlab
then reads the out-of-fold probabilities (`issues`). Nothing in the dataset is moved or relabelled.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from datasize.curves.executors import execute
from datasize.curves.run import shippable
from datasize.dataset.checks import CheckConfig, with_duplicate_groups
from datasize.io import usable_cores
from datasize.labels.fold_run import FoldTask, run_fold
from datasize.labels.folder import LabelsFolder, labels_identity, out_of_fold
from datasize.labels.issues import FOLD_COLUMNS, LabelIssues, confident_learning, issues_from
from datasize.labels.plan import (
    FoldSpec,
    LabelsConfig,
    assign_folds,
    check_classes,
    check_every_fold_learns_every_class,
)
from datasize.training.batches import TrainData
from datasize.training.preparation import Prepared

OnFold = Callable[[int, int, dict[str, Any]], None]  # (done, total, record)


def find_label_issues(
    prepared: Prepared,
    *,
    config: LabelsConfig | None = None,
    lr: float,
    folder: str | os.PathLike,
    jobs: int = 1,
    threads: int | None = None,
    scheduler: Any = None,
    lr_source: str = "given",
    on_fold: OnFold | None = None,
    epochs: int | None = None,
) -> LabelIssues:
    """Train (or resume) every fold, then flag the images whose given label is likely wrong.

    Args:
        prepared: from `prepare`. Every readable image is checked, whichever side of the split it is
            on; unreadable ones are listed in the result's `skipped`.
        config: folds, training settings (model, epochs of each fold's training set, seed).
        lr: the fixed max LR of every fold (the LR finder's on the split's training set, or the user's).
        folder: the run folder; folds finished there are kept.
        jobs: local worker processes (1: in this process); threads per worker share the cores.
        threads: torch threads of each fold instead.
        scheduler: a Dask scheduler address or `distributed.Client`: folds are submitted there.
        lr_source: where `lr` came from, for the record ("given", "lr_find").
        on_fold: called after each fold with (done, total, record).
        epochs: with `config.auto_epochs`, the training length the pilot chose (`run_labels` runs it);
            the folder's configuration records the settings (`auto_epochs`, `max_epochs`), not the
            choice, which the same settings reproduce.

    Returns:
        `LabelIssues`; its files are in `folder` (label_issues.csv, labels_summary.json...).

    Example:
        >>> prepared = datasize.prepare("data/sample/digits")  # doctest: +SKIP
        >>> found = datasize.find_label_issues(prepared, lr=3e-3, folder="runs/labels")  # doctest: +SKIP
        >>> print(found.verdict()); found.issues.head()  # doctest: +SKIP
    """
    config = config or LabelsConfig()
    if jobs < 1:
        raise ValueError(f"jobs={jobs} must be at least 1")
    if threads is not None and threads < 1:
        raise ValueError(f"threads={threads} must be at least 1")
    if not lr > 0:
        raise ValueError(f"lr={lr!r} must be a positive number")
    if config.auto_epochs and epochs is None:
        raise ValueError("config.auto_epochs needs the pilot's choice: use run_labels, or pass epochs=")
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        raise ValueError(f"epochs={epochs!r} must be a whole number of at least 1")
    cache = prepared.cache
    check_classes(np.array(cache.labels, dtype=object), config.folds)
    fold = _folds(prepared, config)
    labels_folder = LabelsFolder(folder)
    # The LR as used: the same given LR is one configuration whether it came in the config (the CLI's
    # --lr) or as the argument (the API's); the LR finder's is recorded as found (None), as before.
    labels_folder.open(labels_identity(prepared, replace(config, lr=lr if lr_source == "given" else None)))
    data = _all_images(prepared)
    specs = [FoldSpec(k, config.folds) for k in range(config.folds)]
    finished = labels_folder.finished_folds()
    records = {s.name: finished[s.name] for s in specs if s.name in finished}
    resumed = len(records)
    if on_fold:
        on_fold(resumed, len(specs), {})
    labels_folder.prepare_folds()
    train_config = replace(config.train, lr=lr, epochs=epochs or config.train.epochs)
    todo = [s for s in specs if s.name not in records]
    tasks = _tasks(data, fold, todo, train_config, jobs if scheduler is None else None, threads)
    failed = []
    for spec, record in execute(tasks, jobs=jobs, scheduler=scheduler, work=run_fold):
        labels_folder.write_fold(spec.name, record)
        if record.get("status") == "ok":
            records[spec.name] = record
        else:
            failed.append((spec, record))
        if on_fold:
            on_fold(len(records) + len(failed), len(specs), record)
    if failed:
        spec, record = min(failed, key=lambda f: f[0].fold)
        raise ValueError(
            f"fold {spec.fold + 1} of {spec.folds} {record.get('status')}: {record.get('message')}; the "
            f"finished folds are saved in {labels_folder.path}: fix the cause (a diverging fold needs a "
            "lower --lr) and run the same command again"
        )
    ordered = [records[s.name] for s in specs]
    trained = replace(config, train=replace(config.train, epochs=train_config.epochs))  # as trained
    result = _result(prepared, trained, data, fold, ordered, lr=lr, lr_source=lr_source)
    result = replace(result, folder=labels_folder.path, resumed=resumed)
    labels_folder.write_result(result.scores, result.issues, result.to_dict())
    return result


def _folds(prepared: Prepared, config: LabelsConfig) -> np.ndarray:
    """The fold of every cache row: duplicate groups and the manifest's groups kept whole."""
    cache = prepared.cache
    readable = prepared.manifest[prepared.manifest["error"] == ""]
    grouped = with_duplicate_groups(readable, CheckConfig(near_radius=config.near_radius)).set_index("path")
    paths = list(cache.paths)
    copies = grouped["near_group"].reindex(paths).fillna("").astype(str)
    groups = grouped["group"].reindex(paths).fillna("").astype(str) if "group" in grouped.columns else None
    labels = np.array(cache.labels, dtype=object)
    fold = assign_folds(
        paths, labels, folds=config.folds, seed=config.train.seed, copies=copies, groups=groups
    )
    check_every_fold_learns_every_class(labels, fold)
    return fold


def _all_images(prepared: Prepared) -> TrainData:
    """Every decoded image with its class among all the dataset's labels (not only the split's training
    side): each fold's model predicts the same classes, in the same order."""
    cache = prepared.cache
    classes = tuple(sorted(set(cache.labels)))
    index = {c: k for k, c in enumerate(classes)}
    targets = np.array([index[label] for label in cache.labels], dtype=np.int64)
    rows = np.arange(len(cache.paths))
    return TrainData(cache=cache, train=rows, valid=rows[:0], classes=classes, targets=targets)


def _tasks(
    data: TrainData,
    fold: np.ndarray,
    specs: list[FoldSpec],
    config: Any,
    jobs: int | None,
    threads: int | None,
) -> list[FoldTask]:
    shipped, path = shippable(data) if (jobs or 2) > 1 else (data, None)
    if threads is None and jobs and jobs > 1:
        threads = max(1, usable_cores() // jobs)
    rows = np.arange(len(fold))
    return [
        FoldTask(s, rows[fold != s.fold], rows[fold == s.fold], shipped, path, config, threads) for s in specs
    ]


def _result(
    prepared: Prepared,
    config: LabelsConfig,
    data: TrainData,
    fold: np.ndarray,
    records: list[dict[str, Any]],
    *,
    lr: float,
    lr_source: str,
) -> LabelIssues:
    cache = prepared.cache
    probabilities = out_of_fold(records, cache.paths, data.n_classes)
    found = confident_learning(data.targets, probabilities)
    scores, issues, per_class, joint, noise_rate = issues_from(
        found, paths=cache.paths, given=data.targets, fold=fold, classes=data.classes
    )
    manifest = prepared.manifest
    unreadable = manifest[manifest["error"] != ""]
    skipped = pd.DataFrame(
        {"path": unreadable["path"].astype(str), "reason": unreadable["error"].astype(str)},
        columns=["path", "reason"],
    ).reset_index(drop=True)
    fold_runs = pd.DataFrame(
        [{c: r.get(c) for c in FOLD_COLUMNS} | {"fold": r["fold"] + 1} for r in records], columns=FOLD_COLUMNS
    )
    return LabelIssues(
        classes=data.classes,
        noise_rate=noise_rate,
        issues=issues,
        per_class=per_class,
        joint=joint,
        scores=scores,
        fold_runs=fold_runs,
        skipped=skipped,
        config=config,
        lr=lr,
        lr_source=lr_source,
        data=prepared.summary(),
    )
