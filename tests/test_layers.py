"""The package's shape holds: no import cycles, and every import follows the layers of the README's
"How it is built" (data flows one way: sources/net/tls -> model -> assemble -> analysis -> report ->
pipeline -> api -> commands -> cli). Imports inside functions count; imports under
`if TYPE_CHECKING:` do not (they never run)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "analyzer"
BASE = {"errors", "cache", "wording", "native", "limits", "policies", "registry"}
# component -> the components its modules may import (besides themselves and BASE)
ALLOWED: dict[str, set[str]] = {
    "registry": set(),
    "sources": set(),
    "net": {"sources"},
    "tls": set(),
    "quic": {"tls"},
    "dtls": {"tls"},
    "model": {"net", "tls"},
    "assemble": {"model", "net", "tls"},
    "datagrams": {"assemble", "model", "net", "tls", "quic", "dtls"},
    "analysis": {"model", "tls"},
    "report": {"analysis", "model", "tls", "sources", "dtls"},
    "pipeline": {"assemble", "datagrams", "analysis", "report", "model", "net", "sources", "tls"},
    "selection": {"report", "model"},
    "summary": {"analysis"},
    "output": set(),
    "render": {"report", "model", "analysis", "tls", "selection", "summary"},
    "api": {"pipeline", "report", "selection", "sources", "analysis", "model", "net", "tls", "render"},
    "parallel": {"api", "report", "render", "sources", "net", "selection"},
    "crosscheck": {"api", "model", "sources", "tls"},
    "batch": {"api", "report", "sources", "analysis", "render", "output"},
    "commands": {"api", "parallel", "report", "render", "selection", "sources", "analysis", "model", "net", "tls",
                 "pipeline", "output", "summary", "crosscheck"},
    "cli": {"commands", "api", "selection", "sources", "analysis", "render", "crosscheck", "batch"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _component(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _runtime_imports(tree: ast.AST, modules: set[str]) -> set[str]:
    """The analyzer modules a module's code imports when it runs (TYPE_CHECKING blocks left out)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("analyzer"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("analyzer"):
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                found.add(sub if sub in modules else node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(files)
    return {name: _runtime_imports(ast.parse(path.read_text()), modules) - {name} for name, path in files.items()}


def test_no_import_cycles() -> None:
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def connect(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    assert cycles == []


def test_imports_follow_the_layers() -> None:
    bad = defaultdict(list)
    for module, imports in _graph().items():
        mine = _component(module)
        if mine in ("", *BASE):
            allowed = BASE if mine else None  # the package itself re-exports the public names
        else:
            assert mine in ALLOWED, f"{module}: a new component; give it its place in ALLOWED (and in the README)"
            allowed = ALLOWED[mine] | BASE
        for target in imports:
            theirs = _component(target)
            if target == "analyzer":  # `from analyzer import __version__` (the package's own name and version)
                continue
            if allowed is not None and theirs != mine and theirs not in allowed:
                bad[module].append(target)
    assert dict(bad) == {}


def test_a_cycle_and_a_violation_are_seen() -> None:
    """The checks themselves can fail: a made-up module importing upwards, both ways."""
    tree = ast.parse("from analyzer.commands.analyze import AnalyzeCommand\n"
                     "def late():\n    from analyzer.cli import main\n"
                     "if TYPE_CHECKING:\n    from analyzer.api import analyze\n")
    found = _runtime_imports(tree, {"analyzer.commands.analyze", "analyzer.cli"})
    assert found == {"analyzer.commands.analyze", "analyzer.cli"}
    assert "commands" not in ALLOWED["tls"] | BASE
