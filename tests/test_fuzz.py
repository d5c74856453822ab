"""Fuzzing the parsers that read untrusted text: label CSVs, file names, label regexes, CSV paths.

Whatever hypothesis throws at them, they either answer or raise ValueError/FileNotFoundError (which
the command line turns into a one-line error), and no path they accept leads outside the dataset.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datasize.dataset.manifest import label_from_name, safe_relative_path, scan
from datasize.io import read_csv_text
from tests.conftest import encode, image_array

FUZZ = settings(
    max_examples=int(os.environ.get("DATASIZE_FUZZ_EXAMPLES", "40")),  # raise it for a deeper search
    deadline=None,  # two busy cores: time is not the property under test
    database=None,  # leave no .hypothesis folder behind
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

# Path pieces that matter to an escape: separators, dots, drive letters, the link out of the root.
PIECES = st.sampled_from(
    ["..", ".", "", "/", "\\", "a.png", "cat", "more", "b.png", "C:", "~", "%2e%2e", "\0", "\n", " ", "é"]
)
PATHS = st.one_of(st.text(max_size=30), st.lists(PIECES, max_size=6).map("/".join))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two images inside the root, one outside it, and a folder link `more` that leads out."""
    base = tmp_path_factory.mktemp("fuzz")
    from PIL import Image

    for rel in ("data/cat/a.png", "data/b.png", "outside/b.png"):
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / rel).write_bytes(encode(Image.fromarray(image_array(len(rel), (16, 16)))))
    (base / "data" / "more").symlink_to(base / "outside", target_is_directory=True)
    return base / "data"


def inside(root: Path, rel: str) -> bool:
    return os.path.normpath(root / rel).startswith(str(root) + os.sep)


def assert_printable(manifest) -> None:
    """No label or reported path can carry a control character to the terminal."""
    for label in manifest["label"]:
        assert not CONTROL.search(label), label
    for skipped in manifest.attrs["skipped"]:
        assert not CONTROL.search(skipped["path"]), skipped


def assert_inside(manifest, root: Path) -> None:
    """Every path is relative and inside the root; every file read was inside it, links resolved."""
    for rel, error in zip(manifest["path"], manifest["error"], strict=True):
        assert not PurePosixPath(rel).is_absolute() and ".." not in PurePosixPath(rel).parts, rel
        assert inside(root, rel), rel
        if error == "":
            assert (root / rel).resolve().is_relative_to(root.resolve()), rel


# --- label CSVs --------------------------------------------------------------------------------

CELLS = st.one_of(PATHS, st.text(max_size=12), st.sampled_from(["cat", "cat/a.png", "b.png", "more/b.png"]))
HEADERS = st.lists(
    st.one_of(st.sampled_from(["path", "label", "group", "split"]), st.text(max_size=8)),
    min_size=1,
    max_size=4,
)
ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16", "cp1252"])


@st.composite
def label_files(draw: st.DrawFn) -> bytes:
    """A CSV of arbitrary columns and cells in an arbitrary encoding, or plain random bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=200))
    header = draw(HEADERS)
    rows = draw(st.lists(st.lists(CELLS, min_size=0, max_size=len(header) + 1), max_size=6))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(draw(ENCODINGS), errors="replace")


@FUZZ
@given(data=label_files(), allow=st.booleans())
def test_any_labels_csv_gives_a_manifest_inside_the_root_or_a_value_error(
    root: Path, data: bytes, allow: bool
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        labels = Path(folder) / "labels.csv"
        labels.write_bytes(data)
        try:
            manifest = scan(root, labels=labels, jobs=1, allow_outside_root=allow)
        except (ValueError, FileNotFoundError):
            return
    assert_printable(manifest)
    if not allow:
        assert_inside(manifest, root)


@FUZZ
@given(data=st.binary(max_size=300))
def test_reading_any_bytes_as_a_csv_raises_nothing_but_value_errors(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "table.csv"
        path.write_bytes(data)
        try:
            table = read_csv_text(path, what="table")
        except ValueError as exc:
            assert str(path) in str(exc)
            return
    assert all(isinstance(v, str) for column in table.columns for v in table[column])


# --- CSV paths ---------------------------------------------------------------------------------


@FUZZ
@given(raw=PATHS)
def test_a_csv_path_is_refused_or_stays_inside_the_root(raw: str) -> None:
    root = Path("/data/root")
    try:
        rel = safe_relative_path(raw, root)
    except ValueError as exc:
        assert not CONTROL.search(str(exc)), exc
        return
    assert rel and rel != "." and not rel.startswith("/")
    assert ".." not in PurePosixPath(rel).parts and not CONTROL.search(rel)
    assert inside(root, rel)


@FUZZ
@given(raw=PATHS)
def test_allowing_the_outside_still_refuses_control_characters_and_the_root_itself(raw: str) -> None:
    try:
        rel = safe_relative_path(raw, Path("/data/root"), allow_outside_root=True)
    except ValueError:
        return
    assert rel not in ("", ".") and not CONTROL.search(rel)


# --- file names and label regexes --------------------------------------------------------------

NAMES = st.one_of(
    st.text(min_size=1, max_size=20).filter(
        lambda n: "/" not in n and "\0" not in n and n not in (".", "..")
    ),
    st.binary(min_size=1, max_size=20)
    .filter(lambda b: b"/" not in b and b"\0" not in b and b not in (b".", b".."))
    .map(os.fsdecode),
)


@FUZZ
@given(names=st.lists(NAMES, min_size=1, max_size=5, unique=True), folder=NAMES)
def test_any_file_names_give_rows_or_skips_never_an_error(names: list[str], folder: str) -> None:
    with tempfile.TemporaryDirectory() as base:
        root = Path(base)
        try:
            (root / folder).mkdir()
            for name in names:
                (root / folder / name).write_bytes(b"\x89PNG\r\n\x1a\n not really")
        except OSError:  # a name the file system refuses (too long in bytes, say)
            return
        manifest = scan(root, jobs=1)
        assert_printable(manifest)
        assert_inside(manifest, root)
        assert len(manifest) + len(manifest.attrs["skipped"]) >= len(names)
        for rel in manifest["path"]:
            assert (root / rel).exists()


PATTERNS = [r"^(.+)_\d+\.jpg$", r"^(?P<label>[^-]+)-", r"(\w+)", r"^(.*)$", r"(x)?", r"^(?P<label>\s*)\."]


@FUZZ
@given(name=st.text(max_size=40), pattern=st.sampled_from(PATTERNS))
def test_a_label_from_a_file_name_is_a_non_blank_part_of_it_or_none(name: str, pattern: str) -> None:
    label = label_from_name(name, re.compile(pattern))
    assert label is None or (label in name and label.strip() != "")


@FUZZ
@given(pattern=st.text(max_size=16))
def test_any_label_regex_gives_labels_from_names_or_a_value_error(root: Path, pattern: str) -> None:
    try:
        manifest = scan(root, label_re=pattern, jobs=1)
    except ValueError as exc:
        assert "label_re" in str(exc)
        return
    for rel, label in zip(manifest["path"], manifest["label"], strict=True):
        assert label in PurePosixPath(rel).name and label.strip()
