"""The command line: thin over the API, exit codes, JSON, and quick to start."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
from click.testing import CliRunner
from PIL import Image

from datasize.cli import main


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_validate_exits_0_on_a_clean_dataset(folder_dataset: Path) -> None:
    code, out, _ = run("validate", str(folder_dataset))
    assert code == 0
    assert "PASSED 36 images, 3 classes" in out


def test_validate_exits_1_and_lists_the_file_when_an_error_is_found(folder_dataset: Path) -> None:
    (folder_dataset / "cat" / "empty.png").write_bytes(b"")
    code, out, _ = run("validate", str(folder_dataset))
    assert code == 1
    assert "error   empty_file         cat/empty.png: zero-byte file" in out
    assert out.strip().splitlines()[-1].startswith("FAILED")


def test_fail_on_warning_turns_warnings_into_failure(folder_dataset: Path, make_image) -> None:
    make_image(folder_dataset / "cat" / "tiny.png", seed=1, size=(4, 4))
    assert run("validate", str(folder_dataset))[0] == 0
    assert run("validate", str(folder_dataset), "--fail-on", "warning")[0] == 1


def test_validate_json_has_images_classes_passed_and_findings(folder_dataset: Path) -> None:
    (folder_dataset / "dog" / "notes.jpg").write_text("text")
    code, out, _ = run("validate", str(folder_dataset), "--json")
    report = json.loads(out)
    assert code == 1
    assert (report["images"], report["classes"], report["passed"]) == (37, 3, False)
    assert report["findings"] == [
        {
            "check": "unreadable",
            "severity": "error",
            "path": "dog/notes.jpg",
            "label": "dog",
            "detail": "not an image Pillow can identify",
            "related": [],
        }
    ]


def test_validate_writes_findings_and_suite_files(folder_dataset: Path, tmp_path: Path) -> None:
    (folder_dataset / "cat" / "empty.png").write_bytes(b"")
    code, _, _ = run(
        "validate", str(folder_dataset), "-o", str(tmp_path / "f.csv"), "--suite", str(tmp_path / "s.json")
    )
    assert code == 1
    assert pd.read_csv(tmp_path / "f.csv")["path"].tolist() == ["cat/empty.png"]
    code, _, _ = run("validate", str(folder_dataset), "--expect", str(tmp_path / "s.json"))
    assert code == 1


def test_validate_near_threshold_decides_which_copies_are_near_duplicates(folder_dataset: Path) -> None:
    with Image.open(folder_dataset / "dog" / "03.png") as image:
        image.resize((48, 48)).save(folder_dataset / "dog" / "03_large.png")
    assert "near_duplicate" in run("validate", str(folder_dataset), "--near-threshold", "0.9")[1]
    assert "near_duplicate" not in run("validate", str(folder_dataset), "--near-threshold", "0.999")[1]
    code, _, err = run("validate", str(folder_dataset), "--near-threshold", "1.5")
    assert code == 2 and "1.5 is not in the range 0<=x<=1" in err


def test_the_cli_defaults_are_the_library_defaults() -> None:
    from datasize.dataset.checks import CheckConfig
    from datasize.dataset.splits import split

    defaults = {"--near-radius": CheckConfig().near_radius, "--near-threshold": CheckConfig().near_threshold}
    assert split.__kwdefaults__["near_threshold"] == CheckConfig().near_threshold
    for command in ("validate", "split"):
        text = " ".join(run(command, "--help")[1].split())
        for option, value in defaults.items():
            assert f"{option}" in text and f"[default: {value:g};" in text.split(option, 1)[1], (
                command,
                option,
            )


def test_a_missing_dataset_is_a_usage_error_with_one_line(tmp_path: Path) -> None:
    code, _, err = run("validate", str(tmp_path / "missing"))
    assert code == 2
    assert err.strip().splitlines() == [f"Error: dataset folder '{tmp_path / 'missing'}' does not exist"]


def test_a_bad_option_value_is_a_usage_error(folder_dataset: Path) -> None:
    assert run("validate", str(folder_dataset), "--fail-on", "sometimes")[0] == 2
    code, _, err = run("validate", str(folder_dataset), "--label-re", "(")
    assert code == 2 and "not a valid regular expression" in err


def test_scan_writes_a_manifest_csv(folder_dataset: Path, tmp_path: Path) -> None:
    code, out, _ = run("scan", str(folder_dataset), "-o", str(tmp_path / "m.csv"))
    assert code == 0
    manifest = pd.read_csv(tmp_path / "m.csv", keep_default_na=False)
    assert len(manifest) == 36 and set(manifest["label"]) == {"cat", "dog", "fox"}
    assert "36 images" in out


def test_scan_json_is_one_record_per_image(folder_dataset: Path) -> None:
    code, out, _ = run("scan", str(folder_dataset), "--json")
    assert code == 0
    assert len(json.loads(out)) == 36


def test_help_answers_quickly_without_heavy_imports() -> None:
    heavy = "('pandas', 'torch', 'great_expectations')"
    probe = f"import sys, datasize.cli; print(sorted(m for m in {heavy} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"  # speed itself is for benchmarks, not tests


def test_every_public_name_resolves_lazily() -> None:
    import datasize

    names = set(datasize.__all__) - {"__version__"}
    assert names == set(datasize._EXPORTS)
    for name in sorted(names):
        value = getattr(datasize, name)
        assert getattr(value, "__name__", name) == name, name


def test_python_dash_m_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "datasize", "--help"], capture_output=True, text=True, check=True
    )
    assert "validate" in result.stdout and "scan" in result.stdout


def test_the_readme_cli_reference_matches_the_help() -> None:
    from scripts.cli_reference import README, updated_readme

    text = README.read_text(encoding="utf-8")
    assert text == updated_readme(text), "run: python scripts/cli_reference.py --write"


def test_the_cli_defaults_that_cannot_import_the_plan_match_it() -> None:
    # cli/ declares these numbers itself so that --help does not import torch.
    from datasize.curves.plan import DEFAULT_MAX_EPOCHS, DEFAULT_SEED_STOP

    curve_options = {p.name: p.default for p in main.commands["curve"].params}
    assert curve_options["seed_stop"] == DEFAULT_SEED_STOP
    assert curve_options["max_epochs"] == DEFAULT_MAX_EPOCHS
    assert {p.name: p.default for p in main.commands["labels"].params}["max_epochs"] == DEFAULT_MAX_EPOCHS


def test_validate_draws_no_progress_when_its_output_is_not_a_terminal(tmp_path) -> None:
    from datasize.cli.terminal import step_bars

    with step_bars() as steps:  # pytest's stderr is captured: not a terminal
        assert steps is None
