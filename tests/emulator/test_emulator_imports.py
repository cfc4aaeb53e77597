"""The emulator's and devstack's imports: no cycle inside emulator/, and each package apart.

Read from the source (ast), so imports inside functions and under TYPE_CHECKING count too:
an import cycle hidden in a function still ties two modules together.
"""

from __future__ import annotations

import ast

import pytest

from devstack.stack import ROOT


def imports_of(package: str) -> dict[str, set[str]]:
    """{module: every absolute module name it imports} for each module under package/."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
                # `from emulator import operations` imports the module emulator.operations.
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
        found[module] = names
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in graph[module]:
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in graph:
        if module not in index:
            visit(module)
    return found


def test_no_import_cycle_inside_the_emulator():
    imports = imports_of("emulator")
    graph = {
        module: {n for n in names if n in imports and n != module}
        for module, names in imports.items()
    }
    assert len(graph) > 20  # the package was found
    assert cycles(graph) == []


def test_cycles_are_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        # The emulator stands alone: `python -m emulator` runs without the service or tests.
        ("emulator", ("service", "devstack", "tests")),
        # devstack starts the emulator and the service as processes; it imports neither.
        ("devstack", ("service", "emulator", "tests")),
        # The installed service (`pip install .`) carries neither development package.
        ("service", ("emulator", "devstack", "tests")),
    ],
)
def test_packages_stay_apart(package, forbidden):
    wrong = sorted(
        f"{module} imports {name}"
        for module, names in imports_of(package).items()
        for name in names
        if name.split(".")[0] in forbidden
    )
    assert wrong == []
