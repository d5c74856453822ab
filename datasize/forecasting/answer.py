"""The forecast in words: the answer first, then at most three short reasons, then the details.

The first sentence answers "do I need more images?" as one of four kinds (`AnswerKind`): you already
have enough; more images help (how much, and how many for a target); more images will not help
(the plateau, and what would); or these runs cannot tell yet (and the one thing that would). Each
reason is one short line with its number. The details (intervals, the self-check, runs left out) come
after, for the report and `--verbose`.

An error within ZERO_IMAGES validation image of zero is its own case: nothing can be fitted or
extrapolated below what the validation set can measure, so the answer quotes the smallest size that
got there and the upper bound of its error (for 0 errors, about 3/n: the rule of three).

Computation only; nothing here prints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Protocol

import pandas as pd

from datasize.forecasting.backtest import Backtest
from datasize.forecasting.estimates import SEARCH_LIMIT, Guard, Horizon, ImagesNeeded, Plateau, Reach
from datasize.forecasting.families import CurveFamily
from datasize.noise import CONFIDENCE, at_zero, upper_bound
from datasize.text import pct
from datasize.vocab import AnswerKind

MAX_WHY = 3  # reasons shown under the answer
ENOUGH_BOUND = 0.05  # without a target, an error at zero is "enough" when its upper bound is below this
SEED_SPREAD = 2.0  # seeds varying this many times the binomial variance: more seeds would tell


@dataclass(frozen=True)
class Answer:
    """The answer in words: its kind, the sentence, the reasons (each with its number), the details."""

    kind: AnswerKind
    sentence: str
    why: tuple[str, ...] = ()  # at most MAX_WHY short lines
    details: tuple[str, ...] = ()  # the rest: intervals, self-check, runs left out

    def text(self, *, details: bool = True) -> str:
        """The sentence, the reasons and (unless `details` is False) the details, as one paragraph."""
        return " ".join([self.sentence, *self.why, *(self.details if details else ())])

    def with_notes(self, notes: list[str]) -> Answer:
        """The same answer with more details at the end."""
        return replace(self, details=(*self.details, *notes))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "sentence": self.sentence,
            "why": list(self.why),
            "details": list(self.details),
        }


class Forecasted(Protocol):
    """What the answer reads of a `sizing.Forecast`."""

    n_train: int
    n_valid: int
    error_rate: float
    points: pd.DataFrame
    backtest: Backtest
    horizons: tuple[Horizon, ...]
    plateau: Plateau
    images_needed: ImagesNeeded | None
    guard: Guard
    excluded_runs: dict[str, int]
    interval: tuple[float, float]

    @property
    def family(self) -> CurveFamily: ...


def zero_size(points: pd.DataFrame, n_valid: int) -> int | None:
    """The smallest training-set size from which every size's mean error is at zero (None: the
    largest is not)."""
    smallest = None
    for row in points.sort_values("n_train", ascending=False).itertuples():
        if not at_zero(float(row.error_rate), n_valid):
            break
        smallest = int(row.n_train)
    return smallest


def decide(f: Forecasted) -> Answer:
    """The answer to a forecast: its kind, sentence, reasons and details."""
    width = round(100 * (f.interval[1] - f.interval[0]))
    if at_zero(f.error_rate, f.n_valid):
        return _at_zero(f)
    details = tuple(_detail_sentences(f, width))
    need = f.images_needed
    measured_meets = need is not None and f.error_rate <= need.target
    if need is not None and measured_meets and need.status in (Reach.REACHED, Reach.REACHABLE):
        bound = upper_bound(math.ceil(f.error_rate * f.n_valid - 1e-9), f.n_valid)
        if bound <= need.target:
            return Answer(
                AnswerKind.ENOUGH,
                f"You already have enough images for the {pct(need.target)} target: {f.n_train:,} training "
                f"images measured {pct(f.error_rate)}.",
                (f"Under {pct(bound)} at {CONFIDENCE:.0%} confidence on {f.n_valid:,} validation images.",),
                details,
            )
    if not f.guard.monotone:
        worst = f.guard.rises.sort_values("rise").iloc[-1]
        return Answer(
            AnswerKind.CANNOT_TELL,
            "We cannot tell yet whether more images help: the curve rises beyond noise; more seeds at "
            "those sizes (or the runs' diagnoses) would tell.",
            (
                f"The error at {int(worst['n_large']):,} images is {100 * worst['rise']:.1f} points above "
                f"that at {int(worst['n_small']):,}.",
            ),
            details,
        )
    h = f.horizons[0]
    gain = f"Each doubling now cuts {_points(f.plateau.low)}–{_points(f.plateau.high)} ({width}% interval)."
    at_2x = (
        f"At {h.n_train:,} images: {pct(h.expected)} expected ({width}% interval {pct(h.low)}–{pct(h.high)})."
    )
    if need is not None and need.status == Reach.UNREACHABLE and need.floor >= need.target:
        return Answer(
            AnswerKind.PLATEAU,
            f"More images of the same kind will not reach {pct(need.target)}: the fitted curve levels off "
            f"near {pct(need.floor)}; cleaner labels, longer training or another model would.",
            (f"Measured now: {pct(f.error_rate)} at {f.n_train:,} images.", gain),
            details,
        )
    if f.plateau.plateaued:
        return Answer(
            AnswerKind.PLATEAU,
            f"More images of the same kind will not help: the error has plateaued at about "
            f"{pct(f.error_rate)}; cleaner labels, longer training or another model would.",
            (f"Doubling the images cuts at most {_points(f.plateau.high)} ({width}% interval).",),
            details,
        )
    reachable = need is not None and need.status == Reach.REACHABLE and not measured_meets
    if f.plateau.helps or reachable or (h.high < f.error_rate and h.expected < f.error_rate):
        target = ""
        why = [at_2x, gain]
        if reachable:
            target = f"; about {need.conservative:,.0f} images (conservative) reach {pct(need.target)}"
            why.append(
                f"For {pct(need.target)}: median {need.median:,.0f} images, {width}% interval "
                f"{need.low:,.0f}–{need.high:,.0f}."
            )
        return Answer(
            AnswerKind.MORE_HELPS,
            f"More images help: doubling to {h.n_train:,} images should cut the error from "
            f"{pct(f.error_rate)} to about {pct(h.expected)}{target}.",
            tuple(why[:MAX_WHY]),
            details,
        )
    why = [at_2x, f"1 point of error is {f.n_valid / 100:.0f} of {f.n_valid:,} validation images."]
    if h.expected >= f.error_rate or pct(h.expected) == pct(f.error_rate):  # no fall, to the shown digit
        why[0] = (
            f"The curve may have levelled off: more images are not expected to lower the error "
            f"({pct(h.expected)} at {h.n_train:,} images, {width}% interval {pct(h.low)}–{pct(h.high)}; "
            f"{pct(f.error_rate)} measured now)."
        )
    if need is not None and measured_meets:
        bound = upper_bound(math.ceil(f.error_rate * f.n_valid - 1e-9), f.n_valid)
        why.append(
            f"The {pct(f.error_rate)} measured meets the {pct(need.target)} target, but {f.n_valid:,} "
            f"validation images confirm only an error under {pct(bound)}."
        )
    return Answer(
        AnswerKind.CANNOT_TELL,
        f"We cannot tell yet whether more images help; {_what_would_tell(f)}.",
        tuple(why),
        details,
    )


def training_limited(answer: Answer, short: int, runs: int) -> Answer:
    """The answer when the largest runs were still improving as training stopped: a plateau or an
    unclear curve may be the training's, so longer training is what would tell."""
    if answer.kind not in (AnswerKind.PLATEAU, AnswerKind.CANNOT_TELL):
        return answer
    return Answer(
        AnswerKind.CANNOT_TELL,
        "We cannot tell yet whether more images help: longer training (--epochs) would tell, since the "
        "largest runs were still improving when training stopped.",
        (f"{short} of {runs} runs at the largest size were diagnosed too_few_epochs.", *answer.why[:1]),
        (answer.sentence, *answer.details),
    )


