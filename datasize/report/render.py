"""Render a Report as one self-contained HTML file, as Markdown (with its PNGs beside it), or JSON.

Everything that came from the data (labels, paths, findings) is escaped: a class named `<script>`
is shown as text and never runs. The HTML holds its images as data URIs and loads nothing.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd

from datasize.io import write_bytes_atomic, write_text_atomic
from datasize.report.document import Report

# Nothing may load or run: no scripts at all, images only from data: URIs, the inline style sheet.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, Roboto, sans-serif; max-width: 1000px;
       margin: 2em auto; padding: 0 1em; color: #111; line-height: 1.45; }
h1 { font-size: 1.6em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 1.8em; }
.verdict { font-size: 1.15em; background: #eef4fa; border-left: 5px solid #0072B2; padding: .8em 1em; }
.verdict ul { margin: .4em 0 0; padding-left: 1.2em; font-size: .9em; } .verdict p { margin: 0; }
details { margin: .5em 0 1.2em; } summary { cursor: pointer; font-weight: 600; }
table { border-collapse: collapse; margin: .5em 0 1.2em; font-size: .85em; }
th, td { border: 1px solid #bbb; padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } caption { text-align: left; font-weight: 600; padding: .3em 0; }
figure { margin: 1em 0; } figcaption { font-size: .85em; color: #444; } img { max-width: 100%; }
@media print { body { max-width: none; } .verdict { border-left-color: #000; } }
"""


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if pd.isna(value) else f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return "" if value is None else str(value)


def to_html(report: Report) -> str:
    """One self-contained HTML page."""
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        f"<title>{e(report.title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{e(report.title)}</h1>",
        _html_answer(report),
    ]
    for section in report.sections:
        parts.append(f"<h2>{e(section.title)}</h2>")
        parts += [f"<p>{e(p)}</p>" for p in section.paragraphs]
        for caption, png in section.figures:
            data = base64.b64encode(png).decode("ascii")
            image = f'<img alt="{e(caption)}" src="data:image/png;base64,{data}">'
            parts.append(f"<figure>{image}<figcaption>{e(caption)}</figcaption></figure>")
        for caption, table in section.tables:
            parts.append(_html_table(caption, table))
        for caption, table in section.folded:
            parts.append(f"<details><summary>{e(caption)}</summary>{_html_table('', table)}</details>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


ANSWER_TITLES = {
    "enough": "You have enough.",
    "more_helps": "More images help.",
    "plateau": "More images will not help.",
    "cannot_tell": "Cannot tell yet.",
}


def _html_answer(report: Report) -> str:
    """The answer box: the sentence, then its reasons as a list (the details are in the sections)."""
    e = html.escape
    answer = report.answer
    if not answer:
        return f'<div class="verdict" id="verdict"><p><strong>Verdict.</strong> {e(report.verdict)}</p></div>'
    title = ANSWER_TITLES.get(answer.get("kind", ""), "Answer.")
    why = "".join(f"<li>{e(w)}</li>" for w in answer.get("why", []))
    return (
        f'<div class="verdict" id="verdict" data-kind="{e(answer.get("kind", ""))}">'
        f"<p><strong>{e(title)}</strong> {e(answer.get('sentence', ''))}</p>"
        + (f"<ul>{why}</ul>" if why else "")
        + "</div>"
    )


def _html_table(caption: str, table: pd.DataFrame) -> str:
    e = html.escape
    head = "".join(f"<th>{e(str(c))}</th>" for c in table.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{e(_cell(v))}</td>" for v in row) + "</tr>"
        for row in table.itertuples(index=False)
    )
    title = f"<caption>{e(caption)}</caption>" if caption else ""
    return f"<table>{title}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


# What can start markup anywhere: escapes, code, emphasis, links and images, HTML, tables, strikethrough.
# An underscore inside a word (too_few_epochs) and parentheses (without a "](" before them) cannot.
_MD_SPECIAL = re.compile(r"([\\`*\[\]<>|~])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
# a heading, a list item or a rule at a line's start ("0.5" or "-0.2" are not)
_MD_LINE_START = re.compile(r"^(\s*)([#+\-=]+(?=\s|$)|\d+[.)](?=\s|$))")


def md_escape(text: str) -> str:
    r"""Text safe inside Markdown (and its HTML): every character that could start markup there
    backslash-escaped, and nothing else (`too_few_epochs` and "(80%)" stay as they are).

    >>> md_escape("too_few_epochs (80%) *x* _y_ <b> # z")
    'too_few_epochs (80%) \\*x\\* \\_y\\_ \\<b\\> # z'
    """
    flat = text.replace("\n", " ")
    escaped = _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), flat)
    return _MD_LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), escaped)


def to_markdown(report: Report, figure_dir: str) -> tuple[str, dict[str, bytes]]:
    """Markdown text and the figures it links to, by relative path under `figure_dir`."""
    lines = [f"# {md_escape(report.title)}", "", *_md_answer(report)]
    figures: dict[str, bytes] = {}
    for section in report.sections:
        lines += [f"## {md_escape(section.title)}", ""]
        for paragraph in section.paragraphs:
            lines += [md_escape(paragraph), ""]
        for caption, png in section.figures:
            name = f"{figure_dir}/figure{len(figures) + 1}.png"
            figures[name] = png
            lines += [f"![{md_escape(caption)}]({name})", ""]
        for caption, table in [*section.tables, *section.folded]:
            lines += [f"*{md_escape(caption)}*", ""]
            lines.append("| " + " | ".join(md_escape(str(c)) for c in table.columns) + " |")
            lines.append("|" + "---|" * len(table.columns))
            for row in table.itertuples(index=False):
                lines.append("| " + " | ".join(md_escape(_cell(v)) for v in row) + " |")
            lines.append("")
    return "\n".join(lines) + "\n", figures


def _md_answer(report: Report) -> list[str]:
    answer = report.answer
    if not answer:
        return [f"**Verdict.** {md_escape(report.verdict)}", ""]
    title = ANSWER_TITLES.get(answer.get("kind", ""), "Answer.")
    return [
        f"**{title}** {md_escape(answer.get('sentence', ''))}",
        "",
        *(f"- {md_escape(w)}" for w in answer.get("why", [])),
        "",
    ]


def to_json(report: Report) -> str:
    """The report's text and tables as JSON (figures left out)."""
    from datasize.io import jsonable

    body = {
        "title": report.title,
        "verdict": report.verdict,
        "answer": report.answer,
        "sections": [
            {
                "title": s.title,
                "paragraphs": s.paragraphs,
                "tables": [{"caption": c, "rows": t.to_dict("records")} for c, t in [*s.tables, *s.folded]],
                "figures": [c for c, _ in s.figures],
            }
            for s in report.sections
        ],
        "summary": report.summary,
    }
    return json.dumps(jsonable(body), indent=2, sort_keys=False, allow_nan=False) + "\n"


def write_report(report: Report, path: str | os.PathLike, fmt: str) -> list[Path]:
    """Write the report in `fmt` (html, md, json) at `path`; returns every file written."""
    path = Path(path)
    if fmt == "html":
        write_text_atomic(path, to_html(report))
        return [path]
    if fmt == "json":
        write_text_atomic(path, to_json(report))
        return [path]
    if fmt == "md":
        figure_dir = f"{path.stem}_files"
        text, figures = to_markdown(report, figure_dir)
        written = []
        for name, png in figures.items():
            write_bytes_atomic(path.parent / name, png)
            written.append(path.parent / name)
        write_text_atomic(path, text)
        return [path, *written]
    raise ValueError(f"format {fmt!r} is not one of html, md, json")
