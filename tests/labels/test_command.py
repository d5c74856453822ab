"""`datasize labels`: its output, exit codes, files, and a curator's decision applied with --labels."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from datasize.cli import main
from tests.conftest import PLANTED, ROOT, planted_stripes, stripes_folders, tree_checksums

TRAIN = ["--size", "16", "--epochs", "3", "--batch-size", "16", "-q"]
FAST = [*TRAIN, "--folds", "3", "--lr", "5e-3"]


def run(*args: str):
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return planted_stripes(tmp_path_factory.mktemp("planted-cli"))


@pytest.fixture(scope="module")
def checked(planted, tmp_path_factory):
    """The check run once as JSON, writing the suspects and a relabelled labels file."""
    out = tmp_path_factory.mktemp("checked-cli")
    before = tree_checksums(planted)
    args = ["labels", str(planted), "--labels", str(planted / "labels.csv"), *FAST, "--out", str(out / "run")]
    args += ["--json", "-o", str(out / "issues.csv"), "--write-labels", str(out / "fixed.csv")]
    code, stdout, stderr = run(*args)
    return out, code, stdout, stderr, before, tree_checksums(planted)


def test_json_lists_the_suspects_and_the_noise_per_class(checked) -> None:
    _, code, stdout, _, _, _ = checked
    body = json.loads(stdout)
    assert code == 0
    assert (body["images"], body["folds"]) == (60, 3)
    assert body["noise_rate"] == pytest.approx(0.05, abs=0.01)
    assert {i["path"]: i["given"] for i in body["issues"]} == PLANTED
    assert [c["label"] for c in body["per_class"]] == ["horizontal", "vertical"]


def test_the_suspects_csv_and_the_labels_file_are_written_and_the_dataset_is_untouched(checked) -> None:
    out, _, _, _, before, after = checked
    assert set(pd.read_csv(out / "issues.csv")["path"]) == set(PLANTED)
    fixed = pd.read_csv(out / "fixed.csv", keep_default_na=False)
    assert len(fixed) == 60 and list(fixed.columns) == ["path", "label", "given"]
    changed = fixed[fixed["label"] != fixed["given"]]
    assert dict(zip(changed["path"], changed["given"], strict=True)) == PLANTED
    assert after == before


def test_the_labels_file_given_back_with_labels_leaves_no_suspect(checked, planted) -> None:
    out, *_ = checked
    code, stdout, _ = run(
        "labels",
        str(planted),
        "--labels",
        str(out / "fixed.csv"),
        *FAST,
        "--out",
        str(out / "again"),
        "--json",
    )
    body = json.loads(stdout)
    assert code == 0 and body["issues"] == [] and body["noise_rate"] == 0


def test_fail_over_exits_1_when_the_estimated_share_of_wrong_labels_is_above_it(checked, planted) -> None:
    out, *_ = checked
    common = [
        "labels",
        str(planted),
        "--labels",
        str(planted / "labels.csv"),
        *FAST,
        "--out",
        str(out / "run"),
    ]
    code, _, stderr = run(*common, "--fail-over", "0.02")
    assert (
        code == 1 and "FAILED: the estimated share of wrong labels, 5.0%, is above --fail-over 2.0%" in stderr
    )
    assert run(*common, "--fail-over", "0.1")[0] == 0


def test_the_terminal_output_gives_the_verdict_the_classes_and_the_suspects(checked, planted) -> None:
    out, *_ = checked
    code, stdout, _ = run(
        "labels", str(planted), "--labels", str(planted / "labels.csv"), *FAST, "--out", str(out / "run")
    )
    lines = stdout.splitlines()
    verdict = next(line for line in lines if line.startswith("VERDICT: "))
    assert code == 0 and verdict.startswith("VERDICT: An estimated 5.0% of the 60 labels are wrong")
    assert any(line.endswith("vertical -> horizontal  horizontal/05.png") for line in lines)


def test_a_class_with_fewer_images_than_folds_is_a_one_line_error(tmp_path) -> None:
    root = stripes_folders(tmp_path / "data", 12)
    for extra in range(3, 12):
        (root / "horizontal" / f"{extra:02d}.png").unlink()
    code, _, stderr = run("labels", str(root), *TRAIN, "--folds", "5", "--out", str(tmp_path / "o"))
    assert code == 2
    assert stderr.strip().splitlines() == [
        "Error: class 'horizontal' has 3 images, fewer than the 5 folds: every fold must hold each class; "
        "use 3 folds, add images to 'horizontal', or leave it out"
    ]
    assert not (tmp_path / "o" / "labels.json").exists()  # so that --folds 3 is not refused as a change


def test_a_single_class_is_a_one_line_error(tmp_path) -> None:
    root = stripes_folders(tmp_path / "data", 12)
    for path in (root / "horizontal").iterdir():
        path.unlink()
    (root / "horizontal").rmdir()
    code, _, stderr = run("labels", str(root), *FAST, "--out", str(tmp_path / "o"))
    assert code == 2 and len(stderr.strip().splitlines()) == 1
    assert "1 class; at least 2 are needed" in stderr


def test_an_image_that_fails_to_decode_is_reported_and_skipped(tmp_path) -> None:
    root = stripes_folders(tmp_path / "data", 12)
    good = (root / "vertical" / "00.png").read_bytes()
    (root / "vertical" / "cut.png").write_bytes(good[: len(good) // 2])
    Image.open(root / "vertical" / "01.png").save(root / "vertical" / "copy.png")
    code, stdout, _ = run("labels", str(root), *FAST, "--out", str(tmp_path / "o"))
    assert code == 0
    assert (
        "1 unreadable image(s) not checked (listed in labels_summary.json), e.g. vertical/cut.png" in stdout
    )
    summary = json.loads((tmp_path / "o" / "labels_summary.json").read_text())
    assert summary["images"] == 25 and [s["path"] for s in summary["skipped"]] == ["vertical/cut.png"]


def test_lr_auto_runs_the_finder_once_and_a_resume_reuses_it(planted, tmp_path) -> None:
    common = ["labels", str(planted), "--labels", str(planted / "labels.csv"), *TRAIN, "--folds", "3"]
    common += ["--lr", "auto", "--out", str(tmp_path / "run"), "--json"]
    first = json.loads(run(*common)[1])
    again = json.loads(run(*common)[1])
    assert (first["lr_source"], again["lr_source"]) == ("lr_find", "lr_find (resumed)")
    assert first["lr"] == again["lr"] and (tmp_path / "run" / "labels_lr_find" / "lr_find.png").is_file()


def test_epochs_auto_trains_every_fold_for_the_pilots_choice_and_a_resume_trains_nothing(
    planted, tmp_path, monkeypatch
) -> None:
    import datasize.labels.runner as runner

    args = [
        "labels",
        str(planted),
        "--labels",
        str(planted / "labels.csv"),
        *FAST,
        "--out",
        str(tmp_path / "run"),
    ]
    args += ["--epochs", "auto", "--max-epochs", "8"]
    code, out, _ = run(*args)
    assert code == 0, out
    choice = json.loads((tmp_path / "run" / "labels_epochs" / "pilot" / "choice.json").read_text())
    assert choice["epochs"] in (4, 8) and "pilot: 4 epochs" in out
    assert f"[training for {choice['epochs']} epochs: {choice['reason']}]" in out
    # The folder records the settings (checked before any work on a resume), the result the length.
    identity = json.loads((tmp_path / "run" / "labels.json").read_text())["identity"]["labels"]
    assert (identity["auto_epochs"], identity["max_epochs"], identity["train"]["epochs"]) == (True, 8, 4)
    summary = json.loads((tmp_path / "run" / "labels_summary.json").read_text())
    assert summary["config"]["train"]["epochs"] == choice["epochs"]
    folds = [json.loads(f.read_text()) for f in sorted((tmp_path / "run" / "label_folds").glob("*.json"))]
    assert len(folds) == 3 and all(f["epochs"][-1]["epoch"] == choice["epochs"] for f in folds)

    trained = []
    monkeypatch.setattr(runner, "run_fold", lambda task: trained.append(task) or {})
    code, again, _ = run(*args)
    assert code == 0 and trained == [] and "pilot:" not in again  # pilot and folds resumed
    # Another model is refused before the learning rate, the pilot or any fold is touched.
    code, out, err = run(*args, "--model", "resnet")
    assert code == 2 and "labels.train.model" in out + err and trained == []


def test_a_fixed_length_records_no_pilot_setting(planted, tmp_path) -> None:
    # Folders made before --epochs auto existed resume: a fixed length's configuration is unchanged.
    args = ["labels", str(planted), "--labels", str(planted / "labels.csv"), *FAST]
    args += ["--out", str(tmp_path / "run")]
    assert run(*args)[0] == 0
    identity = json.loads((tmp_path / "run" / "labels.json").read_text())["identity"]["labels"]
    assert "auto_epochs" not in identity and "max_epochs" not in identity
    assert run(*args, "--max-epochs", "16")[0] == 0  # no effect on a fixed length, so no change


def test_json_on_stdout_is_the_only_output_of_a_subprocess(checked, planted) -> None:
    out, *_ = checked
    command = [
        sys.executable,
        "-m",
        "datasize",
        "labels",
        str(planted),
        "--labels",
        str(planted / "labels.csv"),
    ]
    command += [*FAST, "--out", str(out / "run"), "--json"]
    command.remove("-q")  # without it too, JSON alone reaches stdout
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False, timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["images"] == 60