def pilot_capped(answer: Answer, note: str) -> Answer:
    """The answer when the pilot stopped at its cap while longer training still paid (`note` says
    so): a plateau or an unclear curve may be the training's; any other answer keeps its kind and
    says it first among its details."""
    if answer.kind not in (AnswerKind.PLATEAU, AnswerKind.CANNOT_TELL):
        return replace(answer, details=(note, *answer.details))
    return Answer(
        AnswerKind.CANNOT_TELL,
        "We cannot tell yet whether more images help: longer training would tell, since the pilot "
        "stopped at --max-epochs while longer training still paid.",
        (note, *answer.why[:1]),
        (answer.sentence, *answer.details),
    )


def labels_first(answer: Answer, note: str) -> Answer:
    """The answer when wrong labels explain where the curve levels off (`note` says so with both
    figures): fixing them comes before collecting images."""
    return Answer(AnswerKind.PLATEAU, note, answer.why[:2], (answer.sentence, *answer.details))


def _points(value: float) -> str:
    return f"{100 * max(value, 0.0):.2f} points"


def _what_would_tell(f: Forecasted) -> str:
    """The one thing that would decide: more seeds when they disagree beyond the validation set's
    noise, else a larger validation set."""
    largest = f.points.sort_values("n_train").iloc[-1]
    noise = math.sqrt(max(f.error_rate * (1 - f.error_rate), 1 / f.n_valid) / f.n_valid)
    sd = float(largest["sd"]) if pd.notna(largest["sd"]) else 0.0
    if sd > SEED_SPREAD * noise:
        return (
            f"more seeds (--seeds) would tell: the seeds disagree by {_points(sd)} at {f.n_train:,} images, "
            f"more than the validation set's noise ({_points(noise)})"
        )
    return (
        "a larger validation set (--valid-pct) would tell: the gain it would show is smaller than "
        f"{f.n_valid:,} validation images can measure"
    )


