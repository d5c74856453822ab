"""Build the manifest: one row per image, from a folder tree, a CSV of labels or file names.

The manifest is the table every later stage reads. Columns (in this order):
path, label, group, split, width, height, mode, format, n_frames, orientation, bytes, sha256,
phash, dhash, thumb, error, error_check. `phash` and `dhash` are 64-bit perceptual hashes (hex)
that find near-duplicate candidates; `thumb` is the image's 16x16 luma thumbnail (256 bytes as 512
hex digits) that verifies them (`datasize.dataset.thumbnails`). `path` is relative to the dataset
root, in POSIX form. Text columns hold "" for "none". Files that are not images (hidden files,
notes, files a label rule does not match) are not rows; they are listed in
`manifest.attrs["skipped"]` with the reason.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from datasize.dataset.layout import check_layout
from datasize.dataset.probe import (
    CONTROL_CHARACTERS,
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    ProbeOptions,
    printable_path,
    probe_file,
    probe_many,
)
from datasize.io import read_csv_text, usable_cores

MANIFEST_COLUMNS = [
    "path",
    "label",
    "group",
    "split",
    "width",
    "height",
    "mode",
    "format",
    "n_frames",
    "orientation",
    "bytes",
    "sha256",
    "phash",
    "dhash",
    "thumb",
    "error",
    "error_check",
]
INT_COLUMNS = ["width", "height", "n_frames", "orientation", "bytes"]
ROW_COLUMNS = ("path", "label", "group", "split")  # from the listing; the rest from the probe
PROBE_COLUMNS = [c for c in MANIFEST_COLUMNS if c not in ROW_COLUMNS or c == "path"]
_REPEATED = frozenset({"mode", "format", "error", "error_check"})  # few distinct values: kept once

# Folder names at the top of a tree that mean "this split was given by the dataset's author".
GIVEN_SPLIT_FOLDERS = {"train": "train", "valid": "valid", "val": "valid", "validation": "valid"}
# Operating systems and editors leave these behind; they are never images.
SYSTEM_FILES = frozenset({"thumbs.db", "desktop.ini", ".ds_store", "icon\r"})

Progress = Callable[[int, int], None]  # (done, total)
StepProgress = Callable[[str, int, int], None]  # (step, done, total): validate's long steps
CLUSTER_CHUNK = 512  # files probed by one Dask task: few enough tasks for the scheduler, small results


def scan(
    data: str | os.PathLike,
    *,
    labels: str | os.PathLike | None = None,
    path_col: str = "path",
    label_col: str = "label",
    group_col: str | None = None,
    split_col: str | None = None,
    label_re: str | None = None,
    jobs: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    follow_links: bool = False,
    allow_outside_root: bool = False,
    progress: Progress | None = None,
    scheduler: Any = None,
) -> pd.DataFrame:
    """Scan a dataset into a manifest DataFrame, one row per image, sorted by path.

    Args:
        data: the dataset root folder.
        labels: a CSV with one row per image; `path_col` (relative to `data`), `label_col`, and
            optionally `group_col` and `split_col` (values `train`/`valid`).
        label_re: a regular expression searched in each file name; its group named `label` (or
            its first group) is the label. Example for the pets layout: ``^(.+)_\\d+\\.jpg$``.
        jobs: worker processes for probing (default: all cores; 1 probes in this process).
        max_pixels: images declaring more pixels are refused without being decoded.
        follow_links: read files through links that lead outside the root.
        allow_outside_root: let CSV paths be absolute or climb out of the root with "..".
        progress: called as ``progress(done, total)`` while images are probed.
        scheduler: a Dask scheduler address ("tcp://host:8786") or a `distributed.Client`: the files
            are probed on its workers, in chunks, instead of local processes (`jobs` is then unused).
            The workers must read the dataset at the same path. The manifest is the same.

    Without `labels` or `label_re`, labels are the folder names under the root (ImageNet style);
    top-level `train/` and `valid/` (or `val/`) folders are kept as a given split.

    Returns:
        The manifest (see the module docstring); ``attrs`` holds ``root``, ``skipped``
        (a list of ``{"path", "reason"}``, with ``"check"`` when the skip is itself a problem,
        such as a folder link out of the root) and ``empty_classes``.

    Example:
        >>> manifest = scan("data/sample/digits")  # doctest: +SKIP
    """
    root = Path(data)
    if not root.exists():
        raise FileNotFoundError(f"dataset folder {str(data)!r} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"dataset {str(data)!r} is not a folder")
    if labels is not None and label_re is not None:
        raise ValueError("give either labels=CSV or label_re=REGEX, not both")
    if jobs is not None and jobs < 1:
        raise ValueError(f"jobs={jobs} must be at least 1")
    if max_pixels < 1:
        raise ValueError(f"max_pixels={max_pixels} must be positive")

    rows, skipped, empty = _rows(
        root, labels, path_col, label_col, group_col, split_col, label_re, allow_outside_root
    )
    options = ProbeOptions(root=str(root), max_pixels=max_pixels, follow_links=follow_links)
    paths = [r["path"] for r in rows]
    if scheduler is not None:
        probed = _probe_on_cluster(paths, options, scheduler=scheduler, progress=progress)
    else:
        probed = _probe_all(paths, options, jobs=jobs, progress=progress)
    manifest = _assemble(rows, probed)
    manifest.attrs.update(
        root=str(root), skipped=sorted(skipped, key=lambda s: s["path"]), empty_classes=empty
    )
    return manifest


def list_images(
    data: str | os.PathLike,
    *,
    labels: str | os.PathLike | None = None,
    path_col: str = "path",
    label_col: str = "label",
    group_col: str | None = None,
    split_col: str | None = None,
    label_re: str | None = None,
    allow_outside_root: bool = False,
) -> pd.DataFrame:
    """The image files `scan` would read and their labels (path, label, group, split), from the folder
    listing or the labels CSV alone: no image is opened. For checks that must come before any work
    (a curve's sizes against its classes)."""
    root = Path(data)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder {str(data)!r} does not exist or is not a folder")
    if labels is not None and label_re is not None:
        raise ValueError("give either labels=CSV or label_re=REGEX, not both")
    rows, _, _ = _rows(root, labels, path_col, label_col, group_col, split_col, label_re, allow_outside_root)
    return pd.DataFrame(rows, columns=["path", "label", "group", "split"])


# --- sources ----------------------------------------------------------------------------------


def _rows(
    root: Path,
    labels: str | os.PathLike | None,
    path_col: str,
    label_col: str,
    group_col: str | None,
    split_col: str | None,
    label_re: str | None,
    allow_outside_root: bool,
) -> tuple[list[dict], list[dict], list[str]]:
    """The rows (path, label, group, split), the files skipped and the empty class folders."""
    if labels is not None:
        return _rows_from_csv(
            root, Path(labels), path_col, label_col, group_col, split_col, allow_outside_root
        )
    if label_re is not None:
        return _rows_from_names(root, _compile_label_re(label_re))
    check_layout(root)  # one class folder, or the classes one level down: said before any work
    return _rows_from_folders(root)


def _name_problem(rel: str) -> str | None:
    """Why a file name cannot be a manifest path, or None when it can."""
    if rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace") != rel:
        return "file name is not valid UTF-8"
    if CONTROL_CHARACTERS.search(rel):
        return "file name has control characters"
    return None


def _walk(root: Path, problems: list[dict]) -> Iterable[tuple[str, bool]]:
    """Every file under root as (relative POSIX path, is_hidden); links to folders not entered.

    Folders that cannot be listed are added to `problems` instead of being skipped silently.
    """

    def unlistable(exc: OSError) -> None:
        rel = Path(exc.filename).relative_to(root).as_posix() if exc.filename else "."
        problems.append({"path": printable_path(rel), "reason": f"cannot list folder: {exc.strerror}"})

    for dirpath, dirnames, filenames in os.walk(root, onerror=unlistable, followlinks=False):
        dirnames.sort()
        rel_dir = PurePosixPath(Path(dirpath).relative_to(root).as_posix())
        hidden_dir = any(part.startswith(".") for part in rel_dir.parts)
        for name in sorted(filenames):
            rel = (rel_dir / name).as_posix() if rel_dir.parts else name
            yield rel, hidden_dir or name.startswith(".")
        for name in dirnames:
            full = Path(dirpath, name)
            if full.is_symlink():
                rel = (rel_dir / name).as_posix() if rel_dir.parts else name
                problems.append(_folder_link(root, full, printable_path(rel)))


def _folder_link(root: Path, full: Path, rel: str) -> dict:
    """A link to a folder is never walked (no loops, no escapes); say where it pointed."""
    try:
        target = full.resolve(strict=True)
    except (OSError, RuntimeError):
        return {"path": rel, "reason": "broken or looping link to a folder; not followed"}
    if not target.is_relative_to(root.resolve()):
        reason = f"link to folder {printable_path(str(target))} outside the dataset root; not followed"
        return {"path": rel, "reason": reason, "check": "link_outside_root"}
    return {"path": rel, "reason": "link to a folder inside the dataset root; not followed"}


def _skip_reason(rel: str, hidden: bool) -> str | None:
    name = PurePosixPath(rel).name
    if hidden:
        return "hidden file"
    if name.lower() in SYSTEM_FILES or name.startswith("._"):
        return "operating-system file"
    if PurePosixPath(name).suffix.lower() not in IMAGE_EXTENSIONS:
        return "not an image file extension"
    return None


def _candidate_files(root: Path) -> tuple[list[str], list[dict]]:
    files: list[str] = []
    skipped: list[dict] = []
    for rel, hidden in _walk(root, skipped):
        problem = _name_problem(rel)
        if problem is not None:
            skipped.append({"path": printable_path(rel), "reason": problem})
            continue
        reason = _skip_reason(rel, hidden)
        if reason is not None and not _looks_like_image(root / rel, reason):
            skipped.append({"path": rel, "reason": reason})
        else:
            files.append(rel)
    return files, skipped


def _looks_like_image(full: Path, reason: str) -> bool:
    """An image saved under a non-image extension is probed (and reported), not silently skipped."""
    if reason != "not an image file extension" or full.is_symlink():
        return False
    try:
        if not stat.S_ISREG(full.stat().st_mode):
            return False  # a pipe or device would block or never end
        with open(full, "rb") as f:
            head = f.read(16)
    except OSError:
        return False
    signatures = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\0")
    return head.startswith(signatures) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def _row(path: str, label: str, group: str = "", split: str = "") -> dict:
    return {"path": path, "label": label, "group": group, "split": split}


def _rows_from_folders(root: Path) -> tuple[list[dict], list[dict], list[str]]:
    top = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    given = {name: GIVEN_SPLIT_FOLDERS[name.lower()] for name in top if name.lower() in GIVEN_SPLIT_FOLDERS}
    has_split = "train" in given.values() and "valid" in given.values()
    files, skipped = _candidate_files(root)
    rows = []
    for rel in files:
        parts = PurePosixPath(rel).parts
        if has_split and parts[0] in given:
            split, parts = given[parts[0]], parts[1:]
        else:
            split = ""
        if len(parts) < 2:
            skipped.append({"path": rel, "reason": "not inside a class folder"})
            continue
        rows.append(_row(rel, parts[0], split=split))
    return rows, skipped, _empty_class_folders(root, given if has_split else {}, rows)


def _empty_class_folders(root: Path, given: dict[str, str], rows: list[dict]) -> list[str]:
    """Class folders that hold no image rows, as relative paths."""
    bases = [root / name for name in given] if given else [root]
    with_images = {PurePosixPath(r["path"]).parent.as_posix() for r in rows}
    with_images |= {p for r in rows for p in _ancestors(r["path"])}
    empty = []
    for base in bases:
        for folder in sorted(base.iterdir()):
            if folder.is_dir() and not folder.is_symlink() and not folder.name.startswith("."):
                rel = folder.relative_to(root).as_posix()
                if rel not in with_images:
                    empty.append(printable_path(rel))
    return empty


def _ancestors(rel: str) -> list[str]:
    parents = PurePosixPath(rel).parents
    return [p.as_posix() for p in parents if p.as_posix() != "."]


def _compile_label_re(pattern: str) -> re.Pattern:
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"label_re {pattern!r} is not a valid regular expression: {exc}") from None
    if compiled.groups == 0:
        raise ValueError(f"label_re {pattern!r} has no group; mark the label with (?P<label>...) or (...)")
    return compiled


