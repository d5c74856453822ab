"""Confident learning over out-of-fold probabilities (cleanlab), and the `LabelIssues` it gives.

cleanlab does the work (Northcutt, Jiang & Chuang, JAIR 2021): `cleanlab.count.estimate_joint`
estimates the joint distribution of given and true labels from the probabilities (per-class
thresholds, calibrated to the label counts), hence the noise rate of each class; and
`cleanlab.filter.find_label_issues` flags the images whose given label is likely wrong (pruning each
off-diagonal cell of the confident joint by its estimated count), ranked by self-confidence, the
probability the model gives to the given label. The suggested label is the out-of-fold prediction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from datasize.io import jsonable
from datasize.labels.folder import ISSUE_COLUMNS, SCORE_COLUMNS
from datasize.labels.plan import LabelsConfig
from datasize.text import pct

PER_CLASS_COLUMNS = ["label", "images", "issues", "noise_rate", "confused_with"]
FOLD_COLUMNS = ["fold", "n_train", "n_valid", "error_rate", "diagnosis", "seconds"]
# Below this agreement between the folds' predictions and the given labels the model is too weak to
# tell a wrong label from a hard image (cleanlab's maintainers ask for ~60% accuracy on clean labels).
MIN_AGREEMENT = 0.6


@dataclass(frozen=True)
class Confident:
    """What confident learning found, by row of the probabilities it was given."""

    ranked: np.ndarray  # rows whose given label is likely wrong, most likely first
    joint: np.ndarray  # (classes, classes): estimated share of images with given label i and true label j
    suggested: np.ndarray  # the out-of-fold prediction of every row
    self_confidence: np.ndarray  # the probability of the given label, every row


def confident_learning(given: np.ndarray, probabilities: np.ndarray) -> Confident:
    """Flag and rank likely label errors and estimate the joint of given and true labels (cleanlab).

    Args:
        given: the given label of each image, as integer codes 0..K-1 (every class present).
        probabilities: (images, K) out-of-sample predicted probabilities (K-fold).
    """
    from cleanlab.count import estimate_joint
    from cleanlab.filter import find_label_issues

    given = np.asarray(given, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=float)
    ranked = find_label_issues(
        given, probabilities, return_indices_ranked_by="self_confidence", n_jobs=1, verbose=False
    )
    joint = estimate_joint(given, probabilities)
    return Confident(
        ranked=np.asarray(ranked, dtype=np.int64),
        joint=np.asarray(joint, dtype=float),
        suggested=probabilities.argmax(axis=1),
        self_confidence=probabilities[np.arange(len(given)), given],
    )


@dataclass(frozen=True)
class LabelIssues:
    """Every label of a dataset checked: the suspected errors, ranked, and the estimated noise.

    `verdict()` says it in words; `to_dict()` is the JSON `datasize labels --json` prints and
    labels_summary.json holds.
    """

    classes: tuple[str, ...]
    noise_rate: float  # estimated share of wrong labels: 1 - the trace of `joint`
    issues: pd.DataFrame  # ISSUE_COLUMNS: the flagged images, most likely wrong first
    per_class: pd.DataFrame  # PER_CLASS_COLUMNS: per given label, its estimated share of wrong labels
    joint: pd.DataFrame  # given label (rows) x true label (columns): estimated share of all images
    scores: pd.DataFrame = field(repr=False)  # SCORE_COLUMNS: every checked image, by path
    fold_runs: pd.DataFrame = field(repr=False)  # FOLD_COLUMNS: how each fold's model did
    skipped: pd.DataFrame = field(repr=False)  # path, reason: images that could not be checked
    config: LabelsConfig = field(repr=False, default_factory=LabelsConfig)
    lr: float = 0.0  # the max learning rate every fold trained with
    lr_source: str = "given"  # "given", "lr_find" or "lr_find (resumed)"
    data: dict[str, Any] = field(repr=False, default_factory=dict)  # root, fingerprints, split...
    folder: Path | None = None
    resumed: int = 0  # folds found finished in the folder and not trained again

    @property
    def images(self) -> int:
        return len(self.scores)

    @property
    def agreement(self) -> float:
        """Share of images whose out-of-fold prediction is their given label."""
        return float((self.scores["suggested"] == self.scores["given"]).mean()) if self.images else 0.0

    def verdict(self) -> str:
        """Plain sentences: the estimated share of wrong labels, how many are flagged, where."""
        flagged = len(self.issues)
        estimated = round(self.noise_rate * self.images)
        head = (
            f"An estimated {pct(self.noise_rate)} of the {self.images:,} labels are wrong (about "
            f"{estimated:,} images); {flagged:,} image{'s are' if flagged != 1 else ' is'} flagged, "
            "most likely first."
        )
        if not flagged:
            head = (
                f"No label looks wrong: no image's out-of-fold prediction confidently contradicts its "
                f"label (estimated share of wrong labels {pct(self.noise_rate)}, {self.images:,} images)."
            )
        sentences = [head]
        worst = self.per_class[self.per_class["noise_rate"] > 0].sort_values(
            ["noise_rate", "label"], ascending=[False, True], kind="stable"
        )
        if flagged and len(worst):
            parts = [
                f"'{r.label}' ({pct(r.noise_rate)}"
                + (f", often really '{r.confused_with}')" if r.confused_with else ")")
                for r in worst.head(3).itertuples()
            ]
            sentences.append(f"Most affected: {', '.join(parts)}.")
        if self.agreement < MIN_AGREEMENT:
            sentences.append(
                f"Caution: the folds' models agree with only {pct(self.agreement)} of the given labels, too "
                "weak to tell a wrong label from a hard image; train longer (--epochs) or use a stronger "
                "--model."
            )
        return " ".join(sentences)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: images, folds, noise_rate, issues, per_class, then the rest of the record."""
        return jsonable(
            {
                "images": self.images,
                "folds": self.config.folds,
                "noise_rate": self.noise_rate,
                "issues": self.issues[["path", "given", "suggested", "self_confidence", "rank"]].to_dict(
                    "records"
                ),
                "per_class": self.per_class.to_dict("records"),
                "verdict": self.verdict(),
                "classes": list(self.classes),
                "joint": self.joint.to_numpy().tolist(),
                "agreement": self.agreement,
                "skipped": self.skipped.to_dict("records"),
                "fold_runs": self.fold_runs.to_dict("records"),
                "lr": self.lr,
                "lr_source": self.lr_source,
                "config": self.config.to_dict(),
                "data": self.data,
                "folder": None if self.folder is None else str(self.folder),
            }
        )


