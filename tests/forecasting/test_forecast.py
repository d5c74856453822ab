"""forecast(): curve families, fitting, backtest, bootstrap intervals, plateau, guard, per class.

Runs tables are built from known curves with seeded binomial noise, the way curve.py writes them:
one row per (size, seed), a fixed validation set of `n_valid` images.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from datasize.forecasting.backtest import backtest, backtest_splits
from datasize.forecasting.estimates import Reach
from datasize.forecasting.families import (
    CurveFamily,
    fit_family,
    floor,
    gain_per_doubling,
    images_for_error,
    predict,
)
from datasize.forecasting.points import curve_from_runs, overfitting_summary
from datasize.forecasting.sizing import forecast
from datasize.vocab import AnswerKind

POW2, POW3, POW4, MMF4, LOG2, LAST1 = (
    CurveFamily.POW2,
    CurveFamily.POW3,
    CurveFamily.POW4,
    CurveFamily.MMF4,
    CurveFamily.LOG2,
    CurveFamily.LAST1,
)
LADDER = (100, 200, 400, 800, 1600)  # 1/16 ... 1 of 1600 training images
FAST = 40  # bootstrap refits in tests: enough for ordered intervals, quick to run


def make_runs(curve, sizes=LADDER, *, seeds=3, n_valid=2000, spread=0.0, seed=0) -> pd.DataFrame:
    """A runs table measuring `curve` (error as a function of n) at each size with each seed."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in sizes:
        for s in range(seeds):
            p = float(np.clip(curve(n) * np.exp(spread * rng.standard_normal()), 0, 1))
            error = rng.binomial(n_valid, p) / n_valid if n_valid else p
            rows.append(
                {
                    "fraction": n / max(sizes),
                    "n_train": n,
                    "seed": s,
                    "error_rate": error,
                    "n_valid": n_valid or 10**9,
                    "status": "ok",
                    "train_error": 0.0,
                    "diagnosis": "ok",
                    "overfit_onset_epoch": math.nan,
                }
            )
    return pd.DataFrame(rows)


def exact_runs(errors, sizes=LADDER, *, n_valid=10**6) -> pd.DataFrame:
    """Three identical seeds per size: a noiseless curve with these mean errors."""
    table = dict(zip(sizes, errors, strict=True))
    return make_runs(lambda n: table[n], sizes, n_valid=0).assign(n_valid=n_valid)


def steep(n):
    return 3.0 * n**-0.6  # a clean power law: 19% at 100 images, 3.6% at 1600


def flat(n):
    return 0.069 + 0.0 * n


# --- the families -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "params", "n", "expected"),
    [
        (POW2, (1.0, 0.5), 100, 0.1),
        (POW3, (2.0, 0.5, 0.01), 400, 0.11),
        (POW4, (10.0, 1.0, 0.02, 100.0), 100, 0.07),  # 10 / (100 + 100) + 0.02
        (MMF4, (0.9, 0.1, 100.0, 1.0), 100, 0.5),  # half-way between 0.9 and 0.1 at n = k
        (LOG2, (0.5, 0.1), math.e**2, 0.3),
        (LAST1, (0.07,), 10**6, 0.07),
    ],
)
def test_predict_matches_the_hand_computed_value(family, params, n, expected):
    assert predict(family, params, n) == pytest.approx(expected)


def test_predict_clips_the_log_law_at_zero():
    assert predict(LOG2, (0.5, 0.1), 1e9) == 0.0


def test_predict_names_the_parameters_it_needs():
    with pytest.raises(ValueError, match=r"pow3 takes 3 parameters \('a', 'b', 'c'\); got 2"):
        predict(POW3, (1.0, 0.5), 100)


@pytest.mark.parametrize(
    ("family", "params", "expected"),
    [(POW2, (1.0, 0.5), 0.0), (POW3, (1.0, 0.5, 0.03), 0.03), (MMF4, (0.9, 0.02, 50.0, 1.0), 0.02)],
)
def test_floor_is_where_the_curve_levels_off(family, params, expected):
    assert floor(family, params) == pytest.approx(expected)


