"""The rules that read one training run: each looks at the run for one symptom (the learning rate too
high or too low, too few epochs, overfitting) and returns it with its signs and numbers, or None.

The rules follow shared/research/training.md §4.4-4.7. Every threshold is a field of DiagnosisConfig
(`run_reading`), with the reason for its value. Three ideas run through them:
- thresholds are relative (to a loss's own earlier values, or to ln C, the loss of a uniform guess
  among C classes), because losses differ in scale from one dataset to the next;
- a change must persist: overfitting needs 2 epochs of worse validation loss, not one bad epoch;
- a noise floor from the validation size. On n images an error rate p wobbles by about
  SE = sqrt(p (1 - p) / n), so a change in the validation error counts only beyond 2 SE.

One-cycle training anneals the learning rate towards zero in its last part. Losses keep falling
somewhat then even in a run that has learnt all it can, and stop falling even in one cut far short.
So the too-few-epochs rule asks for a large last-epoch gain, not just any gain; and for a single
epoch it reads the step losses before the anneal, not at the very end.

`diagnosis.diagnose` runs the rules and words what they find. Computation only; nothing here prints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from datasize.training.lr_curve import divergence_index, format_lr, smooth_losses
from datasize.training.run_reading import RunReading
from datasize.vocab import DiagnosisKind, OverfitType


@dataclass(frozen=True)
class Symptom:
    """A rule's verdict before it is worded: the signs seen, the numbers, the advice."""

    kind: DiagnosisKind
    signs: tuple[str, ...]  # sentences, joined with "; " in the message
    evidence: dict[str, Any]  # the numbers behind them
    advice: str = ""  # what to try

    def merged(self, other: Symptom) -> Symptom:
        """Both symptoms' signs and evidence under this one's advice."""
        return Symptom(self.kind, self.signs + other.signs, {**other.evidence, **self.evidence}, self.advice)


# ---------------------------------------------------------------------------------------------------
# The rules, one function each, in order of importance


def lr_too_high(run: RunReading) -> Symptom | None:
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
    return Symptom(DiagnosisKind.LR_TOO_HIGH, tuple(signs), evidence, advice)


_Sign = tuple[str, dict[str, Any]]  # a sentence and the numbers behind it


def _non_finite(run: RunReading) -> _Sign | None:
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


def _diverged(run: RunReading) -> _Sign | None:
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


def _valid_blew_up(run: RunReading) -> _Sign | None:
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


def _stuck_high(run: RunReading) -> _Sign | None:
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


def overfitting(run: RunReading) -> Symptom | None:
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
    return Symptom(DiagnosisKind.OVERFITTING, tuple(signs), evidence, advice)


def memorised_gap(run: RunReading) -> Symptom | None:
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
    return Symptom(DiagnosisKind.OVERFITTING, signs, evidence, advice)


def undertrained(run: RunReading) -> Symptom | None:
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
            return Symptom(DiagnosisKind.LR_TOO_LOW, tuple(signs), evidence, advice)
        if falling:
            return Symptom(DiagnosisKind.TOO_FEW_EPOCHS, (*signs, still), evidence, _more_epochs(run))
        return None
    evidence["lr_finder_valley"] = finder.valley
    below = -run.decades_from(finder.valley)
    if below > config.far_below_decades:
        signs.append(
            f"the learning rate {format_lr(run.lr)} is {below:.1f} decades below the LR finder's suggestion "
            f"({format_lr(finder.valley)})"
        )
        advice = f"Try the LR finder's suggestion ({format_lr(finder.chosen)})."
        return Symptom(DiagnosisKind.LR_TOO_LOW, tuple(signs), evidence, advice)
    near = (
        f"the learning rate {format_lr(run.lr)} is near the LR finder's valley ({format_lr(finder.valley)})"
    )
    if falling:
        return Symptom(
            DiagnosisKind.TOO_FEW_EPOCHS, (*signs, f"{still}, and {near}"), evidence, _more_epochs(run)
        )
    if barely:
        in_steps = "" if run.steps is None else f" ({len(run.steps)} optimiser steps)"
        sign = f"{near}, so the run was too short{in_steps} to learn"
        return Symptom(DiagnosisKind.TOO_FEW_EPOCHS, (*signs, sign), evidence, _more_epochs(run, steps=True))
    return None  # high but levelled off at a good lr: a hard task or a small model, not a setting


def still_improving(run: RunReading) -> Symptom | None:
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
        return Symptom(DiagnosisKind.TOO_FEW_EPOCHS, (sign,), evidence, _more_epochs(run))
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
    return Symptom(DiagnosisKind.TOO_FEW_EPOCHS, (sign,), evidence, _more_epochs(run))


def importance(finding: Symptom) -> int:
    """Sort key, most important first; overconfidence only hurts the loss, so it comes last."""
    if finding.evidence.get("overfit_type") == OverfitType.OVERCONFIDENT:
        return len(DiagnosisKind)
    return list(DiagnosisKind).index(finding.kind)


def at_chance(run: RunReading) -> Symptom | None:
    """The run ended no better than a blind guess: its final validation error is within the noise
    margin of (or above) 1 - 1/C. Worse than guessing beyond the margin is a sign of its own: the
    predictions are systematically wrong (labels or split), which too little training does not do."""
    if run.error[-1] < run.chance_error - run.margin:
        return None
    worse = run.error[-1] > run.chance_error + run.margin
    sign = (
        f"the validation error ended at {run.error[-1]:.0%}, "
        + ("worse than" if worse else "no better than")
        + f" guessing among {run.n_classes} classes ({run.chance_error:.0%})"
    )
    advice = (
        "Check that the validation images carry the same classes as the training images, spelled the "
        "same, and that the labels are right (datasize validate); then look at the learning rate and "
        "the epochs."
    )
    evidence = {"final_error": run.error[-1], "chance_error": run.chance_error, "noise": run.noise}
    return Symptom(DiagnosisKind.AT_CHANCE, (sign,), evidence | {"worse": worse}, advice)


def all_clear(run: RunReading) -> Symptom:
    best = int(np.argmin(run.error))
    sign = (
        f"the validation error ended at {run.error[-1]:.3f} (best {run.error[best]:.3f} at epoch "
        f"{run.epoch[best]}, noise margin {run.margin:.3f} on {run.n_valid} images); no rule found a problem"
    )
    evidence = {"final_error": run.error[-1], "best_error": run.error[best], "noise": run.noise}
    return Symptom(DiagnosisKind.OK, (sign,), evidence)


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


def _training_progress(run: RunReading) -> _Progress:
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


def _more_epochs(run: RunReading, *, steps: bool = False) -> str:
    what = "more steps: " if steps else ""
    return f"Train for {what}about {2 * run.n_epochs} epochs instead of {run.n_epochs}."


def _word(value: float) -> str:
    return "NaN" if math.isnan(value) else "infinite"