def issues_from(
    found: Confident, *, paths: tuple[str, ...], given: np.ndarray, fold: np.ndarray, classes: tuple[str, ...]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, float]:
    """A `LabelIssues`' tables from what cleanlab found: scores, issues, per_class, joint, noise rate."""
    names = np.array(classes, dtype=object)
    flagged = np.zeros(len(paths), dtype=bool)
    flagged[found.ranked] = True
    scores = pd.DataFrame(
        {
            "path": list(paths),
            "given": names[given],
            "suggested": names[found.suggested],
            "self_confidence": found.self_confidence,
            "fold": fold + 1,
            "issue": flagged,
        },
        columns=SCORE_COLUMNS,
    )
    issues = scores.iloc[found.ranked][["path", "given", "suggested", "self_confidence"]].reset_index(
        drop=True
    )
    issues.insert(0, "rank", np.arange(1, len(issues) + 1))
    joint = pd.DataFrame(found.joint, index=list(classes), columns=list(classes))
    per_class = per_class_noise(found.joint, classes, given=given, flagged=flagged)
    noise_rate = float(np.clip(1.0 - np.trace(found.joint), 0.0, 1.0))
    return scores, issues[ISSUE_COLUMNS], per_class, joint, noise_rate


def per_class_noise(
    joint: np.ndarray, classes: tuple[str, ...], *, given: np.ndarray, flagged: np.ndarray
) -> pd.DataFrame:
    """Per given label: its images, those flagged, the estimated share of them whose true label
    differs, and the class its wrong labels most often really are ("" when none).

    >>> joint = np.array([[0.45, 0.05], [0.0, 0.5]])
    >>> table = per_class_noise(joint, ("a", "b"), given=np.array([0, 0, 1]), flagged=np.array([1, 0, 0]) > 0)
    >>> table.to_dict("list")  # doctest: +NORMALIZE_WHITESPACE
    {'label': ['a', 'b'], 'images': [2, 1], 'issues': [1, 0], 'noise_rate': [0.1, 0.0],
     'confused_with': ['b', '']}
    """
    rows = []
    for i, label in enumerate(classes):
        row = joint[i]
        off = row.copy()
        off[i] = 0.0
        rows.append(
            {
                "label": label,
                "images": int((given == i).sum()),
                "issues": int(flagged[given == i].sum()),
                "noise_rate": float(off.sum() / row.sum()) if row.sum() > 0 else 0.0,
                "confused_with": classes[int(off.argmax())] if off.max() > 0 else "",
            }
        )
    return pd.DataFrame(rows, columns=PER_CLASS_COLUMNS)


def relabelled(manifest: pd.DataFrame, issues: pd.DataFrame) -> pd.DataFrame:
    """A labels CSV table for `--labels`: every image of the manifest, the flagged ones with their
    suggested label; `given` keeps the label each had. A group or given split is kept as a column."""
    suggested = dict(zip(issues["path"], issues["suggested"], strict=True))
    table = pd.DataFrame(
        {
            "path": manifest["path"].astype(str),
            "label": [
                suggested.get(p, label) for p, label in zip(manifest["path"], manifest["label"], strict=True)
            ],
            "given": manifest["label"].astype(str),
        }
    )
    for column in ("group", "split"):
        if column in manifest.columns and (manifest[column].astype(str) != "").any():
            table[column] = manifest[column].astype(str).to_numpy()
    return table.sort_values("path", kind="stable").reset_index(drop=True)
