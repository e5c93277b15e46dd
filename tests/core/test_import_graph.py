"""The static import graph of ``alchemist_core`` has no cycle.

Every import statement counts, including imports inside functions and under
``if TYPE_CHECKING:``: an import deferred to call time still ties the two modules together, it
only hides the circle from the interpreter. ``from alchemist_core.pkg import name`` is an edge
to the submodule ``pkg.name`` when there is one, else to ``pkg``; importing a submodule is not
an edge to the packages above it. The graph is read from the source with :mod:`ast`; nothing
is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import alchemist_core

PACKAGE = "alchemist_core"
ROOT = Path(alchemist_core.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = [PACKAGE, *path.relative_to(ROOT).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _resolve_relative(current: str, is_package: bool, level: int, module: str | None) -> str:
    base = current.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def _owner(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of the dotted ``name`` that is a module of the package."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                    owner = _owner(alias.name, modules)
                    if owner is not None:
                        targets.add(owner)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                source = _resolve_relative(name, is_package, node.level, node.module)
            else:
                source = node.module or ""
            if source != PACKAGE and not source.startswith(PACKAGE + "."):
                continue
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if submodule in modules:
                    targets.add(submodule)
                else:
                    owner = _owner(source, modules)
                    if owner is not None:
                        targets.add(owner)
    targets.discard(name)
    return targets


def import_graph() -> dict[str, set[str]]:
    """Module name -> the package modules it imports anywhere in its source."""
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or None when it has none."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state:
                found = visit(target)
                if found is not None:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found is not None:
                return found
    return None


def test_graph_sees_the_package():
    graph = import_graph()
    assert "alchemist_core.programs.program_set" in graph
    assert "alchemist_core.generators.base" in graph
    assert "alchemist_core.programs.program_set" in graph[PACKAGE]


def test_find_cycle_reports_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_relative_and_function_level_imports_are_edges(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    for relative in ("__init__.py", "a.py", "sub/__init__.py", "sub/b.py"):
        (package / relative).write_text("", encoding="utf-8")
    (package / "sub" / "b.py").write_text(
        "def f():\n    from .. import a\n    from ..a import thing\n", encoding="utf-8"
    )
    modules = {
        "alchemist_core": package / "__init__.py",
        "alchemist_core.a": package / "a.py",
        "alchemist_core.sub": package / "sub" / "__init__.py",
        "alchemist_core.sub.b": package / "sub" / "b.py",
    }
    edges = _imports("alchemist_core.sub.b", modules["alchemist_core.sub.b"], modules)
    assert edges == {"alchemist_core.a"}


def test_alchemist_core_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])
