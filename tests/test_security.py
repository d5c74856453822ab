"""Security and data safety: each promise of SECURITY.md, backed by the test named there.

The dataset is read-only to every command; output files appear whole or not at all, and a killed
curve resumes to the same results; paths from CSVs and recipes, and links, stay inside the dataset
unless the user allows otherwise; oversized images are refused undecoded; model files never run
code; the HTML report shows data as text; nothing opens a network connection.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from datasize import io as datasize_io
from datasize.cli import main
from datasize.dataset.manifest import scan
from datasize.dataset.probe import ProbeOptions, probe_file
from datasize.recipe import load_recipe
from datasize.training.model_file import load_model
from tests.conftest import ROOT, encode, image_array, stripes, tree_checksums
from tests.test_bad_input import png_declaring

EVIL_LABEL = "<img src=x onerror=alert(1)>"


def tree_state(root: Path) -> dict[str, tuple]:
    """Content, kind, permissions and modification time of everything under root (links not followed)."""
    sums = tree_checksums(root)
    return {rel: (digest, *_stat(root / rel)) for rel, digest in sums.items()}


def _stat(path: Path) -> tuple[int, int]:
    info = path.lstat()
    return info.st_mode, info.st_mtime_ns


def picture(seed: int, size: tuple[int, int] = (32, 32)) -> bytes:
    return encode(Image.fromarray(image_array(seed, size)))


# --- no command changes the dataset ------------------------------------------------------------


@pytest.fixture(scope="module")
def workbench(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A dataset with a class named like an HTML tag and a few bad files, and every command run on it."""
    base = tmp_path_factory.mktemp("workbench")
    root, out = base / "data", base / "out"
    for i in range(24):
        stripes(root / "plain" / f"{i:02d}.png", vertical=True, seed=i)
        stripes(root / EVIL_LABEL / f"{i:02d}.png", vertical=False, seed=100 + i)
    (root / "plain" / "empty.png").write_bytes(b"")
    (root / "plain" / "notes.txt").write_text("not an image\n")
    (root / "plain" / ".hidden.png").write_bytes(picture(1))
    (base / "outside.png").write_bytes(picture(2))
    (root / "plain" / "outside.png").symlink_to(base / "outside.png")
    before = tree_state(root)
    data, split = str(root), str(out / "split.csv")
    common = ["--split", split, "--size", "16", "--cache-dir", str(out / "cache"), "-q"]
    one_epoch = [*common, "--epochs", "1"]
    curve = str(out / "curve")
    labels_files = [
        "--out",
        str(out / "labels"),
        "-o",
        str(out / "issues.csv"),
        "--write-labels",
        str(out / "new.csv"),
    ]
    commands = {
        "scan": (["scan", data, "-o", str(out / "manifest.csv")], 0),
        "validate": (
            ["validate", data, "-o", str(out / "findings.csv"), "--suite", str(out / "suite.json")],
            1,
        ),
        "split": (["split", data, "-o", split], 0),
        "lr-find": (["lr-find", data, *common, "--num-it", "10", "-o", str(out / "lr")], 0),
        "train": (["train", data, *one_epoch, "--save", str(out / "model.pt"), "-o", str(out / "train")], 0),
        "curve": (["curve", data, *one_epoch, "--fractions", "1/4,1/2,1", "--seeds", "1", "-o", curve], 0),
        "labels": (["labels", data, *one_epoch, "--folds", "2", *labels_files], 0),
        "report html": (["report", curve], 0),
        "report md": (["report", curve, "--format", "md", "-o", str(out / "report.md")], 0),
        "report json": (["report", curve, "--format", "json", "-o", str(out / "report.json")], 0),
    }
    results = {name: CliRunner().invoke(main, args) for name, (args, _) in commands.items()}
    expected = {name: code for name, (_, code) in commands.items()}
    return SimpleNamespace(
        root=root, out=out, before=before, after=tree_state(root), results=results, expected=expected
    )


@pytest.mark.slow
def test_no_command_modifies_moves_or_deletes_a_file_under_the_dataset_root(workbench) -> None:
    codes = {name: result.exit_code for name, result in workbench.results.items()}
    assert codes == workbench.expected, {n: r.output[-500:] for n, r in workbench.results.items()}
    assert workbench.after == workbench.before


