"""The LR range test's curve: its exponential sweep, the smoothed loss, when to stop, and the suggestions
it yields.

The range test trains for `num_it` steps while the learning rate grows exponentially from `start_lr`
towards `end_lr`. It records the raw loss of each step and stops early once the loss diverges. This
module reads the curve that the test leaves, the way fastai reads it (shared/research/training.md
§1.1-1.2):

- the raw losses are smoothed by a debiased exponential moving average (beta 0.98);
- the test stops once the smoothed loss passes 4x its running minimum or stops being finite;
- before suggesting, the first `num_it // 10` points and the last 5 are dropped, and the curve is
  cut at its first non-finite value;
- three suggestions come from what is left: `valley` (the middle of the longest descent; the default),
  `steep` (where the loss falls fastest per decade of learning rate) and `minimum` (a tenth of the
  learning rate at the lowest loss). When they disagree by more than 1.5 decades, or the loss never
  really fell, the suggestion is marked as not confident, with the reasons in words.

Pure numpy; nothing here trains or prints. `lr_finder` runs the test with torch and reads its curve here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

DEFAULT_START_LR = 1e-7
DEFAULT_END_LR = 10.0
DEFAULT_NUM_IT = 100
DEFAULT_BETA = 0.98  # fastai and Lightning smooth the finder's loss with this EMA weight
DIVERGENCE_FACTOR = 4.0  # fastai and Lightning stop once the smoothed loss passes 4x its running minimum
TRIM_END = 5  # points dropped at the high-lr end: the last steps before a stop are already blowing up
MIN_POINTS = 2  # a slope needs two points; fewer left after trimming cannot be read at all
MIN_CONFIDENT_POINTS = 10  # below this many trimmed points, smoothing noise alone can move the suggestions
MAX_SPREAD_DECADES = 1.5  # valley, steep and minimum further apart than this: the curve has no clear shape
MIN_FALL = 0.10  # a curve whose loss never falls more than 10% below its start has no descent to read


class SuggestMethod(StrEnum):
    """How `suggest` picks one learning rate from the range test's curve."""

    VALLEY = "valley"  # the middle of the longest descent of the loss; fastai's default since 2021
    STEEP = "steep"  # where the loss falls fastest per decade of learning rate
    MINIMUM = "minimum"  # a tenth of the learning rate at the lowest loss


def format_lr(lr: float) -> str:
    """A learning rate as people write it: 3e-4, 2.5e-3, 1e1."""
    mantissa, exponent = f"{lr:.1e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def lr_schedule(
    *, start_lr: float = DEFAULT_START_LR, end_lr: float = DEFAULT_END_LR, num_it: int = DEFAULT_NUM_IT
) -> np.ndarray:
    """The learning rate of each step of the range test: an exponential sweep.

    Step i of num_it runs at start_lr * (end_lr / start_lr) ** (i / num_it). As in fastai, the last
    step (i = num_it - 1) runs just under end_lr, one step's factor short of it (8.3 at the defaults).

    Args:
        start_lr: the first step's learning rate; positive.
        end_lr: where the sweep heads; greater than start_lr.
        num_it: number of steps; an integer of at least 2.

    Returns:
        float array of num_it learning rates, increasing.

    Example:
        >>> lr_schedule(start_lr=1.0, end_lr=100.0, num_it=4).round(3).tolist()
        [1.0, 3.162, 10.0, 31.623]
    """
    _check_positive("start_lr", start_lr)
    _check_positive("end_lr", end_lr)
    if end_lr <= start_lr:
        raise ValueError(f"end_lr={end_lr} must be greater than start_lr={start_lr}")
    _check_num_it(num_it)
    return start_lr * (end_lr / start_lr) ** (np.arange(num_it) / num_it)


def smooth_losses(losses: ArrayLike, *, beta: float = DEFAULT_BETA) -> np.ndarray:
    """Debiased exponential moving average of per-step losses, as fastai and Lightning smooth them.

    avg_k = beta * avg_(k-1) + (1 - beta) * loss_k with avg_0 = 0, and out_k = avg_k / (1 - beta**k).
    The division removes the pull towards the zero start, so the first value is the first loss and
    the average of a constant is that constant.

    A non-finite loss (NaN or inf) is not skipped: it makes its own and every later smoothed value
    non-finite, so that a blow-up stays visible and `trim_curve` cuts the curve there.

    Args:
        losses: raw per-step losses, in the order they were run; 1-D.
        beta: weight of the past, in [0, 1); 0 returns the losses unchanged.

    Returns:
        float array of the same length.
    """
    values = _as_1d("losses", losses)
    if not 0 <= beta < 1:
        raise ValueError(f"beta={beta} must be in [0, 1): 1 would never move and cannot be debiased")
    smoothed = np.empty(len(values))
    average = 0.0
    # Python floats rather than numpy scalars: inf - inf gives NaN without a RuntimeWarning.
    for count, loss in enumerate(values.tolist(), start=1):
        average = beta * average + (1 - beta) * loss
        smoothed[count - 1] = average / (1 - beta**count)
    return smoothed


