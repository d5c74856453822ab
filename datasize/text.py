"""How datasize writes numbers in sentences: one percent format for verdicts, plans and reports."""

from __future__ import annotations

import math


def pct(error: float | None) -> str:
    """An error rate as a percentage: one decimal, two below 0.1%; "n/a" when unknown or not finite.

    >>> pct(0.0123), pct(0.0004), pct(None), pct(float("nan"))
    ('1.2%', '0.04%', 'n/a', 'n/a')
    """
    if error is None or not math.isfinite(error):
        return "n/a"
    return f"{100 * error:.{1 if abs(error) >= 0.001 else 2}f}%"
