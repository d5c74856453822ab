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


def count(n: int, noun: str, plural: str | None = None) -> str:
    """A count with its noun, singular for one: "1 error", "0 errors", "3 notes".

    >>> count(1, "error"), count(0, "error"), count(2, "class", "classes")
    ('1 error', '0 errors', '2 classes')
    """
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
