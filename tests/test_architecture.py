"""The shape of the package: data flows one way through the stages, with no circle and no module too big.

Every import counts, wherever it is written (inside a function, under TYPE_CHECKING): an import
written inside a function to dodge a circle is still a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import datasize
from tests.conftest import ROOT

PACKAGE = ROOT / "datasize"
# The stages in the order data flows through them; a module may import from its own stage and the
# stages before it, never after. The first row is what every stage may use.
LAYERS = (
    ("datasize.vocab", "datasize.io", "datasize.noise", "datasize.text", "datasize.errors"),
    ("datasize.dataset",),
    ("datasize.training",),
    ("datasize.curves",),
    ("datasize.forecasting",),
    ("datasize.labels",),
    ("datasize.planning",),
    ("datasize.report",),
    ("datasize.pipeline", "datasize.comparison"),
    ("datasize.recipe",),
    ("datasize.cli",),
)
MAX_LINES = 600


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_in(source: str) -> set[str]:
    """The datasize modules a source imports anywhere: at the top, in functions, under TYPE_CHECKING."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            while name not in MODULES and "." in name:  # a function or class: its module
                name = name.rsplit(".", 1)[0]
            if name in MODULES and name != "datasize":
                found.add(name)
    return found


def imported_modules(path: Path) -> set[str]:
    return imports_in(path.read_text(encoding="utf-8")) - {module_name(path)}


GRAPH = {name: imported_modules(path) for name, path in MODULES.items()}


def layer(module: str) -> int:
    for index, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    raise AssertionError(f"{module} belongs to no stage: add it to LAYERS")


def test_every_module_belongs_to_a_stage() -> None:
    for module in MODULES:
        if module not in ("datasize", "datasize.__main__"):
            layer(module)


def test_no_module_imports_a_later_stage() -> None:
    upward = [
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        if module not in ("datasize", "datasize.__main__")
        for target in sorted(targets)
        if layer(target) > layer(module)
    ]
    assert upward == []


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a path (first module repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target, [*path, target])):
                return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_the_cycle_finder_finds_a_circle_through_a_function_level_import() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    # The import that dodged the old circle (train -> diagnosis -> lr_finder -> train) sat in a function.
    source = "def lr_find():\n    from datasize.training.loop import TrainConfig\n"
    assert imports_in(source) == {"datasize.training.loop"}


def test_no_import_circle_among_the_package_modules() -> None:
    assert find_cycle(GRAPH) is None


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_over_600_lines(module: str) -> None:
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines: split it by idea"


def test_no_subpackage_is_named_like_a_public_function() -> None:
    # Importing `datasize.forecast` (a subpackage) would rebind the lazy public `datasize.forecast`.
    subpackages = {p.parent.name for p in PACKAGE.rglob("__init__.py") if p.parent != PACKAGE}
    assert subpackages & set(datasize.__all__) == set()


def test_stage_packages_import_nothing_when_imported() -> None:
    # Their __init__ files are a docstring: `import datasize.cli` stays fast whatever a stage holds.
    for init in PACKAGE.glob("*/__init__.py"):
        if init.parent.name != "cli":
            assert imported_modules(init) == set(), init
            body = ast.parse(init.read_text(encoding="utf-8")).body
            assert all(isinstance(node, ast.Expr) for node in body), init