def test_gain_per_doubling_of_the_log_law_is_b_ln_2():
    assert gain_per_doubling(LOG2, (0.5, 0.01), 100) == pytest.approx(0.01 * math.log(2))


def test_images_for_error_solves_the_power_law():
    assert images_for_error(POW2, (1.0, 0.5), 0.01, n_max=1e6) == 10_000  # 1/sqrt(n) = 0.01


def test_images_for_error_is_inf_when_the_floor_is_above_the_target():
    assert images_for_error(POW3, (1.0, 0.5, 0.02), 0.01, n_max=1e9) == math.inf


def test_images_for_error_needs_more_when_the_curve_drifts_up():
    plain = images_for_error(POW2, (1.0, 0.5), 0.01, n_max=1e6, n_from=1000)
    drifting = images_for_error(POW2, (1.0, 0.5), 0.01, n_max=1e6, n_from=1000, drift=0.001)
    assert drifting > plain


@pytest.mark.parametrize(
    ("family", "params"),
    [
        (POW2, (3.0, 0.6)),
        (POW3, (5.0, 0.8, 0.01)),
        (POW4, (20.0, 0.9, 0.02, 50.0)),
        (MMF4, (0.9, 0.01, 60.0, 1.2)),
        (LOG2, (0.5, 0.06)),
    ],
)
def test_fitting_recovers_the_parameters_of_noiseless_data(family, params):
    n = np.array([50, 100, 200, 400, 800, 1600])
    fit = fit_family(family, n, predict(family, params, n))
    assert fit is not None
    assert fit.params == pytest.approx(params, rel=1e-3)


def test_fitting_fewer_points_than_parameters_gives_none_not_an_error():
    assert fit_family(POW4, [100, 200, 400], [0.3, 0.2, 0.1]) is None


# --- backtest -----------------------------------------------------------------------------------------


def test_backtests_fit_below_the_largest_and_from_a_quarter_of_rounded_sizes():
    splits = dict(backtest_splits(np.array([94, 188, 375, 750, 1500])))  # 1/16..1 of 1500, rounded
    assert splits["to_largest"].tolist() == [True, True, True, True, False]
    assert splits["from_quarter"].tolist() == [True, True, True, False, False]


@pytest.mark.parametrize(
    ("truth", "params"),
    [(POW3, (40.0, 1.0, 0.05)), (LOG2, (0.6, 0.07))],
)
def test_backtest_picks_the_family_the_data_came_from(truth, params):
    curve = curve_from_runs(exact_runs(predict(truth, params, LADDER)))
    assert backtest(curve, families=(POW2, POW3, LOG2)).chosen == truth


def test_backtest_beats_the_last_point_on_a_clean_power_law():
    result = backtest(curve_from_runs(make_runs(steep, seed=1)), families=(POW3, POW2))
    assert result.beats_baseline
    assert result.chosen_error < result.baseline_error / 3


def test_a_curve_that_stops_falling_is_reported_as_not_beating_the_last_point():
    runs = exact_runs([0.2, 0.1, 0.05, 0.05, 0.05])
    result = forecast(runs, n_boot=FAST)
    assert not result.backtest.beats_baseline
    assert result.backtest.baseline_error < result.backtest.chosen_error
    assert "no better than the last observed point" in result.verdict()


def test_a_fit_that_fails_its_self_check_forecasts_midway_to_the_last_point():
    # The backtest's families, fitted to the falling part, expect the fall to go on; the last point
    # says it stopped. Neither is trusted alone: the headline is halfway, the interval spans both.
    result = forecast(exact_runs([0.2, 0.1, 0.05, 0.05, 0.05]), n_boot=FAST)
    h = result.horizons[0]
    assert h.midway and h.last == pytest.approx(0.05)
    assert h.fitted == pytest.approx(float(result.fit.predict(h.n_train)))
    assert h.expected == pytest.approx((h.fitted + h.last) / 2)
    assert h.low <= min(h.fitted, h.last) and h.high >= max(h.fitted, h.last)
    assert f"midway between the fitted curve's {100 * h.fitted:.1f}%" in result.verdict()
    assert "so the forecast is taken midway between the two." in result.verdict()
    assert result.to_dict()["forecast"][0]["basis"] == "midway"