class Tags(HTMLParser):
    """Every start tag of a page, with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


@pytest.mark.slow
def test_the_html_report_shows_a_label_named_like_a_tag_as_text(workbench) -> None:
    page = (workbench.out / "curve" / "report.html").read_text(encoding="utf-8")
    assert EVIL_LABEL not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    parser = Tags()
    parser.feed(page)
    handlers = [(tag, name) for tag, attrs in parser.tags for name in attrs if name.startswith("on")]
    assert handlers == []
    assert not {tag for tag, _ in parser.tags} & {"script", "iframe", "object", "embed", "link", "a", "base"}
    sources = [attrs.get("src") or "" for tag, attrs in parser.tags if tag == "img"]
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)


@pytest.mark.slow
def test_the_markdown_report_escapes_a_label_named_like_a_tag(workbench) -> None:
    text = (workbench.out / "report.md").read_text(encoding="utf-8")
    assert EVIL_LABEL not in text and r"\<img src=x onerror=alert(1)\>" in text


# --- output is atomic; interrupted curves resume -------------------------------------------------

# Writing files anywhere but datasize/io.py would bypass the temporary-file-then-rename writers.
DIRECT_WRITE = re.compile(
    r"\.write_text\(|\.write_bytes\(|\bopen\([^)]*['\"][wax]b?\+?['\"]|\.to_csv\(\s*[^)\s=]+\s*[,)]"
    r"|savefig\((?!\s*buffer)|np\.save\(|torch\.save\(\s*\w+,(?!\s*buffer)|json\.dump\(|\.tofile\("
    r"|open_memmap\((?!\s*partial)"  # the image cache: a partial file, renamed when whole
)


def test_every_output_file_is_written_through_the_atomic_writers() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / "datasize").rglob("*.py"))
        if path.name != "io.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if DIRECT_WRITE.search(line)
    ]
    assert offenders == []


def test_a_write_that_fails_midway_leaves_the_old_file_whole_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "runs.csv"
    target.write_text("old, whole\n")

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(datasize_io.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        datasize_io.write_text_atomic(target, "new" * 1000)
    assert target.read_text() == "old, whole\n"
    assert [p.name for p in tmp_path.iterdir()] == ["runs.csv"]


@pytest.fixture(scope="module")
def small_curve_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from benchmarks.bench_kill import make_dataset

    root = tmp_path_factory.mktemp("kill") / "data"
    make_dataset(root, 45, seed=1)
    return root


def _interruptible() -> None:
    """In the child, before exec: SIGINT handled by default and not blocked."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


SMALL_CURVE = ["--fractions", "1/2,1", "--seeds", "1", "--epochs", "1", "--size", "16", "--lr", "3e-3"]


@pytest.mark.slow
def test_a_curve_killed_with_sigkill_resumes_to_the_results_of_an_uninterrupted_run(
    small_curve_data: Path, tmp_path: Path
) -> None:
    from benchmarks.bench_kill import run_to_end, run_trial

    reference = tmp_path / "reference"
    seconds, done = run_to_end(small_curve_data, reference, SMALL_CURVE)
    assert done.returncode == 0, done.stderr
    # Killed once the first run is saved; the time limit only guards against a hang (a busy machine
    # can take several times the reference's time to save it).
    mid_curve = run_trial(
        1, small_curve_data, tmp_path, reference, 10 * seconds + 60, args=SMALL_CURVE, kill_when_saved=1
    )
    moment = float(np.random.default_rng(0).uniform(0, seconds))
    anywhere = run_trial(2, small_curve_data, tmp_path, reference, moment, args=SMALL_CURVE)
    for trial in (mid_curve, anywhere):
        assert trial.unparsable == [] and trial.resume_code == 0 and trial.diffs == [], trial
    assert mid_curve.killed and mid_curve.resumed_runs >= 1