def label_from_name(name: str, pattern: re.Pattern) -> str | None:
    """The label a file name carries under `pattern`, or None when it does not match."""
    match = pattern.search(name)
    if match is None:
        return None
    value = match.group("label") if "label" in pattern.groupindex else match.group(1)
    return value if value and value.strip() else None


def _rows_from_names(root: Path, pattern: re.Pattern) -> tuple[list[dict], list[dict], list[str]]:
    files, skipped = _candidate_files(root)
    rows = []
    for rel in files:
        label = label_from_name(PurePosixPath(rel).name, pattern)
        if label is None:
            skipped.append({"path": rel, "reason": f"file name does not match {pattern.pattern!r}"})
        else:
            rows.append(_row(rel, label))
    return rows, skipped, []


def safe_relative_path(raw: str, root: Path, *, allow_outside_root: bool = False) -> str:
    """A CSV path as a POSIX path relative to root; raises ValueError if it would escape root.

    Also refused: empty paths, the root itself ("."), and control characters (NUL included).
    """
    text = raw.strip().replace("\\", "/")
    if not text:
        raise ValueError("empty path")
    if CONTROL_CHARACTERS.search(text):
        raise ValueError(f"path '{printable_path(raw)}' has control characters")
    candidate = PurePosixPath(text)
    if candidate.is_absolute() or ".." in candidate.parts:
        if not allow_outside_root:
            raise ValueError(
                f"path {raw!r} is absolute or contains '..'; "
                "paths must stay inside the dataset root (allow_outside_root to permit)"
            )
        full = Path(text) if candidate.is_absolute() else root / text
        rel = os.path.relpath(os.path.normpath(full), root).replace(os.sep, "/")
    else:
        rel = PurePosixPath(*[p for p in candidate.parts if p != "."]).as_posix()
    if rel == ".":
        raise ValueError(f"path {raw!r} names the dataset root, not a file")
    return rel


