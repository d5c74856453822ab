"""The noise of an error rate measured on a fixed validation set: one formula for the diagnosis of a
run, the curve's seed stop, the forecast's intervals and the collection plan.

On n images an error rate p wobbles by about sqrt(p (1 - p) / n). p is kept within [1/n, 1 - 1/n],
so that a perfect (or perfectly wrong) score on a small validation set still carries the
uncertainty of one image.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike


def binomial_variance(error: ArrayLike, n_valid: int) -> np.ndarray:
    """Variance of an error rate measured on n_valid images, p(1-p)/n (see the module docstring).

    >>> round(float(binomial_variance(0.1, 100)), 6)
    0.0009
    """
    p = np.clip(np.asarray(error, dtype=float), 1 / n_valid, 1 - 1 / n_valid)
    return p * (1 - p) / n_valid


def error_noise(error_rate: float, n_valid: int) -> float:
    """Standard error of one error rate measured on n_valid images: sqrt(binomial_variance).

    Example:
        >>> round(error_noise(0.1, 100), 3)
        0.03
    """
    if isinstance(n_valid, bool) or not isinstance(n_valid, int | np.integer) or n_valid < 2:
        raise ValueError(f"n_valid={n_valid!r} must be an integer of at least 2")
    if not 0 <= error_rate <= 1:
        raise ValueError(f"error_rate={error_rate!r} must be between 0 and 1")
    return math.sqrt(float(binomial_variance(error_rate, n_valid)))
