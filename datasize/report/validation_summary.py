"""Validation in a report: a summary (counts per check, what each means, the files left out), with
the finding rows folded below it; a group of duplicates is one row, not one per member."""

from __future__ import annotations

from typing import Any

import pandas as pd

from datasize.report.section import Section
from datasize.text import count
from datasize.vocab import Check

GROUPED = (str(Check.EXACT_DUPLICATE), str(Check.NEAR_DUPLICATE))  # one finding per member of a group
LEFT_OUT = ("empty_file", "unreadable", "truncated", "decompression_bomb", "link_outside_root")
COLUMNS = ["severity", "check", "path", "label", "detail"]


def one_row_per_group(findings: pd.DataFrame) -> pd.DataFrame:
    """Duplicate findings with one row per group: the members (path and related) as a set, the first
    row kept; every other finding as it is.

    >>> rows = pd.DataFrame({"check": ["near_duplicate"] * 2, "path": ["a", "b"], "related": [["b"], ["a"]]})
    >>> one_row_per_group(rows)["path"].tolist()
    ['a']
    """
    if findings.empty or "related" not in findings:
        return findings
    related = findings["related"].apply(lambda r: r if isinstance(r, list) else [])
    members = [
        (check, frozenset([path, *others])) if check in GROUPED else (check, index)
        for index, (check, path, others) in enumerate(
            zip(findings["check"], findings["path"], related, strict=True)
        )
    ]
    return findings[~pd.Series(members, index=findings.index).duplicated()]


def validation_section(summary: dict[str, Any], validation: dict[str, Any] | None, show: int) -> Section:
    """The dataset, validation's counts per check and the files left out; the rows folded below."""
    data = summary.get("data", {})
    text = [
        f"{data.get('images', '?')} images in {len(data.get('classes', []))} classes "
        f"({data.get('unreadable', 0)} unreadable), read from {data.get('root', '?')}; "
        f"trained at {data.get('size')}x{data.get('size')} px ({data.get('resize')}, "
        f"{data.get('channels')} channel(s))."
    ]
    if not validation:
        return Section("Dataset and validation", text)
    counts = validation.get("counts", {})
    text.append(
        f"Validation {'passed' if validation.get('passed') else 'FAILED'}: "
        f"{count(counts.get('error', 0), 'error')}, "
        f"{count(counts.get('warning', 0), 'warning')}, {count(counts.get('info', 0), 'note')}."
    )
    findings = pd.DataFrame(validation.get("findings", []), columns=[*COLUMNS, "related"])
    if findings.empty:
        return Section("Dataset and validation", text)
    left = int(findings["check"].isin(LEFT_OUT).sum())
    if left:
        text.append(f"{left} file(s) that cannot be read were left out of the measurement.")
    grouped = one_row_per_group(findings)
    table = (
        grouped.groupby(["check", "severity"], sort=False)
        .size()
        .rename("findings")
        .reset_index()
        .assign(meaning=lambda t: t["check"].map(_meaning))
    )
    table["findings"] = [
        f"{n} group(s)" if check in GROUPED else str(n)
        for check, n in zip(table["check"], table["findings"], strict=True)
    ]
    shown = grouped.groupby("check", sort=False).head(show)[COLUMNS].reset_index(drop=True)
    caption = f"Every finding (at most {show} per check, a duplicate group once; all in validation.json)"
    return Section("Dataset and validation", text, [("Findings per check", table)], folded=[(caption, shown)])


def _meaning(check: str) -> str:
    try:
        return Check(check).description
    except ValueError:
        return ""
