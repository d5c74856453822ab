"""What the runs measured, as the fits see it: the error at each training-set size with its noise (the
`Curve`), the table of those points, and the overfitting seen at each size.

Computation only; nothing here prints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from datasize.noise import binomial_variance


@dataclass(frozen=True)
class Curve:
    """A learning curve as the fits see it: one entry per training-set size, smallest first."""

    n: np.ndarray  # training images
    errors: tuple[np.ndarray, ...]  # the finished runs' validation errors at each n (one per seed)
    n_valid: int  # validation images (one fixed set for every run)

    @property
    def mean(self) -> np.ndarray:
        return np.array([e.mean() for e in self.errors])

    @property
    def seeds(self) -> np.ndarray:
        return np.array([len(e) for e in self.errors])

    @property
    def run_variance(self) -> np.ndarray:
        """Variance of one run's error: the seeds' spread, never below the binomial noise (3 seeds
        often agree by chance, and a fixed validation set adds noise that seeds do not show)."""
        spread = np.array([e.var(ddof=1) if len(e) > 1 else 0.0 for e in self.errors])
        return np.maximum(spread, binomial_variance(self.mean, self.n_valid))

    @property
    def se(self) -> np.ndarray:
        """Standard error of each mean: the sigma of every fit."""
        return np.sqrt(self.run_variance / self.seeds)

    def spread_ratio(self) -> float:
        """How much more one run's error varies than binomial noise alone: the median over sizes."""
        return float(np.median(self.run_variance / binomial_variance(self.mean, self.n_valid)))

    def subset(self, keep: np.ndarray) -> Curve:
        return Curve(
            self.n[keep], tuple(e for e, k in zip(self.errors, keep, strict=True) if k), self.n_valid
        )


def curve_from_runs(runs: pd.DataFrame, *, n_column: str = "n_train") -> Curve:
    """Group runs (columns `n_column`, error_rate, n_valid) by training-set size into a Curve."""
    groups = runs.groupby(n_column, sort=True)["error_rate"]
    n = np.array([float(k) for k, _ in groups])
    errors = tuple(np.sort(g.to_numpy(dtype=float)) for _, g in groups)
    return Curve(n, errors, int(runs["n_valid"].max()))


def overfitting_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Per training-set size: finished runs, the share diagnosed overfitting, the median onset epoch,
    and the train/valid gap (validation error minus the error on the run's own training subset)."""
    missing = pd.Series(np.nan, index=runs.index)
    table = pd.DataFrame(
        {
            "n_train": runs["n_train"],
            "error_rate": runs["error_rate"],
            "train": pd.to_numeric(runs.get("train_error", missing), errors="coerce"),
            "overfitting": runs.get("diagnosis", missing).astype(str).eq("overfitting"),
            "onset": pd.to_numeric(runs.get("overfit_onset_epoch", missing), errors="coerce"),
        }
    )
    table["gap"] = table["error_rate"] - table["train"]
    summary = table.groupby("n_train", sort=True).agg(
        runs=("error_rate", "size"),
        error_rate=("error_rate", "mean"),
        train_error=("train", "mean"),
        gap=("gap", "mean"),
        overfitting_share=("overfitting", "mean"),
        onset_epoch=("onset", "median"),
    )
    return summary.reset_index()


def points_table(ok: pd.DataFrame, curve: Curve) -> pd.DataFrame:
    n = curve.n.astype(int)
    fraction = ok.groupby("n_train")["fraction"].first().reindex(n) if "fraction" in ok else np.nan
    return pd.DataFrame(
        {
            "n_train": n,
            "fraction": np.asarray(fraction, dtype=float) if "fraction" in ok else np.nan,
            "runs": curve.seeds,
            "error_rate": curve.mean,
            "sd": [e.std(ddof=1) if len(e) > 1 else np.nan for e in curve.errors],
            "se": curve.se,
        }
    )
