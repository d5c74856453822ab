"""Validation in the report and the terminal (issue #25): counts per check first, the rows folded
below, a duplicate group once."""

from __future__ import annotations

import pandas as pd

from datasize.cli.terminal import findings_lines
from datasize.dataset.validation import validate
from datasize.report.document import Report
from datasize.report.render import to_html
from datasize.report.validation_summary import one_row_per_group, validation_section
from tests.conftest import ROOT

DIRTY = ROOT / "data" / "sample" / "dirty"


def test_a_duplicate_pair_is_one_row_and_other_findings_stay():
    rows = pd.DataFrame(
        {
            "check": [
                "near_duplicate",
                "near_duplicate",
                "exact_duplicate",
                "exact_duplicate",
                "exact_duplicate",
                "too_small",
            ],
            "path": ["a", "b", "x", "y", "z", "t"],
            "related": [["b"], ["a"], ["y", "z"], ["x", "z"], ["x", "y"], []],
        }
    )
    assert one_row_per_group(rows)["path"].tolist() == ["a", "x", "t"]


def test_validate_prints_each_duplicate_group_once():
    lines = findings_lines(validate(DIRTY, jobs=1), fail_on="error", show=20)
    assert sum("exact_duplicate" in line for line in lines) == 1
    assert sum("near_duplicate" in line for line in lines) == 1


def test_the_report_summarises_validation_per_check_and_folds_the_rows():
    findings = validate(DIRTY, jobs=1)
    summary = {"data": {"images": 86, "classes": list("abcde")}}
    section = validation_section(summary, findings.to_dict(), show=15)
    ((caption, table),) = section.tables
    assert caption == "Findings per check"
    counts = dict(zip(table["check"], table["findings"], strict=True))
    assert counts["near_duplicate"] == "1 group(s)" and counts["empty_file"] == "1"
    assert "1 file(s) that cannot be read" not in " ".join(section.paragraphs)  # five are left out here
    assert any("file(s) that cannot be read were left out" in p for p in section.paragraphs)
    page = to_html(Report("t", "v", [section]))
    assert "<details><summary>Every finding" in page
    assert page.index("Findings per check") < page.index("<details>")
