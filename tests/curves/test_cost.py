"""What a curve costs: planned (runs, steps, full trainings, the pilot's bounds), spent, and --dry-run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from datasize.cli import main
from datasize.curves.cost import CurveCost, pilot_bounds, planned_cost, run_seconds, spent_cost
from datasize.curves.plan import CurveConfig
from datasize.training.loop import TrainConfig
from tests.conftest import stripes_folders


def _config(**kw: object) -> CurveConfig:
    train = TrainConfig(epochs=4, batch_size=10)
    return CurveConfig(**{"fractions": (0.5, 1.0), "seeds": 2, "train": train, **kw})


def test_every_run_of_an_equal_step_curve_is_one_full_training() -> None:
    cost = planned_cost(_config(), 100)  # 4 epochs of 10 batches: 40 steps a run
    assert (cost.runs, cost.steps, cost.full_steps, cost.full_trainings) == (4, 160, 40, 4.0)


def test_an_equal_epoch_curve_costs_its_subsets_share() -> None:
    cost = planned_cost(_config(budget="epochs"), 100)  # 2 x 20 + 2 x 40 steps
    assert (cost.steps, cost.full_trainings) == (120, 3.0)


def test_the_pilot_costs_two_lengths_at_least_and_every_doubling_to_the_cap_at_most() -> None:
    least, most = pilot_bounds(_config(auto_epochs=True, max_epochs=32), 100)
    assert (least.runs, least.steps, least.full_trainings) == (4, 240, 6.0)  # 2 seeds x (4 + 8) epochs
    assert (most.runs, most.steps, most.full_trainings) == (8, 1200, 30.0)  # ... x (4 + 8 + 16 + 32)


def test_a_runs_time_counts_its_evaluation_passes_at_a_third_of_a_step() -> None:
    # 40 steps, 4 epochs of 10 batches: 4 validations of 3 batches (25 images) and 1 pass over the
    # 10 training batches: 40 + (12 + 10) / 3 steps of 0.3 s.
    assert run_seconds(_config(), 40, 100, 25, 0.3) == pytest.approx((40 + 22 / 3) * 0.3)


def test_spent_cost_adds_the_runs_steps_and_seconds() -> None:
    spent = spent_cost([{"steps": 40, "seconds": 2.0}, {"steps": 20, "seconds": 1.5}], 40)
    assert spent == CurveCost(2, 60, 40, 3.5) and spent.full_trainings == 1.5


@pytest.fixture(scope="module")
def stripes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return stripes_folders(tmp_path_factory.mktemp("cost-data"), 24)


def test_a_finished_curve_says_what_it_cost_with_the_pilots_runs_counted_once(stripes, tmp_path) -> None:
    out = tmp_path / "run"
    args = [
        "curve",
        str(stripes),
        "--fractions",
        "0.5,1",
        "--seeds",
        "2",
        "--max-epochs",
        "4",
        "--size",
        "16",
    ]
    args += ["--batch-size", "8", "--out", str(out), "--json", "--quiet", "--seed-stop", "0"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    cost = json.loads(result.output)["cost"]
    # The pilot ran 4 epochs' length only (the cap: 8 is over it), two seeds, which are the curve's
    # two largest runs; the curve itself ran the two at half the set, each a full training.
    assert cost["pilot"]["runs"] == 2 and cost["pilot"]["full_trainings"] == 2.0
    assert cost["curve"]["runs"] == 2 and cost["curve"]["full_trainings"] == 2.0
    assert cost["full_trainings"] == 4.0
    assert json.loads(result.output)["suggestion"] is None  # gray stripes: no pretrained suggestion


def test_a_dry_run_prints_the_plan_and_its_time_and_writes_nothing(stripes, tmp_path) -> None:
    out = tmp_path / "never"
    args = ["curve", str(stripes), "--fractions", "0.5,1", "--seeds", "3", "--epochs", "4", "--size", "16"]
    result = CliRunner().invoke(main, [*args, "--dry-run", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "plan: 6 runs, 6.0 full trainings of" in result.output and "ms a step, timed" in result.output
    assert not out.exists()
    planned = CliRunner().invoke(main, [*args, "--dry-run", "--json", "--quiet", "--out", str(out)])
    [plan] = json.loads(planned.output)
    assert plan["curve"]["runs"] == 6 and plan["pilot"] is None and plan["seconds_per_step"] > 0
