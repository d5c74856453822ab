"""Diagnose one training run in plain words: learning rate too high or too low, too few epochs, overfitting.

`diagnose` reads the per-epoch table of a run. It can also take the raw loss of each training step and
the LR finder's suggestion. It returns a Diagnosis: every problem that applies, most important first.
Each problem comes with a message a dataset curator can act on, the numbers behind it and what to try.
The rules themselves, and the thresholds with the reason for each value, are in `symptoms`.

Computation only; nothing here prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from numpy.typing import ArrayLike

from datasize.io import jsonable
from datasize.noise import error_noise
from datasize.training.lr_curve import LRSuggestion
from datasize.training.run_reading import EPOCH_COLUMNS, DiagnosisConfig, read_run
from datasize.training.symptoms import (
    Symptom,
    all_clear,
    at_chance,
    importance,
    lr_too_high,
    memorised_gap,
    overfitting,
    still_improving,
    undertrained,
)
from datasize.vocab import DiagnosisKind, OverfitType

__all__ = [
    "EPOCH_COLUMNS",
    "Diagnosis",
    "DiagnosisConfig",
    "DiagnosisItem",
    "DiagnosisKind",
    "OverfitType",
    "diagnose",
    "error_noise",
]


@dataclass(frozen=True)
class DiagnosisItem:
    """One problem found (or the all-clear), in words and numbers."""

    kind: DiagnosisKind
    message: str  # plain words for a dataset curator: what happened, the numbers, what to try
    evidence: dict[str, Any] = field(default_factory=dict)  # the numbers behind it; JSON-ready
    advice: str = ""  # what to try, also the last sentence of the message

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable fields."""
        return {
            "kind": str(self.kind),
            "message": self.message,
            "evidence": dict(self.evidence),
            "advice": self.advice,
        }


@dataclass(frozen=True)
class Diagnosis:
    """The diagnosis of one training run: all that applies, most important first."""

    kinds: tuple[DiagnosisKind, ...]  # (ok,) when nothing is wrong
    items: tuple[DiagnosisItem, ...]  # one per kind, in the same order
    overfit_onset_epoch: int | None = None  # first epoch after the best validation loss, when overfitting
    overfit_type: OverfitType | None = None  # overconfident or memorising, when overfitting
    noise: float = 0.0  # SE of the validation error rate: changes within 2 of these are noise

    @property
    def primary(self) -> DiagnosisKind:
        """The most important finding."""
        return self.kinds[0]

    def summary(self) -> str:
        """One line: the kinds found, then the most important message."""
        return f"{', '.join(self.kinds)}: {self.items[0].message}"

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable fields."""
        return {
            "kinds": [str(kind) for kind in self.kinds],
            "primary": str(self.primary),
            "overfit_onset_epoch": self.overfit_onset_epoch,
            "overfit_type": None if self.overfit_type is None else str(self.overfit_type),
            "noise": self.noise,
            "items": [item.to_dict() for item in self.items],
        }


def diagnose(
    epochs: pd.DataFrame,
    *,
    n_valid: int,
    n_classes: int,
    lr: float,
    batch_losses: ArrayLike | None = None,
    lr_suggestion: LRSuggestion | None = None,
    train_error: float | None = None,
    config: DiagnosisConfig | None = None,
) -> Diagnosis:
    """Diagnose one training run: learning rate too high or too low, too few epochs, overfitting.

    Args:
        epochs: one row per epoch, columns epoch (1-based), train_loss (mean over the epoch's steps),
            valid_loss and error_rate (on the validation set at the end of the epoch); others ignored.
            Losses may be NaN or inf; error rates must be in [0, 1].
        n_valid: number of validation images; sets the noise floor of the error rate.
        n_classes: number of classes C; ln C is the loss of a uniform guess, 1 - 1/C its error.
        lr: the (peak) learning rate of the run.
        batch_losses: the raw training loss of every optimiser step, in order, unsmoothed; NaN or
            inf where training blew up. None when not recorded.
        lr_suggestion: the LR finder's result, used to tell "lr too low" from "too few epochs" and to
            say how close the lr was to where the finder's loss blew up.
        train_error: error rate on the training images, measured in eval mode after training; only
            quoted as evidence of overfitting.
        config: the thresholds (default: `DiagnosisConfig()`).

    Returns:
        a Diagnosis. When the learning rate was too high the run is broken and nothing else is judged.
    """
    run = read_run(
        epochs,
        n_valid=n_valid,
        n_classes=n_classes,
        lr=lr,
        batch_losses=batch_losses,
        lr_suggestion=lr_suggestion,
        train_error=train_error,
        config=config or DiagnosisConfig(),
    )
    high = lr_too_high(run)
    if high is not None:
        return Diagnosis(kinds=(high.kind,), items=(_item(high),), noise=run.noise)
    findings: dict[DiagnosisKind, Symptom] = {}
    guessing = at_chance(run)
    if guessing is not None and guessing.evidence["worse"]:  # systematically wrong, whatever else is found
        findings[guessing.kind] = guessing
    overfit = overfitting(run) or memorised_gap(run)
    if overfit is not None:
        findings[DiagnosisKind.OVERFITTING] = overfit
    under = undertrained(run)
    # At zero (the last error within the noise margin of zero: one or two validation images) longer
    # training cannot show a gain, so "too few epochs" would only double the training for nothing.
    at_zero = run.error[-1] <= run.margin
    if under is not None and not (at_zero and under.kind is DiagnosisKind.TOO_FEW_EPOCHS):
        findings[under.kind] = under
    # An lr too low explains a slow fall by itself; and with one epoch, both rules read the same step
    # losses, so a second finding would repeat the first.
    repeats = under is not None and (under.kind is DiagnosisKind.LR_TOO_LOW or run.n_epochs == 1)
    late = None if repeats or at_zero else still_improving(run)
    if late is not None:
        earlier = findings.get(late.kind)
        findings[late.kind] = late if earlier is None else earlier.merged(late)
    items = [_item(symptom) for symptom in sorted(findings.values(), key=importance)]
    if not items:
        # At chance with nothing to explain it (an lr too low, too few epochs): no all-clear.
        items = [_item(guessing or all_clear(run))]
    return Diagnosis(
        kinds=tuple(item.kind for item in items),
        items=tuple(items),
        overfit_onset_epoch=None if overfit is None else overfit.evidence["onset_epoch"],
        overfit_type=None if overfit is None else OverfitType(overfit.evidence["overfit_type"]),
        noise=run.noise,
    )


def _item(symptom: Symptom) -> DiagnosisItem:
    """A symptom in words: its title, its signs, then the advice."""
    message = f"{symptom.kind.title}: {'; '.join(symptom.signs)}."
    if symptom.advice:
        message = f"{message} {symptom.advice}"
    return DiagnosisItem(
        kind=symptom.kind, message=message, evidence=jsonable(symptom.evidence), advice=symptom.advice
    )
