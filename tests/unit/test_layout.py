"""The test layout holds (README "Tests"): test files only in their directories, helpers imported from
tests/support and never from a conftest or another test file, and conftest files holding fixtures and hooks
only, changing nothing when imported."""

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
SUITES = {"unit", "http", "storage", "commands", "system", "browser", "container"}
SOURCES = sorted(path for path in TESTS.rglob("*.py") if ".venv" not in path.parts)


def imported_modules(path: Path) -> list[str]:
    modules = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.append(node.module)
            modules += [f"{node.module}.{alias.name}" for alias in node.names]
    return modules


def test_every_test_file_is_in_a_suite_directory() -> None:
    misplaced = [
        str(path.relative_to(TESTS))
        for path in SOURCES
        if path.name.startswith("test_") and path.relative_to(TESTS).parts[0] not in SUITES
    ]
    assert misplaced == []


@pytest.mark.parametrize("path", SOURCES, ids=[str(path.relative_to(TESTS)) for path in SOURCES])
def test_nothing_imports_a_conftest_or_another_test_file(path: Path) -> None:
    wrong = [
        module
        for module in imported_modules(path)
        if module.startswith("tests.")
        and (module.split(".")[-1] == "conftest" or module.split(".")[-1].startswith("test_"))
    ]
    # tests/browser and tests/container are kept as they were: each shares helpers within itself.
    suite = path.relative_to(TESTS).parts[0]
    if suite in ("browser", "container"):
        wrong = [module for module in wrong if not module.startswith(f"tests.{suite}.")]
    assert wrong == []


# tests/browser and tests/container keep their harness in their conftest, as they did.
CONFTESTS = sorted(path for path in TESTS.rglob("conftest.py") if path.parent.name not in ("browser", "container"))


@pytest.mark.parametrize("path", CONFTESTS, ids=[str(path.relative_to(TESTS)) for path in CONFTESTS])
def test_a_conftest_defines_fixtures_and_hooks_and_changes_nothing_on_import(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            fixture = any("fixture" in ast.unparse(decorator) for decorator in node.decorator_list)
            assert fixture or node.name.startswith("pytest_"), f"{node.name}: helpers go to tests/support"
        elif isinstance(node, ast.Expr):
            assert isinstance(node.value, ast.Constant), f"a call at import time: {ast.unparse(node)}"
    assert "os.environ" not in path.read_text()
