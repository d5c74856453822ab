"""`datasize curve` with several --model: each model's curve on one split, and which lever to pull."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from datasize.cli import main
from tests.training.test_backbones import _dataset


@pytest.mark.slow
def test_two_models_are_measured_on_one_split_and_ranked_by_their_errors(tmp_path: Path) -> None:
    data = _dataset(tmp_path / "data", per_class=20)
    out = tmp_path / "compare"
    args = [
        "curve",
        str(data),
        "--model",
        "convnet",
        "--model",
        "efficientnet_lite0",
        "--pretrained",
        "--frozen",
    ]
    args += ["--size", "32", "--fractions", "0.25,0.5,1", "--seeds", "2", "--epochs", "4", "--lr", "0.01"]
    args += ["--out", str(out), "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    said = [line for line in result.output.splitlines() if not line.startswith(("[", "run ", "resuming"))]
    assert said[0].startswith("ANSWER: ")  # the answer before the table and each model's verdict
    summary = json.loads((out / "comparison.json").read_text())
    names = [m["model"] for m in summary["comparison"]["models"]]
    assert names == ["convnet", "efficientnet_lite0 (ImageNet-pretrained, frozen body)"]
    errors = {m["model"]: m["error_rate"] for m in summary["comparison"]["models"]}
    best = min(errors, key=errors.get)
    assert summary["comparison"]["best_now"] == best and best in said[0]
    splits = [
        pd.read_csv(out / name / "split.csv") for name in ("convnet", "efficientnet_lite0-pretrained-frozen")
    ]
    pd.testing.assert_frame_equal(splits[0], splits[1])  # the second model read the first's split
    assert (out / "comparison.png").read_bytes().startswith(b"\x89PNG")
    reported = CliRunner().invoke(main, ["report", str(out), "--format", "json"])
    assert reported.exit_code == 0, reported.output
    report = json.loads((out / "report.json").read_text())
    assert report["verdict"] == summary["answer"]  # the answer first
    rows = report["sections"][0]["tables"][0]["rows"]
    assert [r["model"] for r in rows] == names
    # The backbone options went to the backbone only: the convnet trained on images, with augmentation.
    convnet = json.loads((out / "convnet" / "curve_summary.json").read_text())
    assert convnet["config"]["train"]["frozen"] is False and convnet["config"]["train"]["augment"] == "shift"
    # Colour images measured from scratch: the comparison with a pretrained body is suggested; not
    # once the pretrained body is the model measured.
    assert "--model efficientnet_lite0 --pretrained --frozen" in convnet["suggestion"]
    frozen = json.loads((out / "efficientnet_lite0-pretrained-frozen" / "curve_summary.json").read_text())
    assert frozen["suggestion"] is None


def test_other_commands_refuse_several_models_before_any_work(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["train", str(tmp_path / "nope"), "--model", "convnet", "--model", "resnet"]
    )
    assert result.exit_code == 2
    assert "--model is given 2 times; this command trains one model" in result.output


def test_the_same_model_twice_is_refused(tmp_path: Path) -> None:
    args = [
        "curve",
        str(tmp_path / "nope"),
        "--model",
        "convnet",
        "--model",
        "convnet",
        "--out",
        str(tmp_path),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "name the same model twice" in result.output