def _rows_from_csv(
    root: Path,
    csv_path: Path,
    path_col: str,
    label_col: str,
    group_col: str | None,
    split_col: str | None,
    allow_outside_root: bool,
) -> tuple[list[dict], list[dict], list[str]]:
    table = read_csv_text(csv_path, what="labels file")
    wanted = [c for c in (path_col, label_col, group_col, split_col) if c]
    missing = [c for c in wanted if c not in table.columns]
    if missing:
        raise ValueError(
            f"labels file {str(csv_path)!r} has no column {', '.join(map(repr, missing))}; "
            f"its columns are {', '.join(map(repr, table.columns))}"
        )
    rows, skipped = [], []
    for line, record in enumerate(table.to_dict("records"), start=2):
        try:
            rel = safe_relative_path(record[path_col], root, allow_outside_root=allow_outside_root)
            if CONTROL_CHARACTERS.search(record[label_col]):
                raise ValueError(f"label '{printable_path(record[label_col])}' has control characters")
        except ValueError as exc:
            # A refused row is an error of the label table, not a note: its image would go missing.
            reason = f"{csv_path.name} line {line}: {exc}"
            skipped.append(
                {"path": printable_path(record[path_col]), "reason": reason, "check": "manifest_schema"}
            )
            continue
        split = record[split_col].strip().lower() if split_col else ""
        split = GIVEN_SPLIT_FOLDERS.get(split, split)
        group = record[group_col].strip() if group_col else ""
        rows.append(_row(rel, record[label_col].strip(), group=group, split=split))
    listed = {r["path"] for r in rows}
    files, _ = _candidate_files(root)
    skipped += [{"path": f, "reason": f"not listed in {csv_path.name}"} for f in files if f not in listed]
    return rows, skipped, []


