"""The shipped sample data: rebuilt byte-identically, and every planted problem is found."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from datasize.dataset.validation import validate
from tests.conftest import SAMPLE, tree_checksums


@pytest.mark.slow
def test_the_sample_script_rewrites_the_shipped_files_byte_identically(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(SAMPLE / "make_sample.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    for name in ("digits", "dirty", "digits_given", "digits_csv", "digits_names"):
        assert tree_checksums(tmp_path / name) == tree_checksums(SAMPLE / name), name


def test_digits_has_1797_images_in_ten_classes() -> None:
    files = sorted((SAMPLE / "digits").rglob("*.png"))
    assert len(files) == 1797
    assert sorted({f.parent.name for f in files}) == [str(d) for d in range(10)]


def test_every_planted_problem_in_the_dirty_sample_is_reported_and_nothing_is_changed() -> None:
    before = tree_checksums(SAMPLE / "dirty")
    findings = validate(SAMPLE / "dirty")
    assert tree_checksums(SAMPLE / "dirty") == before
    with open(SAMPLE / "dirty" / "PLANTED.csv", encoding="utf-8") as f:
        planted = [(row["path"], row["check"]) for row in csv.DictReader(f)]
    reported = set(zip(findings.table["path"], findings.table["check"], strict=True))
    assert [p for p in planted if p not in reported] == []


def test_no_unplanted_file_of_the_dirty_sample_is_an_error() -> None:
    findings = validate(SAMPLE / "dirty")
    with open(SAMPLE / "dirty" / "PLANTED.csv", encoding="utf-8") as f:
        planted = {row["path"] for row in csv.DictReader(f)}
    errors = findings.table[findings.table["severity"] == "error"]
    innocent = {
        p
        for p, related in zip(errors["path"], errors["related"], strict=True)
        if p not in planted and not (set(related) & planted)
    }
    assert innocent == set()
