"""`--epochs auto`: a pilot at the curve's largest size finds a training length that no longer limits it.

Under an equal-step budget every size of the curve trains for the optimiser steps of E epochs of the
largest. When E is too short, the largest size is cut short most (it gets the fewest epochs of its
own data), the right end of the curve flattens or rises for reasons of training, and the forecast
reads a plateau that is not the data's. So before the curve, the pilot trains the largest size at
E = start, 2 x start, 4 x start... (up to `max_epochs`), two seeds each, and stops at the first
doubling that no longer pays:

- a length is *limited* when any of its runs is diagnosed `too_few_epochs` (its validation error
  was still falling clearly when the learning rate annealed), or when the model has not fit its own
  training images: a mean training error of at least UNDERFIT_SHARE of the validation error and at
  least UNDERFIT_FLOOR (a model that misclassifies a quarter of its training images is under-trained,
  whatever the validation set's noise says);
- a doubling *pays* when the mean error falls by more than NOISE_SIGMAS standard errors of the
  change. Both lengths score the same validation images with the same seeds' subsets, so the change
  is paired: its noise comes from the images whose verdict flipped (McNemar's), a few in most
  doublings, not from two independent error rates (on 200 validation images at 25% error two
  unpaired standard errors are 8 points; paired, 20 flipped images give about 3). The seeds' spread
  of the change is the floor. Without the runs' predictions the unpaired rule stands (each mean's
  standard error from its seeds' spread, never below the binomial noise);
- the pilot stops at the first length whose every run is within one validation image of zero (no
  doubling can show a gain there; issue #25);
- the pilot stops once a doubling does not pay and its longer length is not limited. It chooses the
  shorter length when that one was not limited either (the doubling showed it was enough, and the
  curve then costs half), else the longer. A doubling whose error rose beyond noise stops it too.

The pilot's runs at the chosen length are exactly the curve's runs of the largest size for those
seeds (same subset, same config), so the curve reuses them. Every pilot run is kept in the run
folder's pilot/ with the choice and its reason; a resumed pilot reads them and decides the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from datasize.curves.executors import execute
from datasize.curves.folder import RunFolder, curve_identity
from datasize.curves.plan import CurveConfig, RunSpec, plan_runs, run_config
from datasize.curves.run import make_tasks
from datasize.errors import RunsFailed
from datasize.noise import at_zero, binomial_variance
from datasize.training.models import ModelFactory
from datasize.training.preparation import Prepared
from datasize.vocab import DiagnosisKind

FIRST_EPOCHS = 4  # the first length tried: fastai's lesson default, enough for many small sets
# Under-fitting: a training error at least this share of the validation error, and at least the floor.
# The held-out low-detail photos at 4 epochs: 24% training error for 25% validation error (32 epochs
# gave 16%); a trained small CNN sits far below half (the digits sample: 0-0.5% against 1-2%).
UNDERFIT_SHARE = 0.5
UNDERFIT_FLOOR = 0.05
NOISE_SIGMAS = 2.0  # a doubling pays when it cuts the error by more than this many SE of the change
PILOT_SEEDS = 2  # runs per length: the seeds' spread is part of the noise; both are reused


@dataclass(frozen=True)
class PilotLength:
    """What the pilot saw at one training length."""

    epochs: int
    errors: tuple[float, ...]  # final validation error of each seed's run
    limited: bool  # a run was diagnosed too_few_epochs, or the runs had not fit their training images
    n_valid: int
    # The validation images each seed's run got wrong (by seed, in order): pairs two lengths' runs.
    wrong: tuple[frozenset[str], ...] | None = None
    train_errors: tuple[float, ...] = ()  # each run's error on its own training images

    @property
    def mean(self) -> float:
        return float(np.mean(self.errors))

    @property
    def underfit(self) -> bool:
        """The runs have not fit their own training images (see UNDERFIT_SHARE)."""
        if not self.train_errors:
            return False
        train = float(np.mean(self.train_errors))
        return train >= UNDERFIT_FLOOR and train >= UNDERFIT_SHARE * self.mean

    @property
    def se(self) -> float:
        """Standard error of the mean error: the seeds' spread, never below binomial noise."""
        spread = float(np.var(self.errors, ddof=1)) if len(self.errors) > 1 else 0.0
        return math.sqrt(max(spread, float(binomial_variance(self.mean, self.n_valid))) / len(self.errors))


@dataclass(frozen=True)
class EpochChoice:
    """The training length the pilot chose, why, and what it saw at each length."""

    epochs: int
    reason: str
    lengths: tuple[PilotLength, ...]
    capped: bool = False  # stopped at --max-epochs while its last doubling still paid (or was limited)

    def to_dict(self) -> dict[str, Any]:
        return {
            "epochs": self.epochs,
            "reason": self.reason,
            "lengths": [
                {
                    "epochs": p.epochs,
                    "errors": list(p.errors),
                    "mean_error": p.mean,
                    "se": p.se,
                    "limited": p.limited,
                    "train_errors": list(p.train_errors),
                }
                for p in self.lengths
            ],
            "capped": self.capped,
        }


