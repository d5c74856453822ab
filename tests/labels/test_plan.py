"""The K-fold plan: stratified, seeded, duplicate-aware folds, the same whatever the listing order."""

from __future__ import annotations

import numpy as np
import pytest

from datasize.labels.plan import (
    FoldSpec,
    LabelsConfig,
    assign_folds,
    check_classes,
    check_every_fold_learns_every_class,
)
from datasize.training.loop import TrainConfig

PATHS = [f"{label}/{i:03d}.png" for label in "abc" for i in range(20 + 7 * "abc".index(label))]
letters = np.array([p[0] for p in PATHS])


def test_every_fold_holds_each_class_in_its_share_within_an_image() -> None:
    fold = assign_folds(PATHS, letters, folds=5, seed=0)
    for label in "abc":
        counts = np.bincount(fold[letters == label], minlength=5)
        assert counts.max() - counts.min() <= 1, (label, counts)
    assert np.bincount(fold).sum() == len(PATHS)


def test_the_folds_do_not_depend_on_the_listing_order() -> None:
    fold = assign_folds(PATHS, letters, folds=4, seed=3)
    order = np.random.default_rng(1).permutation(len(PATHS))
    shuffled = assign_folds([PATHS[i] for i in order], letters[order], folds=4, seed=3)
    assert shuffled.tolist() == fold[order].tolist()


def test_another_seed_draws_other_folds() -> None:
    assert (
        assign_folds(PATHS, letters, folds=4, seed=0).tolist()
        != assign_folds(PATHS, letters, folds=4, seed=1).tolist()
    )


def test_copies_and_groups_share_a_fold() -> None:
    copies = np.array([""] * len(PATHS), dtype=object)
    copies[[0, 5, 30]] = "a/000.png"  # a near-copy group across two classes
    groups = np.array([""] * len(PATHS), dtype=object)
    groups[[1, 2, 3, 4]] = "patient-7"
    for seed in range(5):
        fold = assign_folds(PATHS, letters, folds=5, seed=seed, copies=copies, groups=groups)
        assert len(set(fold[[0, 5, 30]])) == 1 and len(set(fold[[1, 2, 3, 4]])) == 1


@pytest.mark.parametrize(
    ("labels", "folds", "message"),
    [
        (["a"] * 9, 5, r"needs at least 2 classes; the dataset has 1 \('a'\)"),
        (["a"] * 9 + ["b"] * 3, 5, r"class 'b' has 3 images, fewer than the 5 folds: .*use 3 folds"),
        (["a"] * 9 + ["b"], 2, r"class 'b' has 1 image, fewer than the 2 folds: .*; add images to 'b'"),
    ],
)
def test_too_few_classes_or_images_per_class_are_refused(labels, folds, message) -> None:
    with pytest.raises(ValueError, match=message):
        check_classes(np.array(labels), folds)


def test_a_class_that_is_one_group_of_copies_is_refused() -> None:
    labels = np.array(["a"] * 6 + ["b"] * 3)
    fold = np.array([0, 1, 2, 0, 1, 2, 1, 1, 1])
    with pytest.raises(ValueError, match=r"class 'b': its 3 images are copies of one another"):
        check_every_fold_learns_every_class(labels, fold)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"folds": 1}, r"folds=1 must be a whole number, 2 or more"),
        ({"folds": 2.5}, r"folds=2.5 must be a whole number"),
        ({"lr": -1.0}, r"lr=-1.0 must be a positive number"),
        ({"train": TrainConfig(seed=-1)}, r"seed=-1 must be an integer from 0"),
        ({"near_radius": 64}, r"near_radius=64 must be between 0 and 63"),
    ],
)
def test_a_bad_configuration_names_the_value(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        LabelsConfig(**kwargs)


def test_fold_names_say_which_fold_of_how_many() -> None:
    assert FoldSpec(1, 5).name == "fold-2-of-5"