@pytest.mark.slow
def test_ctrl_c_stops_a_curve_cleanly_and_says_how_to_resume(small_curve_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    # Eight more runs of two epochs after the first: the interrupt lands mid-curve even on a busy
    # machine, where this test may wake up well after the first run was written.
    curve = ["--fractions", "1/4,1/2,1", "--seeds", "3", "--epochs", "2", "--size", "16", "--lr", "3e-3"]
    command = [sys.executable, "-m", "datasize", "curve", str(small_curve_data), *curve, "-q", "-o", str(out)]
    # As a user's shell starts it: Ctrl-C delivered, whatever this test process inherited (a command
    # started in the background of a non-interactive shell has SIGINT ignored, and passes that on).
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_interruptible
    )
    start = time.monotonic()
    while not list(out.glob("runs/*.json")) and process.poll() is None and time.monotonic() < start + 120:
        time.sleep(0.02)
    waited = f"sent after {time.monotonic() - start:.1f} s, runs then: {len(list(out.glob('runs/*.json')))}"
    with contextlib.suppress(OSError), open(f"/proc/{process.pid}/status", encoding="ascii") as status:
        waited += ", " + " ".join(line.strip() for line in status if line.startswith(("SigIgn", "SigBlk")))
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, f"{waited}; stderr: {stderr}"
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert re.fullmatch(
        rf"Interrupted\. \d+ finished run\(s\) saved in {re.escape(str(out))}; run the same command again to "
        r"resume\.",
        last,
    ), last
    resumed = subprocess.run(
        [*command[:-3], "--json", "-o", str(out)], capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0 and json.loads(resumed.stdout)["resumed_runs"] >= 1


# --- paths stay inside the dataset unless the user allows otherwise ------------------------------


@pytest.fixture
def escaping(tmp_path: Path) -> SimpleNamespace:
    """A root with one image, an image beside it, and a labels CSV that reaches out to it twice."""
    root = tmp_path / "root"
    (root / "cat").mkdir(parents=True)
    (root / "cat" / "a.png").write_bytes(picture(1))
    (tmp_path / "secret.png").write_bytes(picture(2))
    (tmp_path / "other.png").write_bytes(picture(3))
    labels = tmp_path / "labels.csv"
    labels.write_text(f"path,label\ncat/a.png,cat\n../secret.png,cat\n{tmp_path / 'other.png'},cat\n")
    return SimpleNamespace(root=root, labels=labels)


def test_csv_paths_that_leave_the_root_are_refused_as_errors(escaping) -> None:
    manifest = scan(escaping.root, labels=escaping.labels, jobs=1)
    assert list(manifest["path"]) == ["cat/a.png"]
    refused = [s for s in manifest.attrs["skipped"] if s.get("check") == "manifest_schema"]
    assert [s["reason"].split(":")[0] for s in refused] == ["labels.csv line 3", "labels.csv line 4"]


def test_csv_paths_that_leave_the_root_are_read_only_when_allowed(escaping) -> None:
    manifest = scan(escaping.root, labels=escaping.labels, jobs=1, allow_outside_root=True)
    assert list(manifest["path"]) == ["../other.png", "../secret.png", "cat/a.png"]
    assert (manifest["error"] == "").all()


def test_the_command_line_refuses_outside_csv_paths_unless_allow_outside_root(escaping) -> None:
    args = ["scan", str(escaping.root), "--labels", str(escaping.labels), "--json"]
    refused = CliRunner().invoke(main, args)
    allowed = CliRunner().invoke(main, [*args, "--allow-outside-root"])
    assert [r["path"] for r in json.loads(refused.stdout)] == ["cat/a.png"]
    assert [r["path"] for r in json.loads(allowed.stdout)] == ["../other.png", "../secret.png", "cat/a.png"]


def test_recipe_csv_paths_that_leave_the_root_are_refused_unless_the_recipe_allows_it(escaping) -> None:
    recipe = escaping.labels.parent / "recipe.toml"
    recipe.write_text(f'[data]\npath = "root"\nlabels = "{escaping.labels.name}"\n')
    assert list(scan(load_recipe(recipe).data, **load_recipe(recipe).scan_options)["path"]) == ["cat/a.png"]
    recipe.write_text(recipe.read_text() + "allow_outside_root = true\n")
    loaded = load_recipe(recipe)
    assert list(scan(loaded.data, **loaded.scan_options)["path"]) == [
        "../other.png",
        "../secret.png",
        "cat/a.png",
    ]


def test_links_out_of_the_root_are_not_read_unless_follow_links(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "cat").mkdir(parents=True)
    (tmp_path / "secret.png").write_bytes(picture(3))
    (root / "cat" / "link.png").symlink_to(tmp_path / "secret.png")
    default = probe_file("cat/link.png", ProbeOptions(root=str(root)))
    followed = probe_file("cat/link.png", ProbeOptions(root=str(root), follow_links=True))
    assert (default["error_check"], default["sha256"]) == ("link_outside_root", "")
    assert (followed["error"], followed["width"]) == ("", 32)


def test_a_csv_path_through_a_folder_link_out_of_the_root_is_not_read(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "secret.png").write_bytes(picture(4))
    (root / "more").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "labels.csv").write_text("path,label\nmore/secret.png,cat\n")
    row = scan(root, labels=tmp_path / "labels.csv", jobs=1).iloc[0]
    assert (row["error_check"], row["sha256"]) == ("link_outside_root", "")
    assert "through the folder link more" in row["error"]


# --- images over the pixel limit; model files --------------------------------------------------


