"""What a curve costs: before it starts (its plan, timed on this machine) and after (what it spent).

The unit is the *full training*: the optimiser steps of one run on the whole training set at the
curve's length (`epochs` passes). Under the equal-step budget every run of the curve is one; under
the equal-epoch budget a run on half the images is half of one. The pilot's lengths are doublings
from the first, two runs each, so its cost is known only once it has chosen; before, its least
(two lengths) and its most (every length to --max-epochs) are given.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from datasize.curves.pilot import PILOT_SEEDS
from datasize.curves.plan import Budget, CurveConfig, plan_runs
from datasize.training.batches import TrainData
from datasize.training.loop import steps_per_epoch
from datasize.training.lr_finder import range_test
from datasize.training.models import ModelFactory

TIMED_STEPS = 12  # optimiser steps timed (after 2 untimed) to estimate a curve's time
FORWARD_SHARE = 3  # an evaluation batch costs about a third of a training step (no backward, no update)


@dataclass(frozen=True)
class CurveCost:
    """A curve's runs and optimiser steps, in full trainings."""

    runs: int
    steps: int  # optimiser steps of all the runs
    full_steps: int  # the steps of one full training
    seconds: float | None = None  # measured (spent) or estimated (planned); None when unknown

    @property
    def full_trainings(self) -> float:
        return self.steps / self.full_steps

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "steps": self.steps,
            "full_training_steps": self.full_steps,
            "full_trainings": round(self.full_trainings, 2),
            "seconds": None if self.seconds is None else round(self.seconds, 1),
        }


def full_training_steps(config: CurveConfig, n_train: int, epochs: int | None = None) -> int:
    """Optimiser steps of one run on all `n_train` images for `epochs` (default: the config's)."""
    return (epochs or config.train.epochs) * steps_per_epoch(n_train, config.train.batch_size)


def planned_cost(
    config: CurveConfig, n_train: int, *, n_valid: int = 0, seconds_per_step: float | None = None
) -> CurveCost:
    """The curve's every run as planned (before `seed_stop` skips any), at the config's length; with
    `seconds_per_step`, the time those steps and the runs' evaluation passes take (`run_seconds`)."""
    specs = plan_runs(config, n_train)
    full = full_training_steps(config, n_train)
    steps, seconds = 0, 0.0
    for spec in specs:
        run_steps = full if config.budget == Budget.STEPS else full_training_steps(config, spec.n_train)
        steps += run_steps
        if seconds_per_step is not None:
            seconds += run_seconds(config, run_steps, spec.n_train, n_valid, seconds_per_step)
    return CurveCost(len(specs), steps, full, None if seconds_per_step is None else seconds)