def test_a_fit_that_passes_its_self_check_is_the_headline():
    result = forecast(make_runs(steep, seed=1), n_boot=FAST)
    assert result.backtest.beats_baseline
    assert not any(h.midway for h in result.horizons)
    assert result.horizons[0].expected == pytest.approx(float(result.fit.predict(3200)))
    assert "midway" not in result.verdict()
    assert result.to_dict()["forecast"][0]["basis"] == "fitted curve"


@pytest.mark.parametrize(
    ("low", "high", "too_wide"), [(0.0, 0.44, True), (0.09, 0.19, False), (0.05, 0.15, False)]
)
def test_an_interval_from_half_the_error_to_no_gain_is_called_too_wide_to_act_on(low, high, too_wide):
    result = forecast(make_runs(steep, seed=1), n_boot=FAST)
    unsure = replace(result, plateau=replace(result.plateau, helps=False))
    now = result.error_rate
    h = replace(result.horizons[0], expected=0.7 * now, low=low * now / 0.2, high=high * now / 0.2)
    said = replace(unsure, horizons=(h, *result.horizons[1:])).verdict()
    assert ("The interval at 2x is too wide to act on" in said) is too_wide
    # A gain the refits make sure of is not contradicted; nor is a tiny interval at a tiny error.
    assert "too wide" not in replace(result, horizons=(h, *result.horizons[1:])).verdict()
    tiny = replace(unsure, error_rate=0.001, horizons=(replace(h, expected=0.0008, low=0.0, high=0.003),))
    assert "too wide" not in tiny.verdict()


def test_backtest_table_scores_the_log_law_even_when_it_is_no_candidate():
    result = forecast(make_runs(steep), n_boot=FAST)
    scores = result.backtest.scores.set_index("family")
    assert not scores.loc["log2", "candidate"]
    assert math.isfinite(scores.loc["log2", "error"])


# --- forecast: intervals, plateau, images needed -----------------------------------------------------


def test_intervals_are_ordered_and_within_zero_and_one():
    result = forecast(make_runs(steep, spread=0.05), n_boot=FAST, target_error=0.02)
    for h in result.horizons:
        assert 0 <= h.low < h.high <= 1
    need = result.images_needed
    assert need.low <= need.median <= need.conservative
    assert result.plateau.low <= result.plateau.high


def test_intervals_contain_the_true_error_of_noisy_synthetic_data():
    result = forecast(make_runs(steep, n_valid=1000, spread=0.08, seed=3), n_boot=100, seed=0)
    assert [h.multiple for h in result.horizons] == [2, 4]
    for h in result.horizons:
        assert h.low <= steep(h.n_train) <= h.high


def test_forecasts_are_at_two_and_four_times_the_current_data():
    result = forecast(make_runs(steep), n_boot=FAST)
    assert [(h.multiple, h.n_train) for h in result.horizons] == [(2, 3200), (4, 6400)]


def test_a_flat_curve_is_a_plateau():
    result = forecast(make_runs(flat, seed=2), n_boot=FAST)
    assert result.plateau.plateaued
    answer = result.answer()
    assert answer.kind == AnswerKind.PLATEAU
    assert result.verdict().startswith(
        "More images of the same kind will not help: the error has plateaued at about 6.9%; cleaner labels"
    )


def test_a_steep_curve_is_no_plateau():
    result = forecast(make_runs(steep), n_boot=FAST)
    assert not result.plateau.plateaued
    assert result.plateau.gain > 0.005
    assert result.answer().kind == AnswerKind.MORE_HELPS
    assert result.verdict().startswith("More images help: doubling to 3,200 images should cut the error")


