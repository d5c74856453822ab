"""The model as a lever: several models' curves on one split, side by side, and which lever to pull.

Each model's curve gives its error now (the mean at the largest size, with an 80% interval from the
seeds' spread and the validation set's binomial noise, whichever is larger) and its forecast at twice
the images. The first model is the one in use (the baseline). The sentence weighs the two levers a
curator can pull today: change to the best model measured, or double the images with the baseline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pandas as pd

from datasize.forecasting.estimates import Horizon
from datasize.forecasting.sizing import Forecast
from datasize.io import jsonable
from datasize.text import pct

Z80 = 1.2816  # two-sided 80%, the forecast's own interval


@dataclass(frozen=True)
class ModelCurve:
    """One model's measurement, as the comparison reads it."""

    model: str  # how the sentence names it: "efficientnet_lite0 (pretrained, frozen body)"
    n_train: int  # the largest size measured
    error_rate: float  # the mean error there
    low: float  # its 80% interval
    high: float
    at_2x: Horizon | None  # the forecast at twice the images; None when the curve could not be fitted

    def to_dict(self) -> dict[str, Any]:
        horizon = self.at_2x
        return jsonable(
            {
                "model": self.model,
                "n_train": self.n_train,
                "error_rate": self.error_rate,
                "low": self.low,
                "high": self.high,
                "n_train_2x": horizon.n_train if horizon else None,
                "expected_2x": horizon.expected if horizon else None,
                "low_2x": horizon.low if horizon else None,
                "high_2x": horizon.high if horizon else None,
            }
        )


def model_curve(model: str, result: Forecast, *, n_valid: int) -> ModelCurve:
    """A model's error now and at 2x from its forecast; `n_valid` sets the binomial noise floor."""
    point = result.points[result.points["n_train"] == result.n_train].iloc[0]
    p = result.error_rate
    se = max(float(point.get("se", 0.0) or 0.0), math.sqrt(max(p * (1 - p), 0.25 / n_valid) / n_valid))
    at_2x = next((h for h in result.horizons if h.multiple == 2), None)
    return ModelCurve(model, result.n_train, p, max(0.0, p - Z80 * se), min(1.0, p + Z80 * se), at_2x)


class Lever(StrEnum):
    """Which lever the comparison puts first."""

    MODEL = "model"  # change to the best model measured
    IMAGES = "images"  # more images with the model in use
    EITHER = "either"  # within each other's intervals


@dataclass(frozen=True)
class Comparison:
    """Several models measured on one split and plan; `models[0]` is the baseline (the one in use)."""

    models: tuple[ModelCurve, ...]

    def __post_init__(self) -> None:
        if len(self.models) < 2:
            raise ValueError("a comparison needs at least two models")

    @property
    def baseline(self) -> ModelCurve:
        return self.models[0]

    @property
    def best_now(self) -> ModelCurve:
        """The model with the lowest error at today's images (the baseline on a tie)."""
        return min(self.models, key=lambda m: m.error_rate)

    @property
    def lever(self) -> Lever:
        """Change the model (the best one now beats the baseline's forecast at 2x beyond both
        intervals), more images (the reverse, or the baseline is already the best), or either."""
        best, base = self.best_now, self.baseline
        if best is base:
            return Lever.IMAGES
        if base.at_2x is None:
            return Lever.MODEL if best.high < base.low else Lever.EITHER
        if best.high < base.at_2x.low:
            return Lever.MODEL
        if base.at_2x.high < best.low:
            return Lever.IMAGES
        return Lever.EITHER

    def sentence(self) -> str:
        """The answer in one sentence: what each lever gives, and which to pull first."""
        best, base = self.best_now, self.baseline
        now = f"{pct(best.error_rate)} error at today's {best.n_train:,} images"
        if best is base:
            others = ", ".join(f"{m.model} {pct(m.error_rate)}" for m in self.models[1:])
            more = (
                f"; doubling the images with it is forecast to reach {pct(base.at_2x.expected)}"
                if base.at_2x is not None
                else ""
            )
            if any(m.error_rate <= base.high for m in self.models[1:]):
                return (
                    f"No model measured beats the {base.model} you use ({now}; {others}, within the noise)"
                    f"{more}: more images (or training) first, not another model."
                )
            return (
                f"The {base.model} you use already has the lowest error measured ({now}; {others}){more}: "
                "more images (or training) first, not another model."
            )
        if base.at_2x is None:
            images = f"{base.model} has {pct(base.error_rate)} now and its curve could not be extended"
        else:
            images = (
                f"doubling the images with {base.model} is forecast to reach {pct(base.at_2x.expected)} "
                f"(80% interval {pct(base.at_2x.low)}-{pct(base.at_2x.high)})"
            )
        first = base.at_2x is None or best.error_rate <= base.at_2x.expected
        even = (
            "their 80% intervals overlap, and the model change needs no new images: try it first"
            if first
            else f"their 80% intervals overlap; more images with {base.model} are expected to do a "
            "little better, the model change needs none"
        )
        advice = {
            Lever.MODEL: "change the model first",
            Lever.IMAGES: "more images first",
            Lever.EITHER: even,
        }[self.lever]
        return f"The {best.model} has {now}; {images}: {advice}."

    def table(self) -> pd.DataFrame:
        """One row per model: error now with its interval, the forecast at 2x with its interval."""
        return pd.DataFrame([m.to_dict() for m in self.models])

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.sentence(),
            "lever": str(self.lever),
            "baseline": self.baseline.model,
            "best_now": self.best_now.model,
            "models": [m.to_dict() for m in self.models],
        }