def next_length(seen: list[PilotLength], *, max_epochs: int) -> int | EpochChoice:
    """The next length to try (an int), or the choice once the lengths seen decide it.

    >>> def at(e, errors, limited=False):
    ...     return PilotLength(e, errors, limited, n_valid=400)
    >>> next_length([at(4, (0.20, 0.21), limited=True)], max_epochs=32)
    8
    >>> seen = [at(4, (0.20, 0.21), True), at(8, (0.10, 0.11)), at(16, (0.10, 0.10))]
    >>> next_length(seen, max_epochs=32).epochs
    8
    >>> next_length([at(4, (0.0, 0.0025))], max_epochs=32).epochs  # 0 and 1 of 400 wrong: at zero
    4
    """
    last = seen[-1]
    if not last.limited and all(at_zero(e, last.n_valid) for e in last.errors):
        return _choice(
            last.epochs,
            seen,
            f"every run at {last.epochs} epochs was within one of {last.n_valid:,} validation images of "
            "zero: longer training cannot show a lower error",
        )
    if len(seen) >= 2:
        before = seen[-2]
        change = before.mean - last.mean
        noise = NOISE_SIGMAS * change_se(before, last)
        if change < -noise:
            return _choice(
                before.epochs,
                seen,
                f"{_err(last)} at {last.epochs} epochs was worse than "
                f"{_err(before)} at {before.epochs} beyond noise: more training hurt",
            )
        if change <= noise and not last.limited:
            chosen = last if before.limited else before
            why = (
                f"doubling from {before.epochs} to {last.epochs} epochs changed the error by "
                f"{100 * -change:+.2f} points ({_err(before)} to {_err(last)}), within the noise of "
                f"{100 * noise:.2f}"
            )
            if before.limited:
                why += f", and {before.epochs} epochs were {_limited_words(before)}"
            return _choice(chosen.epochs, seen, why)
    if 2 * last.epochs > max_epochs:
        state = f"still limited by training ({_limited_words(last)})" if last.limited else "still improving"
        return _choice(
            last.epochs,
            seen,
            f"{last.epochs} epochs is the most allowed (max_epochs "
            f"{max_epochs}); the run was {state}: allow more with --max-epochs",
            capped=True,
        )
    return 2 * last.epochs


def change_se(before: PilotLength, after: PilotLength) -> float:
    """Standard error of the change in mean error from `before` to `after`: paired on the images
    when both lengths know which images each seed got wrong, else from the two means' own errors.

    >>> a = PilotLength(4, (0.25,), False, 4, wrong=(frozenset({"a", "b"}),))
    >>> b = PilotLength(8, (0.25,), False, 4, wrong=(frozenset({"b", "c"}),))
    >>> round(change_se(a, b), 4)  # two of four images flipped, one each way: sqrt(2) / 4
    0.3536
    """
    pairs = len(before.wrong or ()) == len(after.wrong or ()) == len(before.errors) == len(after.errors)
    if not (pairs and before.wrong and before.n_valid == after.n_valid):
        return math.hypot(before.se, after.se)
    n = before.n_valid
    changes, variances = [], []
    for was, now in zip(before.wrong, after.wrong, strict=True):
        fixed, broken = len(was - now), len(now - was)
        d = (fixed - broken) / n
        changes.append(d)
        # Variance of the mean of per-image changes in {-1, 0, 1}; at least one image's flip.
        variances.append(max(fixed + broken - n * d * d, 1.0) / n**2)
    spread = float(np.var(changes, ddof=1)) if len(changes) > 1 else 0.0
    return math.sqrt(max(float(np.mean(variances)), spread) / len(changes))


def _limited_words(length: PilotLength) -> str:
    if length.underfit:
        train = 100 * float(np.mean(length.train_errors))
        return f"under-trained: {train:.1f}% of their own training images wrong, {_err(length)} of validation"
    return "diagnosed too_few_epochs"


def _choice(epochs: int, seen: list[PilotLength], reason: str, *, capped: bool = False) -> EpochChoice:
    return EpochChoice(epochs, reason, tuple(seen), capped)


def _err(length: PilotLength) -> str:
    return f"{100 * length.mean:.2f}%"