def _at_zero(f: Forecasted) -> Answer:
    """The answer when the largest size scores within one validation image of zero."""
    smallest = zero_size(f.points, f.n_valid) or f.n_train
    row = f.points[f.points["n_train"] == smallest].iloc[0]
    errors = float(row["error_rate"]) * f.n_valid
    whole = abs(errors - round(errors)) < 1e-9
    count = (
        f"{errors:.0f} error{'' if round(errors) == 1 else 's'}" if whole else f"{errors:.1f} errors (mean)"
    )
    bound = upper_bound(math.ceil(errors - 1e-9), f.n_valid)
    rule = ", the rule of three" if math.ceil(errors - 1e-9) == 0 else ""
    scored = (
        f"{smallest:,} training images already made {count} on {f.n_valid:,} validation images "
        f"(under {pct(bound)} at {CONFIDENCE:.0%} confidence{rule})"
    )
    sizes = (
        f"Every size from {smallest:,} to {f.n_train:,} images scored within one validation image of zero."
        if smallest < f.n_train
        else f"Only the largest size ({f.n_train:,} images) scored within one validation image of zero."
    )
    larger = f"Below {pct(bound)} only a larger validation set can measure (--valid-pct)."
    copies = (
        "If the validation images are near copies of training ones this is optimistic: see validation's "
        "near_duplicate and split_leakage findings."
    )
    need = f.images_needed
    details = (_zero_details(f),)
    if need is not None and bound > need.target:
        return Answer(
            AnswerKind.CANNOT_TELL,
            f"We cannot tell yet whether you have enough for {pct(need.target)}: a larger validation set "
            f"would tell; {scored}.",
            (sizes, f"{f.n_valid:,} validation images cannot confirm an error below {pct(bound)}."),
            details,
        )
    if need is None and bound > ENOUGH_BOUND:
        return Answer(
            AnswerKind.CANNOT_TELL,
            f"We cannot tell yet whether you have enough: a larger validation set would tell; {scored}.",
            (sizes, larger),
            details,
        )
    target = "" if need is None else f" (the {pct(need.target)} target)"
    return Answer(
        AnswerKind.ENOUGH,
        f"You already have enough images for this task{target}: {scored}.",
        (sizes, larger, copies),
        details,
    )


def _zero_details(f: Forecasted) -> str:
    return (
        f"No curve is extrapolated: with {f.error_rate * f.n_valid:.1f} of {f.n_valid:,} validation images "
        "wrong there is no fall left to fit, no training length or class ranking can be shown to help, and "
        "no forecast can be finer than one validation image."
    )


# --- the details -------------------------------------------------------------------------------------


def _detail_sentences(f: Forecasted, width: int) -> list[str]:
    """Everything below the answer: the rise, the forecast at 2x with its interval, the images needed,
    the self-check and the runs left out."""
    out = []
    if not f.guard.monotone:
        worst = f.guard.rises.sort_values("rise").iloc[-1]
        out.append(
            f"The learning curve rises beyond noise (the error at {int(worst['n_large']):,} images is "
            f"{100 * worst['rise']:.1f} points above that at {int(worst['n_small']):,}), so the forecast "
            f"goes no further than {f.guard.max_multiple}x the current data; check the runs' diagnoses."
        )
    if not f.plateau.plateaued:
        out += _horizon_sentences(f)
    if f.images_needed is not None:
        out.append(_needed_sentence(f.images_needed, f.n_train, width, f.error_rate))
    out.append(_self_check_sentence(f.backtest, f.family, needed=f.images_needed is not None))
    if f.excluded_runs:
        left = ", ".join(f"{n} {status}" for status, n in f.excluded_runs.items())
        out.append(f"Runs left out of the fit: {left}.")
    return out