def test_a_curve_that_may_be_levelling_off_says_so_instead_of_promising_gains():
    measured = dict(
        zip((125, 250, 500, 1000, 2000, 4000), (0.33, 0.22, 0.13, 0.098, 0.069, 0.069), strict=True)
    )
    result = forecast(make_runs(lambda n: measured[n], sizes=tuple(measured), n_valid=1000, spread=0.05))
    assert not result.plateau.plateaued
    assert not result.plateau.helps
    answer = result.answer()
    assert answer.kind == AnswerKind.CANNOT_TELL
    assert answer.sentence.startswith("We cannot tell yet whether more images help; a larger validation set")
    assert answer.why[0].startswith("At 8,000 images: ")
    assert "should cut" not in result.verdict()


def test_a_gain_too_small_to_show_is_not_called_a_cut():
    measured = dict(
        zip((125, 250, 500, 1000, 2000, 4000), (0.33, 0.22, 0.13, 0.098, 0.069, 0.069), strict=True)
    )
    result = forecast(make_runs(lambda n: measured[n], sizes=tuple(measured), n_valid=1000, spread=0.05))
    assert not result.plateau.plateaued and not result.plateau.helps
    # As the digits demo measured it: the fit expects at 2x what is measured now, to the shown digit.
    near = result.error_rate + 0.0004
    flat = replace(result, horizons=(replace(result.horizons[0], expected=near), *result.horizons[1:]))
    verdict = flat.verdict()
    assert flat.answer().kind == AnswerKind.CANNOT_TELL
    assert "should cut" not in verdict


def test_a_steep_curve_surely_helps():
    assert forecast(make_runs(steep), n_boot=FAST).plateau.helps


def test_a_power_law_at_one_percent_is_no_plateau_although_its_gains_are_small_in_points():
    result = forecast(exact_runs([0.12, 0.06, 0.03, 0.015, 0.0075]), n_boot=FAST)
    assert result.plateau.gain < 0.005
    assert not result.plateau.plateaued


def test_images_needed_for_a_reachable_target():
    result = forecast(make_runs(steep), n_boot=FAST, target_error=0.02)
    need = result.images_needed
    assert need.status == Reach.REACHABLE
    assert 1600 < need.median < 1e5
    assert "are needed for 2.0%" in result.verdict()


def test_a_target_below_the_fitted_floor_is_not_reachable():
    runs = make_runs(lambda n: 40.0 / n + 0.05, seed=4)
    result = forecast(runs, n_boot=FAST, target_error=0.01)
    assert result.images_needed.status == Reach.UNREACHABLE
    assert "1.0% is not reachable with this model" in result.verdict()


def test_a_target_already_met_is_reached():
    result = forecast(make_runs(steep), n_boot=FAST, target_error=0.2)
    assert result.images_needed.status == Reach.REACHED
    assert "The current 1,600 images already reach 20.0%." in result.verdict()


def test_a_target_the_runs_meet_but_the_fit_does_not_confirm_is_said_both_ways():
    result = forecast(make_runs(steep), n_boot=FAST, target_error=0.2)
    for status in (Reach.UNCERTAIN, Reach.UNREACHABLE):
        need = replace(result.images_needed, target=0.05, status=status, median=300.0, floor=0.06)
        said = replace(result, images_needed=need, error_rate=0.04).verdict()
        assert "The measured error (4.0%) already meets the 5.0% target at 1,600 images" in said
        assert "not reachable" not in said and "may take about" not in said


def test_a_target_the_fit_reaches_but_the_runs_did_not_is_not_called_reached():
    # As on the digits demo: the fitted curve is below 1% at the current size, 1.1% was measured.
    result = forecast(make_runs(steep), n_boot=FAST, target_error=0.2)
    above = replace(result, error_rate=0.21)
    assert "already reach" not in above.verdict()
    assert (
        "The fitted curve is below 20.0% at the current 1,600 images, but 21.0% was measured"
        in above.verdict()
    )


