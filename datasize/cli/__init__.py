"""The `datasize` command line: parses options, calls the API, renders what it returns.

Kept thin and quick to import: every heavy import happens inside the command that needs it.
The shared options are in `options`; the commands in `data` (scan, validate, split), `training`
(lr-find, train), `labels` (labels) and `curves` (curve, run, report, plan).
"""

from __future__ import annotations

import click

from datasize.cli.curves import curve, plan, report, run_command
from datasize.cli.data import scan, split, validate
from datasize.cli.labels import labels
from datasize.cli.training import lr_find_command, train

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="datasize-toolkit", prog_name="datasize")
def main() -> None:
    """Is my image dataset sound, and do I need more images — how many?

    Start with `datasize validate DATA`. Every command takes --help.
    """


for _command in (scan, validate, split, lr_find_command, train, labels, curve, report, run_command, plan):
    main.add_command(_command)
