"""diagnose(): one behaviour per test, on epoch tables and step losses shaped like real runs."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from datasize.training.diagnosis import (
    Diagnosis,
    DiagnosisConfig,
    DiagnosisKind,
    OverfitType,
    diagnose,
    error_noise,
)
from datasize.training.lr_curve import LRSuggestion, SuggestMethod

OK = DiagnosisKind.OK
HIGH = DiagnosisKind.LR_TOO_HIGH
LOW = DiagnosisKind.LR_TOO_LOW
FEW = DiagnosisKind.TOO_FEW_EPOCHS
OVERFIT = DiagnosisKind.OVERFITTING
LN10 = math.log(10)


def table(train: list[float], valid: list[float], error: list[float]) -> pd.DataFrame:
    """An epoch table as training writes it."""
    return pd.DataFrame(
        {
            "epoch": range(1, len(train) + 1),
            "train_loss": train,
            "valid_loss": valid,
            "error_rate": error,
            "accuracy": [1 - e for e in error],
            "time": 1.5,
        }
    )


def finder(*, valley: float = 1e-3, lr_diverged: float | None = 0.3) -> LRSuggestion:
    """An LR finder result whose valley and divergence point are given."""
    return LRSuggestion(
        valley=valley,
        steep=valley * 2,
        minimum=valley * 3,
        lr_at_min_loss=valley * 30,
        lr_diverged=lr_diverged,
        method=SuggestMethod.VALLEY,
        confident=True,
        reasons=(),
        spread_decades=0.5,
    )


def steps(
    start: float, end: float, n: int, *, scale: float, seed: int = 0, noise: float = 0.03
) -> np.ndarray:
    """Step losses falling from start towards end with time constant `scale` steps, plus 3% noise."""
    t = np.arange(n)
    clean = end + (start - end) * np.exp(-t / scale)
    return clean * (1 + noise * np.random.default_rng(seed).standard_normal(n))


# A healthy 4-epoch one-cycle run on 10 classes: the error settles (0.03 -> 0.025 is within noise).
HEALTHY = table([1.2, 0.35, 0.15, 0.10], [0.8, 0.28, 0.11, 0.09], [0.30, 0.08, 0.03, 0.025])
# The learning rate was 1e-6: the loss sits at ln 10 = 2.303 and creeps down.
CREEPING = table([2.305, 2.303, 2.301, 2.299], [2.303, 2.302, 2.301, 2.300], [0.90, 0.89, 0.90, 0.90])
# 20 epochs on a tiny subset: valid loss lowest at epoch 4, then climbs to 2x; train loss goes to ~0.
OVERFIT_VALID = [2.0, 1.5, 1.1, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15, 1.2] + [1.25 + 0.06 * i for i in range(10)]
OVERFIT_TRAIN = list(2.0 * 0.7 ** np.arange(20))
OVERFIT_BEST = [0.70, 0.50, 0.35, 0.30, 0.29, 0.28, 0.29, 0.30, 0.30, 0.31]


def overfit_run(final_errors: list[float]) -> pd.DataFrame:
    return table(OVERFIT_TRAIN, OVERFIT_VALID, OVERFIT_BEST + final_errors)


def run(epochs: pd.DataFrame, **kwargs) -> Diagnosis:
    """diagnose() with the usual setting: 360 validation images, 10 classes, lr 1e-3."""
    return diagnose(epochs, **{"n_valid": 360, "n_classes": 10, "lr": 1e-3, **kwargs})


# noise floor


def test_noise_is_the_standard_error_of_the_error_rate() -> None:
    assert error_noise(0.1, 100) == pytest.approx(0.03)


def test_noise_of_a_perfect_score_is_that_of_one_wrong_image() -> None:
    assert error_noise(0.0, 100) == pytest.approx(math.sqrt(0.01 * 0.99 / 100))


def test_diagnosis_noise_is_taken_at_the_best_error() -> None:
    assert run(HEALTHY).noise == pytest.approx(math.sqrt(0.025 * 0.975 / 360))


# healthy runs


def test_a_healthy_four_epoch_run_is_ok() -> None:
    result = run(HEALTHY, batch_losses=steps(2.3, 0.1, 200, scale=25), lr_suggestion=finder())
    assert result.kinds == (OK,)
    assert result.primary is OK
    assert result.items[0].message.startswith("Training looks healthy: the validation error ended at 0.025")
    assert result.overfit_onset_epoch is None


def test_a_healthy_single_epoch_run_is_ok() -> None:
    # A fine-tune that settles early: it still creeps from 0.14 to 0.10 mid-run, a large relative fall
    # but a tiny share of its whole fall.
    result = run(table([0.4], [0.12], [0.03]), batch_losses=steps(2.2, 0.1, 100, scale=10))
    assert result.kinds == (OK,)


# learning rate too high


def test_a_nan_step_loss_means_lr_too_high() -> None:
    losses = np.concatenate([[2.3, 2.4, 3.1, 8.0, 40.0], np.full(115, 900.0)])
    losses[36:] = math.nan
    result = run(table([math.nan], [math.nan], [0.9]), batch_losses=losses, lr=3e-3)
    assert result.kinds == (HIGH,)
    assert result.items[0].message == (
        "Learning rate too high: the training loss became NaN at step 37 of 120. "
        "Try a learning rate 10x lower (3e-4)."
    )
    assert result.items[0].evidence["nonfinite_step"] == 37


def test_a_nan_epoch_loss_means_lr_too_high_without_step_losses() -> None:
    result = run(table([2.1, math.inf], [2.0, math.nan], [0.8, 0.9]))
    assert result.kinds == (HIGH,)
    assert "the training loss was infinite at epoch 2 of 2" in result.items[0].message


def test_a_step_loss_that_passes_4x_its_minimum_means_lr_too_high() -> None:
    losses = np.concatenate([steps(2.3, 1.0, 60, scale=20), np.full(60, 30.0)])
    result = run(table([1.6, 9.0], [1.5, 2.2], [0.5, 0.85]), batch_losses=losses)
    assert result.kinds == (HIGH,)
    assert result.items[0].evidence["diverged_step"] > 60
    assert "over 4x its lowest value so far" in result.items[0].message


def test_a_relative_rise_near_zero_loss_is_not_divergence() -> None:
    # A tiny training set fitted to ~0.001; one misclassified image lifts a step's loss 100x.
    losses = np.concatenate([steps(2.3, 0.001, 200, scale=20), [0.5, 0.3, 0.2], np.full(20, 0.001)])
    result = run(HEALTHY, batch_losses=losses)
    assert HIGH not in result.kinds


def test_a_validation_loss_that_blows_up_while_training_fails_means_lr_too_high() -> None:
    result = run(table([3.5, 3.0, 2.6], [2.4, 4.0, 5.1], [0.8, 0.85, 0.88]))
    assert result.kinds == (HIGH,)
    assert "the validation loss ended at 5.1" in result.items[0].message


def test_error_stuck_at_chance_with_a_loss_that_does_not_fall_means_lr_too_high() -> None:
    # lr 10 that did not produce NaN: the model collapsed to a constant guess.
    flat = table([2.31, 2.30, 2.31, 2.31], [2.30, 2.30, 2.30, 2.30], [0.90, 0.90, 0.90, 0.90])
    result = run(flat, lr=10.0)
    assert result.kinds == (HIGH,)
    assert "no better than guessing among 10 classes (0.90)" in result.items[0].message
    assert "the training loss did not fall" in result.items[0].message


def test_error_stuck_at_chance_after_a_loss_spike_means_lr_too_high() -> None:
    spiky = table([5.2, 2.35, 2.31, 2.30], [2.30, 2.30, 2.30, 2.30], [0.90, 0.90, 0.90, 0.90])
    result = run(spiky, lr=10.0)
    assert result.kinds == (HIGH,)
    assert "after the training loss had jumped to 5.2" in result.items[0].message


def test_lr_close_to_where_the_finder_blew_up_is_mentioned() -> None:
    result = run(CREEPING, lr=0.1, lr_suggestion=finder(valley=1e-3, lr_diverged=0.3))
    assert result.kinds == (HIGH,)
    message = result.items[0].message
    assert "the learning rate 1e-1 is close to where the LR finder's loss blew up (3e-1)" in message
    assert message.endswith("Try the LR finder's suggestion (1e-3).")


# learning rate too low


def test_a_loss_creeping_down_from_chance_means_lr_too_low() -> None:
    result = run(CREEPING, lr=1e-6)
    assert result.kinds == (LOW,)
    assert "the training loss barely moved (2.305 to 2.299, 0.3% lower)" in result.items[0].message
    assert result.items[0].advice.startswith("Try a learning rate 10x higher (1e-5)")


def test_lr_far_below_the_finder_valley_is_named() -> None:
    result = run(CREEPING, lr=1e-6, lr_suggestion=finder(valley=1e-3))
    assert result.kinds == (LOW,)
    assert (
        "the learning rate 1e-6 is 3.0 decades below the LR finder's suggestion (1e-3)"
        in result.items[0].message
    )
    assert result.items[0].advice == "Try the LR finder's suggestion (1e-3)."


def test_stuck_at_chance_is_lr_too_low_when_the_finder_says_so() -> None:
    flat = table([2.31, 2.30, 2.31, 2.31], [2.30, 2.30, 2.30, 2.30], [0.90, 0.90, 0.90, 0.90])
    assert run(flat, lr=1e-6, lr_suggestion=finder(valley=1e-3)).kinds == (LOW,)


def test_a_single_epoch_whose_step_losses_barely_moved_means_lr_too_low() -> None:
    losses = steps(2.31, 2.2, 100, scale=400, noise=0.01)
    assert run(table([2.28], [2.27], [0.88]), batch_losses=losses, lr=1e-6).kinds == (LOW,)


# too few epochs


def test_one_epoch_still_learning_fast_is_too_few_epochs() -> None:
    result = run(table([1.2], [0.75], [0.25]), batch_losses=steps(2.3, 0.3, 100, scale=60))
    assert result.kinds == (FEW,)
    assert "one epoch was not enough" in result.items[0].message
    assert result.items[0].advice == "Train for about 2 epochs instead of 1."


def test_one_epoch_whose_loss_fell_steadily_but_stayed_high_is_too_few_epochs() -> None:
    # 23 steps at a modest lr: a straight decline from 2.3 to 1.6; the anneal at the end flattens it
    # a little, but nearly half of the fall came between 40% and 70% of the steps.
    losses = np.linspace(2.3, 1.6, 23) + 0.02 * np.random.default_rng(1).standard_normal(23)
    result = run(table([2.0], [1.9], [0.49]), batch_losses=losses)
    assert result.kinds == (FEW,)
    assert "of its fall came between 40% and 70% of the steps" in result.items[0].message


def test_one_epoch_without_step_losses_is_judged_by_train_over_valid_loss() -> None:
    assert run(table([1.6], [0.75], [0.25])).kinds == (FEW,)
    assert run(table([0.5], [0.45], [0.12])).kinds == (OK,)


def test_an_error_still_falling_fast_at_the_end_is_too_few_epochs() -> None:
    result = run(table([2.1, 1.6, 1.1, 0.8], [1.8, 1.2, 0.8, 0.5], [0.60, 0.40, 0.25, 0.15]))
    assert result.kinds == (FEW,)
    assert "(0.250 to 0.150 in the last epoch" in result.items[0].message
    assert result.items[0].advice == "Train for about 8 epochs instead of 4."


def test_a_small_validation_set_makes_a_small_gain_noise() -> None:
    # 0.035 -> 0.025 cuts the error by 29%, but on 40 images that is well within noise (2 SE = 0.05).
    run_table = table([1.5, 0.8, 0.4, 0.3], [0.9, 0.5, 0.2, 0.18], [0.20, 0.10, 0.035, 0.025])
    assert run(run_table, n_valid=40).kinds == (OK,)
    assert run(run_table, n_valid=4000).kinds == (FEW,)


def test_a_high_loss_still_falling_at_a_good_lr_is_too_few_epochs_not_lr_too_low() -> None:
    slow = table([2.2, 1.9, 1.6], [2.0, 1.7, 1.45], [0.75, 0.62, 0.52])
    result = run(slow, lr=1e-3, lr_suggestion=finder(valley=2e-3))
    assert result.kinds == (FEW,)
    assert "is near the LR finder's valley (2e-3)" in result.items[0].message


def test_the_same_run_at_an_lr_far_below_the_finder_is_lr_too_low() -> None:
    slow = table([2.2, 1.9, 1.6], [2.0, 1.7, 1.45], [0.75, 0.62, 0.52])
    assert run(slow, lr=1e-5, lr_suggestion=finder(valley=2e-3)).kinds == (LOW,)


def test_a_loss_that_barely_moved_in_few_steps_at_a_good_lr_is_too_few_epochs() -> None:
    few_steps = table([2.30, 2.25, 2.2, 2.15], [2.29, 2.24, 2.2, 2.16], [0.85, 0.82, 0.80, 0.78])
    result = run(few_steps, batch_losses=steps(2.3, 2.1, 8, scale=8), lr_suggestion=finder(valley=1e-3))
    assert result.kinds == (FEW,)
    assert "so the run was too short (8 optimiser steps) to learn" in result.items[0].message
    assert result.items[0].advice == "Train for more steps: about 8 epochs instead of 4."


# overfitting


def test_twenty_epochs_on_a_tiny_subset_overfit_from_the_epoch_after_the_best_valid_loss() -> None:
    result = run(overfit_run([0.32, 0.33, 0.34, 0.35, 0.36, 0.36, 0.37, 0.37, 0.38, 0.38]), n_valid=200)
    assert result.kinds == (OVERFIT,)
    assert result.overfit_onset_epoch == 5
    assert result.items[0].evidence["best_valid_epoch"] == 4
    assert result.items[0].message.startswith(
        "Overfitting: starting at epoch 5, the validation loss rose from its lowest (0.9 at epoch 4) to 1.79"
    )


def test_an_error_that_rose_beyond_noise_is_memorising() -> None:
    result = run(overfit_run([0.32, 0.33, 0.34, 0.35, 0.36, 0.36, 0.37, 0.37, 0.38, 0.38]), n_valid=200)
    assert result.overfit_type is OverfitType.MEMORISING
    assert "the model is memorising its training images" in result.items[0].message
    assert result.items[0].advice.startswith("Retrain for about 6 epochs instead of 20")


def test_an_error_that_stayed_within_noise_of_its_best_is_overconfident() -> None:
    # The final error 0.30 is 0.02 above the best 0.28; on 200 images 2 SE is 0.063.
    result = run(overfit_run([0.29, 0.30, 0.29, 0.30, 0.29, 0.30, 0.29, 0.30, 0.30, 0.30]), n_valid=200)
    assert result.kinds == (OVERFIT,)
    assert result.overfit_type is OverfitType.OVERCONFIDENT
    assert "the model grew overconfident" in result.items[0].message


def test_a_large_validation_set_makes_the_same_rise_memorising() -> None:
    result = run(overfit_run([0.29, 0.30, 0.29, 0.30, 0.29, 0.30, 0.29, 0.30, 0.30, 0.30]), n_valid=20000)
    assert result.overfit_type is OverfitType.MEMORISING


def test_a_single_worse_epoch_at_the_end_is_not_overfitting() -> None:
    valid = [2.0, 1.2, 0.8, 0.6, 0.5, 0.7]  # only the last epoch is above 1.1 x 0.5
    result = run(table([2.1, 1.3, 0.9, 0.6, 0.4, 0.3], valid, [0.6, 0.35, 0.2, 0.15, 0.12, 0.12]))
    assert OVERFIT not in result.kinds


def test_a_rising_valid_loss_with_a_rising_train_loss_is_not_overfitting() -> None:
    result = run(table([1.5, 0.9, 0.7, 0.8, 0.9], [1.4, 0.8, 0.6, 0.7, 0.75], [0.5, 0.3, 0.2, 0.22, 0.22]))
    assert OVERFIT not in result.kinds


def test_an_overfit_validation_loss_far_above_chance_is_not_lr_too_high() -> None:
    # The training loss went to ~0, so the climbing validation loss is overfitting, not a broken lr.
    valid = [2.0, 1.6, 1.8, 2.4, 3.2, 4.0]
    result = run(table([1.8, 0.9, 0.3, 0.05, 0.01, 0.004], valid, [0.7, 0.5, 0.45, 0.45, 0.46, 0.47]))
    assert result.kinds == (OVERFIT,)
    assert result.overfit_onset_epoch == 3


def test_training_error_is_quoted_as_evidence_of_overfitting() -> None:
    result = run(overfit_run([0.32] * 10), n_valid=200, train_error=0.0)
    assert "it gets 0.0% of its training images wrong" in result.items[0].message
    assert result.items[0].evidence["train_error"] == 0.0


def test_overconfidence_comes_after_too_few_epochs() -> None:
    # The loss rose (overconfident) while the error still fell fast: the error is what matters.
    valid = [2.0, 1.0, 1.3, 1.5]
    result = run(table([2.2, 1.0, 0.5, 0.3], valid, [0.6, 0.4, 0.3, 0.2]))
    assert result.kinds == (FEW, OVERFIT)
    assert result.overfit_type is OverfitType.OVERCONFIDENT
    assert result.primary is FEW


def test_memorising_comes_before_too_few_epochs() -> None:
    # The error fell fast in the last epoch, but is still well above its best: memorising matters more.
    valid = [2.0, 1.0, 1.3, 1.5]
    result = run(table([2.2, 1.0, 0.5, 0.3], valid, [0.6, 0.2, 0.45, 0.3]))
    assert result.kinds == (OVERFIT, FEW)
    assert result.overfit_type is OverfitType.MEMORISING


# output


def test_to_dict_is_plain_json() -> None:
    result = run(overfit_run([0.32] * 10), n_valid=200, batch_losses=steps(2.3, 0.01, 300, scale=30))
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["kinds"] == ["overfitting"]
    assert data["overfit_type"] == "overconfident"
    assert data["overfit_onset_epoch"] == 5
    assert data["items"][0]["evidence"]["best_valid_epoch"] == 4


def test_to_dict_turns_non_finite_evidence_into_null() -> None:
    losses = np.array([2.3, 2.2, math.inf, math.nan])
    result = run(table([math.inf], [math.nan], [0.9]), batch_losses=losses)
    assert "the training loss became infinite at step 3 of 4" in result.items[0].message
    json.dumps(result.to_dict(), allow_nan=False)


def test_summary_is_one_line_naming_every_kind() -> None:
    valid = [2.0, 1.0, 1.3, 1.5]
    summary = run(table([2.2, 1.0, 0.5, 0.3], valid, [0.6, 0.4, 0.3, 0.2])).summary()
    assert summary.startswith("too_few_epochs, overfitting: Too few epochs: the validation error was still")
    assert "\n" not in summary


def test_epochs_are_read_in_epoch_order() -> None:
    shuffled = HEALTHY.iloc[[2, 0, 3, 1]]
    assert run(shuffled).to_dict() == run(HEALTHY).to_dict()


# argument errors


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_valid": 1}, r"n_valid=1 must be an integer of at least 2"),
        ({"n_classes": 1}, r"n_classes=1 must be an integer of at least 2"),
        ({"lr": 0.0}, r"lr=0.0 must be a positive finite number"),
        ({"train_error": 1.5}, r"train_error=1.5 must be between 0 and 1"),
        ({"batch_losses": np.ones((2, 3))}, r"batch_losses must be one-dimensional, not of shape \(2, 3\)"),
        ({"lr_suggestion": 1e-3}, r"lr_suggestion must be an LRSuggestion or None, not float"),
    ],
)
def test_diagnose_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run(HEALTHY, **kwargs)


def test_diagnose_names_missing_columns() -> None:
    with pytest.raises(ValueError, match=r"epochs lacks column\(s\) valid_loss, error_rate"):
        run(HEALTHY.drop(columns=["valid_loss", "error_rate"]))


def test_diagnose_needs_an_epoch() -> None:
    with pytest.raises(ValueError, match=r"epochs has no rows"):
        run(HEALTHY.iloc[:0])


def test_diagnose_rejects_a_repeated_epoch() -> None:
    with pytest.raises(ValueError, match=r"epochs repeats epoch 2"):
        run(pd.concat([HEALTHY, HEALTHY.iloc[[1]]]))


def test_diagnose_rejects_an_error_rate_outside_0_to_1() -> None:
    with pytest.raises(ValueError, match=r"error_rate must be between 0 and 1 in every epoch"):
        run(table([1.0], [1.0], [1.2]))


def test_config_rejects_a_threshold_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match=r"noise_sigmas=0 must be a positive number"):
        DiagnosisConfig(noise_sigmas=0)


def test_config_rejects_a_fraction_of_1_or_more() -> None:
    with pytest.raises(ValueError, match=r"late_gain=1.0 must be less than 1"):
        DiagnosisConfig(late_gain=1.0)
    with pytest.raises(ValueError, match=r"trend_to=1.5 must be at most 1"):
        DiagnosisConfig(trend_to=1.5)


def test_config_rejects_an_empty_trend_window() -> None:
    with pytest.raises(ValueError, match=r"trend_from=0.7 must be less than trend_to=0.4"):
        DiagnosisConfig(trend_from=0.7, trend_to=0.4)


def test_config_thresholds_change_the_verdict() -> None:
    result = run(HEALTHY, config=DiagnosisConfig(late_gain=0.1, noise_sigmas=0.5))
    assert result.kinds == (FEW,)


def test_a_fitted_training_set_far_ahead_of_validation_is_memorising_overfitting() -> None:
    # 100 epochs on 60 images: valid loss never rises (augmentation, weight decay, the anneal) but
    # stays 38x the training loss, which reaches ~0 with every training image right.
    epochs = table(
        train=[2.08, 1.37, 0.53, 0.15, 0.046, 0.023, 0.011, 0.0086, 0.0067, 0.0046],
        valid=[2.30, 2.21, 1.55, 0.90, 0.44, 0.33, 0.25, 0.195, 0.186, 0.172],
        error=[0.90, 0.82, 0.54, 0.29, 0.12, 0.10, 0.072, 0.045, 0.058, 0.064],
    )
    result = diagnose(epochs, n_valid=359, n_classes=10, lr=3e-3, train_error=0.0)
    assert result.primary is DiagnosisKind.OVERFITTING
    assert result.overfit_type is OverfitType.MEMORISING
    assert result.overfit_onset_epoch == 4  # from epoch 4 on, valid loss stays >= 3x the training loss
    assert "memorised" in result.items[0].message


def test_a_small_gap_with_a_fitted_training_set_is_not_overfitting() -> None:
    epochs = table(
        train=[1.5, 0.29, 0.11, 0.066], valid=[1.1, 0.25, 0.076, 0.063], error=[0.39, 0.08, 0.02, 0.011]
    )
    result = diagnose(epochs, n_valid=359, n_classes=10, lr=3e-3, train_error=0.004)
    assert DiagnosisKind.OVERFITTING not in result.kinds


def test_an_error_that_fell_to_zero_is_not_too_few_epochs() -> None:
    # 6 of 300 validation images wrong, then none: the run cannot get better, so more epochs would be
    # spent for nothing (issue #25: "still falling ... 0.020 to 0.000").
    epochs = table([0.9, 0.3, 0.1, 0.05], [0.5, 0.2, 0.1, 0.06], [0.10, 0.05, 0.02, 0.0])
    result = diagnose(epochs, n_valid=300, n_classes=3, lr=3e-3)
    assert FEW not in result.kinds
    one_left = epochs.assign(error_rate=[0.10, 0.05, 0.02, 1 / 300])
    assert FEW not in diagnose(one_left, n_valid=300, n_classes=3, lr=3e-3).kinds


def test_the_same_fall_that_ends_above_zero_is_still_too_few_epochs() -> None:
    epochs = table([0.9, 0.3, 0.1, 0.05], [0.5, 0.2, 0.1, 0.06], [0.20, 0.15, 0.12, 0.06])
    assert FEW in diagnose(epochs, n_valid=300, n_classes=3, lr=3e-3).kinds