# --- guard, overfitting, excluded runs --------------------------------------------------------------


def test_guard_flags_a_curve_that_rises_beyond_noise_and_shortens_the_forecast():
    runs = exact_runs([0.30, 0.20, 0.10, 0.20, 0.25], n_valid=2000)
    result = forecast(runs, n_boot=FAST, target_error=0.05)
    assert not result.guard.monotone
    assert [h.multiple for h in result.horizons] == [2]
    assert result.images_needed.status == Reach.UNRELIABLE
    assert result.answer().kind == AnswerKind.CANNOT_TELL
    assert result.verdict().startswith(
        "We cannot tell yet whether more images help: the curve rises beyond noise"
    )
    assert "The learning curve rises beyond noise" in result.verdict()


def test_guard_leaves_a_noisy_falling_curve_alone():
    assert forecast(make_runs(steep, n_valid=300, spread=0.1, seed=5), n_boot=FAST).guard.monotone


def test_overfitting_summary_gives_share_onset_and_gap_per_size():
    runs = make_runs(steep, sizes=(100, 200, 400)).assign(
        train_error=0.01,
        diagnosis=["overfitting", "ok", "overfitting"] + ["ok"] * 6,
        overfit_onset_epoch=[4.0, math.nan, 6.0] + [math.nan] * 6,
    )
    summary = overfitting_summary(runs).set_index("n_train")
    assert summary.loc[100, "overfitting_share"] == pytest.approx(2 / 3)
    assert summary.loc[100, "onset_epoch"] == 5.0
    assert math.isnan(summary.loc[200, "onset_epoch"])
    assert summary.loc[100, "gap"] == pytest.approx(summary.loc[100, "error_rate"] - 0.01)


def test_runs_that_did_not_finish_are_left_out_and_counted():
    runs = make_runs(steep)
    failed = runs.iloc[[0]].assign(status="failed", error_rate=math.nan)
    result = forecast(pd.concat([runs, failed]), n_boot=FAST)
    assert result.excluded_runs == {"failed": 1}
    assert result.points["runs"].tolist() == [3, 3, 3, 3, 3]
    assert "Runs left out of the fit: 1 failed." in result.verdict()


# --- per class ----------------------------------------------------------------------------------------