def _horizon_sentences(f: Forecasted) -> list[str]:
    """How the forecast at 2x was made when the fitted curve failed its self-check, and whether its
    interval is too wide to act on (the answer's reasons give the numbers)."""
    h = f.horizons[0]
    out = []
    if h.midway:
        out.append(
            f"The forecast at {h.n_train:,} images is taken midway between the fitted curve's "
            f"{pct(h.fitted)} and {pct(h.last)} measured now."
        )
    if not f.plateau.helps and too_wide(h, f.error_rate, f.plateau.threshold):
        out.append(
            "The interval at 2x is too wide to act on: these runs cannot tell whether doubling halves the "
            "error or leaves it where it is. A larger validation set (--valid-pct) narrows it; or "
            "collect a first round of images and measure again."
        )
    return out


def too_wide(h: Horizon, now: float, least: float) -> bool:
    """An interval that reaches from half today's error (or less) to today's error (or more), and is
    at least `least` wide (the plateau threshold, half a point): it allows both a large gain and none,
    so no decision can rest on it (e.g. 0%-44% at 20%; not 0.0%-0.3% at 0.1%). Not said when the gain
    is sure (`Plateau.helps`), which the refits alone decide, without a rerun's noise."""
    return now > 0 and h.low <= now / 2 and h.high >= now and h.high - h.low >= least


def _needed_sentence(need: ImagesNeeded, n_now: int, width: int, measured: float = math.nan) -> str:
    target = pct(need.target)
    if need.status == Reach.REACHABLE and math.isfinite(measured) and measured <= need.target:
        # Measured below target already, but the uncertainty does not rule out a rerun above it.
        return (
            f"The measured error ({pct(measured)}) is already below the {target} target; to stay below it "
            f"with confidence, plan for {need.conservative:,.0f} images (conservative; median "
            f"{need.median:,.0f}, {width}% interval {need.low:,.0f}–{need.high:,.0f})."
        )
    met = math.isfinite(measured) and measured <= need.target
    if met and need.status in (Reach.UNCERTAIN, Reach.UNREACHABLE):
        # Measured at or below the target, while the fitted curves do not get there: say both.
        return (
            f"The measured error ({pct(measured)}) already meets the {target} target at {n_now:,} images, "
            "but the fitted curve does not confirm it there: re-measure with more seeds before relying on it."
        )
    if need.status == Reach.UNRELIABLE:
        return f"The images needed for {target} are not estimated: the curve is too irregular to extrapolate."
    if need.status == Reach.UNREACHABLE and need.floor >= need.target:
        return (
            f"{target} is not reachable with this model by adding images of the same kind "
            f"(the fitted curve levels off near {pct(need.floor)})."
        )
    if need.status == Reach.UNREACHABLE:
        return (
            f"{target} is out of reach: even {SEARCH_LIMIT:,}x the current images would likely not get there."
        )
    if need.status == Reach.REACHED and math.isfinite(measured) and measured > need.target:
        # The fitted curves pass below the target at the current size; the runs did not.
        return (
            f"The fitted curve is below {target} at the current {n_now:,} images, but {pct(measured)} was "
            "measured there; more seeds (or a larger validation set) tell whether more images are needed."
        )
    if need.status == Reach.REACHED:
        return f"The current {n_now:,} images already reach {target}."
    if need.status == Reach.UNCERTAIN:
        return (
            f"{target} may take about {need.median:,.0f} images, but it may also be out of reach: "
            "collect in rounds and forecast again."
        )
    return (
        f"{need.conservative:,.0f} images (conservative; median {need.median:,.0f}, {width}% interval "
        f"{need.low:,.0f}–{need.high:,.0f}) are needed for {target}."
    )


def _self_check_sentence(tested: Backtest, family: CurveFamily, needed: bool = False) -> str:
    if not math.isfinite(tested.chosen_error) or family != tested.chosen:
        return f"Self-check: {family} could not be backtested on these sizes, so it is unchecked."
    said = (
        f"Self-check: fitted to fewer images, {family} predicted the measured error within "
        f"{100 * tested.chosen_error:.1f} points on average"
    )
    if tested.beats_baseline:
        return f"{said}, better than the last observed point did ({100 * tested.baseline_error:.1f})."
    return (
        f"{said}, no better than the last observed point ({100 * tested.baseline_error:.1f}), so the "
        "forecast is taken midway between the two"
        + ("; the images needed come from the fitted curve alone: plan in rounds." if needed else ".")
    )