# --- probing ----------------------------------------------------------------------------------


class _Probed:
    """Probe records kept as columns as they come back: a dict per file would cost about 1 KB more
    each, and the repeated values (mode, format, error texts) are kept once."""

    def __init__(self) -> None:
        self.row: dict[str, int] = {}
        self.columns: dict[str, list] = {c: [] for c in PROBE_COLUMNS}
        self._canonical: dict[str, str] = {}

    def add(self, records: list[dict]) -> None:
        for record in records:
            self.row[record["path"]] = len(self.row)
            for column, values in self.columns.items():
                value = record[column]
                values.append(self._canonical.setdefault(value, value) if column in _REPEATED else value)

    def __len__(self) -> int:
        return len(self.row)


def _probe_all(
    paths: list[str], options: ProbeOptions, *, jobs: int | None, progress: Progress | None
) -> _Probed:
    unique = sorted(set(paths))
    workers = min(jobs or usable_cores(), max(1, len(unique) // 64))
    results = _Probed()
    if progress:
        progress(0, len(unique))
    if workers <= 1:
        for i, rel in enumerate(unique, start=1):
            results.add([probe_file(rel, options)])
            if progress and (i % 32 == 0 or i == len(unique)):
                progress(i, len(unique))
        return results
    chunk = max(8, min(128, len(unique) // (workers * 8)))
    chunks = [unique[i : i + chunk] for i in range(0, len(unique), chunk)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for batch in pool.map(probe_many, chunks, [options] * len(chunks)):
            results.add(batch)
            if progress:
                progress(len(results), len(unique))
    return results


def _probe_on_cluster(
    paths: list[str], options: ProbeOptions, *, scheduler: Any, progress: Progress | None
) -> _Probed:
    """`_probe_all` on a Dask cluster: one task per chunk of files, results kept as they come back."""
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError:
        raise ValueError("--scheduler needs dask.distributed: pip install 'datasize-toolkit[dask]'") from None
    unique = sorted(set(paths))
    chunks = [unique[i : i + CLUSTER_CHUNK] for i in range(0, len(unique), CLUSTER_CHUNK)]
    client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    results = _Probed()
    if progress:
        progress(0, len(unique))
    try:
        futures = [client.submit(probe_many, chunk, options, pure=False) for chunk in chunks]
        try:
            for future in dask_completed(futures):
                results.add(future.result())
                future.release()  # its records are ours now: the worker may forget them
                if progress:
                    progress(len(results), len(unique))
        except BaseException:
            client.cancel(futures)
            raise
    finally:
        if client is not scheduler:
            client.close()
    return results


def _assemble(rows: list[dict], probed: _Probed) -> pd.DataFrame:
    """The manifest from the listed rows and their probe records, column by column, sorted by path."""
    order = np.argsort(np.array([r["path"] for r in rows], dtype=object), kind="stable")
    rows = [rows[k] for k in order]
    at = np.array([probed.row[r["path"]] for r in rows], dtype=np.int64)
    columns: dict[str, Any] = {}
    canonical: dict[str, str] = {}
    for column in MANIFEST_COLUMNS:
        if column in ROW_COLUMNS:
            values = [r[column] for r in rows]
            if column != "path":  # labels, groups and splits repeat: keep each text once
                values = [canonical.setdefault(v, v) for v in values]
            columns[column] = pd.Series(values, dtype=object)
        else:
            taken = np.empty(len(at), dtype=object)
            taken[:] = [probed.columns[column][k] for k in at.tolist()]
            columns[column] = pd.Series(taken.astype("int64") if column in INT_COLUMNS else taken)
    return pd.DataFrame(columns, columns=MANIFEST_COLUMNS)


def read_manifest(path: str | os.PathLike) -> pd.DataFrame:
    """Read a manifest CSV written by `write_manifest` (or `datasize scan -o`)."""
    table = read_csv_text(path, what="manifest")
    missing = [c for c in MANIFEST_COLUMNS if c not in table.columns]
    if missing == ["thumb"]:
        raise ValueError(
            f"{str(path)!r} was written by an older datasize: it has no thumb column, which near-duplicate "
            "checks need; scan the dataset again (datasize scan DATA -o MANIFEST)"
        )
    if missing:
        raise ValueError(f"{str(path)!r} is not a datasize manifest: missing columns {missing}")
    table[INT_COLUMNS] = table[INT_COLUMNS].astype("int64")
    return table[MANIFEST_COLUMNS]
