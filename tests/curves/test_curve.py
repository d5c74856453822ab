"""Learning curves: nested stratified subsets, equal-step budgets, resume, failures, parallel runs."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from datasize.curves.plan import Budget, CurveConfig, nested_subsets, per_class_counts, plan_runs, run_config
from datasize.curves.runner import learning_curve
from datasize.training.loop import TrainConfig
from datasize.training.preparation import prepare
from tests.conftest import stripes_folders

TINY = TrainConfig(epochs=2, batch_size=16)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return prepare(stripes_folders(tmp_path_factory.mktemp("curve-data"), 40), size=16, jobs=1)


def config(**kw) -> CurveConfig:
    return CurveConfig(**{"fractions": (0.25, 0.5, 1.0), "seeds": 2, "train": TINY, **kw})


# --- the plan ---------------------------------------------------------------------------------------


def test_subsets_are_nested_for_each_seed_and_keep_every_class() -> None:
    labels = np.array(["a"] * 30 + ["b"] * 10 + ["c"] * 2)
    small, medium, full = nested_subsets(labels, [5, 21, 42], seed=7)
    assert set(small) <= set(medium) <= set(full) and len(full) == 42
    for subset in (small, medium):
        assert set(labels[subset]) == {"a", "b", "c"}
    counts = pd.Series(labels[medium]).value_counts().to_dict()
    assert counts == {"a": 15, "b": 5, "c": 1}


def test_subsets_differ_between_seeds_and_repeat_for_the_same_seed() -> None:
    labels = np.array(["a"] * 50 + ["b"] * 50)
    assert np.array_equal(nested_subsets(labels, [20], seed=1)[0], nested_subsets(labels, [20], seed=1)[0])
    assert not np.array_equal(
        nested_subsets(labels, [20], seed=1)[0], nested_subsets(labels, [20], seed=2)[0]
    )


def test_per_class_counts_keep_shares_and_at_least_one_image() -> None:
    assert per_class_counts(np.array([90, 9, 1]), 10).tolist() == [8, 1, 1]
    assert per_class_counts(np.array([5, 5]), 10).tolist() == [5, 5]


def test_a_subset_smaller_than_the_number_of_classes_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot hold 3 classes"):
        nested_subsets(np.array(list("abc")), [2], seed=0)


def test_the_plan_covers_every_size_and_seed_smallest_first() -> None:
    specs = plan_runs(CurveConfig(fractions=(0.5, 0.25, 1.0), seeds=2), 64)
    assert [(s.n_train, s.seed) for s in specs] == [(16, 0), (16, 1), (32, 0), (32, 1), (64, 0), (64, 1)]
    assert [s.n_train for s in plan_runs(CurveConfig(sizes=(10, 30), seeds=1), 64)] == [10, 30]
    with pytest.raises(ValueError, match=r"sizes \[100\] exceed the 64 training images"):
        plan_runs(CurveConfig(sizes=(10, 100)), 64)


def test_equal_step_budget_gives_every_fraction_the_steps_of_the_full_set() -> None:
    steps = run_config(CurveConfig(train=TrainConfig(epochs=4, batch_size=64)), 1e-3, n_full=1438)
    assert steps.steps == 4 * 23 and steps.lr == 1e-3
    epochs = run_config(CurveConfig(budget=Budget.EPOCHS, train=TrainConfig(epochs=4)), 1e-3, n_full=1438)
    assert epochs.steps is None and epochs.epochs == 4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fractions": (0, 0.5)}, "must be numbers in"),
        ({"fractions": (1.5,)}, "must be numbers in"),
        ({"seeds": 0}, "seeds=0"),
        ({"target_error": 1.2}, "target_error=1.2"),
        ({"sizes": (0, 5)}, "must be positive image counts"),
    ],
)
def test_bad_curve_settings_are_value_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CurveConfig(**kwargs)


# --- running ----------------------------------------------------------------------------------------


def test_a_curve_runs_every_point_and_writes_each_run(prepared, tmp_path) -> None:
    result = learning_curve(prepared, config=config(), lr=5e-3, folder=tmp_path)
    assert len(result.runs) == 6 and set(result.runs["status"]) == {"ok"}
    assert sorted(set(result.runs["n_train"])) == [16, 32, 64]
    assert len(list((tmp_path / "runs").glob("*.json"))) == 6
    assert (tmp_path / "runs.csv").is_file() and (tmp_path / "per_class.csv").is_file()
    assert set(result.per_class["label"]) == {"horizontal", "vertical"}
    assert (result.runs["steps"] == 2 * 4).all()  # equal steps: 2 epochs of 64 images in batches of 16


def test_a_finished_curve_is_resumed_without_rerunning(prepared, tmp_path) -> None:
    first = learning_curve(prepared, config=config(), lr=5e-3, folder=tmp_path)
    (tmp_path / "runs" / "n0000032-s1.json").unlink()
    ran = []
    again = learning_curve(
        prepared,
        config=config(),
        lr=5e-3,
        folder=tmp_path,
        on_run=lambda d, t, r: ran.append(r.get("n_train")),
    )
    assert again.resumed == 5 and ran == [None, 32]
    cols = ["n_train", "seed", "error_rate", "train_error", "valid_loss"]
    pd.testing.assert_frame_equal(first.runs[cols], again.runs[cols])


def test_a_half_written_run_file_is_not_trusted(prepared, tmp_path) -> None:
    learning_curve(prepared, config=config(seeds=1), lr=5e-3, folder=tmp_path)
    (tmp_path / "runs" / "n0000016-s0.json").write_text('{"fraction": 0.2')
    assert learning_curve(prepared, config=config(seeds=1), lr=5e-3, folder=tmp_path).resumed == 2


def test_a_folder_that_ran_every_seed_says_how_to_resume_it_under_the_new_default(prepared, tmp_path) -> None:
    learning_curve(prepared, config=config(seeds=1), lr=5e-3, folder=tmp_path)  # seed_stop None
    with pytest.raises(ValueError, match=r"changed: curve.seed_stop\); it ran every seed: --seed-stop 0"):
        learning_curve(prepared, config=config(seeds=1, seed_stop=1.0), lr=5e-3, folder=tmp_path)


def test_a_changed_configuration_is_refused_not_mixed(prepared, tmp_path) -> None:
    learning_curve(prepared, config=config(seeds=1), lr=5e-3, folder=tmp_path)
    with pytest.raises(ValueError, match=r"another configuration \(changed: curve.train.epochs\)"):
        learning_curve(
            prepared, config=config(seeds=1, train=replace(TINY, epochs=3)), lr=5e-3, folder=tmp_path
        )


def test_a_run_that_raises_is_recorded_and_the_curve_goes_on(prepared, tmp_path) -> None:
    # A backbone name passes the check up front; building it fails in each run (no such network, or no
    # torchvision at all).
    broken = replace(TINY, model="tv:no_such_network")
    result = learning_curve(prepared, config=config(seeds=1, train=broken), lr=5e-3, folder=tmp_path)
    assert set(result.runs["status"]) == {"failed"}
    assert result.runs["message"].str.contains("tv:no_such_network").all()
    record = json.loads((tmp_path / "runs" / "n0000016-s0.json").read_text())
    assert record["status"] == "failed"


def test_a_diverging_run_is_recorded_and_diagnosed(prepared, tmp_path) -> None:
    result = learning_curve(prepared, config=config(seeds=1, fractions=(1.0,)), lr=1e6, folder=tmp_path)
    assert result.runs["diagnosis"].tolist() == ["lr_too_high"]
    assert "Learning rate too high" in result.runs["message"].iloc[0]


@pytest.mark.slow
def test_two_worker_processes_give_the_same_results_as_one(prepared, tmp_path) -> None:
    cols = ["n_train", "seed", "status", "error_rate"]
    serial = learning_curve(prepared, config=config(seeds=1), lr=5e-3, folder=tmp_path / "a")
    parallel = learning_curve(prepared, config=config(seeds=1), lr=5e-3, folder=tmp_path / "b", jobs=2)
    assert len(parallel.runs) == 3 and set(parallel.runs["status"]) == {"ok"}
    # Thread counts differ (2 in-process, 1 per worker), so float sums may differ in the last bits.
    np.testing.assert_allclose(serial.runs["error_rate"], parallel.runs["error_rate"], atol=0.05)
    assert serial.runs[cols[:2]].equals(parallel.runs[cols[:2]])


@pytest.mark.slow
def test_runs_can_go_to_a_dask_local_cluster(prepared, tmp_path) -> None:
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        result = learning_curve(prepared, config=config(seeds=1), lr=5e-3, folder=tmp_path, scheduler=client)
    assert len(result.runs) == 3 and set(result.runs["status"]) == {"ok"}
    assert len(list((tmp_path / "runs").glob("*.json"))) == 3


# --- skipping seeds the curve does not need (seed_stop) ---------------------------------------------

# Error of each (size, seed) in the stand-in runs below: at 16 images the first two seeds disagree
# (0.30 vs 0.10), at 32 and 64 they agree within the validation noise (n_valid 400 here).
ERRORS = {16: [0.30, 0.10, 0.25, 0.20], 32: [0.200, 0.201, 0.5, 0.5], 64: [0.100, 0.104, 0.5, 0.5]}


def fake_run(task) -> dict:
    spec = task.spec
    error = ERRORS[spec.n_train][spec.seed]
    return {"n_train": spec.n_train, "seed": spec.seed, "fraction": spec.fraction, "status": "ok",
            "error_rate": error, "n_valid": 400, "per_class": []}  # fmt: skip


def test_seed_stop_runs_extra_seeds_only_where_the_first_ones_disagree(
    prepared, tmp_path, monkeypatch
) -> None:
    import datasize.curves.executors as executors

    ran: list[tuple[int, int]] = []

    def recording(task) -> dict:
        ran.append((task.spec.n_train, task.spec.seed))
        return fake_run(task)

    monkeypatch.setattr(executors, "run_one", recording)
    plan = config(seeds=4, seed_stop=0.5)
    result = learning_curve(prepared, config=plan, lr=5e-3, folder=tmp_path)
    # Two seeds everywhere first; then seeds 2 and 3 only at 16 images, where the spread stays large.
    assert ran == [(16, 0), (16, 1), (32, 0), (32, 1), (64, 0), (64, 1), (16, 2), (16, 3)]
    assert result.skipped == ("n0000032-s2", "n0000064-s2", "n0000032-s3", "n0000064-s3")
    kept = [[16, 0], [16, 1], [16, 2], [16, 3], [32, 0], [32, 1], [64, 0], [64, 1]]
    assert result.runs[["n_train", "seed"]].values.tolist() == kept
    ran.clear()
    again = learning_curve(prepared, config=plan, lr=5e-3, folder=tmp_path)  # resumed: same decisions
    assert ran == [] and again.skipped == result.skipped and again.resumed == 8
    every = learning_curve(prepared, config=config(seeds=4), lr=5e-3, folder=tmp_path / "every")
    assert len(every.runs) == 12 and every.skipped == ()


def test_seed_stop_must_be_positive() -> None:
    with pytest.raises(ValueError, match="seed_stop=0 must be a positive number"):
        config(seed_stop=0)


def test_threads_apply_to_each_run_and_the_callers_setting_is_restored(
    prepared, tmp_path, monkeypatch
) -> None:
    import torch

    import datasize.curves.run as run_module

    seen: list[int] = []
    real = run_module.fit_one_cycle

    def recording(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(run_module, "fit_one_cycle", recording)
    before = torch.get_num_threads()
    result = learning_curve(prepared, config=config(seeds=1), lr=5e-3, folder=tmp_path, threads=1)
    assert seen == [1, 1, 1] and set(result.runs["status"]) == {"ok"}
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads=0 must be at least 1"):
        learning_curve(prepared, config=config(seeds=1), lr=5e-3, folder=tmp_path, threads=0)


BUILT: list[tuple[int, int]] = []


def tiny_model(in_channels: int, n_classes: int):
    """A user's own model: the curve must train this, not config.train.model."""
    from torch import nn

    BUILT.append((in_channels, n_classes))
    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * 16 * 16, n_classes))


def test_a_curve_trains_the_users_own_model_and_records_it_in_its_identity(prepared, tmp_path) -> None:
    BUILT.clear()
    result = learning_curve(
        prepared, config=config(seeds=1), lr=5e-3, folder=tmp_path, model_factory=tiny_model
    )
    assert set(result.runs["status"]) == {"ok"} and BUILT == [(1, 2)] * 3
    identity = json.loads((tmp_path / "curve.json").read_text())["identity"]
    assert identity["model_factory"] == f"{__name__}.tiny_model"
    with pytest.raises(ValueError, match="changed: model_factory"):
        learning_curve(prepared, config=config(seeds=1), lr=5e-3, folder=tmp_path)
