"""Bad input: every broken, odd or hostile file gives a finding or a one-line error naming it.

The corpus is generated here, one case per kind of trouble a curator meets in folders they did not
make (scraped images, vendor deliveries, hand-edited CSVs). Each case is planted into a clean
dataset and run through the command line: a data problem is a finding that names the file (exit 1
for errors, 0 otherwise), a bad argument or unreadable table is one line on stderr (exit 2), and
nothing ever ends in a traceback or hangs.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image

from datasize.cli import main
from tests.conftest import encode, image_array, stripes

Plant = Callable[[Path], list[str]]  # plants one problem under the dataset root; returns extra CLI args


# --- generated bad files -------------------------------------------------------------------------


def picture(seed: int, size: tuple[int, int] = (32, 32)) -> Image.Image:
    return Image.fromarray(image_array(seed, size))


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels: a decompression bomb's calling card."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def gif_declaring(width: int, height: int) -> bytes:
    """A 29-byte GIF whose screen and only frame claim width x height pixels."""
    screen = struct.pack("<HHBBB", width, height, 0, 0, 0)
    frame = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0)
    return b"GIF89a" + screen + frame + b"\x02\x02\x44\x01\x00;"


def sixteen_bit() -> bytes:
    gray = np.asarray(picture(11).convert("L"), dtype=np.uint16) * 257
    return encode(Image.fromarray(gray), "PNG")


def palette_with_transparency() -> bytes:
    return encode(picture(12).convert("P"), "PNG", transparency=0)


def exif_rotated() -> bytes:
    """A 48x24 JPEG whose EXIF says: rotate 90 degrees to display (orientation 6)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(picture(13, (48, 24)), "JPEG", exif=exif.tobytes())


def animated_gif() -> bytes:
    frames = [picture(s).convert("P") for s in (14, 15, 16)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=50)
    return buffer.getvalue()


