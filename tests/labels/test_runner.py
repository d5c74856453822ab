"""find_label_issues: every image predicted out of fold, planted errors found, folds resumed one by one."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import datasize.labels.runner as runner
from datasize.labels.folder import LabelsFolder, out_of_fold
from datasize.labels.plan import LabelsConfig
from datasize.labels.runner import find_label_issues
from datasize.training.loop import TrainConfig
from datasize.training.preparation import prepare
from tests.conftest import PLANTED, planted_stripes

CONFIG = LabelsConfig(folds=3, train=TrainConfig(epochs=3, batch_size=16))
LR = 5e-3


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = planted_stripes(tmp_path_factory.mktemp("planted"))
    return prepare(root, labels=root / "labels.csv", size=16, jobs=1)


@pytest.fixture(scope="module")
def checked(prepared, tmp_path_factory):
    folder = tmp_path_factory.mktemp("checked")
    return find_label_issues(prepared, config=CONFIG, lr=LR, folder=folder)


def counting(monkeypatch) -> list[str]:
    trained: list[str] = []
    real = runner.run_fold

    def run_fold(task):
        trained.append(task.spec.name)
        return real(task)

    monkeypatch.setattr(runner, "run_fold", run_fold)
    return trained


def test_the_planted_wrong_labels_are_the_suspects(checked) -> None:
    assert dict(zip(checked.issues["path"], checked.issues["suggested"], strict=True)) == {
        path: ("vertical" if given == "horizontal" else "horizontal") for path, given in PLANTED.items()
    }
    assert checked.noise_rate == pytest.approx(3 / 60, abs=0.01)
    assert checked.issues["rank"].tolist() == [1, 2, 3]


def test_every_readable_image_is_predicted_by_the_fold_that_held_it_out(checked, prepared) -> None:
    scores = checked.scores
    assert len(scores) == 60 and sorted(scores["path"]) == sorted(prepared.cache.paths)
    folder = LabelsFolder(checked.folder)
    for name, record in folder.finished_folds().items():
        held = set(record["paths"])
        assert set(scores.loc[scores["fold"] == record["fold"] + 1, "path"]) == held, name
        assert record["n_train"] == 60 - len(held)


def test_the_files_hold_the_result(checked) -> None:
    folder = LabelsFolder(checked.folder)
    table = pd.read_csv(folder.issues_csv, keep_default_na=False)
    assert table["path"].tolist() == checked.issues["path"].tolist()
    assert json.loads(folder.summary_file.read_text())["noise_rate"] == pytest.approx(checked.noise_rate)


def test_a_finished_check_is_resumed_without_training(checked, prepared, monkeypatch) -> None:
    trained = counting(monkeypatch)
    again = find_label_issues(prepared, config=CONFIG, lr=LR, folder=checked.folder)
    assert trained == [] and again.resumed == 3
    pd.testing.assert_frame_equal(again.issues, checked.issues)


def test_the_same_lr_given_in_the_config_or_as_the_argument_is_one_configuration(
    checked, prepared, monkeypatch
) -> None:
    # The CLI's --lr arrives in the config, the API's as the argument: a folder resumes either way.
    trained = counting(monkeypatch)
    again = find_label_issues(prepared, config=replace(CONFIG, lr=LR), lr=LR, folder=checked.folder)
    assert trained == [] and again.resumed == 3


def test_a_half_written_fold_is_trained_again_and_gives_the_same_result(
    checked, prepared, tmp_path, monkeypatch
) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(checked.folder, copy)
    record = copy / "label_folds" / "fold-2-of-3.json"
    record.write_text(record.read_text()[:200])
    trained = counting(monkeypatch)
    again = find_label_issues(prepared, config=CONFIG, lr=LR, folder=copy)
    assert trained == ["fold-2-of-3"] and again.resumed == 2
    pd.testing.assert_frame_equal(again.issues, checked.issues)


def test_a_failed_fold_stops_the_check_with_its_reason_and_is_trained_on_the_next_run(
    prepared, tmp_path, monkeypatch
) -> None:
    real = runner.run_fold

    def failing(task):
        if task.spec.fold == 1:
            return {"fold": 1, "folds": 3, "status": "failed", "message": "RuntimeError: out of memory"}
        return real(task)

    monkeypatch.setattr(runner, "run_fold", failing)
    with pytest.raises(ValueError, match=r"fold 2 of 3 failed: RuntimeError: out of memory; the finished"):
        find_label_issues(prepared, config=CONFIG, lr=LR, folder=tmp_path)
    monkeypatch.undo()
    trained = counting(monkeypatch)
    result = find_label_issues(prepared, config=CONFIG, lr=LR, folder=tmp_path)
    assert trained == ["fold-2-of-3"] and result.resumed == 2


def test_a_changed_configuration_is_refused(checked, prepared) -> None:
    other = LabelsConfig(folds=3, train=TrainConfig(epochs=2, batch_size=16))
    with pytest.raises(
        ValueError, match=r"a labels check with another configuration \(changed: labels.train"
    ):
        find_label_issues(prepared, config=other, lr=LR, folder=checked.folder)


def test_an_image_missing_from_every_fold_is_an_error() -> None:
    record = {"fold": 0, "paths": ["a.png"], "probabilities": [[0.9, 0.1]]}
    with pytest.raises(ValueError, match=r"1 images have no out-of-fold prediction, e.g. 'b.png'"):
        out_of_fold([record], ("a.png", "b.png"), 2)
    assert out_of_fold([record], ("a.png",), 2).tolist() == [[0.9, 0.1]]


@pytest.mark.slow
def test_folds_in_worker_processes_give_the_same_result(checked, prepared, tmp_path) -> None:
    parallel = find_label_issues(prepared, config=CONFIG, lr=LR, folder=tmp_path, jobs=2)
    pd.testing.assert_frame_equal(parallel.issues, checked.issues)
    assert np.allclose(parallel.joint.to_numpy(), checked.joint.to_numpy())


def test_auto_epochs_needs_the_pilots_choice(prepared, tmp_path) -> None:
    with pytest.raises(ValueError, match="use run_labels, or pass epochs="):
        find_label_issues(prepared, config=replace(CONFIG, auto_epochs=True), lr=LR, folder=tmp_path)
