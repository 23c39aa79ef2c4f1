"""The house's shape, read from the source (AST, nothing imported): no import circles but the
Explanation's views, no module over 500 lines, no private name imported across packages, and the
README's Layout section lists every module.

Every import counts, wherever it is written: at module level, under ``TYPE_CHECKING`` or inside a
function (a lazy import is still a dependency). The one exception is the root package
``nerlens``: its ``__init__`` is the public face, re-exporting every top-level name lazily, so it
sits above everything by definition; modules may import only ``__version__`` from it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = "nerlens"
MAX_LINES = 500


@dataclass(frozen=True)
class Import:
    """One imported name: ``target`` is the module (or ``module.name``) it comes from."""

    importer: str
    target: str
    line: int
    lazy: bool  # written inside a function


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    modules = {}
    for path in sorted((SRC / ROOT).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _package(name: str) -> str:
    """The package a module belongs to (a package belongs to itself)."""
    return name if _is_package(name) else name.rpartition(".")[0]


def _imports(name: str) -> Iterator[Import]:
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    inside = {
        id(node)
        for function in ast.walk(tree)
        if isinstance(function, functions)
        for node in ast.walk(function)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against the importer's package
                anchor = _package(name).split(".")
                base = ".".join([*anchor[: len(anchor) - node.level + 1], *filter(None, [base])])
            targets = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            if target == ROOT or target.startswith(ROOT + "."):
                yield Import(name, target, node.lineno, id(node) in inside)


def _module_of(target: str) -> str:
    """The module an imported name lives in: the longest prefix that is a module."""
    parts = target.split(".")
    while ".".join(parts) not in MODULES:
        parts.pop()
    return ".".join(parts)


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name in MODULES:
        if name == ROOT:  # the lazy public face: above everything (see the module doc)
            continue
        for imported in _imports(name):
            target = _module_of(imported.target)
            if target != name:
                graph[name].add(target)
    return graph


def _circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The graph's strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for after in sorted(graph[node]):
            if after not in index:
                visit(after)
                low[node] = min(low[node], low[after])
            elif after in on_stack:
                low[node] = min(low[node], index[after])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return circles


def _is_view(name: str) -> bool:
    return name == "nerlens.render" or name.startswith("nerlens.render.")


def test_the_only_import_circle_is_the_explanations_views():
    circles = _circles(_graph())
    assert len(circles) <= 1, f"import circles: {[sorted(c) for c in circles]}"
    for circle in circles:
        others = sorted(m for m in circle if m != "nerlens.explanation" and not _is_view(m))
        assert not others, f"{others} are in the circle of Explanation and its views"


def test_the_explanation_imports_its_views_lazily():
    eager = [
        f"{i.target} (line {i.line})"
        for i in _imports("nerlens.explanation")
        if _is_view(_module_of(i.target)) and not i.lazy
    ]
    assert not eager, f"nerlens.explanation imports views at module level: {eager}"


def test_modules_take_only_the_version_from_the_root_package():
    taken = [
        f"{i.importer}:{i.line} {i.target}"
        for name in MODULES
        if name != ROOT
        for i in _imports(name)
        if _module_of(i.target) == ROOT and i.target != f"{ROOT}.__version__"
    ]
    assert not taken, f"import these from their own modules, not from {ROOT}: {taken}"


def _lines(name: str) -> int:
    return len(MODULES[name].read_text(encoding="utf-8").splitlines())


def test_no_module_is_over_500_lines():
    over = {name: _lines(name) for name in MODULES if _lines(name) > MAX_LINES}
    assert not over, f"modules over {MAX_LINES} lines: {over}; split them by concern"


def _private_owner(target: str) -> str | None:
    """The package that owns the first private part of ``target`` (``_x``; dunders are public),
    or None when every part is public."""
    parts = target.split(".")
    for depth, part in enumerate(parts):
        if part.startswith("_") and not (part.startswith("__") and part.endswith("__")):
            return _package(_module_of(".".join(parts[:depth])))
    return None


def _private_imports() -> list[tuple[Import, str]]:
    found = []
    for name in MODULES:
        for imported in _imports(name):
            owner = _private_owner(imported.target)
            home = _package(name)
            if owner is not None and home != owner and not home.startswith(owner + "."):
                found.append((imported, owner))
    return found


def test_no_private_name_is_imported_across_packages():
    crossing = [f"{i.importer}:{i.line} imports {i.target}" for i, _ in _private_imports()]
    assert not crossing, f"private names used outside their package: {crossing}"


@pytest.mark.parametrize(
    ("target", "owner"),
    [
        ("nerlens.methods._common.label_probabilities", "nerlens.methods"),
        ("nerlens.explainer._alone", "nerlens"),
        ("nerlens.render._common", "nerlens.render"),
        ("nerlens.__version__", None),
        ("nerlens.windows.assign_homes", None),
    ],
)
def test_a_private_name_belongs_to_the_package_that_holds_it(target, owner):
    assert _private_owner(target) == owner


def test_circles_are_found():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _circles(graph) == [{"a", "b", "c"}]


def _layout_modules() -> set[str]:
    """The modules the README's Layout section lists, as paths under src/nerlens."""
    readme = (SRC.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Layout", 1)[1].split("```", 2)[1]
    listed, folder = set(), ""
    for line in block.splitlines():
        names = re.split(r"\s{2,}", line.strip())[0]
        depth = (len(line) - len(line.lstrip())) // 2
        if depth == 1:
            folder = names if names.endswith("/") else ""
        prefix = folder if depth == 2 else ""
        listed |= {prefix + name for name in names.split(", ") if name.endswith(".py")}
    return listed


def test_the_readme_layout_lists_every_module():
    package = SRC / ROOT
    modules = {str(path.relative_to(package)) for path in package.rglob("*.py")}
    listed = _layout_modules()
    assert not modules - listed, f"modules missing from README's Layout: {sorted(modules - listed)}"
    assert not listed - modules, f"README's Layout lists no such module: {sorted(listed - modules)}"
