"""Diagnose one training run in plain words: learning rate too high or too low, too few epochs, overfitting.

`diagnose` reads the per-epoch table of a run. It can also take the raw loss of each training step and
the LR finder's suggestion. It returns a Diagnosis: every problem that applies, most important first.
Each problem comes with a message a dataset curator can act on, the numbers behind it and what to try.

The rules follow shared/research/training.md §4.4-4.7. Every threshold is a field of DiagnosisConfig,
with the reason for its value. Three ideas run through them:
- thresholds are relative (to a loss's own earlier values, or to ln C, the loss of a uniform guess
  among C classes), because losses differ in scale from one dataset to the next;
- a change must persist: overfitting needs 2 epochs of worse validation loss, not one bad epoch;
- a noise floor from the validation size. On n images an error rate p wobbles by about
  SE = sqrt(p (1 - p) / n), so a change in the validation error counts only beyond 2 SE.

One-cycle training anneals the learning rate towards zero in its last part. Losses keep falling
somewhat then even in a run that has learnt all it can, and stop falling even in one cut far short.
So the too-few-epochs rule asks for a large last-epoch gain, not just any gain; and for a single
epoch it reads the step losses before the anneal, not at the very end.

Computation only; nothing here prints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from datasize.training.lr_finder import LRSuggestion, divergence_index, format_lr, smooth_losses

EPOCH_COLUMNS = ("epoch", "train_loss", "valid_loss", "error_rate")  # `accuracy` and `time` are not read


class DiagnosisKind(StrEnum):
    """What a run's diagnosis can find, in order of importance (overconfident overfitting aside: it
    only hurts the loss, so it comes after too few epochs)."""

    LR_TOO_HIGH = "lr_too_high"
    LR_TOO_LOW = "lr_too_low"
    OVERFITTING = "overfitting"
    TOO_FEW_EPOCHS = "too_few_epochs"
    OK = "ok"

    @property
    def title(self) -> str:
        return _TITLES[self]


_TITLES = {
    DiagnosisKind.LR_TOO_HIGH: "Learning rate too high",
    DiagnosisKind.LR_TOO_LOW: "Learning rate too low",
    DiagnosisKind.OVERFITTING: "Overfitting",
    DiagnosisKind.TOO_FEW_EPOCHS: "Too few epochs",
    DiagnosisKind.OK: "Training looks healthy",
}


class OverfitType(StrEnum):
    """How a run overfits (fastbook ch. 5: the loss worsens first, the error later)."""

    OVERCONFIDENT = "overconfident"  # only the validation loss rose; the error stayed within noise
    MEMORISING = "memorising"  # the validation error rose beyond noise as well


@dataclass(frozen=True)
class DiagnosisConfig:
    """The thresholds of the diagnosis rules; each comment says why it has its value."""

    noise_sigmas: float = 2.0  # a change in validation error counts beyond this many SE: ~95% two-sided
    divergence_factor: float = 4.0  # smoothed step loss above 4x its running minimum: fastai's stop rule
    divergence_floor: float = 0.5  # ... and above this x ln C too: rises near zero loss are noise, not
    #   divergence (a tiny training set is fitted to ~0, where one wrong image multiplies the loss)
    smoothing_beta: float = 0.98  # EMA weight for the step losses, as the LR finder uses
    blowup_first: float = 1.5  # validation loss ending above this x its first value ...
    blowup_chance: float = 1.2  # ... and above this x ln C: worse than the untrained start and than guessing
    above_chance: float = 1.5  # a training loss above this x ln C: confidently wrong, the weights blew up
    barely_moved: float = 0.2  # training loss falling less than this fraction from start to end
    high_loss: float = 0.5  # a final training loss above this x ln C is far from fitting the data
    still_falling: float = 0.05  # the epoch training loss fell more than this fraction in the last
    #   epoch: still learning (a converged 8-epoch digits run: 3%; one cut short at 4 epochs: 7%)
    far_below_decades: float = 1.0  # an lr this many decades below the finder's valley is too low
    near_divergence_decades: float = 0.5  # an lr this close to where the finder's loss blew up is too high
    late_gain: float = 0.25  # the last epoch cut the error by more than this fraction of its previous
    #   value: more than one-cycle's annealing alone gives a converged run (our estimate: 10-20%; the
    #   healthy run 0.30 0.08 0.03 0.025 gains 17%, the short run 0.6 0.4 0.25 0.15 gains 40%)
    trend_from: float = 0.4  # single epoch: the trend of the step losses is read from 40% to 70% of the
    trend_to: float = 0.7  # steps, where one-cycle's lr is still 90% to 35% of its peak; later, the
    #   anneal flattens the loss whatever the state of training, so the very end says little
    trend_share: float = 0.15  # ... more than this share of the loss's whole fall up to trend_to came
    #   inside that window: still learning fast when the anneal began. A share, not a relative fall, so
    #   a converged run creeping from 0.14 to 0.10 does not count (its share: ~2%; single-epoch digits
    #   runs from scratch, all improved by a second epoch: 19-49%)
    min_steps: int = 10  # fewer step losses than this are too few to fit a trend to; at least 2
    train_over_valid: float = 1.5  # single epoch without step losses: the mean training loss this many
    #   times the final validation loss means the loss was still dropping steeply (weak evidence)
    overfit_rise: float = 0.10  # validation loss more than 10% above its best (Prechelt's GL > 10) ...
    overfit_patience: int = 2  # ... for at least this many epochs at the end of the run (his UP2)
    gap_ratio: float = 10.0  # memorised without a rising validation loss: the final validation loss at
    #   least 10x the training loss, the training set fitted (loss under gap_fit x ln C, error near 0)
    #   and the validation error beyond noise above it. Weight decay, augmentation and the annealed
    #   one-cycle end keep the validation loss of a tiny subset from rising, so the gap is the sign.
    gap_fit: float = 0.05
    gap_onset: float = 3.0  # the gap "opens" at the first epoch from which valid/train loss stays >= 3

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name}={value!r} must be a positive number")
        if self.min_steps < 2:
            raise ValueError(f"min_steps={self.min_steps} must be 2 or more: a trend needs two points")
        if self.overfit_patience < 1:
            raise ValueError(f"overfit_patience={self.overfit_patience} must be 1 or more")
        if self.trend_from >= self.trend_to:
            raise ValueError(f"trend_from={self.trend_from} must be less than trend_to={self.trend_to}")
        if self.divergence_factor <= 1:
            raise ValueError(f"divergence_factor={self.divergence_factor} must be greater than 1")
        for name in (
            "smoothing_beta",
            "trend_from",
            "barely_moved",
            "still_falling",
            "late_gain",
            "trend_share",
        ):
            if getattr(self, name) >= 1:
                raise ValueError(f"{name}={getattr(self, name)} must be less than 1")
        if self.trend_to > 1:
            raise ValueError(f"trend_to={self.trend_to} must be at most 1")


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


def error_noise(error_rate: float, n_valid: int) -> float:
    """Standard error of an error rate measured on n_valid images: sqrt(p (1 - p) / n_valid).

    p is kept within [1/n_valid, 1 - 1/n_valid], so that a perfect (or perfectly wrong) score on a
    small validation set still carries the uncertainty of one image.

    Example:
        >>> round(error_noise(0.1, 100), 3)
        0.03
    """
    if isinstance(n_valid, bool) or not isinstance(n_valid, int | np.integer) or n_valid < 2:
        raise ValueError(f"n_valid={n_valid!r} must be an integer of at least 2")
    if not 0 <= error_rate <= 1:
        raise ValueError(f"error_rate={error_rate!r} must be between 0 and 1")
    p = min(max(error_rate, 1 / n_valid), 1 - 1 / n_valid)
    return math.sqrt(p * (1 - p) / n_valid)


def diagnose(
    epochs: pd.DataFrame,
    *,
    n_valid: int,
    n_classes: int,
    lr: float,
    batch_losses: ArrayLike | None = None,
    lr_suggestion: LRSuggestion | None = None,
    train_error: float | None = None,
    config: DiagnosisConfig = DiagnosisConfig(),  # frozen, so one shared default is safe
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
        config: the thresholds.

    Returns:
        a Diagnosis. When the learning rate was too high the run is broken and nothing else is judged.
    """
    run = _read_run(
        epochs,
        n_valid=n_valid,
        n_classes=n_classes,
        lr=lr,
        batch_losses=batch_losses,
        lr_suggestion=lr_suggestion,
        train_error=train_error,
        config=config,
    )
    high = _lr_too_high(run)
    if high is not None:
        return Diagnosis(kinds=(high.kind,), items=(high.item(),), noise=run.noise)
    findings: dict[DiagnosisKind, _Finding] = {}
    overfit = _overfitting(run) or _memorised_gap(run)
    if overfit is not None:
        findings[DiagnosisKind.OVERFITTING] = overfit
    under = _undertrained(run)
    if under is not None:
        findings[under.kind] = under
    # An lr too low explains a slow fall by itself; and with one epoch, both rules read the same step
    # losses, so a second finding would repeat the first.
    repeats = under is not None and (under.kind is DiagnosisKind.LR_TOO_LOW or run.n_epochs == 1)
    late = None if repeats else _still_improving(run)
    if late is not None:
        earlier = findings.get(late.kind)
        findings[late.kind] = late if earlier is None else earlier.merged(late)
    items = [finding.item() for finding in sorted(findings.values(), key=_importance)]
    if not items:
        items = [_all_clear(run).item()]
    return Diagnosis(
        kinds=tuple(item.kind for item in items),
        items=tuple(items),
        overfit_onset_epoch=None if overfit is None else overfit.evidence["onset_epoch"],
        overfit_type=None if overfit is None else OverfitType(overfit.evidence["overfit_type"]),
        noise=run.noise,
    )


