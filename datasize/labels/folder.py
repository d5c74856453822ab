"""The run folder of a labels check: the one module that names its files, writes them and reads them.

    labels.json             what the folder holds (data, split, decoding, folds, training): resumes check it
    label_folds/<name>.json one record per finished fold, with its held-out images' probabilities,
                            written the moment the fold finishes (`fold-2-of-5.json`)
    label_scores.csv        every checked image: path, given, suggested, self_confidence, fold, issue
    label_issues.csv        the suspected label errors, most likely first (ISSUE_COLUMNS)
    labels_summary.json     the result: noise rates, noise matrix, issues, per class; what the report reads
    labels_lr_find/         the LR finder's files, when the learning rate was 'auto'
    labels_epochs/pilot/    the pilot's runs and choice, when the epochs were 'auto' (a curve folder's
                            pilot/ layout, `datasize.curves.folder.RunFolder`)
    cache/                  the decoded images (shared with a learning curve in the same folder)

A learning curve may live in the same folder (`datasize.curves.folder`): no name is shared but
`cache/`, whose files are named after their content. The out-of-fold probabilities are assembled here
from the fold records, so a fresh and a resumed check read the very same numbers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from datasize.curves.folder import open_identity, read_json
from datasize.io import remove_stale_temporaries, write_csv_atomic, write_json
from datasize.labels.plan import FORMAT, LabelsConfig
from datasize.training.backbones import weights_identity
from datasize.training.preparation import Prepared

SCORE_COLUMNS = ["path", "given", "suggested", "self_confidence", "fold", "issue"]
ISSUE_COLUMNS = ["rank", "path", "given", "suggested", "self_confidence"]


@dataclass(frozen=True)
class LabelsFolder:
    """A labels check's run folder (see the module docstring for its files)."""

    path: Path  # a str or PathLike is taken too

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def config_file(self) -> Path:
        return self.path / "labels.json"

    @property
    def folds_dir(self) -> Path:
        return self.path / "label_folds"

    @property
    def scores_csv(self) -> Path:
        return self.path / "label_scores.csv"

    @property
    def issues_csv(self) -> Path:
        return self.path / "label_issues.csv"

    @property
    def summary_file(self) -> Path:
        return self.path / "labels_summary.json"

    @property
    def lr_dir(self) -> Path:
        return self.path / "labels_lr_find"

    @property
    def epochs_dir(self) -> Path:
        """With --epochs auto: the pilot's runs and choice (as a curve folder holds them, in pilot/)."""
        return self.path / "labels_epochs"

    @property
    def cache_dir(self) -> Path:
        return self.path / "cache"

    def open(self, identity: dict[str, Any]) -> None:
        """Create the folder, or check that it holds this same check; ValueError naming what changed."""
        open_identity(self.config_file, identity, what="a labels check")

    # --- fold records ---------------------------------------------------------------------------

    def prepare_folds(self) -> None:
        """The folds folder exists, and what writers killed mid-write left behind is gone."""
        self.folds_dir.mkdir(parents=True, exist_ok=True)
        for place in (self.path, self.folds_dir):
            remove_stale_temporaries(place)

    def write_fold(self, name: str, record: dict[str, Any]) -> None:
        write_json(self.folds_dir / f"{name}.json", record)

    def finished_folds(self) -> dict[str, dict[str, Any]]:
        """The folds whose probabilities are saved, by name; unreadable and failed ones are left out
        (they are trained again)."""
        finished = {}
        for path in sorted(self.folds_dir.glob("*.json")):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                continue
            if isinstance(record, dict) and record.get("status") == "ok" and record.get("probabilities"):
                finished[path.stem] = record
        return finished

    # --- the result -----------------------------------------------------------------------------

    def write_result(self, scores: pd.DataFrame, issues: pd.DataFrame, summary: dict[str, Any]) -> None:
        write_csv_atomic(self.scores_csv, scores[SCORE_COLUMNS])
        write_csv_atomic(self.issues_csv, issues[ISSUE_COLUMNS])
        write_json(self.summary_file, summary)

    def read_summary(self) -> dict[str, Any] | None:
        """labels_summary.json, or None when the folder holds no finished labels check."""
        try:
            summary = read_json(self.summary_file)
        except (OSError, json.JSONDecodeError):
            return None
        return summary if isinstance(summary, dict) else None


def labels_identity(prepared: Prepared, config: LabelsConfig) -> dict[str, Any]:
    """What must match for a labels folder to be resumed: data, split, decoding, folds and training."""
    return {
        "format": FORMAT,
        "images": prepared.cache.key,
        "split_fingerprint": prepared.split.fingerprint,
        "labels": config.to_dict(),
        **weights_identity(config.train.backbone),
    }


def out_of_fold(records: list[dict[str, Any]], paths: tuple[str, ...], n_classes: int) -> np.ndarray:
    """The (images, classes) probabilities of `paths`, each from the fold that held it out.

    ValueError when an image has no fold's prediction, or a record's shape does not fit.
    """
    row = {p: i for i, p in enumerate(paths)}
    probabilities = np.full((len(paths), n_classes), np.nan)
    for record in records:
        values = np.asarray(record["probabilities"], dtype=float)
        if values.shape != (len(record["paths"]), n_classes):
            raise ValueError(f"fold record {record.get('fold')} holds probabilities of shape {values.shape}")
        probabilities[[row[p] for p in record["paths"]]] = values
    missing = np.flatnonzero(np.isnan(probabilities).any(axis=1))
    if len(missing):
        raise ValueError(f"{len(missing)} images have no out-of-fold prediction, e.g. {paths[missing[0]]!r}")
    return probabilities
