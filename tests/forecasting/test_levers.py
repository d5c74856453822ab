"""The model as a lever: the comparison's ranking follows the measured errors, both ways."""

from __future__ import annotations

import pytest

from datasize.forecasting.estimates import Horizon
from datasize.forecasting.levers import Comparison, Lever, ModelCurve


def _model(name: str, now: float, later: float | None, *, spread: float = 0.005) -> ModelCurve:
    at_2x = None if later is None else Horizon(2, 2000, later, later - spread, later + spread, fitted=later)
    return ModelCurve(name, 1000, now, now - spread, now + spread, at_2x)


def test_a_pretrained_body_that_beats_more_images_is_the_lever_to_pull_first() -> None:
    convnet = _model("convnet", 0.120, 0.090)
    frozen = _model("efficientnet_lite0 (ImageNet-pretrained, frozen body)", 0.040, 0.030)
    comparison = Comparison((convnet, frozen))
    assert comparison.best_now is frozen
    assert comparison.lever == Lever.MODEL
    assert comparison.sentence() == (
        "The efficientnet_lite0 (ImageNet-pretrained, frozen body) has 4.0% error at today's 1,000 images; "
        "doubling the images with convnet is forecast to reach 9.0% (80% interval 8.5%-9.5%): "
        "change the model first."
    )


def test_a_pretrained_body_that_loses_leaves_more_images_first() -> None:
    convnet = _model("convnet", 0.030, 0.020)
    frozen = _model("efficientnet_lite0 (ImageNet-pretrained, frozen body)", 0.165, 0.150)
    comparison = Comparison((convnet, frozen))
    assert comparison.best_now is convnet and comparison.lever == Lever.IMAGES
    assert comparison.sentence().startswith(
        "The convnet you use already has the lowest error measured (3.0% error at today's 1,000 images; "
        "efficientnet_lite0 (ImageNet-pretrained, frozen body) 16.5%); doubling the images with it is "
        "forecast to reach 2.0%"
    )


def test_a_better_model_that_more_images_would_overtake_puts_images_first() -> None:
    base = _model("convnet", 0.100, 0.030)
    other = _model("resnet", 0.080, 0.070)
    assert Comparison((base, other)).lever == Lever.IMAGES
    assert Comparison((base, other)).sentence().endswith("more images first.")


def test_levers_within_each_others_intervals_are_said_to_be_even() -> None:
    base = _model("convnet", 0.100, 0.060, spread=0.02)
    sooner = Comparison((base, _model("resnet", 0.050, 0.045, spread=0.02)))  # 5% now, 6% at 2x
    assert sooner.lever == Lever.EITHER
    assert sooner.sentence().endswith(
        "their 80% intervals overlap, and the model change needs no new images: try it first."
    )
    later = Comparison((base, _model("resnet", 0.070, 0.065, spread=0.02)))  # 7% now, 6% at 2x
    assert later.lever == Lever.EITHER
    assert "more images with convnet are expected to do a little better" in later.sentence()


def test_the_table_and_json_carry_each_models_numbers() -> None:
    comparison = Comparison((_model("convnet", 0.12, 0.09), _model("resnet", 0.05, None)))
    table = comparison.table()
    assert table["model"].tolist() == ["convnet", "resnet"]
    assert table["expected_2x"].tolist()[0] == pytest.approx(0.09)
    assert table["expected_2x"].isna().tolist() == [False, True]
    assert comparison.to_dict()["lever"] == "model" and comparison.to_dict()["best_now"] == "resnet"


def test_one_model_is_no_comparison() -> None:
    with pytest.raises(ValueError, match="at least two models"):
        Comparison((_model("convnet", 0.1, 0.09),))


def test_a_model_no_better_than_the_one_in_use_is_said_to_be_within_the_noise() -> None:
    comparison = Comparison((_model("convnet", 0.20, 0.18, spread=0.03), _model("resnet", 0.21, 0.19)))
    assert comparison.lever == Lever.IMAGES
    assert comparison.sentence().startswith(
        "No model measured beats the convnet you use (20.0% error at today's 1,000 images; resnet 21.0%, "
        "within the noise)"
    )
