"""The shape of the runtime package: an acyclic import graph, and no module using another's
private names. Checked on the source with ``ast``, type-only imports included."""

import ast
from pathlib import Path

import pytest

RUNTIME = Path(__file__).resolve().parents[2] / "runtime"


def _modules() -> dict[str, ast.Module]:
    return {path.stem: ast.parse(path.read_text(), str(path)) for path in sorted(RUNTIME.glob("*.py"))}


def _imports(tree: ast.Module) -> dict[str, set[str]]:
    """Sibling modules imported (``from .x import a, b``), with the names taken from each."""
    found: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            found.setdefault(node.module.split(".")[0], set()).update(alias.name for alias in node.names)
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a path, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        stack.append(name)
        for dep in sorted(graph.get(name, ())):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep):], dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[name] = 2
        return None

    for name in sorted(graph):
        if name not in state and (found := visit(name)):
            return found
    return None


def test_the_runtime_import_graph_has_no_cycle() -> None:
    """No module of ``runtime/`` imports, even for type checking only, a module that imports it."""
    graph = {name: set(_imports(tree)) - {name} for name, tree in _modules().items() if name != "__init__"}

    assert _cycle(graph) is None


def test_no_runtime_module_imports_another_modules_private_names() -> None:
    """``from .x import _y`` is a reach into x's insides: give x a public door instead."""
    reaches = sorted(
        f"{name} imports {module}.{imported}"
        for name, tree in _modules().items()
        for module, names in _imports(tree).items()
        for imported in names
        if imported.startswith("_")
    )

    assert [] == reaches


#: Underscored names that are documented public API of the standard library.
PUBLIC_BY_CONVENTION = {"_exit", "_fields", "_replace", "_asdict", "_make", "_value_", "_name_"}


def _owned(tree: ast.Module) -> set[str]:
    """Private names a module defines: ``self._x = ...`` and ``def _x`` / ``_x = ...`` in classes."""
    owned = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
            owned.add(node.attr)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    owned.add(item.name)
                elif isinstance(item, ast.Assign):
                    owned.update(t.id for t in item.targets if isinstance(t, ast.Name))
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    owned.add(item.target.id)
    return owned


def test_no_runtime_module_reads_private_attributes_it_does_not_define() -> None:
    """``obj._x`` is allowed only where the module itself defines ``_x``: each private name has
    one owning module (the standard library's public underscored names aside)."""
    reaches = sorted(
        f"{name}.py:{node.lineno} {ast.unparse(node)}"
        for name, tree in _modules().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and node.attr not in _owned(tree)
        and node.attr not in PUBLIC_BY_CONVENTION
    )

    assert [] == reaches


@pytest.mark.parametrize("cyclic", [{"a": {"b"}, "b": {"a"}}, {"a": {"b"}, "b": {"c"}, "c": {"a"}}])
def test_the_cycle_finder_finds_cycles(cyclic: dict[str, set[str]]) -> None:
    """The checker itself can fail: a planted cycle is found."""
    assert _cycle(cyclic) is not None
