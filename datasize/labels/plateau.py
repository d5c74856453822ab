"""Whether wrong labels explain where a learning curve levels off: the sentence the curve's verdict adds.

A validation image with a wrong label counts as an error even for a perfect model, so a share r of
wrong labels puts a floor near r under the measured error, and more images of the same kind cannot
lower it. When the curve levels off and its error is close to the estimated share of wrong labels,
fixing labels comes before collecting images.
"""

from __future__ import annotations

from typing import Any

from datasize.noise import error_noise
from datasize.text import pct


def labels_explain_plateau(*, error_rate: float, n_valid: int, noise_rate: float, levelling: bool) -> bool:
    """True when the curve levels off and the estimated share of wrong labels is near its error.

    Near means: the wrong labels account for at least half the error, no more than the error plus twice
    its measurement noise (sqrt(p(1-p)/n_valid)), and more than that noise (else they change nothing
    a validation set can see).

    >>> labels_explain_plateau(error_rate=0.115, n_valid=360, noise_rate=0.10, levelling=True)
    True
    >>> labels_explain_plateau(error_rate=0.115, n_valid=360, noise_rate=0.10, levelling=False)
    False
    >>> labels_explain_plateau(error_rate=0.015, n_valid=360, noise_rate=0.01, levelling=True)  # within noise
    False
    >>> labels_explain_plateau(error_rate=0.20, n_valid=360, noise_rate=0.05, levelling=True)  # a quarter
    False
    """
    noise = 2 * error_noise(min(max(error_rate, 0.0), 1.0), n_valid)
    near = 0.5 * error_rate <= noise_rate <= error_rate + noise
    return bool(levelling and near and noise_rate > noise)


def plateau_note(
    labels: dict[str, Any] | None,
    *,
    error_rate: float,
    n_valid: int,
    levelling: bool,
    images_fingerprint: str,
    split_fingerprint: str,
) -> str | None:
    """The sentence for a curve's verdict when a labels check of the same data and split (its
    labels_summary.json, as a dict) says that wrong labels explain the plateau; None otherwise."""
    if not labels:
        return None
    data = labels.get("data") or {}
    same = (
        data.get("images_fingerprint") == images_fingerprint
        and data.get("split_fingerprint") == split_fingerprint
    )
    noise_rate = labels.get("noise_rate")
    if not same or noise_rate is None:
        return None
    if not labels_explain_plateau(
        error_rate=error_rate, n_valid=n_valid, noise_rate=float(noise_rate), levelling=levelling
    ):
        return None
    flagged = len(labels.get("issues") or [])
    return (
        f"Fix labels before collecting images: the error levels off near {pct(error_rate)}, and an estimated "
        f"{pct(noise_rate)} of the labels are wrong (datasize labels flagged {flagged:,} images, in "
        "label_issues.csv)."
    )
