"""The model as a lever: several models' curves on one split and plan, side by side.

`compare_models` runs `run_curve` once per model (the first model's split read by the rest) and
weighs changing the model against more images with the model in use (`forecasting.levers`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasize.curves.folder import RunFolder
from datasize.curves.plan import CurveConfig
from datasize.forecasting.levers import Comparison, model_curve
from datasize.io import write_bytes_atomic, write_json
from datasize.pipeline import CurveOutcome, Stage, run_curve
from datasize.report.comparison import COMPARISON_FILE, COMPARISON_PLOT
from datasize.report.plots import comparison_png
from datasize.training.loop import TrainConfig


@dataclass(frozen=True)
class ComparisonOutcome:
    """Several models' curves on one split and plan, and the comparison of their levers."""

    outcomes: tuple[CurveOutcome, ...] = field(repr=False)  # in the order the models were given
    comparison: Comparison | None  # None when a model's curve could not be forecast
    problem: str | None  # why there is no comparison
    folder: Path  # holds one run folder per model and comparison.json

    def summary(self) -> dict[str, Any]:
        """The JSON the `curve` command prints for several models and comparison.json holds."""
        return {
            "answer": self.comparison.sentence() if self.comparison else self.problem,
            "comparison": self.comparison.to_dict() if self.comparison else None,
            "models": [
                {"model": o.curve.config.train.describe(), "folder": str(o.folder), "verdict": o.verdict()}
                for o in self.outcomes
            ],
            "folder": str(self.folder),
        }


def compare_models(
    data: str | os.PathLike,
    *,
    configs: list[CurveConfig],
    out: str | os.PathLike,
    prepare_options: dict[str, Any] | None = None,
    on_stage: Stage | None = None,
    **where: Any,
) -> ComparisonOutcome:
    """The curve of each model (`configs`, the one in use first) on one split and plan, side by side.

    Each model gets its own run folder under `out` (named after it; resumed like any curve); the
    first model's split is every other model's, unless `prepare_options` name a split file. Writes
    ``out/comparison.json`` and ``out/comparison.png`` (the curves on one plot). `where` passes
    jobs, threads, scheduler, on_run, on_pilot and fail_on to `run_curve`.
    """
    if len(configs) < 2:
        raise ValueError("compare_models needs at least two models")
    names = [model_folder_name(c.train) for c in configs]
    if len(set(names)) < len(names):
        raise ValueError(f"the models {names} name the same model twice; give each once")
    stage = on_stage or (lambda _: None)
    options = dict(prepare_options or {})
    outcomes: list[CurveOutcome] = []
    for k, (config, name) in enumerate(zip(configs, names, strict=True)):
        stage(f"model {k + 1} of {len(configs)}: {config.train.describe()}")
        outcome = run_curve(
            data, config=config, out=Path(out) / name, prepare_options=options, on_stage=stage, **where
        )
        outcomes.append(outcome)
        options.setdefault("split_file", RunFolder(outcome.folder).split_csv)
    missing = [o.curve.config.train.describe() for o in outcomes if o.forecast is None]
    comparison, problem = None, None
    if missing:
        problem = f"no comparison: the curve of {', '.join(missing)} could not be forecast"
    else:
        comparison = Comparison(
            tuple(
                model_curve(o.curve.config.train.describe(), o.forecast, n_valid=len(o.prepared.data.valid))
                for o in outcomes
            )
        )
    result = ComparisonOutcome(tuple(outcomes), comparison, problem, Path(out))
    write_json(Path(out) / COMPARISON_FILE, result.summary())
    measured = {
        o.curve.config.train.describe(): o.forecast.points.to_dict("records") for o in outcomes if o.forecast
    }
    write_bytes_atomic(Path(out) / COMPARISON_PLOT, comparison_png(result.summary(), measured))
    return result


def model_folder_name(train: TrainConfig) -> str:
    """A model's run folder within a comparison: efficientnet_lite0-pretrained-frozen, convnet."""
    parts = [train.model.replace(":", "_")]
    parts += ["pretrained"] if train.pretrained else []
    parts += ["weights"] if train.weights else []
    parts += ["frozen"] if train.frozen else []
    parts += [f"finetune{train.freeze_epochs}"] if train.freeze_epochs else []
    return "-".join(parts)