def per_class_table(curves: dict[str, object], *, n_valid_class: int = 500, seed: int = 0) -> pd.DataFrame:
    """Equal classes sharing each subset; each class's error follows its own curve of its own images."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in LADDER:
        for s in range(3):
            for label, curve in curves.items():
                n_class = n // len(curves)
                error = rng.binomial(n_valid_class, curve(n_class)) / n_valid_class
                rows.append(
                    {
                        "fraction": n / max(LADDER),
                        "n_train": n,
                        "seed": s,
                        "label": label,
                        "n_train_class": n_class,
                        "n_valid_class": n_valid_class,
                        "error_rate": error,
                    }
                )
    return pd.DataFrame(rows)


def test_per_class_ranking_puts_the_steepest_class_first_and_marks_the_flat_one():
    classes = {
        "cat": lambda n: 0.05 + 0.0 * n,
        "dog": lambda n: 0.5 * n**-0.3,
        "owl": lambda n: 6.0 * n**-0.7,
    }
    per_class = per_class_table(classes, n_valid_class=5000)  # enough to tell a flat class apart
    result = forecast(make_runs(steep), per_class=per_class, n_boot=FAST)
    table = result.per_class.set_index("label")
    assert result.per_class["label"].tolist() == ["owl", "dog", "cat"]
    assert table.loc["owl", "rank"] == 1
    assert table.loc["cat", "plateaued"]
    assert table.loc["owl", "low"] <= table.loc["owl", "reduction"] <= table.loc["owl", "high"]


def test_a_class_seen_at_too_few_sizes_is_ranked_last_not_an_error():
    table = per_class_table({"a": lambda n: 4.0 * n**-0.7, "b": lambda n: 0.8 * n**-0.3})
    table = table[(table["label"] == "a") | (table["n_train"] >= 800)]
    result = forecast(make_runs(steep), per_class=table, n_boot=FAST)
    assert result.per_class["label"].tolist() == ["a", "b"]
    assert result.per_class.set_index("label").loc["b", "status"] == "too_few_points"


# --- the door -----------------------------------------------------------------------------------------


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match=r"runs lacks the columns \['n_valid'\]"):
        forecast(make_runs(steep).drop(columns="n_valid"))


def test_fewer_than_three_sizes_is_refused_with_what_is_needed():
    with pytest.raises(ValueError, match=r"3 or more training-set sizes; got 2 \[100, 200\]"):
        forecast(make_runs(steep, sizes=(100, 200)))


def test_sizes_count_only_finished_runs():
    runs = make_runs(steep, sizes=(100, 200, 400))
    runs.loc[runs["n_train"] == 400, "status"] = "diverged"
    with pytest.raises(ValueError, match="got 2"):
        forecast(runs)


@pytest.mark.parametrize("target", [0.0, 1.0, 1.5, -0.1])
def test_target_error_must_be_an_error_rate(target):
    with pytest.raises(ValueError, match=f"target_error={target} must be between 0 and 1"):
        forecast(make_runs(steep), target_error=target)


def test_error_rates_outside_zero_and_one_are_refused():
    with pytest.raises(ValueError, match=r"error_rate must be in \[0, 1\].*\[7.0\]"):
        forecast(make_runs(steep).assign(error_rate=lambda t: t["error_rate"].where(t.index > 0, 7.0)))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"families": ("pow9",)}, "families=.* must be one or more of"),
        ({"families": ("last1",)}, "last1 is the baseline"),
        ({"n_boot": 3}, "n_boot=3 must be an integer of at least 10"),
        ({"interval": (0.9, 0.1)}, r"interval=\(0.9, 0.1\) must be two quantiles"),
        ({"plateau_threshold": 0}, "plateau_threshold=0 must be positive"),
    ],
)
def test_bad_options_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        forecast(make_runs(steep), **options)


# --- output -------------------------------------------------------------------------------------------


def test_to_dict_is_json_without_nan():
    classes = {"a": lambda n: 4.0 * n**-0.7, "b": lambda n: 0.05 + 0.0 * n}
    result = forecast(make_runs(steep), per_class=per_class_table(classes), target_error=0.001, n_boot=FAST)
    out = result.to_dict()
    text = json.dumps(out, allow_nan=False)
    keys = {"forecast", "plateau", "images_needed", "backtest", "per_class", "overfitting", "guard"}
    assert keys <= set(out)
    assert out["verdict"] == result.verdict()
    assert "NaN" not in text


def test_the_same_seed_gives_the_same_forecast():
    runs = make_runs(steep, spread=0.1, seed=7)
    first = forecast(runs, n_boot=FAST, seed=11, target_error=0.02).to_dict()
    assert forecast(runs, n_boot=FAST, seed=11, target_error=0.02).to_dict() == first
    assert forecast(runs, n_boot=FAST, seed=12, target_error=0.02).to_dict() != first


def test_row_order_does_not_change_the_forecast():
    runs = make_runs(steep, spread=0.1, seed=7)
    shuffled = runs.sample(frac=1.0, random_state=0)
    assert forecast(shuffled, n_boot=FAST).to_dict() == forecast(runs, n_boot=FAST).to_dict()


def test_the_digits_curve_cut_at_a_quarter_forecasts_the_full_error_better_than_its_last_point():
    measured = dict(
        zip((45, 90, 180, 360, 719, 1438), (0.22, 0.097, 0.059, 0.037, 0.021, 0.011), strict=True)
    )
    runs = make_runs(lambda n: measured[n], sizes=(45, 90, 180, 360), n_valid=360, spread=0.05)
    result = forecast(runs, n_boot=FAST)
    at_full = {h.n_train: h for h in result.horizons}[1440]
    assert abs(at_full.expected - 0.011) < abs(result.error_rate - 0.011)
    assert at_full.low <= 0.011 <= at_full.high


# --- the answer first ---------------------------------------------------------------------------------


def zero_runs(errors_per_size, sizes=(75, 150, 300, 600, 1200), n_valid=300):
    """Two seeds per size; `errors_per_size` validation images wrong at each size (both seeds)."""
    table = dict(zip(sizes, errors_per_size, strict=True))
    return make_runs(lambda n: 0.0, sizes, seeds=2, n_valid=0).assign(
        n_valid=n_valid, error_rate=lambda t: t["n_train"].map(table) / n_valid
    )


def test_errors_at_zero_answer_that_the_images_are_already_enough_with_the_smallest_size():
    result = forecast(zero_runs([0, 0, 0, 0, 0]), n_boot=FAST)
    answer = result.answer()
    assert answer.kind == AnswerKind.ENOUGH
    assert answer.sentence == (
        "You already have enough images for this task: 75 training images already made 0 errors on 300 "
        "validation images (under 1.0% at 95% confidence, the rule of three)."
    )
    assert answer.why[0] == "Every size from 75 to 1,200 images scored within one validation image of zero."
    assert len(answer.why) <= 3
    said = result.verdict()
    assert said.startswith(answer.sentence)
    for wrong in ("midway", "Self-check", "interval", "0.00%"):
        assert wrong not in said
    assert result.to_dict()["answer"]["kind"] == "enough"


def test_the_smallest_size_at_zero_is_the_first_of_the_sizes_that_stay_there():
    answer = forecast(zero_runs([9, 0, 4, 1, 0]), n_boot=FAST).answer()
    assert answer.kind == AnswerKind.ENOUGH
    assert answer.sentence.startswith("You already have enough images for this task: 600 training images")
    assert "made 1 error on 300 validation images (under 1.6% at 95% confidence)" in answer.sentence


def test_zero_errors_on_too_few_validation_images_cannot_tell_and_name_a_larger_validation_set():
    answer = forecast(zero_runs([3, 1, 0, 0, 0], n_valid=30), n_boot=FAST).answer()
    assert answer.kind == AnswerKind.CANNOT_TELL
    assert "a larger validation set would tell" in answer.sentence
    assert "150 training images already made 1 error on 30 validation images (under 14.9%" in answer.sentence


def test_a_target_below_what_the_validation_set_can_confirm_cannot_be_called_enough():
    answer = forecast(zero_runs([0, 0, 0, 0, 0]), n_boot=FAST, target_error=0.005).answer()
    assert answer.kind == AnswerKind.CANNOT_TELL
    assert answer.sentence.startswith("We cannot tell yet whether you have enough for 0.5%")
    enough = forecast(zero_runs([0, 0, 0, 0, 0]), n_boot=FAST, target_error=0.02).answer()
    assert enough.kind == AnswerKind.ENOUGH and "(the 2.0% target)" in enough.sentence


def test_a_zero_error_forecast_takes_no_midway():
    result = forecast(zero_runs([6, 3, 1, 0, 0]), n_boot=FAST)
    assert not any(h.midway for h in result.horizons)


def test_the_answer_gives_at_most_three_reasons_and_every_kind_one_sentence_first():
    for runs in (make_runs(steep), make_runs(flat, seed=2), zero_runs([0, 0, 0, 0, 0])):
        answer = forecast(runs, n_boot=FAST, target_error=0.02).answer()
        assert len(answer.why) <= 3
        assert answer.text(details=False) == " ".join([answer.sentence, *answer.why])
        assert forecast(runs, n_boot=FAST, target_error=0.02).verdict().startswith(answer.sentence)
