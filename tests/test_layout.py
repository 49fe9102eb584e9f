"""The package layout holds: no import cycles between modules, pygls and lsprotocol only
inside `incls/lsp/`, no lower layer importing a higher one (text, model, engine, reading,
then lsp), and `incls/lsp/` small enough to read as the protocol side alone.

The import graph is read from the source with `ast` (every import, those under
`TYPE_CHECKING` and inside functions included; relative imports resolved), so a cycle
is caught even where it would not fail at run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "incls"
PROTOCOL_LIBRARIES = ("pygls", "lsprotocol")
MAX_LSP_MODULES = 10


def module_name(path: Path) -> str:
    """`incls/lsp/server.py` -> `incls.lsp.server`; a package's `__init__.py` -> the package."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    """Every module of `incls`, by dotted name."""
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported(path: Path, name: str) -> set[str]:
    """The absolute names a module imports (for `from X import Y`: X.Y and X)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            source = ".".join(base + ([node.module] if node.module else []))
            names.add(source)
            names.update(f"{source}.{alias.name}" for alias in node.names)
    return names


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of `incls` it imports (a name that is an attribute, not a
    module, counts as its module)."""
    known = modules()
    graph = {}
    for name, path in known.items():
        edges = set()
        for target in imported(path, name):
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                edges.add(target)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_only_lsp_speaks_the_protocol():
    outside = sorted(
        name
        for name, path in modules().items()
        if not name.startswith("incls.lsp") and any(t.split(".")[0] in PROTOCOL_LIBRARIES for t in imported(path, name))
    )
    assert outside == []


# package -> the packages of `incls` it must not import (the layers of DESIGN.md)
LAYERS = {
    "incls.text": ("incls.model", "incls.engine", "incls.reading", "incls.lsp", "incls.train", "incls.bench"),
    "incls.model": ("incls.engine", "incls.reading", "incls.lsp", "incls.bench"),
    "incls.engine": ("incls.reading", "incls.lsp", "incls.train", "incls.bench"),
    "incls.reading": ("incls.lsp", "incls.bench"),
}


def test_lower_layers_import_no_higher_one():
    crossings = sorted(
        (name, target)
        for name, targets in import_graph().items()
        for package, above in LAYERS.items()
        if name == package or name.startswith(package + ".")
        for target in targets
        if any(target == a or target.startswith(a + ".") for a in above)
    )
    assert crossings == []


def test_lsp_is_small():
    lsp = [name for name in modules() if name == "incls.lsp" or name.startswith("incls.lsp.")]
    assert len(lsp) <= MAX_LSP_MODULES, sorted(lsp)


def test_the_graph_sees_relative_and_deferred_imports():
    graph = import_graph()
    assert "incls.lsp.server" in graph["incls.lsp.command"] or "incls.lsp.handlers" in graph["incls.lsp.command"]
    assert "incls.text" in graph["incls.lsp.handlers"]
