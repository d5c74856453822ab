"""The whole pipeline (`run_curve`): its stages, in order, and the files they leave."""

from __future__ import annotations

import json

import pytest

from datasize.curves.folder import RunFolder
from datasize.curves.plan import CurveConfig
from datasize.dataset.manifest import scan
from datasize.errors import ValidationFailed
from datasize.pipeline import run_curve, validation_gate
from datasize.training.loop import TrainConfig
from tests.conftest import lookalike_images, stripes_folders, write_images

CONFIG = CurveConfig(fractions=(0.5, 1.0), seeds=1, lr=5e-3, train=TrainConfig(epochs=1, batch_size=16))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return stripes_folders(tmp_path_factory.mktemp("pipeline-data"), 16)


def test_the_stages_run_in_order_and_the_validation_written_is_the_datasets(dataset, tmp_path):
    stages = []
    run_curve(dataset, config=CONFIG, out=tmp_path, prepare_options={"size": 16}, on_stage=stages.append)
    assert stages[0].startswith("scanning, validating")
    summary = "PASSED 32 images, 2 classes: 0 errors, 0 warnings, 0 notes (fails on error)"
    assert stages[1] == f"validation: {summary}"
    assert stages[2] == "choosing the learning rate"
    found = json.loads((tmp_path / "validation.json").read_text())
    assert found["images"] == 32 and found["classes"] == 2
    assert (tmp_path / "curve_summary.json").exists()


def test_the_validation_gate_finds_near_duplicates_as_the_split_does(tmp_path):
    # Look-alikes that hashes alone would tie together: with every candidate accepted (a split made
    # with near_threshold 0), they are label conflicts and the gate stops the run before training.
    data = write_images(tmp_path / "data", lookalike_images(per_kind=8))
    with pytest.raises(ValidationFailed, match=r"\d+ label_conflict"):
        run_curve(data, config=CONFIG, out=tmp_path / "run", prepare_options={"near_threshold": 0.0})
    assert json.loads((tmp_path / "run" / "validation.json").read_text())["passed"] is False
    (tmp_path / "default").mkdir()
    gate = validation_gate(RunFolder(tmp_path / "default"), "error", lambda _: None)
    gate(scan(data, jobs=1), None)  # verified at the default threshold: nothing stops it


def outcome_with(labels, *, error_rate=0.115, helps=False, split="split-fp"):
    """A CurveOutcome over stand-ins: a forecast at 1,438 images, 360 validation images."""
    from types import SimpleNamespace

    import pandas as pd

    from datasize.forecasting.answer import Answer
    from datasize.pipeline import CurveOutcome
    from datasize.vocab import AnswerKind

    forecast = SimpleNamespace(
        error_rate=error_rate,
        n_train=1438,
        plateau=SimpleNamespace(helps=helps),
        answer=lambda: Answer(AnswerKind.CANNOT_TELL, "More images may help little."),
    )
    runs = pd.DataFrame(
        {"n_train": [719, 1438], "status": "ok", "n_valid": 360, "diagnosis": "ok", "error_rate": error_rate}
    )
    prepared = SimpleNamespace(summary=lambda: {"images_fingerprint": "img-fp", "split_fingerprint": split})
    train = SimpleNamespace(describe=lambda: "convnet")
    curve = SimpleNamespace(runs=runs, epochs=None, config=SimpleNamespace(train=train))
    return CurveOutcome(prepared, curve, forecast, None, 3e-3, "given", None, labels)


LABELS = {
    "noise_rate": 0.10,
    "issues": [{}] * 180,
    "data": {"images_fingerprint": "img-fp", "split_fingerprint": "split-fp"},
}


def test_the_verdict_puts_fixing_labels_first_when_the_curve_levels_off_near_the_wrong_labels_share():
    verdict = outcome_with(LABELS).verdict()
    assert verdict == (
        "Fix labels before collecting images: the error levels off near 11.5%, "
        "and an estimated 10.0% of the labels are wrong (datasize labels flagged 180 images, in "
        "label_issues.csv). More images may help little. Measured with convnet."
    )
    assert outcome_with(LABELS).answer().kind == "plateau"


@pytest.mark.parametrize(
    ("labels", "changes"),
    [
        (None, {}),  # no labels check at hand
        (LABELS, {"helps": True}),  # the curve still falls: more images help
        (LABELS, {"error_rate": 0.30}),  # wrong labels are a third of the error
        (LABELS, {"split": "another-split"}),  # a labels check of another split
    ],
)
def test_the_verdict_says_nothing_of_labels_otherwise(labels, changes):
    assert outcome_with(labels, **changes).verdict() == "More images may help little. Measured with convnet."


def test_a_curve_sharing_its_folder_with_a_labels_check_reads_it(dataset, tmp_path):
    from datasize.labels.plan import LabelsConfig
    from datasize.pipeline import run_labels

    options = {"size": 16}
    checked = run_labels(
        dataset,
        config=LabelsConfig(folds=2, lr=5e-3, train=CONFIG.train),
        out=tmp_path,
        prepare_options=options,
    )
    outcome = run_curve(dataset, config=CONFIG, out=tmp_path, prepare_options=options)
    assert outcome.labels["noise_rate"] == checked.issues.noise_rate
    assert outcome.labels["data"]["split_fingerprint"] == outcome.prepared.split.fingerprint
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cache", "curve.json", "curve_summary.json", "label_folds", "label_issues.csv", "label_scores.csv",
        "labels.json", "labels_summary.json", "per_class.csv", "runs", "runs.csv", "split.csv",
        "split.csv.json", "validation.json",
    ]  # fmt: skip


def test_the_default_learning_rate_is_not_called_given(tmp_path):
    from datasize.pipeline import choose_lr

    folder = RunFolder(tmp_path)
    assert choose_lr(None, CurveConfig(lr=3e-3), folder, lr_given=False) == (3e-3, "the default")
    assert choose_lr(None, CurveConfig(lr=3e-3), folder) == (3e-3, "given")
