"""`validate`: every check over a dataset, as one Findings object."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from datasize.dataset.checks import (
    CheckConfig,
    class_table,
    dataset_table,
    duplicate_findings,
    duplicate_group_table,
    finding,
    findings_frame,
    image_findings,
    label_variant_table,
    with_duplicate_groups,
)
from datasize.dataset.manifest import Progress, StepProgress, scan
from datasize.io import read_csv_text
from datasize.text import count
from datasize.vocab import Check, Severity

# Files that cannot be read: a finding each, and left out of any measurement rather than stopping it.
LEFT_OUT = (
    Check.EMPTY_FILE,
    Check.UNREADABLE,
    Check.TRUNCATED,
    Check.DECOMPRESSION_BOMB,
    Check.LINK_OUTSIDE_ROOT,
)


def _never(fail_on: Severity | str | None) -> bool:
    """`--fail-on none` (None in the API): no finding fails the check."""
    return fail_on is None or fail_on == "none"


def _name(fail_on: Severity | str | None) -> str:
    return "none" if _never(fail_on) else str(Severity(fail_on))


@dataclass(frozen=True)
class Findings:
    """What `validate` found: one row per problem, plus the dataset's size and the suite's results."""

    table: pd.DataFrame  # check, severity, path, label, detail, related
    images: int  # manifest rows (readable or not)
    classes: int  # distinct labels with at least one readable image
    suite: dict[str, Any] = field(repr=False)  # the expectations that were run, JSON-ready
    suite_results: dict[str, Any] = field(repr=False)  # GX's JSON result per table

    def passed(self, fail_on: Severity | str | None = Severity.ERROR) -> bool:
        """True when no finding is at or above `fail_on` (None or "none": always)."""
        if _never(fail_on):
            return True
        threshold = Severity(fail_on).rank
        return not any(Severity(s).rank >= threshold for s in self.table["severity"])

    def blocking(self, fail_on: Severity | str | None = Severity.ERROR) -> pd.DataFrame:
        """The findings that stop a measurement: at or above `fail_on` (None or "none": none), but for
        files that cannot be read, which are left out of the measurement instead (see `left_out`)."""
        if _never(fail_on):
            return self.table.iloc[0:0]
        threshold = Severity(fail_on).rank
        at = self.table["severity"].map(lambda s: Severity(s).rank >= threshold)
        return self.table[at & ~self.table["check"].isin([str(c) for c in LEFT_OUT])]

    def left_out(self) -> int:
        """Files the measurement leaves out because they cannot be read (empty, truncated, refused...)."""
        return int(self.table["check"].isin([str(c) for c in LEFT_OUT]).sum())

    def summary_line(self, fail_on: Severity | str | None = Severity.ERROR) -> str:
        """PASSED/FAILED, images, classes and counts, as `datasize validate` ends."""
        counts = self.counts()
        word = "PASSED" if self.passed(fail_on) else "FAILED"
        return (
            f"{word} {self.images} images, {self.classes} classes: {count(counts['error'], 'error')}, "
            f"{count(counts['warning'], 'warning')}, {count(counts['info'], 'note')} "
            f"(fails on {_name(fail_on)})"
        )

    def counts(self) -> dict[str, int]:
        """Number of findings per severity."""
        return {str(s): int((self.table["severity"] == s).sum()) for s in Severity}

    def to_dict(self, fail_on: Severity | str | None = Severity.ERROR) -> dict[str, Any]:
        """The JSON form: images, classes, passed, counts, findings, and the suite's statistics."""
        stats = {t: r.get("statistics", {}) for t, r in sorted(self.suite_results.items())}
        return {
            "images": self.images,
            "classes": self.classes,
            "passed": self.passed(fail_on),
            "fail_on": _name(fail_on),
            "counts": self.counts(),
            "findings": self.table.to_dict("records"),
            "suite_statistics": stats,
        }


def validate(
    data: str | os.PathLike | pd.DataFrame,
    *,
    config: CheckConfig | None = None,
    split: str | os.PathLike | pd.DataFrame | None = None,
    suite: dict[str, Any] | None = None,
    progress: Progress | None = None,
    steps: StepProgress | None = None,
    **scan_options: Any,
) -> Findings:
    """Run every image check and the Great Expectations table suite.

    Args:
        data: a dataset folder (scanned with `scan_options`) or a manifest from `scan`.
        config: the checks' thresholds (defaults: `CheckConfig()`).
        split: a split (CSV path or DataFrame with `path` and `split` columns) that overrides the
            manifest's own; with a split, copies across train and valid are `split_leakage`.
        suite: a saved suite (`expectations.load_suite`) to re-run instead of building one.
        progress: called as ``progress(done, total)`` while images are probed.
        steps: called as ``steps(step, done, total)`` through every long step: probing (when
            `progress` is not given), the near-duplicate search and checks, the Great Expectations tables.

    Returns:
        Findings; `findings.suite` is the suite that ran (save it to re-run it later).
    """
    from datasize.dataset import expectations

    config = config or CheckConfig()
    if isinstance(data, pd.DataFrame):
        if scan_options:
            raise ValueError(f"scan options {sorted(scan_options)} only apply when data is a folder")
        manifest = data
    else:
        if progress is None and steps is not None:
            progress = functools.partial(steps, "probing images")
        manifest = scan(data, max_pixels=config.max_pixels, progress=progress, **scan_options)
    if split is not None:
        manifest = _apply_split(manifest, split)
    skipped = manifest.attrs.get("skipped", [])
    rows = [finding(Check(s.get("check", Check.SKIPPED_FILE)), s["path"], s["reason"]) for s in skipped]
    rows += image_findings(manifest, config)
    grouped = with_duplicate_groups(manifest, config, progress=steps)
    rows += duplicate_findings(grouped)
    tables = {
        "dataset": dataset_table(manifest),
        # Only the columns a suite reads: GX copies its table, and the hashes and thumbnails are most of it.
        "manifest": manifest.drop(columns=["sha256", "phash", "dhash", "thumb"]),
        "classes": class_table(manifest, manifest.attrs.get("empty_classes", [])),
        "label_variants": label_variant_table(manifest),
        "duplicate_groups": duplicate_group_table(grouped),
    }
    suite = suite if suite is not None else expectations.build_suite(tables, config)
    results = expectations.run_suite(suite, tables, progress=steps)
    rows += expectations.suite_findings(results, tables)
    readable = manifest[manifest["error"] == ""]
    return Findings(
        table=findings_frame(rows),
        images=len(manifest),
        classes=int(readable["label"].replace("", pd.NA).nunique()),
        suite=suite,
        suite_results=results,
    )


def _apply_split(manifest: pd.DataFrame, split: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    table = split if isinstance(split, pd.DataFrame) else read_csv_text(split, what="split file")
    missing = {"path", "split"} - set(table.columns)
    if missing:
        where = "" if isinstance(split, pd.DataFrame) else f" {str(split)!r}"
        raise ValueError(f"split table{where} needs columns 'path' and 'split'; missing {sorted(missing)}")
    unknown = sorted(set(table["path"]) - set(manifest["path"]))
    if unknown:
        where = "" if isinstance(split, pd.DataFrame) else f" {str(split)!r}"
        raise ValueError(
            f"the split{where} names {len(unknown)} images not in the dataset, e.g. {unknown[0]!r}: "
            "a split of another dataset (or of an older version of this one)"
        )
    sides = dict(zip(table["path"], table["split"], strict=True))
    out = manifest.copy()
    out["split"] = out["path"].map(sides).fillna("")
    return out