def pilot_length(epochs: int, records: list[dict[str, Any]]) -> PilotLength:
    """A length's runs, as the rule reads them (a failed run counts as limited: it teaches nothing);
    RunsFailed when every one failed."""
    RunsFailed.check(records, f"the pilot at {epochs} epochs")
    ok = [r for r in records if r.get("status") == "ok"]
    errors = tuple(float(r["error_rate"]) for r in ok) or (1.0,)
    limited = len(ok) < len(records) or any(
        str(DiagnosisKind.TOO_FEW_EPOCHS) in (r.get("diagnosis_detail") or {}).get("kinds", []) for r in ok
    )
    n_valid = max([int(r["n_valid"]) for r in ok] or [2])
    train_errors = tuple(float(r["train_error"]) for r in ok if r.get("train_error") is not None)
    wrong = None
    if ok and len(ok) == len(records) and all(r.get("predictions") for r in ok):
        wrong = tuple(
            frozenset(p["path"] for p in r["predictions"] if p["predicted"] != p["label"]) for r in ok
        )
    length = PilotLength(epochs, errors, limited, n_valid, wrong, train_errors)
    return replace(length, limited=True) if length.underfit else length


RunLength = Callable[[int], list[dict[str, Any]]]  # epochs -> the pilot's run records at that length


def search_epochs(run_length: RunLength, *, start: int, max_epochs: int) -> EpochChoice:
    """Run lengths start, 2 x start, ... through `run_length` until `next_length` chooses one."""
    seen = [pilot_length(start, run_length(start))]
    while True:
        step = next_length(seen, max_epochs=max_epochs)
        if isinstance(step, EpochChoice):
            return step
        seen.append(pilot_length(step, run_length(step)))


def with_epochs(config: CurveConfig, epochs: int) -> CurveConfig:
    """The curve's config with a training length of `epochs`."""
    return replace(config, train=replace(config.train, epochs=epochs))


def pilot_specs(config: CurveConfig, n_train: int) -> list[RunSpec]:
    """The pilot's runs of one length: the curve's largest size, its first PILOT_SEEDS seeds."""
    specs = plan_runs(config, n_train)
    largest = max(s.n_train for s in specs)
    return [s for s in specs if s.n_train == largest][:PILOT_SEEDS]


OnPilot = Callable[[int, dict[str, Any]], None]  # (epochs, record) after each pilot run


def choose_epochs(
    prepared: Prepared,
    config: CurveConfig,
    *,
    lr: float,
    folder: RunFolder,
    jobs: int = 1,
    threads: int | None = None,
    scheduler: Any = None,
    on_pilot: OnPilot | None = None,
    model_factory: ModelFactory | None = None,
) -> EpochChoice:
    """Run (or resume) the pilot of `config` (auto_epochs) and choose the curve's training length.

    The pilot's runs go to the run folder's pilot/ as they finish, and the choice to
    pilot/choice.json; runs found there are not run again. Runs go where the curve's go.
    """
    n_train = len(prepared.data.train)
    start = with_epochs(config, config.train.epochs)
    identity = {**curve_identity(prepared, start, model_factory), "lr": lr}
    del identity["curve"]["max_epochs"]  # raising the cap later continues the same pilot
    folder.open_pilot(identity)

    def run_length(epochs: int) -> list[dict[str, Any]]:
        sized = with_epochs(config, epochs)
        specs = pilot_specs(sized, n_train)
        records = {s.seed: folder.pilot_run(epochs, s.seed) for s in specs}
        todo = [s for s in specs if records[s.seed] is None]
        local = jobs if scheduler is None else None
        plan = run_config(sized, lr, n_train)
        tasks = make_tasks(prepared, sized, todo, plan, local, threads, model_factory)
        for spec, record in execute(tasks, jobs=jobs, scheduler=scheduler):
            folder.write_pilot_run(epochs, spec.seed, record)
            records[spec.seed] = record
            if on_pilot:
                on_pilot(epochs, record)
        return [records[s.seed] for s in specs]

    choice = search_epochs(run_length, start=config.train.epochs, max_epochs=config.max_epochs)
    folder.write_pilot_choice(choice.to_dict())
    return choice


def pilot_note(choice: EpochChoice | None) -> str | None:
    """The sentence a verdict adds when the pilot stopped at its cap while training still paid."""
    if choice is None or not choice.capped:
        return None
    return (
        f"The pilot stopped at the cap of {choice.epochs} epochs while longer training still paid "
        f"({choice.reason.split('; ', 1)[-1]}): the right end of the curve is limited by training, "
        "not by data; raise --max-epochs (recipe: max_epochs) to measure the data."
    )


def reuse_pilot_runs(config: CurveConfig, choice: EpochChoice, *, n_train: int, folder: RunFolder) -> int:
    """Write the pilot's runs at the chosen length as the curve's runs they are; returns how many
    (none already there are touched)."""
    finished = folder.finished_runs()
    reused = 0
    for spec in pilot_specs(with_epochs(config, choice.epochs), n_train):
        record = folder.pilot_run(choice.epochs, spec.seed)
        if record is not None and spec.name not in finished:
            folder.write_run(spec.name, record)
            reused += 1
    return reused
