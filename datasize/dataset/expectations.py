"""The table checks as a Great Expectations suite: built, saved as JSON, re-run, fully offline.

GX has no group-by expectations for pandas, so the suite runs over the manifest and three derived
tables (`checks.class_table`, `label_variant_table`, `duplicate_group_table`). Each expectation
carries ``meta.check``, the datasize check its failures are reported under.
GX is imported lazily: it takes seconds to import.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from datasize.dataset.checks import SEP, CheckConfig, finding, similarity_text
from datasize.dataset.manifest import StepProgress
from datasize.vocab import Check

SUITE_FORMAT = 1
# The key column that names each row of each table in findings.
TABLE_KEYS = {
    "dataset": "dataset",
    "manifest": "path",
    "classes": "label",
    "label_variants": "key",
    "duplicate_groups": "group",
}


def _gx():
    # Analytics are off in GX >= 1.9 anyway; the switch protects older installs. Set before import.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    with warnings.catch_warnings():
        # GX's own imports touch deprecated stdlib modules (sre_constants); not ours to act on.
        warnings.simplefilter("ignore", DeprecationWarning)
        import great_expectations as gx
        import great_expectations.expectations as gxe

    return gx, gxe


def build_suite(tables: dict[str, pd.DataFrame], config: CheckConfig) -> dict[str, Any]:
    """The suite (as a JSON-ready dict) that encodes `config` and the current class list."""
    _, gxe = _gx()
    from great_expectations.expectations.row_conditions import Column

    labels = sorted(tables["classes"]["label"])
    present = {"row_condition": Column("n_images") > 0}
    spec = {
        "dataset": [
            (Check.NO_IMAGES, gxe.ExpectColumnValuesToBeBetween(column="readable_images", min_value=1)),
            (
                Check.SINGLE_CLASS,
                gxe.ExpectColumnValuesToBeBetween(
                    column="classes", min_value=2, row_condition=Column("readable_images") > 0
                ),
            ),
        ],
        "manifest": [
            (Check.MANIFEST_SCHEMA, gxe.ExpectColumnValuesToMatchRegex(column="label", regex=r"\S")),
            (Check.MANIFEST_SCHEMA, gxe.ExpectColumnValuesToBeUnique(column="path")),
            (
                Check.MANIFEST_SCHEMA,
                gxe.ExpectColumnValuesToBeInSet(column="split", value_set=["", "train", "valid"]),
            ),
        ],
        "classes": [
            (Check.UNKNOWN_LABEL, gxe.ExpectColumnValuesToBeInSet(column="label", value_set=labels)),
            (Check.EMPTY_CLASS, gxe.ExpectColumnValuesToBeBetween(column="n_images", min_value=1)),
            (
                Check.SMALL_CLASS,
                gxe.ExpectColumnValuesToBeBetween(
                    column="n_images", min_value=config.min_class_images, **present
                ),
            ),
            (
                Check.CLASS_IMBALANCE,
                gxe.ExpectColumnValuesToBeBetween(
                    column="share_of_largest", min_value=1.0 / config.imbalance_ratio, **present
                ),
            ),
        ],
        "label_variants": [
            (Check.LABEL_VARIANTS, gxe.ExpectColumnValuesToBeBetween(column="n_variants", max_value=1)),
        ],
        "duplicate_groups": [
            (Check.LABEL_CONFLICT, gxe.ExpectColumnValuesToBeBetween(column="n_labels", max_value=1)),
            (Check.SPLIT_LEAKAGE, gxe.ExpectColumnValuesToBeBetween(column="n_splits", max_value=1)),
        ],
    }
    suite: dict[str, Any] = {"datasize_suite": SUITE_FORMAT, "tables": {}}
    for table, items in spec.items():
        expectations = []
        for check, expectation in items:
            expectation.meta = {"check": str(check)}
            config_dict = expectation.configuration.to_json_dict()
            config_dict.pop("id", None)
            config_dict["kwargs"].pop("batch_id", None)
            expectations.append(config_dict)
        suite["tables"][table] = expectations
    return suite


def save_suite(suite: dict[str, Any], path: str | os.PathLike) -> None:
    """Write the suite as JSON, atomically."""
    from datasize.io import write_text_atomic

    write_text_atomic(path, json.dumps(suite, indent=2, sort_keys=True) + "\n")


def load_suite(path: str | os.PathLike) -> dict[str, Any]:
    """Read a suite saved by `save_suite`; raises ValueError when it is not one."""
    try:
        suite = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"suite file {str(path)!r} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"suite file {str(path)!r} is not JSON: {exc}") from None
    if not isinstance(suite, dict) or suite.get("datasize_suite") != SUITE_FORMAT:
        raise ValueError(f"suite file {str(path)!r} is not a datasize suite (format {SUITE_FORMAT})")
    unknown = set(suite.get("tables", {})) - set(TABLE_KEYS)
    if unknown:
        raise ValueError(f"suite file {str(path)!r} names unknown tables {sorted(unknown)}")
    return suite


def run_suite(
    suite: dict[str, Any], tables: dict[str, pd.DataFrame], *, progress: StepProgress | None = None
) -> dict[str, dict]:
    """Validate each table against its expectations; returns GX's JSON results per table.
    `progress(step, done, total)` counts the tables validated."""
    gx, _ = _gx()
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    # In memory, and without the Data Docs site GX would otherwise create in the temp folder.
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        progress_bars=ProgressBarsConfig(globally=False),
        analytics_enabled=False,
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    source = context.data_sources.add_pandas(name="datasize")
    results = {}
    step = "Great Expectations tables"
    if progress:
        progress(step, 0, len(suite["tables"]))
    for table, expectations in sorted(suite["tables"].items()):
        asset = source.add_dataframe_asset(name=table)
        batch = asset.add_batch_definition_whole_dataframe("all")
        gx_suite = context.suites.add(
            gx.ExpectationSuite(name=table, expectations=[dict(e) for e in expectations])
        )
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=table, data=batch, suite=gx_suite)
        )
        result = definition.run(
            batch_parameters={"dataframe": tables[table].reset_index(drop=True)},
            result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [TABLE_KEYS[table]]},
        )
        results[table] = result.to_json_dict()
        if progress:
            progress(step, len(results), len(suite["tables"]))
    return results


def _raised(result: dict) -> str | None:
    """The exception message of an expectation that could not run (flat or nested GX form)."""
    info = result.get("exception_info") or {}
    if info.get("raised_exception"):
        return info.get("exception_message") or "unknown error"
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception", True) and value.get("exception_message"):
            return value["exception_message"]
    return None


def suite_findings(results: dict[str, dict], tables: dict[str, pd.DataFrame]) -> list[dict]:
    """Findings from failed expectations; raises RuntimeError if one could not run at all."""
    rows: list[dict] = []
    classes = tables["classes"]
    folders = dict(zip(classes["label"], classes["folder"], strict=True))
    for table, outcome in sorted(results.items()):
        for result in outcome["results"]:
            config = result["expectation_config"]
            problem = _raised(result)
            if problem is not None:
                raise RuntimeError(
                    f"expectation {config['type']} on table {table!r} could not run: {problem.strip()}"
                )
            if result["success"]:
                continue
            check = Check(config["meta"]["check"])
            keys = [row[TABLE_KEYS[table]] for row in result["result"].get("unexpected_index_list", [])]
            rows += _explain(
                check, tables[table].set_index(TABLE_KEYS[table], drop=False), keys, config, folders
            )
    return rows


def _explain(check: Check, indexed: pd.DataFrame, keys: list, config: dict, folders: dict) -> list[dict]:
    explain = _EXPLAIN.get(check, _explain_generic)
    rows = []
    for key in dict.fromkeys(keys):  # unique, in order
        record = indexed.loc[key]
        if isinstance(record, pd.DataFrame):  # a repeated key (repeated path)
            record = record.iloc[0]
        rows += explain(check, record, config["kwargs"], folders)
    return rows


def _explain_generic(check: Check, record: pd.Series, kwargs: dict, folders: dict) -> list[dict]:
    column = kwargs.get("column", "")
    value = record.get(column, "")
    path = str(record.get("path", record.get("label", "")))
    return [finding(check, path, f"{column} = {value!r} fails {kwargs}", label=str(record.get("label", "")))]


def _explain_schema(check: Check, record: pd.Series, kwargs: dict, folders: dict) -> list[dict]:
    column = kwargs.get("column")
    if column == "label":
        detail = "blank label"
    elif column == "path":
        detail = "the same path is listed more than once"
    else:
        detail = f"{column} = {record[column]!r} is not one of {kwargs.get('value_set')}"
    return [finding(check, record["path"], detail, label=record["label"])]


def _explain_class(check: Check, record: pd.Series, kwargs: dict, folders: dict) -> list[dict]:
    label, n = record["label"], int(record["n_images"])
    details: dict[Check, Callable[[], str]] = {
        Check.UNKNOWN_LABEL: lambda: f"class {label!r} is not in the saved suite's classes",
        Check.EMPTY_CLASS: lambda: f"class {label!r} has no readable images",
        Check.SMALL_CLASS: lambda: (
            f"class {label!r} has {n} readable images; at least {kwargs['min_value']:g} expected"
        ),
        Check.CLASS_IMBALANCE: lambda: (
            f"class {label!r} has {n} images, {record['share_of_largest']:.0%} of the largest class "
            f"(at least {kwargs['min_value']:.0%} expected)"
        ),
    }
    folders = record.get("folder", "").split(SEP) if record.get("folder") else [""]
    return [finding(check, folders[0], details[check](), label=label, related=folders[1:])]


def _explain_variants(check: Check, record: pd.Series, kwargs: dict, folders: dict) -> list[dict]:
    labels = record["labels"].split(SEP)
    detail = f"labels {', '.join(repr(x) for x in labels)} differ only in case, spacing or punctuation"
    rows = []
    for label in labels:
        where = folders.get(label, "").split(SEP)
        rows.append(finding(check, where[0], detail, label=label, related=where[1:]))
    return rows


def _explain_duplicates(check: Check, record: pd.Series, kwargs: dict, folders: dict) -> list[dict]:
    columns = ("paths", "labels", "splits", "similarities", "compared")
    members = list(zip(*(record[c].split(SEP) for c in columns), strict=True))
    rows = []
    for path, label, side, similarity, compared in members:
        if check == Check.LABEL_CONFLICT:
            others = [(p, lb) for p, lb, _, _, _ in members if lb != label]
            detail = "the same image is labelled " + "; ".join(f"{lb!r} at {p}" for p, lb in others[:3])
        else:
            others = [(p, sd) for p, _, sd, _, _ in members if sd != side]
            detail = "; ".join(f"a copy is in {sd}: {p}" for p, sd in others[:3])
        more = len(others) - 3
        detail += f" and {more} more" if more > 0 else ""
        detail += f" ({similarity_text(float(similarity), compared)})"
        rows.append(finding(check, path, detail, label=label, related=[p for p, _ in others]))
    return rows


def _explain_dataset(check: Check, record: pd.Series, kwargs: dict, folders: dict) -> list[dict]:
    if check == Check.NO_IMAGES:
        detail = (
            f"no readable image among {int(record['files'])} files: nothing to train or validate on "
            "(images go in one folder per class, or give --labels or --label-re)"
        )
        return [finding(check, "", detail)]
    label = record["labels"]
    detail = (
        f"every readable image ({int(record['readable_images'])}) is of one class, {label!r}: a classifier "
        "needs two or more"
    )
    return [finding(check, folders.get(label, "").split(SEP)[0], detail, label=label)]


_EXPLAIN = {
    Check.NO_IMAGES: _explain_dataset,
    Check.SINGLE_CLASS: _explain_dataset,
    Check.MANIFEST_SCHEMA: _explain_schema,
    Check.UNKNOWN_LABEL: _explain_class,
    Check.EMPTY_CLASS: _explain_class,
    Check.SMALL_CLASS: _explain_class,
    Check.CLASS_IMBALANCE: _explain_class,
    Check.LABEL_VARIANTS: _explain_variants,
    Check.LABEL_CONFLICT: _explain_duplicates,
    Check.SPLIT_LEAKAGE: _explain_duplicates,
}