@dataclass(frozen=True)
class _Finding:
    """A rule's verdict before it is worded: the signs seen, the numbers, the advice."""

    kind: DiagnosisKind
    signs: tuple[str, ...]
    evidence: dict[str, Any]
    advice: str = ""

    def merged(self, other: _Finding) -> _Finding:
        """Both findings' signs and evidence under this one's advice."""
        return _Finding(self.kind, self.signs + other.signs, {**other.evidence, **self.evidence}, self.advice)

    def item(self) -> DiagnosisItem:
        message = f"{self.kind.title}: {'; '.join(self.signs)}."
        if self.advice:
            message = f"{message} {self.advice}"
        return DiagnosisItem(
            kind=self.kind, message=message, evidence=_plain(self.evidence), advice=self.advice
        )


# ---------------------------------------------------------------------------------------------------
# The run, read and checked once


@dataclass(frozen=True)
class _Run:
    epoch: np.ndarray  # epoch numbers, increasing
    train: np.ndarray  # per-epoch training loss
    valid: np.ndarray  # per-epoch validation loss
    error: np.ndarray  # per-epoch validation error rate
    steps: np.ndarray | None  # raw per-step training losses
    n_valid: int
    n_classes: int
    lr: float
    finder: LRSuggestion | None
    train_error: float | None
    config: DiagnosisConfig
    noise: float  # SE of the error rate at the best error

    @property
    def n_epochs(self) -> int:
        return len(self.epoch)

    @property
    def chance_loss(self) -> float:
        return math.log(self.n_classes)

    @property
    def chance_error(self) -> float:
        return 1 - 1 / self.n_classes

    @property
    def margin(self) -> float:
        """How far apart two error rates must be to count as different."""
        return self.config.noise_sigmas * self.noise

    @property
    def usable_steps(self) -> np.ndarray | None:
        """The step losses when there are enough to fit a trend to."""
        enough = self.steps is not None and len(self.steps) >= self.config.min_steps
        return self.steps if enough else None

    def decades_from(self, other: float) -> float:
        """log10(lr / other): negative when the run's lr is below `other`."""
        return math.log10(self.lr / other)