def truncated(fmt: str) -> bytes:
    data = encode(picture(17, (64, 64)), fmt)
    return data[: len(data) // 2]


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def file(rel: str, data: Callable[[], bytes]) -> Plant:
    def plant(root: Path) -> list[str]:
        write(root / rel, data())
        return []

    return plant


def raw_name(rel: bytes, data: Callable[[], bytes]) -> Plant:
    """A file whose name is given as bytes (not UTF-8, or with control characters)."""

    def plant(root: Path) -> list[str]:
        Path(os.fsdecode(os.fsencode(root) + b"/" + rel)).write_bytes(data())
        return []

    return plant


def link(rel: str, target: Callable[[Path], Path], *, folder: bool = False) -> Plant:
    def plant(root: Path) -> list[str]:
        (root / rel).symlink_to(target(root), target_is_directory=folder)
        return []

    return plant


def outside(name: str) -> Callable[[Path], Path]:
    """A real image beside the dataset root, not under it."""

    def make(root: Path) -> Path:
        target = root.parent / "outside" / name
        write(target, encode(picture(18)))
        return target

    return make


def fifo(rel: str) -> Plant:
    def plant(root: Path) -> list[str]:
        os.mkfifo(root / rel)
        return []

    return plant


def with_args(plant: Plant, *args: str) -> Plant:
    def both(root: Path) -> list[str]:
        return [*plant(root), *args]

    return both


def sparse_file(rel: str, size: int) -> Plant:
    """A file of `size` bytes that occupies no disk: a scan that reads it whole would fill memory."""

    def plant(root: Path) -> list[str]:
        with open(root / rel, "wb") as f:
            f.truncate(size)
        return []

    return plant


def labels_csv(text: str) -> Plant:
    """A labels CSV: the header and every clean image first, then the rows in `text` ({root}: the root)."""

    def plant(root: Path) -> list[str]:
        rows = ["path,label"] + [f"{p.relative_to(root).as_posix()},{p.parent.name}" for p in clean(root)]
        body = "\n".join(rows) + "\n" + text.replace("{root}", str(root))
        (root.parent / "labels.csv").write_bytes(body.encode("utf-8", "surrogateescape"))
        return ["--labels", str(root.parent / "labels.csv")]

    return plant


def clean(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*/[0-9][0-9].png"))


# --- the corpus: one planted problem, the finding that must name it ------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    plant: Plant
    check: str  # the finding the planted file must give
    path: str  # the path that finding names (relative to the root, escaped where it must be)
    words: str  # words of its detail
    severity: str = "error"


def a_png() -> bytes:
    return encode(picture(20))


CASES = [
    Case("zero-byte", file("cat/empty.png", lambda: b""), "empty_file", "cat/empty.png", "zero-byte"),
    Case(
        "truncated-png",
        file("cat/cut.png", lambda: truncated("PNG")),
        "truncated",
        "cat/cut.png",
        "truncated",
    ),
    Case(
        "truncated-jpeg",
        file("cat/cut.jpg", lambda: truncated("JPEG")),
        "truncated",
        "cat/cut.jpg",
        "truncated",
    ),
    Case(
        "text-as-jpeg",
        file("cat/notes.jpg", lambda: b"shopping list\n"),
        "unreadable",
        "cat/notes.jpg",
        "not an image",
    ),
    Case(
        "html-as-png",
        file("cat/page.png", lambda: b"<html><script>alert(1)</script></html>"),
        "unreadable",
        "cat/page.png",
        "not an image",
    ),
    Case(
        "png-named-jpg",
        file("cat/photo.jpg", a_png),
        "format_mismatch",
        "cat/photo.jpg",
        "content is PNG",
        "warning",
    ),
    Case(
        "image-under-a-text-extension",
        file("cat/scan.dat", a_png),
        "format_mismatch",
        "cat/scan.dat",
        "not an image extension",
        "warning",
    ),
    Case(
        "cmyk",
        file("cat/print.jpg", lambda: encode(picture(21).convert("CMYK"), "JPEG")),
        "unusual_mode",
        "cat/print.jpg",
        "CMYK",
        "warning",
    ),
    Case("16-bit", file("cat/deep.png", sixteen_bit), "unusual_mode", "cat/deep.png", "16-bit", "warning"),
    Case(
        "palette-with-transparency",
        file("cat/pal.png", palette_with_transparency),
        "unusual_mode",
        "cat/pal.png",
        "transparency",
        "warning",
    ),
    Case(
        "lab-colour-tiff",
        file("cat/lab.tif", lambda: encode(picture(22).convert("LAB"), "TIFF")),
        "unreadable",
        "cat/lab.tif",
        "mode LAB cannot be converted",
    ),
    Case("animated-gif", file("cat/anim.gif", animated_gif), "animated", "cat/anim.gif", "3 frames", "info"),
    Case(
        "huge-next-to-the-rest",
        file("cat/poster.png", lambda: encode(picture(23, (600, 600)))),
        "too_large",
        "cat/poster.png",
        "longer side 600 px",
        "warning",
    ),
    Case(
        "png-decompression-bomb",
        file("cat/bomb.png", lambda: png_declaring(200_000, 200_000)),
        "decompression_bomb",
        "cat/bomb.png",
        "40,000,000,000 pixels",
    ),
    Case(
        "gif-decompression-bomb",
        file("cat/bomb.gif", lambda: gif_declaring(65_535, 65_535)),
        "decompression_bomb",
        "cat/bomb.gif",
        "refused undecoded",
    ),
    Case(
        "over-the-pixel-limit",
        with_args(file("cat/big.png", lambda: png_declaring(3000, 3000)), "--max-pixels", "1000000"),
        "decompression_bomb",
        "cat/big.png",
        "9,000,000 pixels exceeds the limit of 1,000,000",
    ),
    Case(
        "3-gib-file",
        sparse_file("cat/huge.png", 3 << 30),
        "decompression_bomb",
        "cat/huge.png",
        "refused unread",
    ),
    Case(
        "name-not-utf8",
        raw_name(b"cat/caf\xe9.png", a_png),
        "skipped_file",
        "cat/caf\\xe9.png",
        "not valid UTF-8",
        "info",
    ),
    Case(
        "name-with-terminal-escape",
        raw_name(b"cat/red\x1b[2J.png", a_png),
        "skipped_file",
        "cat/red\\x1b[2J.png",
        "control characters",
        "info",
    ),
    Case(
        "name-with-newline",
        raw_name(b"cat/two\nlines.png", a_png),
        "skipped_file",
        "cat/two\\x0alines.png",
        "control characters",
        "info",
    ),
    Case(
        "hidden-file",
        file("cat/.secret.png", a_png),
        "skipped_file",
        "cat/.secret.png",
        "hidden file",
        "info",
    ),
    Case(
        "hidden-folder",
        file("cat/.thumbnails/00.png", a_png),
        "skipped_file",
        "cat/.thumbnails/00.png",
        "hidden file",
        "info",
    ),
    Case(
        "thumbs-db",
        file("cat/Thumbs.db", lambda: b"\0" * 64),
        "skipped_file",
        "cat/Thumbs.db",
        "operating-system",
        "info",
    ),
    Case(
        "macos-resource-fork",
        file("cat/._00.png", lambda: b"\0\x05\x16\x07" + b"\0" * 60),
        "skipped_file",
        "cat/._00.png",
        "hidden file",
        "info",
    ),
    Case(
        "empty-class-folder",
        lambda root: (root / "wolf").mkdir() or [],
        "empty_class",
        "wolf",
        "no readable images",
        "warning",
    ),
    Case(
        "class-of-only-hidden-files",
        file("owl/.keep", lambda: b""),
        "empty_class",
        "owl",
        "no readable images",
        "warning",
    ),
    Case(
        "file-link-loop",
        link("cat/loop.png", lambda root: root / "cat" / "loop.png"),
        "unreadable",
        "cat/loop.png",
        "looping link",
    ),
    Case(
        "broken-link",
        link("cat/gone.png", lambda root: root / "nowhere.png"),
        "unreadable",
        "cat/gone.png",
        "broken",
    ),
    Case(
        "folder-link-loop",
        link("cat/again", lambda root: root, folder=True),
        "skipped_file",
        "cat/again",
        "not followed",
        "info",
    ),
    Case(
        "file-link-out-of-the-root",
        link("cat/elsewhere.png", outside("a.png")),
        "link_outside_root",
        "cat/elsewhere.png",
        "outside the dataset root; not followed",
    ),
    Case(
        "folder-link-out-of-the-root",
        link("cat/more", lambda root: outside("b.png")(root).parent, folder=True),
        "link_outside_root",
        "cat/more",
        "outside the dataset root; not followed",
    ),
    Case(
        "link-to-a-device",
        link("cat/zero.png", lambda root: Path("/dev/zero")),
        "link_outside_root",
        "cat/zero.png",
        "not followed",
    ),
    Case(
        "link-to-a-device-followed",
        with_args(link("cat/zero.png", lambda root: Path("/dev/zero")), "--follow-links"),
        "unreadable",
        "cat/zero.png",
        "not a regular file",
    ),
    Case("named-pipe", fifo("cat/pipe.png"), "unreadable", "cat/pipe.png", "not a regular file"),
    Case(
        "named-pipe-without-extension", fifo("cat/pipe"), "skipped_file", "cat/pipe", "not an image", "info"
    ),
    # labels CSVs edited by hand
    Case(
        "csv-blank-label",
        labels_csv("extra/blank.png,   \n"),
        "manifest_schema",
        "extra/blank.png",
        "blank label",
    ),
    Case(
        "csv-duplicate-rows",
        labels_csv("cat/00.png,cat\n"),
        "manifest_schema",
        "cat/00.png",
        "listed more than once",
    ),
    Case(
        "csv-absolute-path",
        labels_csv("{root}/cat/01.png,cat\n"),
        "manifest_schema",
        "{root}/cat/01.png",
        "absolute or contains '..'",
    ),
    Case(
        "csv-dot-dot-path",
        labels_csv("../outside/a.png,cat\n"),
        "manifest_schema",
        "../outside/a.png",
        "paths must stay inside the dataset root",
    ),
    Case(
        "csv-windows-dot-dot-path",
        labels_csv("cat\\..\\..\\outside\\a.png,cat\n"),
        "manifest_schema",
        "cat\\..\\..\\outside\\a.png",
        "absolute or contains '..'",
    ),
    Case(
        "csv-path-through-a-folder-link",
        lambda root: (
            link("cat/more", lambda r: outside("b.png")(r).parent, folder=True)(root)
            + labels_csv("cat/more/b.png,cat\n")(root)
        ),
        "link_outside_root",
        "cat/more/b.png",
        "through the folder link cat/more",
    ),
    Case(
        "csv-path-to-a-missing-file",
        labels_csv("cat/never.png,cat\n"),
        "unreadable",
        "cat/never.png",
        "No such file",
    ),
    Case(
        "csv-path-to-a-folder",
        labels_csv("dog,dog\n"),
        "unreadable",
        "dog",
        "a folder, not an image file",
    ),
    Case(
        "csv-path-naming-the-root",
        labels_csv("./,dog\n"),
        "manifest_schema",
        "./",
        "names the dataset root",
    ),
    Case(
        "csv-path-with-nul",
        labels_csv('"cat/0\x001.png",cat\n'),
        "manifest_schema",
        "cat/0\\x001.png",
        "control characters",
    ),
    Case(
        "csv-label-with-newline",
        labels_csv('extra/x.png,"c\nat"\n'),
        "manifest_schema",
        "extra/x.png",
        "label 'c\\x0aat' has control characters",
    ),
]

SEVERITY_EXIT = {"error": 1, "warning": 0, "info": 0}


def cli(*args: str) -> Result:
    """Run the command line in this process, failing (not hanging) if it takes over a minute."""
    with deadline(60):
        return CliRunner().invoke(main, list(args))


class Hang(BaseException):
    """Raised by the deadline; a BaseException so no `except Exception` in the code under test hides it."""


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    def expire(signum: int, frame: object) -> None:
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def assert_clean_exit(result: Result, code: int) -> None:
    """The command ended by itself with `code`: no uncaught exception, no traceback."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert result.exit_code == code, result.output


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_each_bad_input_gives_a_finding_naming_the_file(folder_dataset: Path, case: Case) -> None:
    args = case.plant(folder_dataset)
    result = cli("validate", str(folder_dataset), "--json", "-j", "1", *args)
    assert_clean_exit(result, SEVERITY_EXIT[case.severity])
    path = case.path.replace("{root}", str(folder_dataset))
    hits = [f for f in json.loads(result.stdout)["findings"] if (f["check"], f["path"]) == (case.check, path)]
    assert hits, f"no {case.check} finding for {path!r}"
    assert case.words in hits[0]["detail"]
    assert hits[0]["severity"] == case.severity


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_a_file_without_read_permission_is_unreadable(folder_dataset: Path) -> None:
    locked = folder_dataset / "cat" / "locked.png"
    write(locked, encode(picture(30)))
    locked.chmod(0)
    try:
        result = cli("validate", str(folder_dataset), "--json")
    finally:
        locked.chmod(0o644)
    assert_clean_exit(result, 1)
    hits = [f for f in json.loads(result.stdout)["findings"] if f["path"] == "cat/locked.png"]
    assert [h["check"] for h in hits] == ["unreadable"] and "Permission denied" in hits[0]["detail"]


# --- odd but valid: read as images, not reported ------------------------------------------------


@pytest.mark.parametrize(
    "rel",
    ["cat/my photo 01.png", "cat/чашка café 🐱.png", "cat/-rf.png", "cat/--help.png", "cat/'quote\"d'.png"],
    ids=["spaces", "unicode", "leading-dash", "looks-like-an-option", "quotes"],
)
def test_unusual_but_valid_file_names_are_read_like_any_other(folder_dataset: Path, rel: str) -> None:
    write(folder_dataset / rel, encode(picture(31)))
    result = cli("scan", str(folder_dataset), "--json")
    assert_clean_exit(result, 0)
    rows = {r["path"]: r for r in json.loads(result.stdout)}
    assert rows[rel]["error"] == "" and rows[rel]["label"] == "cat"


def test_a_dataset_folder_named_like_an_option_is_read_after_a_double_dash(
    folder_dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder_dataset.rename(folder_dataset.parent / "-data")
    monkeypatch.chdir(folder_dataset.parent)
    assert_clean_exit(cli("validate", "-data"), 2)
    assert_clean_exit(cli("validate", "--", "-data"), 0)


def test_an_exif_rotated_image_is_recorded_and_decoded_upright(folder_dataset: Path) -> None:
    from datasize.training.cache import DecodeSpec, Resize, decode

    write(folder_dataset / "cat" / "rotated.jpg", exif_rotated())
    result = cli("scan", str(folder_dataset), "--json")
    assert_clean_exit(result, 0)
    row = next(r for r in json.loads(result.stdout) if r["path"] == "cat/rotated.jpg")
    assert (row["width"], row["height"], row["orientation"], row["error"]) == (48, 24, 6, "")
    spec = DecodeSpec(root=str(folder_dataset), size=16, resize=Resize.PAD, channels=1)
    pixels = decode("cat/rotated.jpg", spec)[0]
    # Padded to a square, the upright (24 wide, 48 tall) image leaves its left and right quarters black.
    assert pixels[:, :3].max() == 0 and pixels[:, 6:10].max() > 0


def test_a_labels_csv_saved_with_a_byte_order_mark_is_read(folder_dataset: Path) -> None:
    rows = [f"{p.relative_to(folder_dataset).as_posix()},{p.parent.name}" for p in clean(folder_dataset)]
    (folder_dataset.parent / "labels.csv").write_text("\ufeffpath,label\n" + "\n".join(rows) + "\n")
    result = cli("validate", str(folder_dataset), "--labels", str(folder_dataset.parent / "labels.csv"))
    assert_clean_exit(result, 0)
    assert "PASSED 36 images, 3 classes" in result.stdout


# --- unreadable tables and bad arguments: one line on stderr, exit 2 ----------------------------


@dataclass(frozen=True)
class UsageCase:
    id: str
    plant: Plant
    words: str  # in the one-line error
    names: str | None = None  # the file the error must name (relative to the dataset's parent)


def table(name: str, data: bytes, option: str) -> Plant:
    def plant(root: Path) -> list[str]:
        (root.parent / name).write_bytes(data)
        return [option, str(root.parent / name)]

    return plant


USAGE_CASES = [
    UsageCase(
        "csv-missing-columns",
        table("labels.csv", b"file,cls\ncat/00.png,cat\n", "--labels"),
        "has no column 'path'",
        "labels.csv",
    ),
    UsageCase(
        "csv-not-utf8",
        table("labels.csv", "path,label\ncat/00.png,caf\xe9\n".encode("latin-1"), "--labels"),
        "is not UTF-8 text (line 2",
        "labels.csv",
    ),
    UsageCase(
        "csv-utf16",
        table("labels.csv", "path,label\ncat/00.png,cat\n".encode("utf-16"), "--labels"),
        "is not UTF-8 text",
        "labels.csv",
    ),
    UsageCase("csv-empty", table("labels.csv", b"", "--labels"), "is not a readable CSV", "labels.csv"),
    UsageCase(
        "csv-ragged-rows",
        table("labels.csv", b"path,label\ncat/00.png,cat,oops,extra\n", "--labels"),
        "more cells than its header",
        "labels.csv",
    ),
    UsageCase(
        "csv-binary-garbage",
        table("labels.csv", bytes(range(128, 256)) * 8, "--labels"),
        "is not UTF-8 text",
        "labels.csv",
    ),
    UsageCase(
        "csv-missing", lambda root: ["--labels", str(root.parent / "none.csv")], "does not exist", "none.csv"
    ),
    UsageCase(
        "split-not-utf8",
        table("split.csv", "path,split\ncat/00.png,tr\xe4in\n".encode("latin-1"), "--split"),
        "is not UTF-8 text",
        "split.csv",
    ),
    UsageCase(
        "split-missing-columns",
        table("split.csv", b"file,side\ncat/00.png,train\n", "--split"),
        "needs columns 'path' and 'split'",
        "split.csv",
    ),
    UsageCase("suite-not-json", table("suite.json", b"\xff\xfe{{", "--expect"), "is not JSON", "suite.json"),
    UsageCase(
        "label-re-invalid", lambda root: ["--label-re", "(?P<label>"], "not a valid regular expression"
    ),
    UsageCase("label-re-without-group", lambda root: ["--label-re", r"\d+"], "has no group"),
    UsageCase("labels-and-label-re", lambda root: ["--labels", __file__, "--label-re", "(.)"], "not both"),
]


@pytest.mark.parametrize("case", USAGE_CASES, ids=lambda c: c.id)
def test_an_unusable_table_or_argument_is_a_one_line_error_naming_it(
    folder_dataset: Path, case: UsageCase
) -> None:
    result = cli("validate", str(folder_dataset), *case.plant(folder_dataset))
    assert_clean_exit(result, 2)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert case.words in lines[0]
    if case.names:
        assert str(folder_dataset.parent / case.names) in lines[0]


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda tmp: tmp / "nowhere", "does not exist"),
        (lambda tmp: write(tmp / "a.png", b"x") or tmp / "a.png", "is not a folder"),
    ],
    ids=["missing", "a-file"],
)
def test_a_dataset_that_is_not_a_folder_is_a_one_line_error(tmp_path: Path, make, words: str) -> None:
    for command in ("scan", "validate", "split"):
        result = cli(command, str(make(tmp_path)))
        assert_clean_exit(result, 2)
        assert result.stderr.count("\n") == 1 and words in result.stderr


# --- the whole corpus at once, through every reading command ------------------------------------

# Cases that need options or a labels CSV are planted alone above.
ALONE = ("over-the-pixel-limit", "link-to-a-device-followed")
TOGETHER = [c for c in CASES if not c.id.startswith("csv-") and c.id not in ALONE]
LINE = re.compile(r"^(error  |warning|info   |       ) [a-z_]+ +\S.*: \S.*$|^(PASSED|FAILED) \d+ images")


@pytest.fixture
def corpus(folder_dataset: Path) -> Path:
    """The clean dataset with every problem of the corpus planted at once."""
    for case in TOGETHER:
        assert case.plant(folder_dataset) == []
    return folder_dataset


def test_the_whole_corpus_gives_one_line_per_finding_and_names_every_file(corpus: Path) -> None:
    result = cli("validate", str(corpus), "--show", "1000")
    assert_clean_exit(result, 1)
    lines = result.stdout.splitlines()
    assert all(LINE.match(line) for line in lines), [line for line in lines if not LINE.match(line)]
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", result.stdout), (
        "a control character reached the terminal"
    )
    for case in TOGETHER:
        assert any(f" {case.path}: " in line for line in lines if case.check in line), case.id


def test_scan_and_split_read_the_whole_corpus_without_failing(corpus: Path, tmp_path: Path) -> None:
    scanned = cli("scan", str(corpus), "--json")
    assert_clean_exit(scanned, 0)
    readable = {r["path"] for r in json.loads(scanned.stdout) if r["error"] == ""}
    assert {"cat/print.jpg", "cat/deep.png", "cat/pal.png", "cat/anim.gif", "cat/scan.dat"} <= readable
    result = cli("split", str(corpus), "-o", str(tmp_path / "split.csv"), "--json")
    assert_clean_exit(result, 0)
    assert json.loads(result.stdout)["excluded_unreadable"] > 0


@pytest.mark.slow
def test_training_decodes_every_readable_odd_image_of_the_corpus(corpus: Path, tmp_path: Path) -> None:
    result = cli(
        "train",
        str(corpus),
        "--epochs",
        "1",
        "--size",
        "16",
        "--batch-size",
        "16",
        "-q",
        "-o",
        str(tmp_path / "t"),
    )
    assert_clean_exit(result, 0)
    assert json.loads((tmp_path / "t" / "train.json").read_text())["data"]["unreadable"] > 0


@pytest.mark.slow
def test_a_class_named_with_dollar_signs_is_drawn_as_plain_text(tmp_path: Path) -> None:
    for i in range(12):
        stripes(tmp_path / "data" / "cost_$5_$10" / f"{i:02d}.png", vertical=True, seed=i)
        stripes(tmp_path / "data" / "free" / f"{i:02d}.png", vertical=False, seed=50 + i)
    out = str(tmp_path / "out")
    result = cli("train", str(tmp_path / "data"), "--epochs", "1", "--size", "16", "-q", "-o", out)
    assert_clean_exit(result, 0)


# --- hang-prone input, in a real process with a time limit ---------------------------------------


def test_pipes_devices_and_link_loops_never_hang_the_command(folder_dataset: Path) -> None:
    os.mkfifo(folder_dataset / "cat" / "pipe.png")
    os.mkfifo(folder_dataset / "cat" / "pipe")
    (folder_dataset / "cat" / "zero.png").symlink_to("/dev/zero")
    (folder_dataset / "cat" / "random.jpg").symlink_to("/dev/urandom")
    (folder_dataset / "cat" / "loop.png").symlink_to(folder_dataset / "cat" / "loop.png")
    (folder_dataset / "cat" / "again").symlink_to(folder_dataset, target_is_directory=True)
    (folder_dataset / "a").symlink_to(folder_dataset / "b")
    (folder_dataset / "b").symlink_to(folder_dataset / "a")
    command = [sys.executable, "-m", "datasize", "validate", str(folder_dataset), "--json", "--follow-links"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    found = {f["path"]: f["check"] for f in json.loads(result.stdout)["findings"]}
    assert {
        p: found.get(p) for p in ("cat/pipe.png", "cat/zero.png", "cat/random.jpg", "cat/loop.png")
    } == dict.fromkeys(("cat/pipe.png", "cat/zero.png", "cat/random.jpg", "cat/loop.png"), "unreadable")
    assert found["cat/pipe"] == found["cat/again"] == "skipped_file"
