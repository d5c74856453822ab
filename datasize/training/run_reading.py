"""A training run as the diagnosis reads it: its per-epoch table and step losses, checked once, and the
thresholds of the rules that read it (DiagnosisConfig, each with the reason for its value).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from datasize.noise import error_noise
from datasize.training.lr_curve import LRSuggestion

# The per-epoch table of a run, as the training loop writes it; the rules read all but the last two.
EPOCH_COLUMNS = ("epoch", "train_loss", "valid_loss", "error_rate", "accuracy", "time")
READ_COLUMNS = EPOCH_COLUMNS[:4]


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
class RunReading:
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


def read_run(
    epochs: pd.DataFrame,
    *,
    n_valid: int,
    n_classes: int,
    lr: float,
    batch_losses: ArrayLike | None,
    lr_suggestion: LRSuggestion | None,
    train_error: float | None,
    config: DiagnosisConfig,
) -> RunReading:
    if not isinstance(epochs, pd.DataFrame):
        raise ValueError(f"epochs must be a pandas DataFrame, not {type(epochs).__name__}")
    missing = [column for column in READ_COLUMNS if column not in epochs.columns]
    if missing:
        raise ValueError(f"epochs lacks column(s) {', '.join(missing)}; it needs {', '.join(READ_COLUMNS)}")
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
    return RunReading(
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
