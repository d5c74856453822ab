"""The LR range test's maths: sweep, smoothing, stopping rule, trimming and suggestions, on made-up curves."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from datasize.training.lr_curve import (
    LRSuggestion,
    SuggestMethod,
    divergence_index,
    format_lr,
    lr_schedule,
    minimum,
    should_stop,
    smooth_losses,
    steep,
    suggest,
    trim_curve,
    valley,
)

# A hand-made curve at half-decade steps, 1e-6 ... 1: flat at 2.0 up to 10^-4.5, falls to its lowest
# at 1e-2, then blows up.
#   index    0     1     2     3     4    5    6    7    8    9    10   11   12
#   log lr  -6   -5.5   -5   -4.5   -4  -3.5  -3  -2.5  -2  -1.5  -1  -0.5   0
CURVE_LRS = 10.0 ** np.linspace(-6, 0, 13)
CURVE_LOSSES = np.array([2.0, 2.0, 2.0, 2.0, 1.9, 1.6, 1.0, 0.6, 0.5, 0.7, 2.0, 5.0, 9.0])


def assert_lr(actual: float, log10_expected: float) -> None:
    assert math.log10(actual) == pytest.approx(log10_expected)


# lr_schedule


def test_schedule_is_an_exponential_sweep_that_stops_one_step_short_of_end_lr() -> None:
    lrs = lr_schedule(start_lr=1.0, end_lr=100.0, num_it=4)
    assert lrs == pytest.approx([1.0, 10**0.5, 10.0, 10**1.5])


def test_default_schedule_runs_100_steps_from_1e_7_to_just_under_10() -> None:
    lrs = lr_schedule()
    assert len(lrs) == 100
    assert lrs[0] == pytest.approx(1e-7)
    assert lrs[-1] == pytest.approx(10 ** (-7 + 8 * 99 / 100))  # about 8.3
    assert np.diff(np.log10(lrs)) == pytest.approx(np.full(99, 0.08))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start_lr": 0.0}, r"start_lr=0.0 must be a positive finite number"),
        ({"start_lr": -1e-3}, r"start_lr=-0.001 must be"),
        ({"end_lr": math.inf}, r"end_lr=inf must be a positive finite number"),
        ({"start_lr": 1.0, "end_lr": 0.5}, r"end_lr=0.5 must be greater than start_lr=1.0"),
        ({"num_it": 1}, r"num_it=1 must be an integer of at least 2"),
        ({"num_it": 10.5}, r"num_it=10.5 must be an integer"),
    ],
)
def test_schedule_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        lr_schedule(**kwargs)


# smooth_losses


def test_debiased_average_of_a_constant_is_that_constant() -> None:
    assert smooth_losses(np.full(50, 2.3)) == pytest.approx(np.full(50, 2.3))


def test_smoothing_matches_a_hand_computed_case() -> None:
    # beta 0.5: avg1 = 0.5 -> 0.5 / (1 - 0.5) = 1; avg2 = 0.25 + 1.0 = 1.25 -> 1.25 / (1 - 0.25) = 5/3
    assert smooth_losses([1.0, 2.0], beta=0.5) == pytest.approx([1.0, 5 / 3])


def test_smoothing_with_beta_zero_returns_the_losses() -> None:
    assert smooth_losses([3.0, 1.0, 2.0], beta=0.0) == pytest.approx([3.0, 1.0, 2.0])


def test_a_non_finite_loss_makes_every_later_smoothed_value_non_finite() -> None:
    smoothed = smooth_losses([1.0, 1.0, math.nan, 1.0, 1.0])
    assert np.isfinite(smoothed).tolist() == [True, True, False, False, False]
    assert not np.isfinite(smooth_losses([1.0, math.inf, 1.0, -math.inf])[1:]).any()


@pytest.mark.parametrize("beta", [1.0, -0.1, 1.5])
def test_smoothing_rejects_beta_outside_0_to_1(beta: float) -> None:
    with pytest.raises(ValueError, match=rf"beta={beta} must be in \[0, 1\)"):
        smooth_losses([1.0], beta=beta)


def test_smoothing_rejects_a_table_of_losses() -> None:
    with pytest.raises(ValueError, match=r"losses must be one-dimensional, not of shape \(2, 2\)"):
        smooth_losses([[1.0, 2.0], [3.0, 4.0]])


# divergence and stopping


def test_stops_once_the_loss_passes_4x_its_running_minimum() -> None:
    assert not should_stop([2.0, 1.0, 3.9])
    assert should_stop([2.0, 1.0, 4.1])
    assert divergence_index([2.0, 1.0, 3.0, 4.1, 1.0]) == 3


def test_a_rise_measured_against_the_minimum_so_far_not_the_final_one() -> None:
    # 4.1 is above 4x the later minimum 0.5, but not above 4x the minimum before it (2.0).
    assert divergence_index([2.0, 4.1, 0.5]) is None


def test_stops_on_a_non_finite_loss() -> None:
    assert should_stop([2.0, math.nan])
    assert divergence_index([2.0, 1.9, math.inf]) == 2


def test_does_not_stop_on_an_empty_or_steady_curve() -> None:
    assert not should_stop([])
    assert not should_stop(np.linspace(2.0, 0.1, 30))


def test_floor_ignores_a_relative_rise_that_stays_low() -> None:
    assert divergence_index([0.01, 0.05], floor=1.0) is None
    assert divergence_index([0.01, 0.05, 1.2], floor=1.0) == 2


def test_divergence_factor_must_exceed_1() -> None:
    with pytest.raises(ValueError, match=r"factor=1.0 must be greater than 1"):
        should_stop([1.0], factor=1.0)


# trimming


def test_trimming_drops_the_first_tenth_and_the_last_5_points() -> None:
    lrs = lr_schedule()
    kept_lrs, kept = trim_curve(lrs, np.arange(100.0))
    assert kept.tolist() == list(range(10, 95))
    assert kept_lrs == pytest.approx(lrs[10:95])


def test_trimming_counts_the_first_tenth_of_the_planned_steps_when_the_test_stopped_early() -> None:
    _, kept = trim_curve(lr_schedule()[:40], np.arange(40.0), num_it=100)
    assert kept.tolist() == list(range(10, 35))


def test_trimming_cuts_the_curve_at_its_first_non_finite_loss() -> None:
    losses = np.arange(100.0)
    losses[[50, 60]] = [math.nan, math.inf]
    _, kept = trim_curve(lr_schedule(), losses)
    assert kept.tolist() == list(range(10, 50))


def test_trimming_a_short_curve_can_leave_nothing() -> None:
    kept_lrs, kept = trim_curve([1e-3, 1e-2, 1e-1], [1.0, 0.5, 2.0])
    assert kept_lrs.size == kept.size == 0


def test_trimming_rejects_fewer_planned_steps_than_points() -> None:
    with pytest.raises(ValueError, match=r"num_it=50 is less than the 100 points of the curve"):
        trim_curve(lr_schedule(), np.ones(100), num_it=50)


def test_curve_lengths_must_match() -> None:
    with pytest.raises(ValueError, match=r"lrs has 3 values but losses has 2"):
        trim_curve([1e-3, 1e-2, 1e-1], [1.0, 2.0])


def test_curve_learning_rates_must_increase() -> None:
    with pytest.raises(
        ValueError, match=r"lrs must increase step by step; lrs\[2\]=0.01 follows lrs\[1\]=0.1"
    ):
        trim_curve([1e-3, 1e-1, 1e-2], [1.0, 2.0, 3.0])


def test_curve_learning_rates_must_be_positive() -> None:
    with pytest.raises(ValueError, match=r"lrs must be positive and finite; the smallest is 0.0"):
        trim_curve([0.0, 1e-2], [1.0, 2.0])


# the three suggestions, on the hand-made curve


def test_valley_is_the_middle_of_the_longest_descent() -> None:
    # The longest strictly decreasing run is indices 3..8 (2.0 down to 0.5); its middle is index 5.
    assert_lr(valley(CURVE_LRS, CURVE_LOSSES), -3.5)


def test_valley_descent_may_skip_a_bump() -> None:
    # 1.5 breaks the run 2.0 1.8 ... 0.5, but the descent skips it: indices 0..6, middle 3.
    lrs = 10.0 ** np.arange(-6.0, 1.0)
    assert_lr(valley(lrs, [2.0, 1.8, 1.2, 1.5, 1.0, 0.8, 0.5]), -3.0)


def test_steep_is_the_point_of_fastest_fall_per_decade() -> None:
    # Central slopes per decade at indices 4..7: -0.4, -0.9, -1.0, -0.5; the steepest is index 6.
    assert_lr(steep(CURVE_LRS, CURVE_LOSSES), -3.0)


def test_minimum_is_one_decade_below_the_lowest_loss() -> None:
    # The lowest loss (0.5) is at 1e-2.
    assert_lr(minimum(CURVE_LRS, CURVE_LOSSES), -3.0)


def test_steep_needs_two_points() -> None:
    with pytest.raises(ValueError, match=r"the curve has 1 point\(s\); this suggestion needs at least 2"):
        steep([1e-3], [1.0])


def test_suggestions_refuse_an_untrimmed_curve_with_nan() -> None:
    with pytest.raises(ValueError, match=r"losses must be finite here; cut the curve .* with trim_curve"):
        valley([1e-3, 1e-2], [1.0, math.nan])


# suggest


def falling_curve() -> tuple[np.ndarray, np.ndarray]:
    """A range test on the default sweep (step i at log lr x = -7 + 0.08 i): flat at 2.3 up to step 24,
    then 1.3 - tanh(2 (x + 3)), falling fastest at x = -3 (step 50), to its lowest at step 74
    (x = -1.08), then climbing as 0.31 + 10 (x + 1.02)."""
    lrs = lr_schedule()
    x = np.log10(lrs)
    losses = np.where(x < -1.02, 1.3 - np.tanh(2 * (x + 3)), 0.31 + 10 * (x + 1.02))
    losses[x < -5.02] = 2.3
    return lrs, losses


def test_suggest_without_smoothing_reads_the_three_suggestions_off_the_curve() -> None:
    lrs, losses = falling_curve()
    result = suggest(lrs, losses, beta=0.0)
    # Trimmed to steps 10..94. The descent runs from the last flat step (24) to the lowest (74):
    # its middle is step 49.
    assert_lr(result.valley, -7 + 0.08 * 49)
    assert_lr(result.steep, -3.0)
    assert_lr(result.lr_at_min_loss, -7 + 0.08 * 74)
    assert_lr(result.minimum, -7 + 0.08 * 74 - 1)
    # Above 4 x its minimum (0.3009) once 0.31 + 10 (x + 1.02) > 1.2037: x > -0.93, step 76.
    assert result.lr_diverged == lrs[76]


def test_suggest_chooses_valley_by_default() -> None:
    result = suggest(*falling_curve())
    assert result.method is SuggestMethod.VALLEY
    assert result.chosen == result.valley


@pytest.mark.parametrize("method", ["steep", "minimum", SuggestMethod.VALLEY])
def test_suggest_chooses_the_named_method(method: str) -> None:
    result = suggest(*falling_curve(), method=method)
    assert result.chosen == getattr(result, str(method))


def test_suggest_smooths_the_raw_losses_it_is_given() -> None:
    lrs, losses = falling_curve()
    kept_lrs, kept = trim_curve(lrs, smooth_losses(losses))
    result = suggest(lrs, losses)
    assert result.valley == valley(kept_lrs, kept)
    assert result.steep == steep(kept_lrs, kept)
    assert result.minimum == minimum(kept_lrs, kept)


def test_a_clean_curve_gives_a_confident_suggestion() -> None:
    result = suggest(*falling_curve(), beta=0.0)
    assert result.confident
    assert result.reasons == ()
    assert result.spread_decades < 1.5


def test_a_curve_that_never_diverged_has_no_divergence_lr() -> None:
    lrs = lr_schedule()
    assert suggest(lrs, np.linspace(2.3, 0.5, 100)).lr_diverged is None


def test_a_curve_that_never_falls_is_not_confident() -> None:
    lrs = lr_schedule()
    result = suggest(lrs, np.linspace(2.3, 2.2, 100), beta=0.0)
    assert not result.confident
    assert any(reason.startswith("the loss never fell") for reason in result.reasons)


def test_suggestions_more_than_1_5_decades_apart_are_not_confident() -> None:
    # A long gentle descent (valley in its middle) ending in a sudden drop just before the blow-up
    # (steep and minimum near the end): they disagree by about 3 decades.
    lrs = lr_schedule()
    x = np.log10(lrs)
    losses = np.where(x < 0, 2.3 - 0.1 * (x + 7), 50.0)
    losses[(x > -0.5) & (x < 0)] = 0.2
    result = suggest(lrs, losses, beta=0.0)
    assert result.spread_decades > 1.5
    assert not result.confident
    assert any("disagree: they span" in reason for reason in result.reasons)


def test_a_short_curve_is_not_confident() -> None:
    lrs = lr_schedule(num_it=12)
    result = suggest(lrs, np.linspace(2.3, 0.3, 12), beta=0.0)
    assert not result.confident
    assert any(reason.startswith("only 6 points remain after trimming") for reason in result.reasons)


def test_suggest_refuses_a_curve_that_blew_up_before_the_trimmed_part() -> None:
    lrs = lr_schedule()
    losses = np.full(100, 2.3)
    losses[11:] = math.nan
    with pytest.raises(ValueError, match=r"only 1 finite point\(s\) of 100 remain .* run more iterations"):
        suggest(lrs, losses)


def test_suggest_rejects_an_unknown_method() -> None:
    with pytest.raises(ValueError, match=r"method='slide' is not one of valley, steep, minimum"):
        suggest(*falling_curve(), method="slide")


def test_suggestion_to_dict_is_json_serialisable() -> None:
    result = suggest(*falling_curve())
    data = json.loads(json.dumps(result.to_dict()))
    assert data["method"] == "valley"
    assert data["chosen"] == result.valley
    assert data["lr_diverged"] == result.lr_diverged
    assert isinstance(result, LRSuggestion)


@pytest.mark.parametrize(("lr", "text"), [(3e-4, "3e-4"), (2.5e-3, "2.5e-3"), (10.0, "1e1"), (1e-7, "1e-7")])
def test_learning_rates_are_written_as_people_write_them(lr: float, text: str) -> None:
    assert format_lr(lr) == text