def run_seconds(config: CurveConfig, steps: int, n_train: int, n_valid: int, per_step: float) -> float:
    """One run's time: its steps, and its evaluation passes (up to `max_evals` over the validation
    images and one over its training images), a forward pass costing about a third of a step."""
    batch = config.train.batch_size
    per_epoch = steps_per_epoch(n_train, batch)
    evals = min(config.train.max_evals, max(1, -(-steps // per_epoch)))
    forward = (evals * steps_per_epoch(max(n_valid, 1), batch) + per_epoch) / FORWARD_SHARE
    return (steps + forward) * per_step


def pilot_bounds(
    config: CurveConfig, n_train: int, *, n_valid: int = 0, seconds_per_step: float | None = None
) -> tuple[CurveCost, CurveCost]:
    """The pilot's least cost (two lengths: it stops at the first doubling that does not pay) and
    most (every doubling to max_epochs), in full trainings at the first length."""
    lengths, epochs = [], config.train.epochs
    while epochs <= config.max_epochs:
        lengths.append(epochs)
        epochs *= 2
    full = full_training_steps(config, n_train)

    def of(chosen: list[int]) -> CurveCost:
        steps = [full_training_steps(config, n_train, e) for e in chosen]
        seconds = None
        if seconds_per_step is not None:
            seconds = PILOT_SEEDS * sum(
                run_seconds(config, s, n_train, n_valid, seconds_per_step) for s in steps
            )
        return CurveCost(PILOT_SEEDS * len(chosen), PILOT_SEEDS * sum(steps), full, seconds)

    return of(lengths[:2]), of(lengths)


@dataclass(frozen=True)
class CurvePlan:
    """A curve's cost before it starts: its runs, the pilot's bounds, and this machine's speed."""

    curve: CurveCost
    pilot: tuple[CurveCost, CurveCost] | None  # least and most, with --epochs auto
    seconds_per_step: float
    feature_seconds: float | None = None  # a frozen body's one pass over the images, estimated

    def lines(self) -> list[str]:
        """The plan in words, for the terminal."""
        c = self.curve
        out = []
        if self.feature_seconds is not None:
            out.append(
                f"features: one pass of the frozen body over the images, about "
                f"{_duration(self.feature_seconds)} on this machine (timed on a batch); kept for every run"
            )
        out.append(
            f"plan: {c.runs} runs, {c.full_trainings:.1f} full trainings of {c.full_steps:,} steps "
            f"(seed-stop may skip some); about {_duration(c.seconds)} on this machine "
            f"({1000 * self.seconds_per_step:.1f} ms a step, timed)"
        )
        if self.pilot is not None:
            least, most = self.pilot
            out.append(
                f"pilot first (--epochs auto): {least.runs} to {most.runs} runs, "
                f"{least.full_trainings:.1f} to {most.full_trainings:.1f} full trainings at the first "
                f"length, about {_duration(least.seconds)} to {_duration(most.seconds)}; the curve above "
                "then trains at the length it chooses (a longer one costs more)"
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "curve": self.curve.to_dict(),
            "pilot": None
            if self.pilot is None
            else {"least": self.pilot[0].to_dict(), "most": self.pilot[1].to_dict()},
            "seconds_per_step": self.seconds_per_step,
            "feature_seconds": self.feature_seconds,
        }


def plan_cost(
    data: TrainData,
    config: CurveConfig,
    *,
    lr: float,
    model_factory: ModelFactory | None = None,
    feature_seconds: float | None = None,
) -> CurvePlan:
    """The curve's plan and its time on this machine, from a few timed optimiser steps on `data`
    (for a frozen body: its features, or any stand-in of their shape)."""
    per_step = seconds_per_step(data, config, lr=lr, model_factory=model_factory)
    n_train, n_valid = len(data.train), len(data.valid)
    where = {"n_valid": n_valid, "seconds_per_step": per_step}
    pilot = pilot_bounds(config, n_train, **where) if config.auto_epochs else None
    return CurvePlan(planned_cost(config, n_train, **where), pilot, per_step, feature_seconds)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "an unknown time"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def spent_cost(records: list[dict[str, Any]], full_steps: int) -> CurveCost:
    """What finished runs spent: their steps and seconds (failed runs count their seconds)."""
    steps = sum(int(r.get("steps") or 0) for r in records)
    seconds = sum(float(r.get("seconds") or 0.0) for r in records)
    return CurveCost(len(records), steps, full_steps, seconds)


def seconds_per_step(
    data: TrainData, config: CurveConfig, *, lr: float, model_factory: ModelFactory | None = None
) -> float:
    """This machine's seconds per optimiser step of the curve's model, timed on TIMED_STEPS steps of
    a fresh model (after two untimed ones: the first steps pay for allocation)."""
    lrs = np.full(TIMED_STEPS + 2, lr)
    marks: list[float] = []

    def mark(losses: np.ndarray) -> bool:
        marks.append(time.perf_counter())
        return False

    range_test(data, lrs, config=config.train, model_factory=model_factory, should_stop=mark)
    return (marks[-1] - marks[1]) / (len(marks) - 2)
