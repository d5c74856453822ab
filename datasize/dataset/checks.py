"""Image checks over the manifest, and the derived tables the Great Expectations suite reads.

Every problem becomes one Finding row: `check`, `severity`, `path`, `label`, `detail`, `related`
(a list of the other paths involved). Computation only; nothing here prints.

The derived tables join several paths or labels in one cell with SEP, a NUL character: the one
character no path or label can hold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np
import pandas as pd

from datasize.dataset.duplicates import DEFAULT_NEAR_RADIUS, duplicate_groups
from datasize.dataset.manifest import StepProgress
from datasize.dataset.probe import DEFAULT_MAX_PIXELS, EXTENSION_FORMATS, MODE_REASONS, PLAIN_MODES
from datasize.dataset.thumbnails import DEFAULT_NEAR_THRESHOLD
from datasize.vocab import Check, Severity

FINDING_COLUMNS = ["check", "severity", "path", "label", "detail", "related"]
SEP = "\0"


@dataclass(frozen=True)
class CheckConfig:
    """Thresholds of the checks; every one is a `datasize validate` option."""

    min_side: int = 8  # an image with a side under this many pixels is too small, whatever the rest
    small_factor: float = 4.0  # ... or with its shorter side this many times under the median's
    large_factor: float = 8.0  # too large: the longer side this many times over the median's
    max_aspect: float = 4.0  # extreme aspect: the long side over the short side above this
    max_pixels: int = DEFAULT_MAX_PIXELS  # decompression bombs: refused before decoding
    near_radius: int = DEFAULT_NEAR_RADIUS  # near-duplicate candidates: pHash distance in bits, at most
    near_threshold: float = DEFAULT_NEAR_THRESHOLD  # ...verified when their thumbnails are this similar
    min_class_images: int = 10  # a class with fewer readable images is too small
    imbalance_ratio: float = 5.0  # a class this many times rarer than the largest is imbalanced

    def __post_init__(self) -> None:
        positive = ("min_side", "small_factor", "large_factor", "max_aspect", "max_pixels")
        for name in (*positive, "imbalance_ratio"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}={getattr(self, name)} must be positive")
        if not 0 <= self.near_radius <= 63:
            raise ValueError(f"near_radius={self.near_radius} must be between 0 and 63 bits")
        if not 0 <= self.near_threshold <= 1:
            raise ValueError(f"near_threshold={self.near_threshold} must be between 0 and 1")
        if self.min_class_images < 0:
            raise ValueError(f"min_class_images={self.min_class_images} must be 0 or more")


def finding(
    check: Check, path: str, detail: str, *, label: str = "", related: list[str] | tuple = ()
) -> dict:
    """One finding row with the check's default severity."""
    return {
        "check": str(check),
        "severity": str(check.severity),
        "path": path,
        "label": label,
        "detail": detail,
        "related": list(related),
    }


def findings_frame(rows: list[dict]) -> pd.DataFrame:
    """Findings in a stable order: most severe first, then check, then path."""
    frame = pd.DataFrame.from_records(rows, columns=FINDING_COLUMNS)
    if frame.empty:
        return frame.astype(str)
    rank = frame["severity"].map(lambda s: -Severity(s).rank)
    order = np.lexsort((frame["path"].to_numpy(), frame["check"].to_numpy(), rank.to_numpy()))
    frame = frame.iloc[order]
    unique = ~frame.drop(columns="related").duplicated()
    return frame[unique].reset_index(drop=True)


# --- per image --------------------------------------------------------------------------------


def image_findings(manifest: pd.DataFrame, config: CheckConfig) -> list[dict]:
    """Read errors, format, mode, frames and size checks for every row."""
    rows: list[dict] = []
    readable = manifest["error"] == ""
    for rec in manifest[~readable].to_dict("records"):
        rows.append(finding(Check(rec["error_check"]), rec["path"], rec["error"], label=rec["label"]))
    ok = manifest[readable]
    rows += _format_findings(ok)
    rows += _mode_findings(ok)
    rows += [
        finding(
            Check.ANIMATED, r["path"], f"{r['n_frames']} frames; only the first is used", label=r["label"]
        )
        for r in ok[ok["n_frames"] > 1].to_dict("records")
    ]
    rows += _size_findings(ok, config)
    return rows


def _format_findings(ok: pd.DataFrame) -> list[dict]:
    rows = []
    for rec in ok.to_dict("records"):
        ext = PurePosixPath(rec["path"]).suffix.lower()
        expected = EXTENSION_FORMATS.get(ext)
        if expected is None:
            detail = f"content is {rec['format']} but {ext or 'no extension'} is not an image extension"
        elif rec["format"] not in expected:
            detail = f"content is {rec['format']} but the extension {ext} says {expected[0]}"
        else:
            continue
        rows.append(finding(Check.FORMAT_MISMATCH, rec["path"], detail, label=rec["label"]))
    return rows