def test_images_over_the_pixel_limit_are_refused_before_decoding(tmp_path: Path) -> None:
    # The pixel data is garbage: decoding it would report `truncated`, not `decompression_bomb`.
    (tmp_path / "claims.png").write_bytes(png_declaring(3000, 3000))
    (tmp_path / "real.png").write_bytes(encode(Image.new("L", (1200, 1000))))
    options = ProbeOptions(root=str(tmp_path), max_pixels=1_000_000)
    for name in ("claims.png", "real.png"):
        record = probe_file(name, options)
        assert record["error_check"] == "decompression_bomb" and "refused undecoded" in record["error"]
        assert record["phash"] == ""  # never decoded: no perceptual hash was computed


def test_a_pixel_limit_above_pillows_own_is_honoured(tmp_path: Path) -> None:
    # 225 megapixels: Pillow's default guard would refuse it at open; the user's limit allows it,
    # so the (garbage) pixel data gets decoded and is reported as what it is.
    (tmp_path / "large.png").write_bytes(png_declaring(15000, 15000))
    allowed = probe_file("large.png", ProbeOptions(root=str(tmp_path), max_pixels=300_000_000))
    default = probe_file("large.png", ProbeOptions(root=str(tmp_path)))
    assert allowed["error_check"] == "truncated" and allowed["width"] == 15000
    assert default["error_check"] == "decompression_bomb"
    assert Image.MAX_IMAGE_PIXELS == 89_478_485  # Pillow's own setting is restored


def test_an_image_swapped_for_a_larger_one_after_the_scan_is_not_decoded(tmp_path: Path) -> None:
    from datasize.training.cache import build_cache

    for i in range(3):
        (tmp_path / "cat").mkdir(exist_ok=True)
        (tmp_path / "cat" / f"{i}.png").write_bytes(picture(i))
    manifest = scan(tmp_path, jobs=1)
    (tmp_path / "cat" / "1.png").write_bytes(picture(9, size=(64, 64)))
    with pytest.raises(ValueError, match=r"'cat/1.png' has 4,096 pixels now.*changed since the scan"):
        build_cache(manifest, root=tmp_path, size=16, jobs=1)


@pytest.mark.parametrize(
    "path, reason",
    [
        ("../secret.png", "absolute or contains '..'"),
        ("{secret}", "absolute or contains '..'"),
        ("cat/link.png", "outside the dataset root"),
        ("cat/gone.png", "cannot read file"),
    ],
)
def test_the_report_reads_no_top_loss_image_from_outside_the_dataset_root(
    tmp_path: Path, path: str, reason: str
) -> None:
    from datasize.report.plots import _thumbnail

    root = tmp_path / "root"
    (root / "cat").mkdir(parents=True)
    (root / "cat" / "fine.png").write_bytes(picture(5))
    (tmp_path / "secret.png").write_bytes(picture(6))
    (root / "cat" / "link.png").symlink_to(tmp_path / "secret.png")
    pixels, why = _thumbnail(str(root), path.format(secret=tmp_path / "secret.png"))
    assert pixels is None and reason in why
    fine, _ = _thumbnail(str(root), "cat/fine.png")
    assert fine.shape == (32, 32, 3)


def test_the_report_reads_no_label_suspect_from_outside_the_dataset_root(tmp_path: Path, monkeypatch) -> None:
    from datasize.report import plots
    from datasize.report.document import build_report

    root, folder = tmp_path / "root", tmp_path / "run"
    (root / "cat").mkdir(parents=True)
    (root / "cat" / "fine.png").write_bytes(picture(5))
    (tmp_path / "secret.png").write_bytes(picture(6))
    suspects = ["cat/fine.png", "../secret.png", str(tmp_path / "secret.png")]
    summary = {  # a labels check's summary, edited by someone to point outside the dataset
        "images": 2,
        "folds": 2,
        "classes": ["cat", "dog"],
        "joint": [[0.5, 0.0], [0.0, 0.5]],
        "issues": [
            {"rank": i + 1, "path": p, "given": "cat", "suggested": "dog", "self_confidence": 0.1}
            for i, p in enumerate(suspects)
        ],
        "data": {"root": str(root)},
    }
    folder.mkdir()
    (folder / "labels_summary.json").write_text(json.dumps(summary))
    shown = []
    real = plots._thumbnail
    monkeypatch.setattr(plots, "_thumbnail", lambda r, p: shown.append(real(r, p)) or shown[-1])
    build_report(folder)
    assert [pixels is not None for pixels, _ in shown] == [True, False, False]
    assert all("absolute or contains '..'" in why for _, why in shown[1:])


