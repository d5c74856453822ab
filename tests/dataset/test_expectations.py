"""The Great Expectations suite: saved as JSON, re-run on a later dataset, offline, no litter."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from datasize.dataset.expectations import load_suite, save_suite
from datasize.dataset.validation import validate


def test_the_suite_round_trips_through_json_and_gives_the_same_results(
    folder_dataset: Path, tmp_path: Path
) -> None:
    first = validate(folder_dataset)
    save_suite(first.suite, tmp_path / "suite.json")
    again = validate(folder_dataset, suite=load_suite(tmp_path / "suite.json"))
    assert again.suite == first.suite
    assert again.table.equals(first.table)


def test_a_saved_suite_is_byte_identical_across_runs(folder_dataset: Path, tmp_path: Path) -> None:
    save_suite(validate(folder_dataset).suite, tmp_path / "a.json")
    save_suite(validate(folder_dataset).suite, tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert '"id"' not in (tmp_path / "a.json").read_text()


def test_a_saved_suite_flags_a_class_that_appears_later(
    folder_dataset: Path, tmp_path: Path, make_image
) -> None:
    save_suite(validate(folder_dataset).suite, tmp_path / "suite.json")
    for i in range(12):
        make_image(folder_dataset / "wolf" / f"{i}.png", seed=500 + i)
    assert validate(folder_dataset).passed()
    rerun = validate(folder_dataset, suite=load_suite(tmp_path / "suite.json"))
    hit = rerun.table[rerun.table["check"] == "unknown_label"]
    assert hit[["label", "severity"]].values.tolist() == [["wolf", "error"]]


def test_a_saved_suite_keeps_its_thresholds(folder_dataset: Path, tmp_path: Path) -> None:
    from datasize.dataset.checks import CheckConfig

    strict = validate(folder_dataset, config=CheckConfig(min_class_images=20)).suite
    rerun = validate(folder_dataset, suite=strict)
    assert sorted(rerun.table.loc[rerun.table["check"] == "small_class", "label"]) == ["cat", "dog", "fox"]


def test_an_expectation_that_cannot_run_is_an_error_not_a_data_problem(folder_dataset: Path) -> None:
    suite = validate(folder_dataset).suite
    suite["tables"]["classes"][0]["kwargs"]["column"] = "no_such_column"
    with pytest.raises(RuntimeError, match="could not run"):
        validate(folder_dataset, suite=suite)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not JSON"),
        ('{"tables": {}}', "is not a datasize suite"),
        ("[1, 2]", "is not a datasize suite"),
    ],
)
def test_loading_something_that_is_not_a_suite_is_a_value_error(
    tmp_path: Path, content: str, message: str
) -> None:
    (tmp_path / "suite.json").write_text(content)
    with pytest.raises(ValueError, match=message):
        load_suite(tmp_path / "suite.json")


def test_a_suite_naming_an_unknown_table_is_refused(tmp_path: Path) -> None:
    (tmp_path / "suite.json").write_text(json.dumps({"datasize_suite": 1, "tables": {"photos": []}}))
    with pytest.raises(ValueError, match=r"unknown tables \['photos'\]"):
        load_suite(tmp_path / "suite.json")


def test_validation_leaves_nothing_in_the_temp_folder(
    folder_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A temp folder of its own: other processes on the machine may use the shared one meanwhile.
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    validate(folder_dataset)
    assert list(private.iterdir()) == []


NO_NETWORK = """
import socket, sys
def guard(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "http.client.connect"):
        raise RuntimeError(f"network attempt: {event} {args!r}")
sys.addaudithook(guard)
from datasize.dataset.validation import validate
findings = validate(sys.argv[1])
print("ok", findings.images)
"""


def test_validation_makes_no_network_connection(folder_dataset: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", NO_NETWORK, str(folder_dataset)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ok", "36"]