def _mode_findings(ok: pd.DataFrame) -> list[dict]:
    odd = ok[~ok["mode"].isin(PLAIN_MODES)]
    return [
        finding(
            Check.UNUSUAL_MODE,
            r["path"],
            f"mode {r['mode']}: {MODE_REASONS.get(r['mode'], 'not RGB or 8-bit grayscale')}",
            label=r["label"],
        )
        for r in odd.to_dict("records")
    ]


def _size_findings(ok: pd.DataFrame, config: CheckConfig) -> list[dict]:
    if ok.empty:
        return []
    short = np.minimum(ok["width"], ok["height"]).to_numpy()
    long = np.maximum(ok["width"], ok["height"]).to_numpy()
    median_short, median_long = float(np.median(short)), float(np.median(long))
    small_limit = max(config.min_side, median_short / config.small_factor)
    large_limit = median_long * config.large_factor
    rows = []
    for rec, s, lg in zip(ok.to_dict("records"), short, long, strict=True):
        size = f"{rec['width']}x{rec['height']}"
        if s < small_limit:
            why = f"{size}: shorter side {s} px is under {small_limit:g} px"
            rows.append(
                finding(
                    Check.TOO_SMALL, rec["path"], f"{why} (median {median_short:g} px)", label=rec["label"]
                )
            )
        if lg > large_limit:
            why = (
                f"{size}: longer side {lg} px is over {config.large_factor:g}x the median {median_long:g} px"
            )
            rows.append(finding(Check.TOO_LARGE, rec["path"], why, label=rec["label"]))
        if s > 0 and lg / s > config.max_aspect:
            why = f"{size}: aspect ratio {lg / s:.1f}:1 exceeds {config.max_aspect:g}:1"
            rows.append(finding(Check.EXTREME_ASPECT, rec["path"], why, label=rec["label"]))
    return rows


# --- duplicates -------------------------------------------------------------------------------


def with_duplicate_groups(
    manifest: pd.DataFrame, config: CheckConfig, *, progress: StepProgress | None = None
) -> pd.DataFrame:
    """The manifest with `exact_group`, `near_group` ("" when the image is unique), `similarity`
    (to the closest other image of its near group; 0 when it has none) and `compared` (what that
    similarity compared) columns."""
    groups = duplicate_groups(
        manifest, radius=config.near_radius, threshold=config.near_threshold, progress=progress
    )
    out = manifest.merge(groups, on="path", how="left")
    out[["exact_group", "near_group", "compared"]] = out[["exact_group", "near_group", "compared"]].fillna("")
    out["similarity"] = out["similarity"].fillna(0.0)
    return out


def duplicate_findings(grouped: pd.DataFrame) -> list[dict]:
    """Exact and near duplicates under one label (other cases are label conflicts or leakage)."""
    rows = []
    for kind, check in (("exact_group", Check.EXACT_DUPLICATE), ("near_group", Check.NEAR_DUPLICATE)):
        members = grouped[grouped[kind] != ""]
        for _, group in members.groupby(kind, sort=True):
            if group["label"].nunique() > 1 or len(set(group["split"]) - {""}) > 1:
                continue  # reported as a label conflict or as split leakage
            paths = sorted(group["path"])
            if (
                kind == "near_group"
                and group["exact_group"].nunique() == 1
                and (group["exact_group"] != "").all()
            ):
                continue  # all exact copies: already reported
            similarity = dict(zip(group["path"], group["similarity"], strict=True))
            compared = dict(zip(group["path"], group["compared"], strict=True))
            for path in paths:
                others = [p for p in paths if p != path]
                if kind == "exact_group":
                    detail = f"{len(paths)} byte-identical copies; also {_brief(others)}"
                else:
                    measured = similarity_text(similarity[path], compared[path])
                    detail = f"{len(paths)} near-identical images ({measured}); "
                    detail += f"also {_brief(others)}"
                rows.append(finding(check, path, detail, label=group["label"].iloc[0], related=others))
    return rows


def similarity_text(value: float, compared: str = "") -> str:
    """How a finding gives an image's similarity to its closest copy (see `thumbnails`), and what was
    compared to measure it ("28x28 pixels", "16x16 thumbnails", "file bytes")."""
    return f"similarity {value:.2f}" + (f", {compared} compared" if compared else "")