def test_a_resumed_curve_removes_the_temporaries_of_killed_writers_only(
    small_curve_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "curve"
    args = ["curve", str(small_curve_data), "-o", str(out), "-q", *SMALL_CURVE]
    assert CliRunner().invoke(main, args).exit_code == 0
    dead = [out / ".runs.csv.999999999.abcd_123.tmp", out / "runs" / ".f1-s0.json.999999999.x_y_z_12.tmp"]
    live = out / f".runs.csv.{os.getpid()}.abcd_123.tmp"  # a writer still at work
    for path in [*dead, live]:
        path.write_text("half-written")
    kept = [live, out / "runs.csv", *sorted((out / "runs").glob("*.json"))]
    before = {p: p.read_bytes() for p in kept}
    assert CliRunner().invoke(main, args).exit_code == 0
    assert not any(p.exists() for p in dead)
    assert {p: p.read_bytes() for p in kept} == before  # finished runs kept, the live temporary too


class RunsCode:
    """Unpickling this runs code: it writes a file named by `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"import pathlib; pathlib.Path({str(self.marker)!r}).write_text('ran')",))


def test_a_model_file_holding_pickled_code_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    marker, path = tmp_path / "marker", tmp_path / "model.pt"
    torch.save({"format": "datasize-model-1", "config": RunsCode(marker)}, path)
    with pytest.raises(Exception, match=r"Weights only load failed|not a datasize model"):
        load_model(path)
    assert not marker.exists()
    torch.load(path, weights_only=False)  # the payload is live: a full unpickle would run it
    assert marker.read_text() == "ran"


# --- no network -----------------------------------------------------------------------------------

# Installed as sitecustomize, so that every Python process of the run (workers too) is watched.
NO_NETWORK_HOOK = """
import ipaddress, os, socket, sys

LOOKUPS = ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr", "http.client.connect",
           "urllib.Request", "ftplib.connect", "smtplib.connect")

def _local(sock, address):
    # A pipe between processes, or a bind to the loopback address with no traffic (urllib3 binds
    # ::1 at import to learn whether IPv6 works).
    if sock.family == socket.AF_UNIX:
        return True
    try:
        return ipaddress.ip_address(address[0]).is_loopback
    except (ValueError, TypeError, IndexError):
        return False

def _guard(event, args):
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        if getattr(args[0], "family", None) == socket.AF_UNIX:
            return
    elif event == "socket.bind":
        if _local(*args[:2]):
            return
    elif event not in LOOKUPS:
        return
    sys.stderr.write(f"NETWORK ATTEMPT: {event} {args!r}\\n")
    sys.stderr.flush()
    os._exit(97)

sys.addaudithook(_guard)
"""


@pytest.mark.slow
def test_a_whole_pipeline_opens_no_network_connection(tmp_path: Path) -> None:
    for i in range(24):
        stripes(tmp_path / "data" / "vertical" / f"{i:02d}.png", vertical=True, seed=i)
        stripes(tmp_path / "data" / "horizontal" / f"{i:02d}.png", vertical=False, seed=100 + i)
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        textwrap.dedent(
            """\
            [data]
            path = "data"
            [train]
            size = 16
            epochs = 1
            batch_size = 16
            lr = "auto"
            [curve]
            fractions = [0.25, 0.5, 1.0]
            seeds = 1
            [output]
            folder = "out"
            report = ["html", "md", "json"]
            """
        )
    )
    (tmp_path / "hook").mkdir()
    (tmp_path / "hook" / "sitecustomize.py").write_text(NO_NETWORK_HOOK)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "hook"), str(ROOT)])}
    probe = subprocess.run(
        [sys.executable, "-c", "import socket; socket.socket().connect(('192.0.2.1', 9))"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 97 and "NETWORK ATTEMPT: socket.connect" in probe.stderr  # the guard works
    result = subprocess.run(
        [sys.executable, "-m", "datasize", "run", str(recipe), "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "NETWORK ATTEMPT" not in result.stderr
    assert (tmp_path / "out" / "report.html").is_file() and (tmp_path / "out" / "lr_find.json").is_file()


def test_every_test_security_md_names_exists() -> None:
    """A promise is only as good as its test: each `file::test` named in SECURITY.md must be there."""
    text = (ROOT / "SECURITY.md").read_text(encoding="utf-8")
    missing, named, current = [], 0, None
    for reference in re.findall(r"`((?:tests|datasize)/[\w/]+\.py)?(::\w+)?[^`]*`", text):
        path, name = reference
        current = path or current
        if not name:
            continue
        named += 1
        source = (ROOT / current).read_text(encoding="utf-8")
        if not re.search(rf"^def {re.escape(name[2:])}\(|^def {re.escape(name[2:])}\b", source, re.M):
            missing.append(f"{current}{name}")
    assert named >= 20 and missing == []
