"""A set that is already enough (issue #25): three very different classes, 300 generated images, every
size of the curve at zero error. The answer says so first, with the smallest size; the pilot runs one
length; no report, plan or diagnosis pretends there is something left to gain."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from datasize.cli import main
from tests.conftest import enough_folders


@pytest.fixture(scope="module")
def enough(tmp_path_factory):
    root = enough_folders(tmp_path_factory.mktemp("enough-data"), per_class=100)
    out = tmp_path_factory.mktemp("enough-run") / "run"
    args = ["curve", str(root), "--out", str(out), "--seeds", "2", "--threads", "1", "-q"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return root, out, result.output


def test_the_first_sentence_says_the_images_are_already_enough_with_the_smallest_size(enough):
    _, out, output = enough
    answer = next(line for line in output.splitlines() if line.startswith("ANSWER"))
    assert answer.startswith(
        "ANSWER (enough): You already have enough images for this task: 15 training images already made "
        "0 errors on 60 validation images (under 4.9% at 95% confidence, the rule of three)."
    )
    summary = json.loads((out / "curve_summary.json").read_text())
    assert summary["answer"]["kind"] == "enough"
    assert summary["verdict"].startswith(summary["answer"]["sentence"])


def test_the_pilot_runs_no_second_length(enough):
    _, out, output = enough
    choice = json.loads((out / "pilot" / "choice.json").read_text())
    assert [length["epochs"] for length in choice["lengths"]] == [4]
    assert "within one of 60 validation images of zero" in choice["reason"]
    assert "pilot: 8 epochs" not in output


def test_no_run_is_diagnosed_too_few_epochs_and_nothing_is_said_of_midway_or_self_checks(enough):
    _, out, output = enough
    summary = json.loads((out / "curve_summary.json").read_text())
    assert all(run["diagnosis"] != "too_few_epochs" for run in summary["runs"])
    for wrong in ("midway", "too_few_epochs", "self-check", "re-run with more --epochs"):
        assert wrong not in output


def test_the_plan_spends_nothing_on_a_set_at_zero(enough):
    _, out, _ = enough
    result = CliRunner().invoke(main, ["plan", str(out), "--budget", "500", "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert plan["images"] == 0 and plan["spent"] == 0 and plan["at_zero"]
    assert plan["verdict"].startswith("Collect nothing: the error is already within one of 60 validation")
    assert {row["reason"] for row in plan["table"]} == {"not_needed"}


def test_every_report_format_opens_with_the_same_answer_and_ranks_no_class(enough):
    _, out, _ = enough
    sentence = json.loads((out / "curve_summary.json").read_text())["answer"]["sentence"]
    for fmt in ("html", "md", "json"):
        result = CliRunner().invoke(main, ["report", str(out), "--format", fmt])
        assert result.exit_code == 0, result.output
    page = (out / "report.html").read_text()
    assert page.index("You have enough.") < page.index("<h2>")
    assert sentence in page
    markdown = (out / "report.md").read_text()
    assert markdown.split("\n## ")[0].count(sentence) == 1
    assert json.loads((out / "report.json").read_text())["answer"]["sentence"] == sentence
    for text in (page, markdown):
        assert "gain for the whole set" not in text  # no class ranking at zero
        assert "most confidently wrong" not in text.lower()
        assert "No validation image was predicted wrong" in text
        assert "Forecast self-check" not in text


def test_train_at_zero_error_diagnoses_no_short_training_and_lists_no_label_to_recheck(enough, tmp_path):
    root, _, _ = enough
    args = ["train", str(root), "--out", str(tmp_path / "train"), "--threads", "1", "-q"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "too_few_epochs" not in result.output
    assert "no validation image was predicted wrong: no label to re-check" in result.output


def test_the_learning_rate_nobody_gave_is_called_the_default(enough):
    _, _, output = enough
    assert "learning rate 0.003 (the default)" in output
