"""The layout's rules, checked over the source so the structure cannot drift back.

See DEVELOPERS.md ("Layout"): every arrow points down, an application is one package under
``tasks/``, and the generic layers (runs, serve, cli, api) never branch on a task's name.
Imports inside functions count: they hide a circle from Python, not from a reader.
"""

from __future__ import annotations

import ast
import importlib
import re
from functools import cache
from pathlib import Path

import pytest

import layerwise
from layerwise.core.registry import TASKS

SRC = Path(layerwise.__file__).parent
LOWER = ("core", "engine", "runs", "data", "models", "nn", "candidates")
GENERIC = ("runs", "serve", "cli", "api", "explain", "export")
TARGET = re.compile(r"^layerwise(\.[a-z_0-9]+)+:[A-Za-z_][A-Za-z_0-9]*$")


@cache
def modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = ("layerwise", *path.relative_to(SRC).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


@cache
def tree(name: str) -> ast.Module:
    return ast.parse(modules()[name].read_text(), filename=str(modules()[name]))


def _imported(name: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        wanted = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = name.split(".")
            if modules()[name].name != "__init__.py":
                package = package[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join([*package, base] if base else package)
        wanted = [f"{base}.{alias.name}" for alias in node.names] or [base]
        wanted = [w if w in modules() else base for w in wanted]
    out = set()
    for target in wanted:
        while target and target not in modules():
            target = target.rpartition(".")[0]
        if target.startswith("layerwise.") and target != name:
            out.add(target)
    return sorted(out)


@cache
def edges() -> dict[str, frozenset[str]]:
    """module -> the layerwise modules it imports anywhere (top level or inside a function)."""
    graph = {}
    for name in modules():
        found = set()
        for node in ast.walk(tree(name)):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.update(_imported(name, node))
        graph[name] = frozenset(found)
    return graph


def layer(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def application(name: str) -> str | None:
    parts = name.split(".")
    return parts[2] if len(parts) > 3 and parts[1] == "tasks" else None


def circles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    graph, index, low, stack, on_stack, found = edges(), {}, {}, [], set(), []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def test_there_is_no_import_circle():
    assert circles() == []


def test_lower_layers_import_no_application():
    upward = sorted(
        f"{source} -> {target}"
        for source, targets in edges().items()
        if layer(source) in LOWER
        for target in targets
        if layer(target) == "tasks"
    )
    assert upward == []


def test_no_application_imports_another():
    across = sorted(
        f"{source} -> {target}"
        for source, targets in edges().items()
        if application(source)
        for target in targets
        if application(target) and application(target) != application(source)
    )
    assert across == []


def test_tasks_holds_only_application_packages():
    loose = sorted(p.name for p in (SRC / "tasks").glob("*.py") if p.name != "__init__.py")
    assert loose == []


def _string_targets():
    for name in modules():
        for node in ast.walk(tree(name)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if TARGET.match(node.value):
                    yield name, node.value


def _registries() -> list[tuple[str, str]]:
    """(where, "module:attr") of every Registry a layerwise module holds, registrations built
    with f-strings included; modules whose optional dependency is missing are passed over."""
    from layerwise.core.registry import Registry

    found, seen = [], set()
    for name in sorted(modules()):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if (exc.name or "").startswith("layerwise"):
                raise
            continue
        for attr, value in vars(module).items():
            if isinstance(value, Registry) and id(value) not in seen:
                seen.add(id(value))
                for entry in value.names():
                    found.append((f"{name}.{attr}[{entry}]", value._targets[entry]))
    return found


def test_every_registry_entry_and_module_attr_string_resolves():
    """``"module:attr"`` strings are invisible to linters and to the import rules above: a
    moved module would only fail when a user picks that candidate."""
    targets = _registries() + list(_string_targets())
    assert len(targets) > 60
    broken = []
    for where, target in targets:
        module, attr = target.split(":")
        try:
            getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            broken.append(f"{where}: {target} ({exc})")
    assert broken == []


def _branches_on_task_names(name: str) -> list[str]:
    names = set(TASKS.names())
    hits = []
    for node in ast.walk(tree(name)):
        compared = []
        if isinstance(node, ast.Compare):
            compared = [node.left, *node.comparators]
        elif isinstance(node, ast.Dict):
            compared = [k for k in node.keys if k is not None]
        elif isinstance(node, ast.match_case):
            compared = list(ast.walk(node.pattern))
        for part in compared:
            for leaf in ast.walk(part):
                if isinstance(leaf, ast.Constant) and leaf.value in names:
                    hits.append(f"{name}:{leaf.lineno} {leaf.value}")
    return hits


def test_generic_layers_do_not_branch_on_a_task_name():
    generic = [n for n in modules() if layer(n) in GENERIC or n == "layerwise.api"]
    assert len(generic) > 20
    hits = sorted(hit for name in generic for hit in _branches_on_task_names(name))
    assert hits == []


@pytest.mark.parametrize(
    "source, expected",
    [
        ("import layerwise.data.images\n", ["layerwise.data.images"]),
        ("from layerwise.data import images\n", ["layerwise.data.images"]),
        ("def f():\n    from layerwise.runs.folder import RunFolder\n", ["layerwise.runs.folder"]),
    ],
)
def test_the_checker_sees_every_kind_of_import(source, expected):
    """The rules above are only as good as the import finder: it must see each form."""
    node = ast.parse(source)
    found = sorted(t for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom))
                   for t in _imported("layerwise.cli.main", n))  # fmt: skip
    assert found == expected