def _read_run(
    epochs: pd.DataFrame,
    *,
    n_valid: int,
    n_classes: int,
    lr: float,
    batch_losses: ArrayLike | None,
    lr_suggestion: LRSuggestion | None,
    train_error: float | None,
    config: DiagnosisConfig,
) -> _Run:
    if not isinstance(epochs, pd.DataFrame):
        raise ValueError(f"epochs must be a pandas DataFrame, not {type(epochs).__name__}")
    missing = [column for column in EPOCH_COLUMNS if column not in epochs.columns]
    if missing:
        raise ValueError(f"epochs lacks column(s) {', '.join(missing)}; it needs {', '.join(EPOCH_COLUMNS)}")
    if epochs.empty:
        raise ValueError("epochs has no rows; a run needs at least one epoch to diagnose")
    table = epochs.sort_values("epoch")
    if table["epoch"].duplicated().any():
        raise ValueError(f"epochs repeats epoch {int(table['epoch'][table['epoch'].duplicated()].iloc[0])}")
    error = table["error_rate"].to_numpy(dtype=float)
    if not (np.all(np.isfinite(error)) and np.all((error >= 0) & (error <= 1))):
        raise ValueError(f"error_rate must be between 0 and 1 in every epoch; got {error.tolist()}")
    if isinstance(n_classes, bool) or not isinstance(n_classes, int | np.integer) or n_classes < 2:
        raise ValueError(f"n_classes={n_classes!r} must be an integer of at least 2")
    if not (isinstance(lr, int | float) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr={lr!r} must be a positive finite number")
    if train_error is not None and not 0 <= train_error <= 1:
        raise ValueError(f"train_error={train_error!r} must be between 0 and 1, or None")
    if lr_suggestion is not None and not isinstance(lr_suggestion, LRSuggestion):
        raise ValueError(f"lr_suggestion must be an LRSuggestion or None, not {type(lr_suggestion).__name__}")
    steps = None
    if batch_losses is not None:
        steps = np.asarray(batch_losses, dtype=float)
        if steps.ndim != 1:
            raise ValueError(f"batch_losses must be one-dimensional, not of shape {steps.shape}")
    return _Run(
        epoch=table["epoch"].to_numpy(dtype=int),
        train=table["train_loss"].to_numpy(dtype=float),
        valid=table["valid_loss"].to_numpy(dtype=float),
        error=error,
        steps=steps,
        n_valid=n_valid,
        n_classes=int(n_classes),
        lr=float(lr),
        finder=lr_suggestion,
        train_error=train_error,
        config=config,
        noise=error_noise(float(error.min()), n_valid),
    )


# ---------------------------------------------------------------------------------------------------
# The rules, one function each, in order of importance


def _lr_too_high(run: _Run) -> _Finding | None:
    """The run broke: a loss went non-finite or blew up, or the model never left chance level."""
    sign = _non_finite(run) or _diverged(run) or _valid_blew_up(run) or _stuck_high(run)
    if sign is None:
        return None
    signs, evidence = [sign[0]], {**sign[1], "lr": run.lr}
    if run.finder is not None and run.finder.lr_diverged is not None:
        evidence["lr_finder_diverged"] = run.finder.lr_diverged
        gap = run.decades_from(run.finder.lr_diverged)
        if gap >= -run.config.near_divergence_decades:
            signs.append(
                f"the learning rate {format_lr(run.lr)} is {'above' if gap > 0 else 'close to'} where the "
                f"LR finder's loss blew up ({format_lr(run.finder.lr_diverged)})"
            )
    # The finder's pick when it is clearly lower than the lr that broke; otherwise a decade lower.
    if run.finder is not None and run.finder.chosen < run.lr / 3:
        evidence["suggested_lr"] = run.finder.chosen
        advice = f"Try the LR finder's suggestion ({format_lr(run.finder.chosen)})."
    else:
        evidence["suggested_lr"] = run.lr / 10
        advice = f"Try a learning rate 10x lower ({format_lr(run.lr / 10)})."
    return _Finding(DiagnosisKind.LR_TOO_HIGH, tuple(signs), evidence, advice)


_Sign = tuple[str, dict[str, Any]]  # a sentence and the numbers behind it


def _non_finite(run: _Run) -> _Sign | None:
    if run.steps is not None:
        bad = np.flatnonzero(~np.isfinite(run.steps))
        if bad.size:
            step, n_steps = int(bad[0]) + 1, len(run.steps)
            sign = f"the training loss became {_word(run.steps[bad[0]])} at step {step} of {n_steps}"
            return sign, {"nonfinite_step": step, "n_steps": n_steps}
    for name, values in (("training", run.train), ("validation", run.valid)):
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            epoch = int(run.epoch[bad[0]])
            sign = f"the {name} loss was {_word(values[bad[0]])} at epoch {epoch} of {run.n_epochs}"
            return sign, {"nonfinite_epoch": epoch, "nonfinite_loss": name}
    return None


def _diverged(run: _Run) -> _Sign | None:
    """The smoothed step loss passed 4x its running minimum, and half of chance level."""
    if run.steps is None or not len(run.steps):
        return None
    smoothed = smooth_losses(run.steps, beta=run.config.smoothing_beta)
    floor = run.config.divergence_floor * run.chance_loss
    index = divergence_index(smoothed, factor=run.config.divergence_factor, floor=floor)
    if index is None:
        return None
    lowest, n_steps = float(np.min(smoothed[: index + 1])), len(run.steps)
    sign = (
        f"at step {index + 1} of {n_steps} the smoothed training loss rose to {smoothed[index]:.3g}, over "
        f"{run.config.divergence_factor:g}x its lowest value so far ({lowest:.3g})"
    )
    evidence = {"diverged_step": index + 1, "n_steps": n_steps, "smoothed_loss": smoothed[index]}
    return sign, evidence | {"lowest_smoothed_loss": lowest}


def _valid_blew_up(run: _Run) -> _Sign | None:
    """The validation loss ended worse than its start and than guessing, and training failed too.

    The failed training (final training loss above half of ln C) keeps out overfitting, where the
    validation loss can climb as far while the training loss falls towards zero.
    """
    config = run.config
    limit = max(config.blowup_first * run.valid[0], config.blowup_chance * run.chance_loss)
    if run.n_epochs < 2 or run.valid[-1] <= limit or run.train[-1] <= config.high_loss * run.chance_loss:
        return None
    sign = (
        f"the validation loss ended at {run.valid[-1]:.3g}, worse than after the first epoch "
        f"({run.valid[0]:.3g}) and than guessing among {run.n_classes} classes ({run.chance_loss:.3g}), "
        f"while the training loss stayed high ({run.train[-1]:.3g})"
    )
    evidence = {"first_valid_loss": run.valid[0], "final_valid_loss": run.valid[-1]}
    return sign, evidence | {"final_train_loss": run.train[-1], "chance_loss": run.chance_loss}


def _stuck_high(run: _Run) -> _Sign | None:
    """The validation error stayed at chance for the last 2+ epochs, and the lr was too high, not too low.

    Both a too high and a too low lr leave the loss near ln C. The LR finder tells them apart when
    given; otherwise a loss that rose well above ln C (confidently wrong predictions) or did not fall
    at all points to too high, and a loss that crept down to too low (see `_undertrained`).
    """
    if run.n_epochs < 2 or not np.all(run.error[-2:] >= run.chance_error - run.margin):
        return None
    evidence: dict[str, Any] = {"final_error": run.error[-1], "chance_error": run.chance_error}
    sign = (
        f"after {run.n_epochs} epochs the validation error is still {run.error[-1]:.2f}, no better than "
        f"guessing among {run.n_classes} classes ({run.chance_error:.2f})"
    )
    finder = run.finder
    if finder is not None and run.decades_from(finder.valley) < -run.config.far_below_decades:
        return None
    diverged = None if finder is None else finder.lr_diverged
    if diverged is not None and run.decades_from(diverged) >= -run.config.near_divergence_decades:
        return sign, evidence
    peak = float(np.max(run.train))
    if run.steps is not None and len(run.steps):
        peak = max(peak, float(np.max(smooth_losses(run.steps, beta=run.config.smoothing_beta))))
    if peak > run.config.above_chance * run.chance_loss:
        guess = f"a blind guess's {run.chance_loss:.2f}"
        sign += f", after the training loss had jumped to {peak:.3g}, far above {guess}"
        return sign, evidence | {"peak_train_loss": peak, "chance_loss": run.chance_loss}
    if run.train[-1] >= run.train[0]:
        sign += f", and the training loss did not fall ({run.train[0]:.3g} to {run.train[-1]:.3g})"
        return sign, evidence | {"first_train_loss": run.train[0], "final_train_loss": run.train[-1]}
    return None


def _overfitting(run: _Run) -> _Finding | None:
    """Validation loss rose >10% above its best for the last 2+ epochs while the training loss fell.

    Onset is the first epoch after the best validation loss. The type follows fastbook: the loss
    worsens first (overconfident, harmless for the error rate), the error later (memorising).
    """
    config = run.config
    best = int(np.argmin(run.valid))
    above = run.valid[best + 1 :] > (1 + config.overfit_rise) * run.valid[best]
    # Epochs at the end of the run that are all above the threshold: the rise must persist to the end.
    persisting = len(above) - (int(np.flatnonzero(~above)[-1]) + 1 if (~above).any() else 0)
    if persisting < config.overfit_patience or run.train[-1] >= run.train[best] or run.valid[best] <= 0:
        return None
    onset, best_error_at = int(run.epoch[best + 1]), int(np.argmin(run.error))
    best_error, rise = run.error[best_error_at], run.valid[-1] / run.valid[best]
    kind = OverfitType.MEMORISING if run.error[-1] > best_error + run.margin else OverfitType.OVERCONFIDENT
    signs = [
        f"starting at epoch {onset}, the validation loss rose from its lowest ({run.valid[best]:.3g} at "
        f"epoch {run.epoch[best]}) to {run.valid[-1]:.3g} ({rise:.1f}x) by epoch {run.epoch[-1]}, while the "
        f"training loss kept falling ({run.train[best]:.3g} to {run.train[-1]:.3g})"
    ]
    noise = f"the noise margin ({run.margin:.3f} on {run.n_valid} validation images)"
    if kind is OverfitType.MEMORISING:
        signs.append(
            f"the validation error rose too, from {best_error:.3f} at best to {run.error[-1]:.3f}, beyond "
            f"{noise}: the model is memorising its training images"
        )
    else:
        signs.append(
            f"the validation error stayed within {noise} of its best ({run.error[-1]:.3f} vs "
            f"{best_error:.3f}): the model grew overconfident, which hurts the loss but not yet the error"
        )
    evidence = {
        "overfit_type": str(kind),
        "onset_epoch": onset,
        "best_valid_epoch": run.epoch[best],
        "best_valid_loss": run.valid[best],
        "final_valid_loss": run.valid[-1],
        "valid_loss_rise": rise,
        "final_train_loss": run.train[-1],
        "valid_over_train_loss": run.valid[-1] / run.train[-1] if run.train[-1] > 0 else math.inf,
        "best_error_epoch": run.epoch[best_error_at],
        "best_error": best_error,
        "final_error": run.error[-1],
        "noise": run.noise,
    }
    if run.train_error is not None:
        evidence["train_error"] = run.train_error
        signs.append(f"it gets {run.train_error:.1%} of its training images wrong")
    if kind is OverfitType.MEMORISING:
        advice = (
            f"Retrain for about {run.epoch[best_error_at]} epochs instead of {run.n_epochs} (one-cycle needs "
            "its whole run to anneal, so retrain rather than stop early), or add images or augmentation."
        )
    else:
        advice = (
            "Nothing to fix for the error rate yet; if it starts to rise, train fewer epochs or add images."
        )
    return _Finding(DiagnosisKind.OVERFITTING, tuple(signs), evidence, advice)


def _memorised_gap(run: _Run) -> _Finding | None:
    """The training set is fitted while the validation set lags far behind (see DiagnosisConfig.gap_ratio).

    Onset is the first epoch from which the validation loss stays at least `gap_onset` times the
    training loss: where the model began learning its training images rather than the task.
    """
    config = run.config
    if run.n_epochs < 3 or run.train_error is None or not (run.train[-1] > 0 and run.valid[-1] > 0):
        return None
    ratio = run.valid / np.where(run.train > 0, run.train, np.nan)
    fitted = run.train[-1] < config.gap_fit * run.chance_loss and run.train_error <= run.error[-1] / 5
    if not (fitted and ratio[-1] >= config.gap_ratio and run.error[-1] > run.train_error + run.margin):
        return None
    below = np.flatnonzero(~(ratio >= config.gap_onset))
    start = int(below[-1]) + 1 if below.size else 0
    onset = int(run.epoch[min(start, run.n_epochs - 1)])
    signs = (
        f"the model fits its training images (training loss {run.train[-1]:.3g}, error "
        f"{run.train_error:.1%}) far better than the validation images (loss {run.valid[-1]:.3g}, "
        f"{ratio[-1]:.0f}x; error {run.error[-1]:.1%}), a gap that opened at epoch {onset}: it has "
        "memorised a training set too small or too narrow to generalise from",
    )
    evidence = {
        "overfit_type": str(OverfitType.MEMORISING),
        "onset_epoch": onset,
        "final_train_loss": run.train[-1],
        "final_valid_loss": run.valid[-1],
        "valid_over_train_loss": ratio[-1],
        "train_error": run.train_error,
        "final_error": run.error[-1],
        "noise": run.noise,
    }
    advice = "More images will help most; stronger augmentation or a smaller model may help too."
    return _Finding(DiagnosisKind.OVERFITTING, signs, evidence, advice)


def _undertrained(run: _Run) -> _Finding | None:
    """The training loss barely moved or stayed high: lr too low, or too few epochs (or steps).

    The LR finder decides between the two: an lr more than a decade below its valley is too low;
    otherwise a loss still falling means the run was too short. Without the finder, a loss that
    barely moved is blamed on the lr, and a high loss that is still falling on the epochs.
    """
    config = run.config
    progress = _training_progress(run)
    start, end = progress.start, progress.end
    fall = None if start is None else _fall(start, end)
    barely = fall is not None and fall < config.barely_moved
    high = end > config.high_loss * run.chance_loss
    if not (barely or high):
        return None
    evidence: dict[str, Any] = {"final_train_loss": end, "chance_loss": run.chance_loss, "lr": run.lr}
    signs = []
    if barely:
        evidence |= {"start_train_loss": start, "train_loss_fall": fall}
        signs.append(f"the training loss barely moved ({start:.4g} to {end:.4g}, {fall:.1%} lower)")
    if high:
        guess = f"the {run.chance_loss:.2f} that a blind guess among {run.n_classes} classes scores"
        signs.append(
            f"it stayed above half of {guess}"
            if barely
            else f"the training loss ended at {end:.3g}, above half of {guess}"
        )
    if progress.recent is not None:
        evidence[progress.recent_name] = progress.recent
    falling = progress.falling
    still = f"it was still falling ({progress.words})" if falling else ""
    finder = run.finder
    if finder is None:
        if barely:
            advice = (
                f"Try a learning rate 10x higher ({format_lr(run.lr * 10)}), or run the LR finder: a run "
                "with too few steps looks the same."
            )
            return _Finding(DiagnosisKind.LR_TOO_LOW, tuple(signs), evidence, advice)
        if falling:
            return _Finding(DiagnosisKind.TOO_FEW_EPOCHS, (*signs, still), evidence, _more_epochs(run))
        return None
    evidence["lr_finder_valley"] = finder.valley
    below = -run.decades_from(finder.valley)
    if below > config.far_below_decades:
        signs.append(
            f"the learning rate {format_lr(run.lr)} is {below:.1f} decades below the LR finder's suggestion "
            f"({format_lr(finder.valley)})"
        )
        advice = f"Try the LR finder's suggestion ({format_lr(finder.chosen)})."
        return _Finding(DiagnosisKind.LR_TOO_LOW, tuple(signs), evidence, advice)
    near = (
        f"the learning rate {format_lr(run.lr)} is near the LR finder's valley ({format_lr(finder.valley)})"
    )
    if falling:
        return _Finding(
            DiagnosisKind.TOO_FEW_EPOCHS, (*signs, f"{still}, and {near}"), evidence, _more_epochs(run)
        )
    if barely:
        in_steps = "" if run.steps is None else f" ({len(run.steps)} optimiser steps)"
        sign = f"{near}, so the run was too short{in_steps} to learn"
        return _Finding(DiagnosisKind.TOO_FEW_EPOCHS, (*signs, sign), evidence, _more_epochs(run, steps=True))
    return None  # high but levelled off at a good lr: a hard task or a small model, not a setting


def _still_improving(run: _Run) -> _Finding | None:
    """The validation error was still falling clearly at the end of the run.

    Several epochs: the last epoch cut the error by more than the noise margin and by more than a
    quarter of its previous value, and the training loss fell too. One epoch: there is no epoch
    trend, so more than 15% of the step losses' fall must have come between 40% and 70% of the run,
    before one-cycle's anneal flattens them (or, without step losses, the epoch's mean training loss
    must lie far above the final validation loss); and the error must be clearly above zero.
    """
    config = run.config
    evidence: dict[str, Any] = {"final_error": run.error[-1], "noise": run.noise}
    if run.n_epochs >= 2:
        gain = run.error[-2] - run.error[-1]
        clear = gain > run.margin and gain > config.late_gain * run.error[-2]
        if not (clear and run.train[-1] < run.train[-2]):
            return None
        sign = (
            f"the validation error was still falling at the end ({run.error[-2]:.3f} to {run.error[-1]:.3f} "
            f"in the last epoch, more than the noise margin of {run.margin:.3f} on {run.n_valid} validation "
            "images) and so was the training loss"
        )
        evidence["previous_error"] = run.error[-2]
        return _Finding(DiagnosisKind.TOO_FEW_EPOCHS, (sign,), evidence, _more_epochs(run))
    if run.error[-1] <= run.margin:
        return None
    if run.usable_steps is not None:
        progress = _training_progress(run)
        if not progress.falling:
            return None
        evidence[progress.recent_name] = progress.recent
        sign = (
            f"one epoch was not enough: the training loss was still falling fast before the learning "
            f"rate annealed ({progress.words}), with the validation error at {run.error[-1]:.3f}"
        )
    else:
        ratio = run.train[0] / run.valid[0] if run.valid[0] > 0 else math.inf
        if not ratio > config.train_over_valid:
            return None
        evidence["train_over_valid_loss"] = ratio
        sign = (
            f"one epoch was not enough: its mean training loss ({run.train[0]:.3g}) is {ratio:.1f}x the "
            f"final validation loss ({run.valid[0]:.3g}), so the loss was still dropping steeply"
        )
    return _Finding(DiagnosisKind.TOO_FEW_EPOCHS, (sign,), evidence, _more_epochs(run))


def _importance(finding: _Finding) -> int:
    """Sort key, most important first; overconfidence only hurts the loss, so it comes last."""
    if finding.evidence.get("overfit_type") == OverfitType.OVERCONFIDENT:
        return len(DiagnosisKind)
    return list(DiagnosisKind).index(finding.kind)


def _all_clear(run: _Run) -> _Finding:
    best = int(np.argmin(run.error))
    sign = (
        f"the validation error ended at {run.error[-1]:.3f} (best {run.error[best]:.3f} at epoch "
        f"{run.epoch[best]}, noise margin {run.margin:.3f} on {run.n_valid} images); no rule found a problem"
    )
    evidence = {"final_error": run.error[-1], "best_error": run.error[best], "noise": run.noise}
    return _Finding(DiagnosisKind.OK, (sign,), evidence)


# ---------------------------------------------------------------------------------------------------
# Small helpers


@dataclass(frozen=True)
class _Progress:
    """How the training loss moved: its level at the start and the end, and whether it still fell."""

    start: float | None  # None when unknown (one epoch without step losses)
    end: float
    recent: float | None  # the measure of recent fall; None when unknown
    recent_name: str  # its evidence key
    falling: bool  # recent beyond its threshold: still learning
    words: str  # recent, in words


def _training_progress(run: _Run) -> _Progress:
    """How the training loss moved over the run.

    Several epochs: the first and last epoch means; still falling when the last epoch's mean fell by
    more than `still_falling` of the one before. One epoch: the means of the first and the last tenth
    of the step losses (no lag, unlike the EMA); still falling when the window from `trend_from` to
    `trend_to` of the steps holds more than `trend_share` of the loss's fall so far (see
    DiagnosisConfig). Without step losses only the epoch's mean is known; it stands for the end (an
    overestimate: it averages the whole epoch).
    """
    config = run.config
    if run.n_epochs >= 2:
        recent = _fall(run.train[-2], run.train[-1])
        words = f"{recent:.0%} lower in the last epoch"
        falling = recent > config.still_falling
        return _Progress(
            float(run.train[0]), float(run.train[-1]), recent, "last_epoch_train_fall", falling, words
        )
    steps = run.usable_steps
    if steps is None:
        return _Progress(None, float(run.train[0]), None, "", False, "")
    head = max(1, len(steps) // 10)
    start, end = float(np.mean(steps[:head])), float(np.mean(steps[-head:]))
    share = _window_share(steps, config.trend_from, config.trend_to)
    words = (
        f"{share:.0%} of its fall came between {config.trend_from:.0%} and {config.trend_to:.0%} of the steps"
    )
    return _Progress(start, end, share, "trend_share", share > config.trend_share, words)


def _fall(before: float, after: float) -> float:
    """Relative fall from before to after; 0 when there was nothing to fall from."""
    return float((before - after) / before) if before > 0 else 0.0


def _window_share(losses: np.ndarray, start: float, end: float) -> float:
    """The share of the loss's fall, from its first tenth to fraction `end` of the run, that came
    between fractions `start` and `end`.

    The window is read through a least-squares line (robust to step noise, free of the EMA's lag).
    A loss falling linearly gives about (end - start) / end; one that levelled off before `start`, ~0.
    """
    first = min(math.floor(start * len(losses)), len(losses) - 2)
    window = losses[first : max(math.ceil(end * len(losses)), first + 2)]
    x = np.arange(len(window)) - (len(window) - 1) / 2
    slope = float(np.sum(x * (window - window.mean())) / np.sum(x * x))
    drop = -slope * (len(window) - 1)
    level_at_end = float(window.mean()) + slope * (len(window) - 1) / 2
    total = float(np.mean(losses[: max(1, len(losses) // 10)])) - level_at_end
    return drop / total if total > 0 else 0.0


def _more_epochs(run: _Run, *, steps: bool = False) -> str:
    what = "more steps: " if steps else ""
    return f"Train for {what}about {2 * run.n_epochs} epochs instead of {run.n_epochs}."


def _plain(evidence: dict[str, Any]) -> dict[str, Any]:
    """Evidence as JSON-ready values: Python numbers, None for NaN or inf."""
    plain = {}
    for key, value in evidence.items():
        if isinstance(value, bool | np.bool_):
            plain[key] = bool(value)
        elif isinstance(value, int | np.integer):
            plain[key] = int(value)
        elif isinstance(value, float | np.floating):
            plain[key] = float(value) if math.isfinite(value) else None
        else:
            plain[key] = value
    return plain


def _word(value: float) -> str:
    return "NaN" if math.isnan(value) else "infinite"