def divergence_index(
    smoothed: ArrayLike, *, factor: float = DIVERGENCE_FACTOR, floor: float = 0.0
) -> int | None:
    """Index of the first smoothed loss that is non-finite or above factor x its running minimum.

    Args:
        smoothed: smoothed per-step losses (see `smooth_losses`); non-negative, like a cross-entropy.
        factor: how many times its lowest value so far the loss may reach; above 1.
        floor: a value counts as diverged only above this as well; the range test uses 0, and a
            training run's diagnosis uses a level near chance so that wiggles near zero loss do not count.

    Returns:
        the index (0-based), or None when the loss never diverged.
    """
    values = _as_1d("smoothed", smoothed)
    if not factor > 1:
        raise ValueError(f"factor={factor} must be greater than 1")
    lowest = math.inf
    for index, value in enumerate(values.tolist()):
        if not math.isfinite(value):
            return index
        lowest = min(lowest, value)
        if value > factor * lowest and value > floor:
            return index
    return None


def should_stop(smoothed_so_far: ArrayLike, *, factor: float = DIVERGENCE_FACTOR) -> bool:
    """Whether the range test should stop: its smoothed loss diverged (see `divergence_index`).

    Args:
        smoothed_so_far: the smoothed losses of the steps run so far; empty means keep going.
        factor: how many times its running minimum the smoothed loss may reach.

    Returns:
        True once any smoothed loss so far is non-finite or above factor x its running minimum.
    """
    return divergence_index(smoothed_so_far, factor=factor) is not None


