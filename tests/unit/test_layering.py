"""The layering of issue 9, from the import graph: only the HTTP edge and the outbound clients
import aiohttp. Every import counts, at module level or inside a function."""

import ast
import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("proxy", "manifests")

# Importing these loads aiohttp: the library, and Sentry's integration with its server.
AIOHTTP_MODULES = ("aiohttp", "sentry_sdk.integrations.aiohttp")

# The modules that may import aiohttp, as paths from the repository root.
AIOHTTP_ALLOWED = (
    # The HTTP edge: the app factory, the handlers, and proxy/http/ (app keys, the request
    # adapter, the error table and middleware, CORS, the request log).
    "proxy/app.py",
    "proxy/handlers/*.py",
    "proxy/http/*.py",
    # Outbound clients: the Taskcluster auth service, S3, and the clients of a proxy (the
    # uploader, and `check`, the runbook's smoke test).
    "proxy/taskcluster_auth.py",
    "proxy/storage/s3.py",
    "proxy/uploader.py",
    "proxy/commands/check.py",
)


def imported_modules(source: str) -> set[str]:
    """Every absolute module an import statement anywhere in `source` names."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
    return modules


def aiohttp_importers(root: Path) -> set[str]:
    """The modules under `root`'s packages that import aiohttp or a submodule of it."""
    found = set()
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            modules = imported_modules(path.read_text())
            if any(name in AIOHTTP_MODULES or name.startswith("aiohttp.") for name in modules):
                found.add(path.relative_to(root).as_posix())
    return found


def allowed(path: str) -> bool:
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in AIOHTTP_ALLOWED)


def test_only_the_http_edge_and_outbound_clients_import_aiohttp() -> None:
    outside = sorted(path for path in aiohttp_importers(ROOT) if not allowed(path))
    assert outside == [], f"these modules import aiohttp outside the HTTP edge: {outside}"


def test_every_allow_list_entry_names_a_module_that_imports_aiohttp() -> None:
    importers = aiohttp_importers(ROOT)
    stale = [pattern for pattern in AIOHTTP_ALLOWED if not any(fnmatch.fnmatchcase(p, pattern) for p in importers)]
    assert stale == [], f"allow-list entries no module needs any more: {stale}"


@pytest.mark.parametrize(
    "statement",
    ["import aiohttp", "from aiohttp import web", "import aiohttp.web as web", "from aiohttp.web import Request"],
)
@pytest.mark.parametrize("where", ["module", "function"])
def test_an_aiohttp_import_in_a_service_is_caught(tmp_path: Path, statement: str, where: str) -> None:
    """The check sees what it must refuse: proxy/uploads.py with an aiohttp import, at module
    level or inside a function, is reported."""
    uploads = tmp_path / "proxy" / "uploads.py"
    uploads.parent.mkdir()
    (tmp_path / "manifests").mkdir()
    body = (ROOT / "proxy" / "uploads.py").read_text()
    if where == "module":
        uploads.write_text(f"{statement}\n{body}")
    else:
        uploads.write_text(f"{body}\n\ndef _late() -> None:\n    {statement}\n")
    assert [path for path in aiohttp_importers(tmp_path) if not allowed(path)] == ["proxy/uploads.py"]


def test_relative_and_lookalike_imports_are_not_aiohttp() -> None:
    source = (
        "from . import aiohttp\nimport aiohttp_retry\nfrom sentry_sdk.integrations.aiohttp import AioHttpIntegration\n"
    )
    assert not any(name == "aiohttp" or name.startswith("aiohttp.") for name in imported_modules(source))
