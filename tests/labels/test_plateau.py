"""When wrong labels explain where a learning curve levels off: the rule, and the sentence."""

from __future__ import annotations

import pytest

from datasize.labels.plateau import labels_explain_plateau, plateau_note

SAME = {"images_fingerprint": "img", "split_fingerprint": "split"}
LABELS = {"noise_rate": 0.10, "issues": [{}] * 170, "data": SAME}


@pytest.mark.parametrize(
    ("error_rate", "noise_rate", "levelling", "expected"),
    [
        (0.115, 0.10, True, True),  # the error sits just above the wrong labels' share
        (0.115, 0.10, False, False),  # the curve still falls: collecting helps
        (0.30, 0.10, True, False),  # wrong labels are a third of the error
        (0.05, 0.10, True, False),  # more wrong labels than errors: the estimate is off
        (0.015, 0.010, True, False),  # within the validation set's own noise (360 images)
    ],
)
def test_labels_explain_a_plateau_only_when_it_levels_off_near_their_share(
    error_rate, noise_rate, levelling, expected
) -> None:
    got = labels_explain_plateau(
        error_rate=error_rate, n_valid=360, noise_rate=noise_rate, levelling=levelling
    )
    assert got is expected


def note(labels, **changes):
    options = {
        "error_rate": 0.115,
        "n_valid": 360,
        "levelling": True,
        "images_fingerprint": "img",
        "split_fingerprint": "split",
    } | changes
    return plateau_note(labels, **options)


def test_the_sentence_gives_both_figures() -> None:
    assert note(LABELS) == (
        "Fix labels before collecting images: the error levels off near 11.5%, and an estimated 10.0% of "
        "the labels are wrong (datasize labels flagged 170 images, in label_issues.csv)."
    )


def test_a_labels_check_of_other_data_or_another_split_says_nothing() -> None:
    assert note(LABELS, split_fingerprint="other") is None
    assert note(LABELS, images_fingerprint="other") is None
    assert note(None) is None
