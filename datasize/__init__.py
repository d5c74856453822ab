"""datasize: is my image dataset sound, and do I need more images — how many?

The public API is re-exported here and imported on first use, so that `import datasize` and
`datasize --help` stay fast (pandas, Great Expectations and torch load only when needed).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "prepare": "datasize.preparation",
    "Prepared": "datasize.preparation",
    "lr_find": "datasize.lr_finder",
    "fit_one_cycle": "datasize.train",
    "TrainConfig": "datasize.train",
    "train_data": "datasize.batches",
    "build_cache": "datasize.cache",
    "diagnose": "datasize.diagnosis",
    "learning_curve": "datasize.curve",
    "CurveConfig": "datasize.curve",
    "forecast": "datasize.forecasting",
    "Forecast": "datasize.forecasting",
    "run_curve": "datasize.pipeline",
    "plan_collection": "datasize.plan",
    "CollectionPlan": "datasize.plan",
    "build_report": "datasize.report.document",
    "write_report": "datasize.report.render",
    "load_recipe": "datasize.recipe",
    "run_recipe": "datasize.recipe",
    "scan": "datasize.manifest",
    "read_manifest": "datasize.manifest",
    "validate": "datasize.validation",
    "Findings": "datasize.validation",
    "CheckConfig": "datasize.checks",
    "load_suite": "datasize.expectations",
    "save_suite": "datasize.expectations",
    "split": "datasize.splits",
    "SplitResult": "datasize.splits",
    "read_split": "datasize.splits",
    "write_split": "datasize.splits",
    "SeededSplit": "datasize.splits",
    "Check": "datasize.vocab",
    "Severity": "datasize.vocab",
    "SplitMethod": "datasize.vocab",
}

__all__ = [
    "Check",
    "CheckConfig",
    "CollectionPlan",
    "CurveConfig",
    "Findings",
    "Forecast",
    "Prepared",
    "SeededSplit",
    "Severity",
    "SplitMethod",
    "SplitResult",
    "TrainConfig",
    "__version__",
    "build_cache",
    "build_report",
    "diagnose",
    "fit_one_cycle",
    "forecast",
    "learning_curve",
    "load_recipe",
    "load_suite",
    "lr_find",
    "plan_collection",
    "prepare",
    "read_manifest",
    "read_split",
    "run_curve",
    "run_recipe",
    "save_suite",
    "scan",
    "split",
    "train_data",
    "validate",
    "write_report",
    "write_split",
]

if TYPE_CHECKING:
    from datasize.batches import train_data
    from datasize.cache import build_cache
    from datasize.checks import CheckConfig
    from datasize.curve import CurveConfig, learning_curve
    from datasize.diagnosis import diagnose
    from datasize.expectations import load_suite, save_suite
    from datasize.forecasting import Forecast, forecast
    from datasize.lr_finder import lr_find
    from datasize.manifest import read_manifest, scan
    from datasize.pipeline import run_curve
    from datasize.plan import CollectionPlan, plan_collection
    from datasize.preparation import Prepared, prepare
    from datasize.recipe import load_recipe, run_recipe
    from datasize.report.document import build_report
    from datasize.report.render import write_report
    from datasize.splits import SeededSplit, SplitResult, read_split, split, write_split
    from datasize.train import TrainConfig, fit_one_cycle
    from datasize.validation import Findings, validate
    from datasize.vocab import Check, Severity, SplitMethod


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'datasize' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # resolve each name once

    return value


def __dir__() -> list[str]:
    return __all__
