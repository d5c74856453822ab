"""The README's commands, run as a user types them (issue #17).

Every `datasize ...` line of the README's shell blocks (```sh) is parsed by the CLI, and run in the
README's order in a scratch folder where the placeholders are real: `path/to/photos/` holds a small
generated dataset (two classes of striped images, one folder each), `path/to/labels.csv` lists it
with `file`, `species` and `patient` columns, `path/to/pets/` holds the same kind of images with
the label in the file name, and `data/` and `recipes/` are this repository's. A command that cannot
run here is in SKIPPED with the reason (it is still parsed). The ```python blocks after a
`<!-- test: run -->` line run too, and a block after `<!-- test: write NAME -->` is written to NAME.
A renamed option, a changed default that breaks a command, or a Python example that no longer runs
fails here.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
import torch
from click.testing import CliRunner

from datasize.cli import main
from datasize.recipe import load_recipe
from tests.conftest import ROOT, stripes, stripes_folders

README = ROOT / "README.md"
PER_CLASS = 20  # images per class in path/to/photos/: a curve's smallest size still has both classes

# Commands the README shows that are not run here, and why (each is still parsed).
SKIPPED = {
    "datasize run recipes/digits.toml": "the demo: about a minute of training on the digits (the recipe "
    "is loaded and checked instead)",
    "datasize lr-find path/to/photos/ --model tv:resnet18 --pretrained --freeze-epochs 1": "needs the "
    "backbones extra and pretrained weights in torchvision's cache",
    "datasize train path/to/photos/ --model tv:resnet18 --pretrained --freeze-epochs 1 --lr-mult 100 "
    "--lr 2e-3": "needs the backbones extra and pretrained weights in torchvision's cache",
    "datasize curve path/to/photos/ --out runs/big --scheduler tcp://scheduler-host:8786": "needs a "
    "running Dask scheduler",
    "datasize validate /shared/photos --scheduler tcp://scheduler-host:8786": "needs a running Dask "
    "scheduler (tests/dataset/test_validate.py validates on a LocalCluster)",
}

# Exit codes other than 0, and what the output must say, per command.
EXIT_CODES = {"datasize validate data/sample/dirty": 1}
SAYS = {
    "datasize --help": "Start with `datasize validate DATA`",
    "datasize validate data/sample/digits --show 3": "PASSED 1797 images, 10 classes",
    "datasize validate path/to/photos/": f"PASSED {2 * PER_CLASS} images, 2 classes",
    "datasize validate path/to/pets/ --label-re '^(.+)_\\d+\\.jpg$'": f"PASSED {2 * PER_CLASS} images",
    "datasize validate data/sample/dirty": "FAILED 86 images, 5 classes: 9 errors",
    "datasize curve path/to/photos/ --target-error 0.05 --out runs/photos": "ANSWER (",
    "datasize run photos.toml": "[collection plan for 5.0%: plan.json and plan.csv]",
    "datasize plan runs/photos --target-error 0.05": "plan written to runs/photos/plan.json",
    "datasize report runs/photos": "report written to runs/photos/report.html",
    "datasize train path/to/photos/ --split split.csv --save model.pt": "model saved to model.pt",
}


@dataclass(frozen=True)
class Block:
    lang: str
    body: str
    marker: str  # the `<!-- test: ... -->` line before it, or ""


def readme_blocks() -> list[Block]:
    """The README's fenced blocks, in order, up to the generated CLI reference."""
    text = README.read_text(encoding="utf-8").split("<!-- CLI-REFERENCE:BEGIN -->")[0]
    pattern = re.compile(
        r"^(?:<!-- test: (?P<marker>[^>]*) -->\n)?```(?P<lang>\w*)\n(?P<body>.*?)^```$", re.M | re.S
    )
    return [Block(m["lang"], m["body"], m["marker"] or "") for m in pattern.finditer(text)]


def commands(block: Block) -> list[str]:
    """The `datasize` command lines of a shell block, comments dropped (`.venv/bin/datasize` too)."""
    joined = block.body.replace("\\\n", " ")
    found = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0] in ("datasize", ".venv/bin/datasize"):
            found.append(shlex.join(["datasize", *words[1:]]))
    return found


def shell_commands() -> list[str]:
    return [c for b in readme_blocks() if b.lang in ("sh", "bash", "shell") for c in commands(b)]


