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

ZERO_IMAGES = 1  # an error within this many validation images of zero is "at zero": the validation set
#   cannot measure below it, so nothing (training, images, ranking) can be shown to lower it
CONFIDENCE = 0.95  # of the upper bound an error at zero is quoted with


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


def at_zero(error_rate: float, n_valid: int) -> bool:
    """Whether a (mean) error rate is within ZERO_IMAGES validation images of zero.

    >>> at_zero(0.0, 300), at_zero(1 / 300, 300), at_zero(2 / 300, 300)
    (True, True, False)
    """
    return bool(math.isfinite(error_rate) and error_rate * n_valid <= ZERO_IMAGES + 1e-9)


def upper_bound(errors: int, n_valid: int, confidence: float = CONFIDENCE) -> float:
    """The one-sided upper confidence bound of an error rate of `errors` in `n_valid` images
    (Clopper-Pearson). For 0 errors it is 1 - (1 - confidence)^(1/n), about 3/n at 95%: the rule of three.

    >>> round(upper_bound(0, 300), 4), round(3 / 300, 4)
    (0.0099, 0.01)
    """
    if not 0 <= errors <= n_valid or n_valid < 1:
        raise ValueError(f"errors={errors!r} must be between 0 and n_valid={n_valid!r} (at least 1)")
    if errors == n_valid:
        return 1.0
    from scipy.stats import beta

    return float(beta.ppf(confidence, errors + 1, n_valid - errors))


def confirmable_gain(error_rate: float, n_valid: int, sigmas: float = 2.0) -> float:
    """The smallest fall in error that two measurements on `n_valid` validation images can tell from
    noise: `sigmas` standard errors of the difference of two such error rates.

    >>> round(confirmable_gain(0.10, 400), 4)
    0.0424
    """
    return sigmas * math.sqrt(2 * float(binomial_variance(error_rate, n_valid)))


def valid_images_for(gain: float, error_rate: float, sigmas: float = 2.0) -> int:
    """The validation images that make `gain` confirmable at `error_rate` (see `confirmable_gain`).

    >>> valid_images_for(0.008, 0.10)
    11250
    """
    p = min(max(error_rate, 1e-6), 1 - 1e-6)
    return math.ceil(2 * sigmas**2 * p * (1 - p) / gain**2 - 1e-9)
