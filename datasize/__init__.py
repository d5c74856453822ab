"""datasize: is my image dataset sound, and do I need more images — how many?

The public API is re-exported here and imported on first use, so that `import datasize` and
`datasize --help` stay fast (pandas, Great Expectations and torch load only when needed).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "prepare": "datasize.training.preparation",
    "Prepared": "datasize.training.preparation",
    "lr_find": "datasize.training.lr_finder",
    "fit_one_cycle": "datasize.training.loop",
    "TrainConfig": "datasize.training.loop",
    "save_model": "datasize.training.model_file",
    "load_model": "datasize.training.model_file",
    "train_data": "datasize.training.batches",
    "build_cache": "datasize.training.cache",
    "diagnose": "datasize.training.diagnosis",
    "learning_curve": "datasize.curves.runner",
    "CurveConfig": "datasize.curves.plan",
    "forecast": "datasize.forecasting.sizing",
    "Forecast": "datasize.forecasting.sizing",
    "find_label_issues": "datasize.labels.runner",
    "LabelIssues": "datasize.labels.issues",
    "LabelsConfig": "datasize.labels.plan",
    "run_curve": "datasize.pipeline",
    "compare_models": "datasize.comparison",
    "Backbone": "datasize.training.backbones",
    "build_feature_cache": "datasize.training.features",
    "plan_collection": "datasize.planning.collection",
    "CollectionPlan": "datasize.planning.collection",
    "build_report": "datasize.report.document",
    "write_report": "datasize.report.render",
    "load_recipe": "datasize.recipe",
    "run_recipe": "datasize.recipe",
    "scan": "datasize.dataset.manifest",
    "read_manifest": "datasize.dataset.manifest",
    "validate": "datasize.dataset.validation",
    "Findings": "datasize.dataset.validation",
    "CheckConfig": "datasize.dataset.checks",
    "load_suite": "datasize.dataset.expectations",
    "save_suite": "datasize.dataset.expectations",
    "split": "datasize.dataset.splits",
    "SplitResult": "datasize.dataset.splits",
    "read_split": "datasize.dataset.splits",
    "write_split": "datasize.dataset.splits",
    "SeededSplit": "datasize.dataset.splits",
    "Check": "datasize.vocab",
    "Severity": "datasize.vocab",
    "SplitMethod": "datasize.vocab",
}

__all__ = [
    "Backbone",
    "Check",
    "CheckConfig",
    "CollectionPlan",
    "CurveConfig",
    "Findings",
    "Forecast",
    "LabelIssues",
    "LabelsConfig",
    "Prepared",
    "SeededSplit",
    "Severity",
    "SplitMethod",
    "SplitResult",
    "TrainConfig",
    "__version__",
    "build_cache",
    "build_feature_cache",
    "build_report",
    "compare_models",
    "diagnose",
    "find_label_issues",
    "fit_one_cycle",
    "forecast",
    "learning_curve",
    "load_model",
    "load_recipe",
    "load_suite",
    "lr_find",
    "plan_collection",
    "prepare",
    "read_manifest",
    "read_split",
    "run_curve",
    "run_recipe",
    "save_model",
    "save_suite",
    "scan",
    "split",
    "train_data",
    "validate",
    "write_report",
    "write_split",
]

if TYPE_CHECKING:
    from datasize.comparison import compare_models
    from datasize.curves.plan import CurveConfig
    from datasize.curves.runner import learning_curve
    from datasize.dataset.checks import CheckConfig
    from datasize.dataset.expectations import load_suite, save_suite
    from datasize.dataset.manifest import read_manifest, scan
    from datasize.dataset.splits import SeededSplit, SplitResult, read_split, split, write_split
    from datasize.dataset.validation import Findings, validate
    from datasize.forecasting.sizing import Forecast, forecast
    from datasize.labels.issues import LabelIssues
    from datasize.labels.plan import LabelsConfig
    from datasize.labels.runner import find_label_issues
    from datasize.pipeline import run_curve
    from datasize.planning.collection import CollectionPlan, plan_collection
    from datasize.recipe import load_recipe, run_recipe
    from datasize.report.document import build_report
    from datasize.report.render import write_report
    from datasize.training.backbones import Backbone
    from datasize.training.batches import train_data
    from datasize.training.cache import build_cache
    from datasize.training.diagnosis import diagnose
    from datasize.training.features import build_feature_cache
    from datasize.training.loop import TrainConfig, fit_one_cycle
    from datasize.training.lr_finder import lr_find
    from datasize.training.model_file import load_model, save_model
    from datasize.training.preparation import Prepared, prepare
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
