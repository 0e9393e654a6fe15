"""The import graph of proxy/ and manifests/ has no cycle (issue 9 §3).

The graph is read from the source with ast, not by importing: every `import` statement counts,
at module level and inside functions (a late import only hides a cycle until the function runs),
except those under `if TYPE_CHECKING:`, which never run. `from pkg import mod` is an edge to the
module pkg.mod when there is one, else to pkg.
"""

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("proxy", "manifests")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_modules(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """{dotted module name: its file} for every module of the packages under root."""
    return {
        module_name(path, root): path
        for package in packages
        for path in sorted((root / package).rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement under node, skipping the body of `if TYPE_CHECKING:` (not its else)."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
        return
    if isinstance(node, ast.If) and _is_type_checking(node.test):
        for statement in node.orelse:
            yield from _imports(statement)
        return
    for child in ast.iter_child_nodes(node):
        yield from _imports(child)


def _resolve_relative(module: str, is_package: bool, level: int, target: str | None) -> str:
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        base = base[: -(level - 1)]
    return ".".join([*base, target] if target else base)


def _known(name: str, modules: Mapping[str, Path]) -> str | None:
    """The module a dotted name refers to: itself, or the nearest enclosing module we have."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph(modules: Mapping[str, Path]) -> dict[str, set[str]]:
    """{module: the modules of ours it imports}."""
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        edges: set[str] = set()
        is_package = path.name == "__init__.py"
        for statement in _imports(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(statement, ast.Import):
                targets = [alias.name for alias in statement.names]
            else:
                source = statement.module or ""
                if statement.level:
                    source = _resolve_relative(module, is_package, statement.level, statement.module)
                targets = [f"{source}.{alias.name}" for alias in statement.names]
            for target in targets:
                known = _known(target, modules)
                if known is not None and known != module:
                    edges.add(known)
        graph[module] = edges
    return graph


def find_cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """One cycle as a chain [a, b, ..., a], or None when the graph has none."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(module: str) -> list[str] | None:
        path.append(module)
        on_path.add(module)
        for target in sorted(graph.get(module, ())):
            if target in on_path:
                return [*path[path.index(target) :], target]
            if target not in done:
                cycle = visit(target)
                if cycle is not None:
                    return cycle
        path.pop()
        on_path.discard(module)
        done.add(module)
        return None

    for module in sorted(graph):
        if module not in done:
            cycle = visit(module)
            if cycle is not None:
                return cycle
    return None


def test_proxy_and_manifests_import_graph_has_no_cycle() -> None:
    modules = source_modules(ROOT, PACKAGES)
    assert {"proxy.cli", "manifests"} <= modules.keys()  # the walk found the packages
    cycle = find_cycle(import_graph(modules))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


# --- the graph reader itself, on a planted package -------------------------------------------------


def _package(root: Path, files: Mapping[str, str]) -> dict[str, set[str]]:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return import_graph(source_modules(root, ("pkg",)))


@pytest.mark.parametrize(
    ("files", "cycle"),
    [
        pytest.param(
            {"pkg/__init__.py": "", "pkg/a.py": "from pkg import b\n", "pkg/b.py": "import pkg.a\n"},
            ["pkg.a", "pkg.b", "pkg.a"],
            id="module-level",
        ),
        pytest.param(
            {
                "pkg/__init__.py": "",
                "pkg/cli.py": "from pkg.sub.cmd import register\n",
                "pkg/sub/__init__.py": "",
                "pkg/sub/cmd.py": "def register():\n    def late():\n        from pkg.cli import Error\n",
            },
            ["pkg.cli", "pkg.sub.cmd", "pkg.cli"],
            id="function-level",
        ),
        pytest.param(
            {"pkg/__init__.py": "", "pkg/a.py": "from . import b\n", "pkg/b.py": "from .a import thing\n"},
            ["pkg.a", "pkg.b", "pkg.a"],
            id="relative",
        ),
        pytest.param(
            {
                "pkg/__init__.py": "",
                "pkg/a.py": "from pkg.b import X\n",
                "pkg/b.py": "if TYPE_CHECKING:\n    from pkg.a import Y\nelse:\n    from pkg.c import Z\n",
                "pkg/c.py": "import pkg.a\n",
            },
            ["pkg.a", "pkg.b", "pkg.c", "pkg.a"],
            id="else-of-type-checking-runs",
        ),
    ],
)
def test_a_planted_cycle_is_found_and_shown_as_a_chain(tmp_path: Path, files: dict[str, str], cycle: list[str]) -> None:
    assert find_cycle(_package(tmp_path, files)) == cycle


def test_imports_under_type_checking_are_no_edge(tmp_path: Path) -> None:
    graph = _package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg.b import X\n",
            "pkg/b.py": "import typing\nif typing.TYPE_CHECKING:\n    from pkg.a import Y\n",
        },
    )
    assert graph == {"pkg": set(), "pkg.a": {"pkg.b"}, "pkg.b": set()}
    assert find_cycle(graph) is None


def test_from_package_import_name_is_an_edge_to_the_package_when_name_is_no_module(tmp_path: Path) -> None:
    graph = _package(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg.a import thing\n",
            "pkg/a.py": "thing = 1\n",
            "pkg/b.py": "from pkg import thing\n",
        },
    )
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": set(), "pkg.b": {"pkg"}}