def _brief(paths: list[str], limit: int = 3) -> str:
    shown = ", ".join(paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


# --- derived tables for the Great Expectations suite ------------------------------------------


def label_key(label: str) -> str:
    """A label folded for comparison: case, spacing, underscores, hyphens and dots ignored."""
    return re.sub(r"[\s_\-.]+", " ", label).strip().casefold()


def class_folders(manifest: pd.DataFrame) -> dict[str, str]:
    """Each label's folder(s), SEP-joined ("train/cat", "valid/cat"), where the label is a folder name."""
    folders: dict[str, set[str]] = {}
    for path, label in zip(manifest["path"], manifest["label"], strict=True):
        for parent in PurePosixPath(path).parents:
            if parent.name == label:
                folders.setdefault(label, set()).add(parent.as_posix())
                break
    return {label: SEP.join(sorted(paths)) for label, paths in folders.items()}


def class_table(manifest: pd.DataFrame, empty_classes: list[str] = ()) -> pd.DataFrame:
    """One row per class: readable image count, its share of the largest class, its folder(s)."""
    readable = manifest[(manifest["error"] == "") & (manifest["label"] != "")]
    counts = readable.groupby("label").size().to_dict()
    folders = class_folders(manifest)
    for folder in empty_classes:
        name = PurePosixPath(folder).name
        counts.setdefault(name, 0)
        folders[name] = SEP.join(sorted(set(filter(None, folders.get(name, "").split(SEP))) | {folder}))
    labels = sorted(set(manifest["label"]) - {""} | set(counts))
    n_images = [int(counts.get(label, 0)) for label in labels]
    largest = max(n_images, default=0) or 1
    return pd.DataFrame(
        {
            "label": pd.Series(labels, dtype=str),
            "n_images": pd.Series(n_images, dtype="int64"),
            "share_of_largest": pd.Series([n / largest for n in n_images], dtype="float64"),
            "folder": pd.Series([folders.get(label, "") for label in labels], dtype=str),
        }
    )


def dataset_table(manifest: pd.DataFrame) -> pd.DataFrame:
    """One row for the whole dataset: its readable images and the classes that have any."""
    readable = manifest[(manifest["error"] == "") & (manifest["label"] != "")]
    labels = sorted(set(readable["label"]))
    return pd.DataFrame(
        {
            "dataset": pd.Series(["dataset"], dtype=str),
            "readable_images": pd.Series([len(readable)], dtype="int64"),
            "classes": pd.Series([len(labels)], dtype="int64"),
            "labels": pd.Series([SEP.join(labels)], dtype=str),
            "files": pd.Series([len(manifest) + len(manifest.attrs.get("skipped", []))], dtype="int64"),
        }
    )


def label_variant_table(manifest: pd.DataFrame) -> pd.DataFrame:
    """One row per folded label key: how many distinct spellings share it."""
    labels = sorted(set(manifest["label"]) - {""})
    by_key: dict[str, list[str]] = {}
    for label in labels:
        by_key.setdefault(label_key(label), []).append(label)
    keys = sorted(by_key)
    return pd.DataFrame(
        {
            "key": pd.Series(keys, dtype=str),
            "n_variants": pd.Series([len(by_key[k]) for k in keys], dtype="int64"),
            "labels": pd.Series([SEP.join(by_key[k]) for k in keys], dtype=str),
        }
    )


def duplicate_group_table(grouped: pd.DataFrame) -> pd.DataFrame:
    """One row per exact or near duplicate group: how many labels and splits it spans, and its members'
    paths, labels, splits, similarities and what each similarity compared (each SEP-joined, in path
    order)."""
    members = grouped[grouped["near_group"] != ""]
    rows = []
    for key, group in members.groupby("near_group", sort=True):
        splits = set(group["split"]) - {""}
        group = group.sort_values("path", kind="stable")
        rows.append(
            {
                "group": key,
                "n_images": len(group),
                "n_labels": group["label"].nunique(),
                "n_splits": len(splits),
                "paths": SEP.join(group["path"]),
                "labels": SEP.join(group["label"]),
                "splits": SEP.join(group["split"]),
                "similarities": SEP.join(f"{v:.6f}" for v in group["similarity"]),
                "compared": SEP.join(group["compared"]),
            }
        )
    columns = [
        "group",
        "n_images",
        "n_labels",
        "n_splits",
        "paths",
        "labels",
        "splits",
        "similarities",
        "compared",
    ]
    return pd.DataFrame.from_records(rows, columns=columns).astype(
        {"n_images": "int64", "n_labels": "int64", "n_splits": "int64"}
    )
