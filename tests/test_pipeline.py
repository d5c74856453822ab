"""The whole pipeline (`run_curve`): its stages, in order, and the files they leave."""

from __future__ import annotations

import json

import pytest

from datasize.curves.plan import CurveConfig
from datasize.pipeline import run_curve
from datasize.training.loop import TrainConfig
from tests.conftest import stripes_folders

CONFIG = CurveConfig(fractions=(0.5, 1.0), seeds=1, lr=5e-3, train=TrainConfig(epochs=1, batch_size=16))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return stripes_folders(tmp_path_factory.mktemp("pipeline-data"), 16)


def test_the_stages_run_in_order_and_the_validation_written_is_the_datasets(dataset, tmp_path):
    stages = []
    run_curve(dataset, config=CONFIG, out=tmp_path, prepare_options={"size": 16}, on_stage=stages.append)
    assert stages[1].startswith("validating") and stages[2] == "choosing the learning rate"
    found = json.loads((tmp_path / "validation.json").read_text())
    assert found["images"] == 32 and found["classes"] == 2
    assert (tmp_path / "curve_summary.json").exists()
