"""Confident learning over out-of-fold probabilities, and the tables and JSON of a LabelIssues."""

from __future__ import annotations

import numpy as np
import pandas as pd

from datasize.labels.issues import LabelIssues, confident_learning, issues_from, relabelled


def planted(n: int = 300, classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Given labels with 10% moved to the next class, and probabilities of a model that learnt the truth."""
    rng = np.random.default_rng(seed)
    true = np.arange(n) % classes
    probabilities = rng.dirichlet(np.full(classes, 0.3), size=n) * 0.1
    probabilities[np.arange(n), true] += 0.9
    given = true.copy()
    wrong = rng.choice(n, size=n // 10, replace=False)
    given[wrong] = (true[wrong] + 1) % classes
    return given, probabilities, np.sort(wrong)


def result_of(given, probabilities, classes=("a", "b", "c")) -> LabelIssues:
    found = confident_learning(given, probabilities)
    paths = tuple(f"img/{i:04d}.png" for i in range(len(given)))
    scores, issues, per_class, joint, noise_rate = issues_from(
        found, paths=paths, given=given, fold=np.arange(len(given)) % 5, classes=classes
    )
    empty = pd.DataFrame(columns=["path", "reason"])
    return LabelIssues(classes, noise_rate, issues, per_class, joint, scores, pd.DataFrame(), empty)


def test_the_planted_wrong_labels_are_found_and_ranked_by_self_confidence() -> None:
    given, probabilities, wrong = planted()
    found = confident_learning(given, probabilities)
    assert sorted(found.ranked.tolist()) == wrong.tolist()
    confidence = probabilities[found.ranked, given[found.ranked]]
    assert (np.diff(confidence) >= 0).all()  # least confident in the given label first


def test_the_noise_rate_and_each_class_estimate_come_from_the_joint() -> None:
    given, probabilities, _ = planted()
    result = result_of(given, probabilities)
    assert abs(result.noise_rate - 0.1) < 0.005
    assert abs(result.joint.to_numpy().sum() - 1) < 1e-9
    # an image labelled c is really b when wrong (each wrong label is the next class)
    assert result.per_class.set_index("label").loc["c", "confused_with"] == "b"
    assert result.per_class["issues"].sum() == len(result.issues) == 30


def test_the_json_has_the_documented_fields() -> None:
    given, probabilities, _ = planted()
    body = result_of(given, probabilities).to_dict()
    assert list(body)[:5] == ["images", "folds", "noise_rate", "issues", "per_class"]
    assert set(body["issues"][0]) == {"path", "given", "suggested", "self_confidence", "rank"}
    assert set(body["per_class"][0]) == {"label", "images", "issues", "noise_rate", "confused_with"}
    assert [i["rank"] for i in body["issues"]] == list(range(1, 31))
    assert body["issues"][0]["given"] != body["issues"][0]["suggested"]


def test_clean_labels_give_no_suspect_and_say_so() -> None:
    given, probabilities, wrong = planted()
    true = given.copy()
    true[wrong] = probabilities[wrong].argmax(axis=1)
    result = result_of(true, probabilities)
    assert result.issues.empty and result.verdict().startswith("No label looks wrong")


def test_a_weak_model_is_called_too_weak_to_judge() -> None:
    given, _, _ = planted()
    noise = np.random.default_rng(1).dirichlet(np.ones(3), size=len(given))
    assert "Caution: the folds' models agree with only" in result_of(given, noise).verdict()


def test_the_labels_table_applies_the_suggestions_and_keeps_every_image() -> None:
    manifest = pd.DataFrame(
        {
            "path": ["b/2.png", "a/1.png", "a/bad.png"],
            "label": ["b", "a", "a"],
            "group": ["", "", ""],
            "split": ["valid", "train", "train"],
            "error": ["", "", "truncated"],
        }
    )
    issues = pd.DataFrame({"path": ["b/2.png"], "suggested": ["a"]})
    table = relabelled(manifest, issues)
    assert table.to_dict("list") == {
        "path": ["a/1.png", "a/bad.png", "b/2.png"],
        "label": ["a", "a", "a"],
        "given": ["a", "a", "b"],
        "split": ["train", "train", "valid"],
    }