def test_the_readme_has_its_commands_in_sh_blocks() -> None:
    blocks = readme_blocks()
    assert not [b for b in blocks if b.lang in ("bash", "shell", "console")], "write shell blocks as ```sh"
    assert len(shell_commands()) >= 30


def test_skipped_and_checked_commands_are_still_in_the_readme() -> None:
    shown = set(shell_commands())
    assert set(SKIPPED) <= shown, set(SKIPPED) - shown
    assert set(EXIT_CODES) | set(SAYS) <= shown, (set(EXIT_CODES) | set(SAYS)) - shown


@pytest.mark.parametrize("command", shell_commands())
def test_every_readme_command_parses(command: str) -> None:
    """Options and their values as the CLI reads them, without running anything."""
    args = shlex.split(command)[1:]
    if args[:1] in (["--help"], ["-h"], ["--version"]):
        return  # run below
    with main.make_context("datasize", list(args)) as ctx:
        name, sub, rest = main.resolve_command(ctx, args)
        assert sub is not None, f"no command {name!r}"
        try:
            sub.make_context(name, rest, parent=ctx)
        except click.exceptions.Exit as stop:  # --help
            assert stop.exit_code == 0


def test_the_demo_recipe_loads() -> None:
    recipe = load_recipe(ROOT / "recipes" / "digits.toml")
    assert recipe.data == ROOT / "data" / "sample" / "digits"


# --- running them -----------------------------------------------------------------------------


def make_workspace(root: Path) -> None:
    """The README's placeholders, made real under root."""
    photos = stripes_folders(root / "path" / "to" / "photos", PER_CLASS)
    rows = ["file,species,patient"]
    for i, path in enumerate(sorted(photos.rglob("*.png"))):
        rows.append(f"{path.relative_to(photos).as_posix()},{path.parent.name},p{i // 2:02d}")
    (root / "path" / "to" / "labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    for i in range(PER_CLASS):
        stripes(root / "path" / "to" / "pets" / f"vertical_{i:02d}.jpg", vertical=True, seed=i)
        stripes(root / "path" / "to" / "pets" / f"horizontal_{i:02d}.jpg", vertical=False, seed=1000 + i)
    stripes(root / "path" / "to" / "new_photo.jpg", vertical=True, seed=99)
    for name in ("data", "recipes"):
        (root / name).symlink_to(ROOT / name, target_is_directory=True)


@dataclass
class Ran:
    exit_code: int
    output: str


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> dict[str, Ran]:
    """Every README block, in order, in a workspace: each command's exit code and output."""
    root = tmp_path_factory.mktemp("readme")
    make_workspace(root)
    results: dict[str, Ran] = {}
    before, threads = Path.cwd(), torch.get_num_threads()
    os.chdir(root)
    torch.set_num_threads(1)  # steady on a shared machine; the numbers are not what is tested
    try:
        for i, block in enumerate(readme_blocks()):
            if block.marker.startswith("write "):
                Path(block.marker.removeprefix("write ").strip()).write_text(block.body, encoding="utf-8")
            elif block.lang == "python" and block.marker == "run":
                code = compile(block.body, f"README.md python block {i}", "exec")
                exec(code, {"__name__": f"readme_block_{i}"})
            elif block.lang == "sh":
                for command in commands(block):
                    if command not in SKIPPED:
                        result = CliRunner().invoke(main, shlex.split(command)[1:])
                        results[command] = Ran(result.exit_code, result.output)
    finally:
        os.chdir(before)
        torch.set_num_threads(threads)
    return results


@pytest.mark.parametrize("command", [c for c in shell_commands() if c not in SKIPPED])
def test_every_readme_command_runs(ran: dict[str, Ran], command: str) -> None:
    result = ran[command]
    assert result.exit_code == EXIT_CODES.get(command, 0), result.output
    assert SAYS.get(command, "") in result.output


def test_the_install_puts_the_cpu_build_of_torch_before_make_demo():
    # issue #25: a CPU user following the README top-down got the 6 GB CUDA build first
    first = next(b for b in readme_blocks() if b.lang == "sh").body.splitlines()
    cpu = next(i for i, line in enumerate(first) if "download.pytorch.org/whl/cpu" in line)
    assert cpu < next(i for i, line in enumerate(first) if line.startswith("make demo"))
