"""Print the CLI reference (every command's --help) as Markdown; `--write` updates README.md.

A test checks that README.md holds exactly this text between its CLI-REFERENCE markers.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from datasize.cli import main

BEGIN, END = "<!-- CLI-REFERENCE:BEGIN -->", "<!-- CLI-REFERENCE:END -->"
README = Path(__file__).resolve().parents[1] / "README.md"


def help_text(command: click.Command, name: str) -> str:
    # The same help option names as a real invocation under the `datasize` group (click caches the
    # help option on the command, so the first context's names must be the real ones).
    context = click.Context(
        command, info_name=name, terminal_width=100, max_content_width=100, help_option_names=["-h", "--help"]
    )
    return command.get_help(context)


def reference() -> str:
    parts = [BEGIN, ""]
    for name in sorted(main.commands):
        parts += [
            f"### `datasize {name}`",
            "",
            "```",
            help_text(main.commands[name], f"datasize {name}"),
            "```",
            "",
        ]
    parts.append(END)
    return "\n".join(parts)


def updated_readme(text: str) -> str:
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + reference() + text[end:]


if __name__ == "__main__":
    if "--write" in sys.argv:
        README.write_text(updated_readme(README.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        print(reference())
