"""The core is layered: every module imports only modules below it, and no import runs in a circle.

The graph is built from the source: every ``import`` and ``from ... import`` at module level,
in class bodies and under ``if TYPE_CHECKING:`` (an import there is still a dependency a
reader must follow). Imports inside functions are left out: they are how a module reaches a
higher one lazily, on purpose, when a call needs it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Final

CORE = Path(__file__).resolve().parents[1] / "core" / "toolwire"


def _module_name(path: Path) -> str:
    parts = ["toolwire", *path.relative_to(CORE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports at module level, in class bodies and in ``if``/``try`` blocks, not in functions."""
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.ClassDef | ast.If | ast.Try | ast.With):
            stack.extend(ast.iter_child_nodes(node))
        elif isinstance(node, ast.ExceptHandler):
            stack.extend(node.body)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    base = module.split(".") if is_package else module.split(".")[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def core_graph() -> dict[str, set[str]]:
    """Each core module and the core modules it imports (outside functions)."""
    modules = {_module_name(p): p for p in CORE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        is_package = path.name == "__init__.py"
        for node in _top_level_imports(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif node.level:
                base = _resolve(name, is_package, node)
                # ``from . import x`` names a submodule when one exists, else the package.
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                           for a in node.names]  # fmt: skip
            elif node.module:
                targets = [node.module]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and target.startswith("toolwire"):
                    graph[name].add(target)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


#: A module longer than this says why in its docstring ("Why one module of this length: ...").
LONGEST: Final = 600


def test_the_graph_sees_type_checking_and_relative_imports() -> None:
    """The graph reader follows what the layering rule counts (a check that cannot fail is none)."""
    graph = core_graph()
    assert "toolwire._errors" in graph["toolwire._config"]
    assert "toolwire._pipeline" in graph["toolwire._batch"]
    # under ``if TYPE_CHECKING:`` only; ``..`` out of a package
    assert "toolwire._plan" in graph["toolwire._approvals._gate"]
    assert "toolwire._dispatcher" in graph["toolwire.cli._common"]


def test_a_circle_is_found() -> None:
    """The circle finder reports a circle of three and leaves the modules outside it alone."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]


def test_the_core_has_no_import_circle() -> None:
    """No core module reaches itself through imports, TYPE_CHECKING ones included."""
    found = circles(core_graph())
    assert found == [], "import circles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_a_long_module_says_why() -> None:
    """No core module is longer than about 600 lines without the reason in its docstring."""
    unexplained = []
    for path in sorted(CORE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        docstring = ast.get_docstring(ast.parse(text)) or ""
        if text.count("\n") > LONGEST and "Why one module of this length:" not in docstring:
            unexplained.append(f"{path.relative_to(CORE)}: {text.count(chr(10))} lines")
    assert unexplained == []
