"""A new user's first hour: wrong input is refused before any work, validation gates the pipeline, and
what the tool says matches what its numbers say. One test per mistake a user made (issue #17)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import datasize.curves.executors as executors
from datasize.cli import main
from datasize.forecasting.sizing import forecast
from datasize.recipe import load_recipe
from datasize.training.diagnosis import diagnose
from tests.conftest import SAMPLE, stripes, stripes_folders


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


def recipe(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipe.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- validation fails where a measurement could not start ------------------------------------------


def test_validating_an_empty_folder_fails_with_an_error_finding(tmp_path: Path) -> None:
    code, out = run("validate", tmp_path, "--json")
    report = json.loads(out)
    assert code == 1 and not report["passed"]
    assert [(f["check"], f["severity"]) for f in report["findings"]] == [("no_images", "error")]


def test_validating_a_flat_folder_of_images_fails_and_says_how_to_label_them(tmp_path: Path) -> None:
    # issue #25: said before any image is read, in one line (was no_images and a skipped_file per image)
    for i in range(7):
        stripes(tmp_path / f"{i}.png", vertical=True, seed=i)
    code, out = run("validate", tmp_path)
    assert (
        code == 2
        and "holds 7 image(s) directly and no class folders: this looks like one class folder" in out
    )
    assert "point at its parent" in out and "(or label the files with --labels or --label-re)" in out


def test_validating_a_single_class_fails(tmp_path: Path) -> None:
    for i in range(12):
        stripes(tmp_path / "cat" / f"{i}.png", vertical=True, seed=i)
    code, out = run("validate", tmp_path, "--json")
    findings = json.loads(out)["findings"]
    assert code == 1 and [f["check"] for f in findings] == ["single_class"]
    assert findings[0]["label"] == "cat" and "needs two or more" in findings[0]["detail"]


def test_validate_refuses_a_split_of_another_dataset(tmp_path: Path) -> None:
    data = stripes_folders(tmp_path / "data", 6)
    other = pd.DataFrame({"path": ["elsewhere/0.png", "vertical/00.png"], "split": ["valid", "train"]})
    other.to_csv(tmp_path / "split.csv", index=False)
    code, out = run("validate", data, "--split", tmp_path / "split.csv")
    assert code == 2 and "names 1 images not in the dataset, e.g. 'elsewhere/0.png'" in out


# --- validation gates the pipeline --------------------------------------------------------------------


def test_run_stops_before_training_on_a_dataset_that_fails_validation(tmp_path: Path) -> None:
    # The given split of the digits sample with one training image copied into the validation folder.
    data = tmp_path / "digits_given"
    shutil.copytree(SAMPLE / "digits_given", data)
    leaked = sorted((data / "train" / "3").iterdir())[0]
    shutil.copy(leaked, data / "valid" / "3" / "leak.png")
    path = recipe(tmp_path, f'[data]\npath = "{data}"\n[train]\nepochs = 1\n[output]\nfolder = "out"\n')
    code, out = run("run", path)
    assert code == 1
    assert "[validation: FAILED 1798 images, 10 classes: 2 errors" in out
    assert "Error: validation failed, so the measurement would be wrong: 2 split_leakage" in out
    assert not (tmp_path / "out" / "runs").exists()  # nothing trained
    assert json.loads((tmp_path / "out" / "validation.json").read_text())["counts"]["error"] == 2


def test_a_curve_can_measure_anyway_when_the_user_says_so(tmp_path: Path, monkeypatch) -> None:
    data = stripes_folders(tmp_path / "data", 8)
    stripes(data / "horizontal" / "copy.png", vertical=True, seed=0)  # a vertical image labelled horizontal
    monkeypatch.setattr(executors, "run_one", lambda task: _finished(task))
    args = ["curve", data, "--fractions", "1/2,1", "--seeds", "1", "--epochs", "1", "-o", tmp_path / "out"]
    code, out = run(*args)
    assert code == 1 and "label_conflict" in out  # one image under two labels stops it
    code, out = run(*args, "--fail-on", "none")
    assert code == 0, out
    assert "[validation: FAILED" in out and "ANSWER" in out
    assert "(fails on error); measuring anyway (--fail-on none)]" in out


def _finished(task) -> dict:
    spec = task.spec
    return {"fraction": spec.fraction, "n_train": spec.n_train, "seed": spec.seed, "status": "ok",
            "error_rate": 0.1, "n_valid": 4, "per_class": [], "diagnosis": "ok", "message": "ok"}  # fmt: skip


def test_a_curve_whose_every_run_failed_exits_1_with_the_first_cause(tmp_path: Path, monkeypatch) -> None:
    def failing(task) -> dict:
        spec = task.spec
        return {"fraction": spec.fraction, "n_train": spec.n_train, "seed": spec.seed, "status": "failed",
                "message": "RuntimeError: out of memory"}  # fmt: skip

    monkeypatch.setattr(executors, "run_one", failing)
    data = stripes_folders(tmp_path / "data", 8)
    code, out = run(
        "curve", data, "--fractions", "1/2,1", "--seeds", "1", "--epochs", "1", "-o", tmp_path / "o"
    )
    assert code == 1
    assert "Error: every run of the curve failed (2 runs); the first: RuntimeError: out of memory" in out


# --- wrong input refused before any work ------------------------------------------------------------


MISSING = "/no/such/dataset"  # refused before the dataset is looked at: it need not exist


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["curve", MISSING, "--model", "convnett"], "model 'convnett' is unknown; choose one of convnet"),
        (["train", MISSING, "--model", "convnett"], "model 'convnett' is unknown"),
        (["curve", MISSING, "--valid-pct", "1.5"], "valid_pct=1.5 must be between 0 and 1"),
        (["train", MISSING, "--valid-pct", "1.5"], "valid_pct=1.5 must be between 0 and 1"),
        (["lr-find", MISSING, "--device", "gpu"], "device='gpu' is not a torch device"),
    ],
)
def test_bad_options_are_refused_before_the_dataset_is_read(args: list[str], message: str) -> None:
    code, out = run(*args)
    assert code == 2 and message in out and "does not exist" not in out


def test_a_device_this_machine_lacks_is_refused_before_the_dataset_is_read() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code, out = run("curve", MISSING, "--device", "cuda")
    assert code == 2 and "device 'cuda' asked for, but CUDA is not available" in out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[train]\nmodel = "convnett"\n', r"\[train\] model 'convnett' is unknown; choose one of"),
        ('[split]\nmethod = "stratifed"\n', r"\[split\] method='stratifed' is not one of random, stratified"),
        ("[split]\nvalid_pct = 1.5\n", r"\[split\] valid_pct=1.5 must be between 0 and 1"),
        ('[curve]\nbudget = "step"\n', r"\[curve\] budget='step' is not one of steps, epochs"),
        ("[curve]\nseeds = 2.5\n", r"curve.seeds = 2.5 must be a whole number"),
        ('[train]\nepochs = "long"\n', r"train.epochs = 'long' must be a whole number or \"auto\""),
        ('fail_on = "errors"\n', r"data.fail_on = 'errors' is not one of error, warning, info, none"),
    ],
)
def test_a_bad_recipe_value_is_refused_at_load_naming_the_file_and_key(tmp_path, text, message) -> None:
    path = recipe(tmp_path, f'[data]\npath = "{MISSING}"\n' + text)
    with pytest.raises(ValueError, match=message) as error:
        load_recipe(path)
    assert str(path) in str(error.value)


# --- saying what the numbers say ----------------------------------------------------------------------


def test_a_forecast_above_the_measured_error_is_not_called_a_cut() -> None:
    # A levelling curve whose last point sits below the fit: at 2x the fit gives 26.4%, above the
    # 26.2% measured (this said "should cut the error from 26.2% to about 26.4%").
    errors = {100: 0.30, 200: 0.27, 400: 0.268, 800: 0.262}
    runs = pd.DataFrame(
        [
            {"n_train": n, "seed": s, "error_rate": e + 0.002 * (s - 1), "n_valid": 2000, "status": "ok"}
            for n, e in errors.items()
            for s in (0, 1, 2)
        ]
    )
    result = forecast(runs)
    assert result.horizons[0].expected > result.error_rate
    answer = result.answer()
    assert answer.kind == "cannot_tell"
    said = "The curve may have levelled off: more images are not expected to lower the error"
    assert answer.why[0].startswith(f"{said} (26.4% at 1,600 images")
    assert "cut" not in result.verdict()


def test_a_run_no_better_than_guessing_is_not_diagnosed_ok() -> None:
    epochs = pd.DataFrame(
        {
            "epoch": [1, 2, 3, 4],
            "train_loss": [1.6, 1.5, 1.2, 1.0],
            "valid_loss": [1.6, 1.7, 1.8, 1.9],
            "error_rate": [1.0, 1.0, 1.0, 1.0],
        }
    )
    diagnosis = diagnose(epochs, n_valid=19, n_classes=5, lr=3e-3)
    assert diagnosis.primary != "ok"
    assert any("worse than guessing among 5 classes" in item.message for item in diagnosis.items)


def test_train_prints_each_diagnosis_sentence_once(tmp_path: Path) -> None:
    data = stripes_folders(tmp_path / "data", 10)
    code, out = run("train", data, "--epochs", "1", "--size", "16", "--batch-size", "8", "-o", tmp_path / "t")
    assert code == 0, out
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("diagnosis: "))
    sentences = [line for line in lines[start + 1 :] if line.startswith("  - ")]
    assert sentences and len(sentences) == len(set(sentences))
    assert not any(s[4:] in lines[start] for s in sentences)  # the first line names the kinds only


# --- one name per idea, the old spellings still working -----------------------------------------------


def test_the_split_seed_and_weight_decay_have_one_name_everywhere_and_keep_their_old_one(tmp_path) -> None:
    data = stripes_folders(tmp_path / "data", 6)
    new = run("split", data, "--split-seed", "7", "-o", tmp_path / "a.csv")
    old = run("split", data, "--seed", "7", "-o", tmp_path / "b.csv")
    assert new[0] == old[0] == 0
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    for name in ("--weight-decay", "--wd"):
        assert run("train", MISSING, name, "-1")[0] == 2  # both names parse (and check) the option


def test_run_writes_the_collection_plan_for_the_recipes_target(tmp_path: Path) -> None:
    data = stripes_folders(tmp_path / "data", 16)
    path = recipe(
        tmp_path,
        f'[data]\npath = "{data}"\n[train]\nsize = 16\nepochs = 1\nbatch_size = 8\nlr = 0.005\n'
        "[curve]\nfractions = [0.25, 0.5, 1.0]\nseeds = 2\ntarget_error = 0.05\n"
        '[output]\nfolder = "out"\nreport = ["md"]\n',
    )
    code, out = run("run", path)
    assert code == 0, out
    plan = json.loads((tmp_path / "out" / "plan.json").read_text())
    assert plan["target_error"] == 0.05 and (tmp_path / "out" / "plan.csv").is_file()
    assert "[collection plan for 5.0%: plan.json and plan.csv]" in out
    assert "## Collection plan" in (tmp_path / "out" / "report.md").read_text()


def test_a_saved_model_reloads_through_the_public_api(tmp_path: Path) -> None:
    import datasize

    data = stripes_folders(tmp_path / "data", 8)
    code, out = run(
        "train", data, "--epochs", "1", "--size", "16", "--save", tmp_path / "m.pt", "-o", tmp_path / "t"
    )
    assert code == 0, out
    model, meta = datasize.load_model(tmp_path / "m.pt")
    assert meta["classes"] == ["horizontal", "vertical"] and not model.training


def test_a_model_trained_with_your_own_factory_reloads_with_that_factory(tmp_path: Path) -> None:
    import torch
    from torch import nn

    import datasize

    def tiny(in_channels: int, n_classes: int) -> nn.Module:
        return nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(16 * in_channels, n_classes))

    prepared = datasize.prepare(stripes_folders(tmp_path / "data", 8), size=16, cache_dir=tmp_path / "c")
    config = datasize.TrainConfig(epochs=1, lr=1e-2, batch_size=4)
    result = datasize.fit_one_cycle(prepared.data, config=config, model_factory=tiny)
    datasize.save_model(result, tmp_path / "mine.pt", cache=prepared.cache)
    with pytest.raises(ValueError, match=r"load_model\(path, model_factory=the same factory\)"):
        datasize.load_model(tmp_path / "mine.pt")
    model, _ = datasize.load_model(tmp_path / "mine.pt", model_factory=tiny)
    for name, weight in result.model.state_dict().items():
        assert torch.equal(model.state_dict()[name], weight.cpu())


def test_a_cuda_index_past_the_last_gpu_is_refused(monkeypatch) -> None:
    import torch

    from datasize.training.batches import pick_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match=r"'cuda:3' asked for, but this machine has 1 CUDA device"):
        pick_device("cuda:3")
    assert pick_device("cuda:0") == torch.device("cuda:0")


@pytest.mark.parametrize(
    ("device", "message"),
    [("mps", "MPS is not available"), ("xla", "is not supported"), ("cuda:7", "asked for, but")],
)
def test_a_device_this_machine_lacks_is_refused_before_scanning(tmp_path: Path, device, message) -> None:
    if device == "mps" and __import__("torch").backends.mps.is_available():
        pytest.skip("this machine has MPS")
    code, out = run("train", tmp_path / "not-scanned", "--device", device)
    assert code == 2 and message in out


def test_validate_fail_on_none_reports_the_findings_and_exits_0() -> None:
    # One spelling across validate, curve and recipes: --fail-on none never fails.
    data = SAMPLE / "dirty"
    code, out = run("validate", data, "--fail-on", "none", "--json")
    report = json.loads(out)
    assert code == 0 and report["passed"] and report["fail_on"] == "none"
    assert report["counts"]["error"] == 9
    code, out = run("validate", data, "--fail-on", "none")
    assert code == 0 and out.rstrip().endswith("9 errors, 19 warnings, 3 notes (fails on none)")
