"""datasize: is my image dataset sound, and do I need more images — how many?

The public API is re-exported here and imported on first use, so that `import datasize` and
`datasize --help` stay fast (pandas, Great Expectations and torch load only when needed).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
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
    "Findings",
    "SeededSplit",
    "Severity",
    "SplitMethod",
    "SplitResult",
    "__version__",
    "load_suite",
    "read_manifest",
    "read_split",
    "save_suite",
    "scan",
    "split",
    "validate",
    "write_split",
]

if TYPE_CHECKING:
    from datasize.checks import CheckConfig
    from datasize.expectations import load_suite, save_suite
    from datasize.manifest import read_manifest, scan
    from datasize.splits import SeededSplit, SplitResult, read_split, split, write_split
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
