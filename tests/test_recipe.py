"""Recipes: TOML files that run the whole pipeline; every shipped recipe loads; bad keys are named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from datasize.cli import main
from datasize.recipe import load_recipe, run_recipe
from tests.conftest import ROOT, stripes


@pytest.mark.parametrize("path", sorted((ROOT / "recipes").glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_recipe_loads_and_points_at_shipped_data(path: Path) -> None:
    recipe = load_recipe(path)
    assert recipe.data.is_dir(), recipe.data
    assert path.read_text().startswith("#"), "each recipe is documented in a comment header"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[data]\npath = "x"\n[curve]\nseedz = 3\n', r"unknown key curve.seedz; \[curve\] takes fractions"),
        ('[data]\npath = "x"\n[trian]\n', r"unknown table \[trian\]"),
        ('[data]\npath = "x"\n[curve]\nseeds = "three"\n', r"curve.seeds = 'three' must be a whole number"),
        ('[data]\npath = "x"\n[train]\nlr = "fast"\n', r"train.lr = 'fast' must be a number or \"auto\""),
        ('[data]\npath = "x"\n[train]\nepochs = -2\n', r"\[train\] epochs=-2 must be a positive number"),
        ('[data]\npath = "x"\n[curve]\nfractions = [2.0]\n', r"\[curve\] fractions=\[2.0\] must be"),
        ('[data]\npath = "x"\n[output]\nreport = ["pdf"]\n', r"output.report has \['pdf'\]"),
        ('[data]\npath = "x"\n[curve]\nthreads = 0\n', r"curve.threads = 0 must be at least 1"),
        ('[data]\npath = "x"\n[curve]\nthreads = 1.5\n', r"curve.threads = 1.5 must be a whole number"),
        ("[split]\nseed = 1\n", r"data.path is required"),
        (
            '[data]\npath = "x"\n[split]\nnear_threshold = 2.0\n',
            r"\[split\] near_threshold=2.0 must be between 0 and 1",
        ),
        (
            '[data]\npath = "x"\n[split]\nnear_radius = 0.5\n',
            r"split.near_radius = 0.5 must be a whole number",
        ),
        (
            '[data]\npath = "x"\n[labels]\nrun = true\nfolds = 1\n',
            r"\[labels\] folds=1 must be a whole number",
        ),
        ('[data]\npath = "x"\n[labels]\nfolds = 3\n', r"labels.folds is set but labels.run is not true"),
        ('[data]\npath = "x"\n[labels]\nrun = "yes"\n', r"labels.run = 'yes' must be true or false"),
        ("[data\npath=", r"not valid TOML"),
    ],
)
def test_bad_recipes_are_errors_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_recipe(write(tmp_path, text))


def test_near_duplicate_settings_reach_the_split(tmp_path: Path) -> None:
    recipe = load_recipe(
        write(tmp_path, '[data]\npath = "data"\n[split]\nnear_radius = 8\nnear_threshold = 0.95\n')
    )
    assert (recipe.prepare_options["near_radius"], recipe.prepare_options["near_threshold"]) == (8, 0.95)


def test_relative_paths_are_relative_to_the_recipe(tmp_path: Path) -> None:
    recipe = load_recipe(write(tmp_path, '[data]\npath = "data"\n[output]\nfolder = "out"\n'))
    assert recipe.data == tmp_path / "data" and recipe.folder == tmp_path / "out"


def test_threads_and_jobs_reach_the_curve(tmp_path: Path, monkeypatch) -> None:
    import datasize.pipeline

    recipe = load_recipe(write(tmp_path, '[data]\npath = "data"\n[curve]\njobs = 2\nthreads = 1\n'))
    assert (recipe.jobs, recipe.threads) == (2, 1)
    assert load_recipe(write(tmp_path, '[data]\npath = "data"\n')).threads is None
    seen = {}

    def run_curve(*args, **kwargs):
        seen.update(kwargs)
        raise RuntimeError("stop before training")

    monkeypatch.setattr(datasize.pipeline, "run_curve", run_curve)
    with pytest.raises(RuntimeError, match="stop before training"):
        run_recipe(recipe)
    assert (seen["jobs"], seen["threads"]) == (2, 1)


def test_run_executes_a_recipe_and_resumes_it(tmp_path: Path) -> None:
    for i in range(24):
        stripes(tmp_path / "data" / "vertical" / f"{i:02d}.png", vertical=True, seed=i)
        stripes(tmp_path / "data" / "horizontal" / f"{i:02d}.png", vertical=False, seed=100 + i)
    path = write(
        tmp_path,
        '[data]\npath = "data"\n[split]\nnear_threshold = 0.95\n'
        "[train]\nsize = 16\nepochs = 2\nbatch_size = 16\nlr = 0.005\n"
        "[curve]\nfractions = [0.25, 0.5, 1.0]\nseeds = 1\n"
        '[output]\nfolder = "out"\nreport = ["html", "md"]\n',
    )
    first = CliRunner().invoke(main, ["run", str(path)])
    assert first.exit_code == 0, first.output
    assert first.output.strip().splitlines()[-1] == f"report: {tmp_path / 'out' / 'report.html'}"
    assert (tmp_path / "out" / "report.md").is_file()
    assert json.loads((tmp_path / "out" / "split.csv.json").read_text())["near_threshold"] == 0.95
    again = CliRunner().invoke(main, ["run", str(path)])
    assert first.exit_code == 0 and "3 runs to train" in first.output
    assert (
        again.exit_code == 0
        and "3 runs: 3 already finished by an earlier command (resuming); nothing left to train"
        in again.output
    )


def test_a_missing_recipe_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", str(tmp_path / "none.toml")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_a_recipe_checks_every_label_first_in_the_same_folder_when_asked(tmp_path: Path, monkeypatch) -> None:
    import datasize.pipeline

    text = '[data]\npath = "data"\n[train]\nepochs = 2\nlr = "auto"\n[labels]\nrun = true\nfolds = 4\n'
    recipe = load_recipe(write(tmp_path, text))
    assert (recipe.labels.folds, recipe.labels.lr, recipe.labels.train.epochs) == (4, None, 2)
    assert load_recipe(write(tmp_path, '[data]\npath = "data"\n[labels]\nrun = false\n')).labels is None
    calls = []

    def run_labels(data, **kwargs):
        calls.append(("labels", kwargs["out"], kwargs["config"].folds))

    def run_curve(data, **kwargs):
        calls.append(("curve", kwargs["out"], None))
        raise RuntimeError("stop before training")

    monkeypatch.setattr(datasize.pipeline, "run_labels", run_labels)
    monkeypatch.setattr(datasize.pipeline, "run_curve", run_curve)
    with pytest.raises(RuntimeError, match="stop before training"):
        run_recipe(recipe)
    assert calls == [("labels", recipe.folder, 4), ("curve", recipe.folder, None)]


def test_a_recipe_lists_models_and_the_backbone_keys_go_to_the_backbones(tmp_path: Path) -> None:
    text = (
        '[data]\npath = "."\n[train]\nmodel = ["convnet", "efficientnet_lite0"]\npretrained = true\n'
        "frozen = true\n"
    )
    recipe = load_recipe(write(tmp_path, text))
    trains = [c.train for c in recipe.compared]
    assert [(t.model, t.frozen, t.pretrained, str(t.augment)) for t in trains] == [
        ("convnet", False, False, "shift"),
        ("efficientnet_lite0", True, True, "none"),
    ]
    assert recipe.curve.train == trains[0]


@pytest.mark.parametrize(
    ("train", "message"),
    [
        ("model = []", r"train.model = \[\] must be a name or a list of names"),
        ("model = [1, 2]", r"train.model = \[1, 2\] must be a name or a list of names"),
        ('model = "convnet"\nfrozen = true', r"\[train\] frozen=True is for the backbones"),
    ],
)
def test_a_recipes_models_are_checked_before_any_work(tmp_path: Path, train: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_recipe(write(tmp_path, f'[data]\npath = "."\n[train]\n{train}\n'))


def test_a_recipe_comparing_models_cannot_also_check_labels(tmp_path: Path) -> None:
    text = '[data]\npath = "."\n[train]\nmodel = ["convnet", "resnet"]\n[labels]\nrun = true\n'
    with pytest.raises(ValueError, match=r"labels\.run checks labels with one model; train\.model lists 2"):
        load_recipe(write(tmp_path, text))
