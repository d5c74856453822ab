"""Reports: self-contained HTML, Markdown and JSON from a curve's run folder, escaping all data."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner

from datasize.cli import main
from datasize.curves.plan import CurveConfig
from datasize.pipeline import run_curve
from datasize.report.document import build_report
from datasize.report.render import md_escape, to_html, to_markdown
from datasize.training.loop import TrainConfig
from tests.conftest import stripes

EVIL = "<script>document.title='pwned'</script>"


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """A finished small curve whose second class is named like an HTML script."""
    root = tmp_path_factory.mktemp("report-data")
    rows = ["path,label"]
    for i in range(36):
        stripes(root / "img" / f"v{i:02d}.png", vertical=True, seed=i)
        stripes(root / "img" / f"h{i:02d}.png", vertical=False, seed=500 + i)
        rows += [f"img/v{i:02d}.png,vertical", f'img/h{i:02d}.png,"{EVIL}"']
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    folder = tmp_path_factory.mktemp("report-run")
    config = CurveConfig(
        fractions=(0.25, 0.5, 1.0), seeds=2, lr=5e-3, train=TrainConfig(epochs=2, batch_size=16)
    )
    run_curve(
        root,
        config=config,
        out=folder,
        prepare_options={"labels": root / "labels.csv", "size": 16, "jobs": 1},
    )
    return folder


def test_the_report_opens_with_the_verdict_then_the_evidence(run_folder) -> None:
    report = build_report(run_folder)
    assert report.verdict
    titles = [s.title for s in report.sections]
    # the first screen: the answer (above the sections), the curve, the lever table, validation's summary
    assert titles[:3] == ["Learning curve", "Which classes need images", "Dataset and validation"]
    assert report.answer["kind"] in ("enough", "more_helps", "plateau", "cannot_tell")
    assert report.verdict.startswith(report.answer["sentence"])
    assert "Largest run: confusion and top losses" in titles
    curve = next(s for s in report.sections if s.title == "Learning curve")
    assert curve.figures and curve.figures[0][1][:8] == b"\x89PNG\r\n\x1a\n"


def test_html_is_self_contained_and_escapes_data(run_folder) -> None:
    page = to_html(build_report(run_folder))
    assert EVIL not in page
    assert "&lt;script&gt;document.title=" in page
    assert re.findall(r"<script", page, flags=re.IGNORECASE) == []
    sources = re.findall(r'src="([^"]*)"', page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "http://" not in page and "https://" not in page
    assert 'id="verdict"' in page


def test_markdown_escapes_data_and_links_its_figures(run_folder) -> None:
    text, figures = to_markdown(build_report(run_folder), "report_files")
    assert EVIL not in text and "\\<script\\>" in text
    assert figures and all(name.startswith("report_files/figure") for name in figures)
    for name in figures:
        assert f"]({name})" in text


def test_md_escape_neutralises_markup() -> None:
    assert md_escape("a|b *c* <d>") == "a\\|b \\*c\\* \\<d\\>"
    assert md_escape("[x](javascript:y) # h") == "\\[x\\](javascript:y) # h"  # no link can form


def test_md_escape_leaves_names_and_parentheses_alone() -> None:
    # issue #25: report.md read too\\_few\\_epochs and \\(80% interval\\)
    assert md_escape("too_few_epochs (80% interval 1.0%–2.0%)") == "too_few_epochs (80% interval 1.0%–2.0%)"
    assert md_escape("# not a heading") == "\\# not a heading"
    assert md_escape("0.0459") == "0.0459" and md_escape("-0.2") == "-0.2" and md_escape("- x") == "\\- x"


def test_report_command_writes_each_format(run_folder, tmp_path) -> None:
    for fmt in ("html", "md", "json"):
        target = tmp_path / f"r.{fmt}"
        result = CliRunner().invoke(main, ["report", str(run_folder), "--format", fmt, "-o", str(target)])
        assert result.exit_code == 0, result.output
        assert target.is_file() and f"report written to {target}" in result.output
    assert json.loads((tmp_path / "r.json").read_text())["verdict"]
    assert (tmp_path / "r_files" / "figure1.png").is_file()


def test_a_folder_without_a_curve_is_a_usage_error(tmp_path) -> None:
    result = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "has no curve_summary.json" in result.output


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="Chromium is not installed (apt-get install chromium)")
def test_a_real_browser_shows_the_verdict_and_plot_and_runs_no_script(run_folder, tmp_path) -> None:
    page = tmp_path / "report.html"
    page.write_text(to_html(build_report(run_folder)), encoding="utf-8")
    flags = [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(
        [_chromium(), *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    assert 'id="verdict"' in dom and "data:image/png;base64," in dom
    assert "<title>pwned</title>" not in dom and re.findall(r"<script", dom, flags=re.IGNORECASE) == []
    shot = tmp_path / "shot.png"
    subprocess.run(
        [_chromium(), *flags, "--window-size=1000,1600", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
    )
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (1600, 1000) and pixels.std() > 10  # a rendered page, not a blank one


def test_log_axes_are_labelled_with_plain_numbers(run_folder, monkeypatch) -> None:
    """Under plain_text (no maths parsing) the default log labels would print raw TeX."""
    import json

    from datasize.report import plots

    figures = []
    monkeypatch.setattr(plots, "figure_png", lambda fig, **_: figures.append(fig) or b"")
    summary = json.loads((run_folder / "curve_summary.json").read_text())
    records = [json.loads(p.read_text()) for p in sorted((run_folder / "runs").glob("*.json"))]
    plots.learning_curve_png(summary)
    plots.epoch_curves_png(records)
    labels = []
    for fig in figures:
        fig.canvas.draw()
        for ax in fig.axes:
            for axis in (ax.xaxis, ax.yaxis):
                labels += [t.get_text() for t in axis.get_ticklabels(which="both") if t.get_text()]
    assert labels and not [t for t in labels if "$" in t or "mathdefault" in t]
    assert any(t.replace(".", "").isdigit() for t in labels)


def test_the_per_class_table_reads_in_plain_names_with_intervals_inside_0_and_100_percent() -> None:
    from datasize.report.document import per_class_table

    rows = [
        {"label": "cat", "rank": 2, "n_train_class": 40, "error_rate": 0.30, "error_fit": 0.28,
         "error_2x": 0.20, "reduction": 0.08, "low": -0.05, "high": 0.35, "overall_reduction": 0.04,
         "status": "ok"},
        {"label": "dog", "rank": 1, "n_train_class": 80, "error_rate": 0.02, "error_fit": 0.02,
         "error_2x": 0.01, "reduction": 0.01, "low": -0.2, "high": 0.05, "overall_reduction": 0.005,
         "status": "ok"},
        {"label": "fox", "rank": 3, "n_train_class": 5, "error_rate": 0.5, "error_fit": None,
         "error_2x": None, "reduction": None, "low": None, "high": None, "overall_reduction": None,
         "status": "too_few_points"},
    ]  # fmt: skip
    table = per_class_table(rows, 80)
    assert list(table.columns) == [
        "class", "images now", "error now", "expected at 2x (80% interval)", "gain for the whole set", "rank"
    ]  # fmt: skip
    assert table["class"].tolist() == ["dog", "cat", "fox"]  # by rank
    # cat: 28% less a gain of 35 points would be below 0: the interval stops at 0%
    assert table.loc[1, "expected at 2x (80% interval)"] == "20.0% (0.00%–33.0%)"
    assert table.loc[0, "expected at 2x (80% interval)"] == "1.0% (0.00%–22.0%)"
    assert table.loc[1, "gain for the whole set"] == "4.00 points"
    assert table.loc[2, "expected at 2x (80% interval)"] == "too few sizes to fit"


def test_the_report_says_how_the_training_length_was_chosen(tmp_path) -> None:
    from datasize.report.document import _length_text

    lengths = [
        {"epochs": 4, "errors": [0.1, 0.12], "mean_error": 0.11, "se": 0.01, "limited": True},
        {"epochs": 8, "errors": [0.05, 0.05], "mean_error": 0.05, "se": 0.01, "limited": False},
    ]
    pilot = {"source": "pilot", "epochs": 8, "reason": "doubling from 8 to 16 epochs changed nothing",
             "lengths": lengths}  # fmt: skip
    text, tables = _length_text(pilot)
    assert "8 epochs of the largest" in text[0] and "doubling from 8 to 16" in text[0]
    assert tables[0][1]["too few epochs"].tolist() == ["yes", "no"]
    assert _length_text({"source": "given", "epochs": 4})[0] == [
        "Every size trained for the optimiser steps of 4 epochs (given)."
    ]


@pytest.fixture(scope="module")
def labels_and_curve(tmp_path_factory):
    """A labels check and a curve in one folder; the class 'horizontal' is named like an HTML script."""
    from datasize.labels.plan import LabelsConfig
    from datasize.pipeline import run_labels
    from tests.conftest import planted_stripes

    root = planted_stripes(tmp_path_factory.mktemp("labels-data"))
    table = (root / "labels.csv").read_text().replace(",horizontal\n", f',"{EVIL}"\n')
    (root / "evil.csv").write_text(table)
    options = {"labels": root / "evil.csv", "size": 16, "jobs": 1}
    train = TrainConfig(epochs=3, batch_size=16)
    labels_only = tmp_path_factory.mktemp("labels-only")
    run_labels(
        root, config=LabelsConfig(folds=3, lr=5e-3, train=train), out=labels_only, prepare_options=options
    )
    both = tmp_path_factory.mktemp("labels-and-curve")
    run_labels(root, config=LabelsConfig(folds=3, lr=5e-3, train=train), out=both, prepare_options=options)
    config = CurveConfig(fractions=(0.25, 0.5, 1.0), seeds=1, lr=5e-3, train=train)
    run_curve(root, config=config, out=both, prepare_options=options)
    return root, labels_only, both


def test_a_curve_report_has_a_label_errors_section_with_the_noise_matrix_and_the_suspects(labels_and_curve):
    _, _, both = labels_and_curve
    report = build_report(both)
    titles = [s.title for s in report.sections]
    assert titles.index("Label errors") < titles.index("Largest run: confusion and top losses")
    section = report.sections[titles.index("Label errors")]
    assert section.paragraphs[0].startswith("An estimated 5.0% of the 60 labels are wrong")
    captions = [c for c, _ in section.figures]
    assert captions[0].startswith("Noise matrix") and captions[1].startswith("Top suspects")
    assert all(png[:8] == b"\x89PNG\r\n\x1a\n" for _, png in section.figures)
    suspects = dict(section.tables)[
        "Suspected label errors, most likely first (at most 30; all in label_issues.csv)"
    ]
    assert set(suspects["path"]) == {"vertical/03.png", "vertical/07.png", "horizontal/05.png"}
    per_class = section.tables[0][1]
    assert list(per_class.columns) == ["label", "images", "issues", "noise_rate", "confused_with"]


def test_the_label_errors_section_escapes_labels_in_html_and_markdown(labels_and_curve):
    _, _, both = labels_and_curve
    report = build_report(both)
    page = to_html(report)
    assert EVIL not in page and "&lt;script&gt;" in page and re.findall(r"<script", page, flags=re.I) == []
    text, _ = to_markdown(report, "files")
    assert EVIL not in text


def test_the_suspects_grid_reads_each_suspect_from_the_dataset_root(labels_and_curve, monkeypatch):
    from datasize.report import plots

    root, labels_only, _ = labels_and_curve
    read = []
    real = plots._thumbnail
    monkeypatch.setattr(plots, "_thumbnail", lambda r, p: read.append((r, p)) or real(r, p))
    build_report(labels_only)
    assert {p for _, p in read} == {"vertical/03.png", "vertical/07.png", "horizontal/05.png"}
    assert {r for r, _ in read} == {str(root)}


def test_a_folder_with_only_a_labels_check_gets_a_labels_report(labels_and_curve, tmp_path):
    _, labels_only, _ = labels_and_curve
    report = build_report(labels_only)
    assert report.verdict.startswith("An estimated 5.0% of the 60 labels are wrong")
    assert [s.title for s in report.sections] == ["Label errors"]
    result = CliRunner().invoke(
        main, ["report", str(labels_only), "--format", "json", "-o", str(tmp_path / "r.json")]
    )
    assert result.exit_code == 0, result.output
    body = json.loads((tmp_path / "r.json").read_text())
    assert body["sections"][0]["figures"][0].startswith("Noise matrix") and body["summary"]["folds"] == 3


def test_a_labels_check_run_after_the_curve_still_reaches_the_reports_verdict():
    from datasize.report.document import _late_labels_note

    data = {"images_fingerprint": "img", "split_fingerprint": "split"}
    summary = {
        "verdict": "More images may help little.",
        "labels_note": None,
        "data": data,
        "forecast": {"n_train": 1438, "error_rate": 0.115, "plateau": {"helps": False}},
        "runs": [{"n_train": 1438, "status": "ok", "n_valid": 360}],
    }
    labels = {"noise_rate": 0.1, "issues": [{}] * 9, "data": data}
    assert _late_labels_note(summary, labels).startswith("Fix labels before collecting images")
    assert _late_labels_note({**summary, "labels_note": "said already"}, labels) is None
    assert _late_labels_note(summary, {**labels, "data": {**data, "split_fingerprint": "other"}}) is None