def trim_curve(
    lrs: ArrayLike, losses: ArrayLike, *, num_it: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The part of a range-test curve that suggestions are read from, as fastai trims it.

    Drops the first num_it // 10 points (the loss barely responds to tiny learning rates, and the
    smoothing is still warming up) and the last 5 (already diverging), then cuts the rest at its first
    non-finite loss.

    Args:
        lrs: learning rate of each step run; positive and increasing.
        losses: the (smoothed) loss of each step; same length.
        num_it: the number of steps the test planned; a test that stopped early has fewer points.
            None means as many as there are points.

    Returns:
        (lrs, losses) of the kept stretch; possibly empty.
    """
    lr_values, loss_values = _check_curve(lrs, losses)
    planned = len(lr_values) if num_it is None else num_it
    _check_num_it(planned)
    if planned < len(lr_values):
        raise ValueError(f"num_it={planned} is less than the {len(lr_values)} points of the curve")
    stop = max(len(lr_values) - TRIM_END, 0)
    kept_lrs, kept_losses = lr_values[planned // 10 : stop], loss_values[planned // 10 : stop]
    bad = np.flatnonzero(~np.isfinite(kept_losses))
    if bad.size:
        kept_lrs, kept_losses = kept_lrs[: bad[0]], kept_losses[: bad[0]]
    return kept_lrs, kept_losses


def valley(lrs: ArrayLike, losses: ArrayLike) -> float:
    """The learning rate in the middle of the longest descent of a trimmed curve (fastai's default).

    The descent is the longest strictly decreasing subsequence of the losses (not necessarily
    contiguous, so small bumps do not break it); its middle is taken by index, which on an exponential
    sweep is the middle in log learning rate. Among equally long descents, the one ending first wins,
    and from there the one starting last, so a flat start does not stretch it.

    Args:
        lrs: increasing learning rates of a trimmed curve (see `trim_curve`).
        losses: their finite losses.

    Returns:
        the suggested learning rate.
    """
    lr_values, loss_values = _check_trimmed(lrs, losses, need=1)
    start, end = _longest_descent(loss_values)
    return float(lr_values[(start + end) // 2])


def steep(lrs: ArrayLike, losses: ArrayLike) -> float:
    """The learning rate where the loss falls fastest per decade of learning rate.

    The slope is d loss / d log10(lr) at each point, by central differences (one-sided at the two
    ends), so it is the steepest point, not the start of the steepest segment.

    Args:
        lrs: increasing learning rates of a trimmed curve (see `trim_curve`); at least 2.
        losses: their finite losses.

    Returns:
        the learning rate at the most negative slope.
    """
    lr_values, loss_values = _check_trimmed(lrs, losses, need=2)
    slopes = np.gradient(loss_values, np.log10(lr_values))
    return float(lr_values[int(np.argmin(slopes))])


def minimum(lrs: ArrayLike, losses: ArrayLike) -> float:
    """A tenth of the learning rate at the lowest loss of a trimmed curve.

    At the lowest point the loss is about to blow up; a decade lower is still safely descending.

    Args:
        lrs: increasing learning rates of a trimmed curve (see `trim_curve`).
        losses: their finite losses.

    Returns:
        the learning rate at the first lowest loss, divided by 10.
    """
    lr_values, loss_values = _check_trimmed(lrs, losses, need=1)
    return float(lr_values[int(np.argmin(loss_values))]) / 10


@dataclass(frozen=True)
class LRSuggestion:
    """What a range test suggests, with the evidence to judge it by."""

    valley: float  # middle of the longest descent of the smoothed loss
    steep: float  # steepest fall of the smoothed loss per decade of learning rate
    minimum: float  # lr_at_min_loss / 10
    lr_at_min_loss: float  # learning rate at the lowest smoothed loss of the trimmed curve
    lr_diverged: float | None  # first lr where the smoothed loss passed 4x its running minimum or stopped
    #   being finite; None when it never did
    method: SuggestMethod  # which of valley, steep and minimum is `chosen`
    confident: bool  # False when the curve is too short, has no clear shape, or never fell
    reasons: tuple[str, ...]  # why not confident, in words; empty when confident
    spread_decades: float  # log10 of the largest over the smallest of valley, steep and minimum

    @property
    def chosen(self) -> float:
        """The learning rate the method picks."""
        return float(getattr(self, str(self.method)))

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable fields, `chosen` included."""
        return {
            "chosen": self.chosen,
            "method": str(self.method),
            "valley": self.valley,
            "steep": self.steep,
            "minimum": self.minimum,
            "lr_at_min_loss": self.lr_at_min_loss,
            "lr_diverged": self.lr_diverged,
            "confident": self.confident,
            "reasons": list(self.reasons),
            "spread_decades": self.spread_decades,
        }


def suggest(
    lrs: ArrayLike,
    losses: ArrayLike,
    *,
    num_it: int | None = None,
    method: SuggestMethod | str = SuggestMethod.VALLEY,
    beta: float = DEFAULT_BETA,
) -> LRSuggestion:
    """Suggest a learning rate from a range test's raw per-step losses.

    The losses are smoothed here (`smooth_losses` with beta), so pass the raw loss of each step, not
    an already smoothed curve. `lr_diverged` is read from the whole smoothed curve; the suggestions
    from its trimmed part (`trim_curve`).

    Args:
        lrs: learning rate of each step run; positive and increasing (see `lr_schedule`).
        losses: raw loss of each step; same length; NaN or inf where the test blew up.
        num_it: the number of steps the test planned (a test that stopped early has fewer points);
            None means as many as there are points. It sets how many points are trimmed at the start.
        method: which suggestion is `chosen`: one of SuggestMethod.
        beta: smoothing weight, in [0, 1).

    Returns:
        an LRSuggestion.

    Raises:
        ValueError: on a bad argument, or when fewer than 2 finite points remain after trimming.
    """
    chosen_method = suggest_method(method)
    lr_values, raw = _check_curve(lrs, losses)
    smoothed = smooth_losses(raw, beta=beta)
    diverged_at = divergence_index(smoothed)
    kept_lrs, kept = trim_curve(lr_values, smoothed, num_it=num_it)
    if len(kept) < MIN_POINTS:
        planned = len(lr_values) if num_it is None else num_it
        raise ValueError(
            f"only {len(kept)} finite point(s) of {len(lr_values)} remain after dropping the first "
            f"num_it//10={planned // 10} and the last {TRIM_END}; run more iterations (num_it)"
        )
    suggestions = {"valley": valley(kept_lrs, kept), "steep": steep(kept_lrs, kept)}
    lr_at_min = float(kept_lrs[int(np.argmin(kept))])
    suggestions["minimum"] = lr_at_min / 10
    spread = math.log10(max(suggestions.values()) / min(suggestions.values()))
    reasons = _doubts(kept, suggestions, spread)
    return LRSuggestion(
        valley=suggestions["valley"],
        steep=suggestions["steep"],
        minimum=suggestions["minimum"],
        lr_at_min_loss=lr_at_min,
        lr_diverged=None if diverged_at is None else float(lr_values[diverged_at]),
        method=chosen_method,
        confident=not reasons,
        reasons=reasons,
        spread_decades=spread,
    )


def _doubts(kept: np.ndarray, suggestions: dict[str, float], spread: float) -> tuple[str, ...]:
    """Why a trimmed curve's suggestions should not be trusted, in words; empty when they can be."""
    reasons = []
    if len(kept) < MIN_CONFIDENT_POINTS:
        reasons.append(
            f"only {len(kept)} points remain after trimming, fewer than {MIN_CONFIDENT_POINTS}; "
            "run more iterations (num_it)"
        )
    if spread > MAX_SPREAD_DECADES:
        low, high = min(suggestions.values()), max(suggestions.values())
        reasons.append(
            f"the valley, steep and minimum suggestions disagree: they span {spread:.1f} decades "
            f"({format_lr(low)} to {format_lr(high)}), more than {MAX_SPREAD_DECADES}"
        )
    start, lowest = float(kept[0]), float(np.min(kept))
    fall = 1 - lowest / start if start > 0 else 0.0
    if fall <= MIN_FALL:
        reasons.append(
            f"the loss never fell: its lowest value {lowest:.3g} is only {fall:.0%} below its "
            f"starting {start:.3g} (a usable curve falls more than {MIN_FALL:.0%})"
        )
    return tuple(reasons)


def _longest_descent(losses: np.ndarray) -> tuple[int, int]:
    """First and last index of the longest strictly decreasing subsequence (ties: see `valley`)."""
    length = [1] * len(losses)
    start = list(range(len(losses)))
    values = losses.tolist()
    # O(n^2) dynamic programme over a curve of ~100 points: for each end, the longest descent reaching
    # it, and among those the latest start.
    for i, value in enumerate(values):
        for j in range(i):
            if values[j] > value and (length[j] + 1, start[j]) > (length[i], start[i]):
                length[i], start[i] = length[j] + 1, start[j]
    end = int(np.argmax(length))
    return start[end], end


def suggest_method(method: SuggestMethod | str) -> SuggestMethod:
    """The method by name; ValueError naming the accepted ones."""
    try:
        return SuggestMethod(method)
    except ValueError:
        accepted = ", ".join(SuggestMethod)
        raise ValueError(f"method={method!r} is not one of {accepted}") from None


def _check_positive(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name}={value!r} must be a positive finite number")


def _check_num_it(num_it: int) -> None:
    if isinstance(num_it, bool) or not isinstance(num_it, int | np.integer) or num_it < 2:
        raise ValueError(f"num_it={num_it!r} must be an integer of at least 2")


def _as_1d(name: str, values: ArrayLike) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, not of shape {array.shape}")
    return array


def _check_curve(lrs: ArrayLike, losses: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    lr_values, loss_values = _as_1d("lrs", lrs), _as_1d("losses", losses)
    if len(lr_values) != len(loss_values):
        raise ValueError(
            f"lrs has {len(lr_values)} values but losses has {len(loss_values)}; they must match"
        )
    if not (np.all(np.isfinite(lr_values)) and np.all(lr_values > 0)):
        raise ValueError(
            f"lrs must be positive and finite; the smallest is {np.min(lr_values, initial=np.inf)}"
        )
    if np.any(np.diff(lr_values) <= 0):
        where = int(np.argmax(np.diff(lr_values) <= 0))
        raise ValueError(
            f"lrs must increase step by step; lrs[{where + 1}]={lr_values[where + 1]} "
            f"follows lrs[{where}]={lr_values[where]}"
        )
    return lr_values, loss_values


def _check_trimmed(lrs: ArrayLike, losses: ArrayLike, *, need: int) -> tuple[np.ndarray, np.ndarray]:
    lr_values, loss_values = _check_curve(lrs, losses)
    if len(loss_values) < need:
        raise ValueError(f"the curve has {len(loss_values)} point(s); this suggestion needs at least {need}")
    if not np.all(np.isfinite(loss_values)):
        raise ValueError("losses must be finite here; cut the curve at its first NaN or inf with trim_curve")
    return lr_values, loss_values
