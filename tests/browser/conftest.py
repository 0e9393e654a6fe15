"""Fixtures of the browser tests: one Chromium for the package, one `python -m proxy serve` per
store kind (a local directory, and moto through S3), a fresh browser context per test.

Every server's log is searched for the session's secrets when the package's tests are done (the
session-wide scanner of tests/conftest.py sees only this process's records). Each page is
watched for script errors and dialogs: a test fails if one happens.
"""

import hashlib
import json
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, Playwright, sync_playwright

from tests.browser.harness import launch_chromium
from tests.support.credentials import ALL_CREDS, BEARER_TOKEN, LOG_SECRETS, write_clients_file
from tests.support.serve import ServeProcess

WEB_BUCKET = "tooltool-web-tests"  # not the shared test bucket: other tests reset that one
UPLOAD_SECRET = "browser-tests-upload-secret-0123456789"
# Bearer tokens whose names (and so the batch authors `bearer:<name>`) are hostile; their tokens
# are secrets like any other.
HOSTILE_AUTHORS = {
    "<img src=x onerror=\"window.__pwned='author'\">": "hostile-author-token-markup-0123456789",
    '\u202eevil\u200f\'"quoted"': "hostile-author-token-rtl-0123456789ab",
}
# What may never show in the browser's console either (signed URLs may: the browser itself logs
# the URL of a refused PUT).
CREDENTIALS = (*(c.access_token for c in ALL_CREDS), BEARER_TOKEN, *HOSTILE_AUTHORS.values(), "Hawk mac=")


@dataclass
class Server:
    """A running proxy the browser talks to, and what it was started with."""

    kind: str
    process: ServeProcess
    clients_file: Path

    @property
    def url(self) -> str:
        return self.process.url


@pytest.fixture(scope="package")
def playwright_driver() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    browser = launch_chromium(playwright_driver)
    try:
        yield browser
    finally:
        browser.close()


def _clients_file(path: Path) -> Path:
    write_clients_file(path)
    doc = json.loads(path.read_text())
    scopes = ["project:releng:services/tooltool/api/*"]
    doc["bearerTokens"] += [
        {"name": name, "sha256": hashlib.sha256(token.encode()).hexdigest(), "scopes": scopes}
        for name, token in HOSTILE_AUTHORS.items()
    ]
    path.write_text(json.dumps(doc))
    return path


def _start(kind: str, env: dict[str, str], directory: Path) -> Iterator[Server]:
    clients = _clients_file(directory / "clients.json")
    process = ServeProcess(
        {**env, "TOOLTOOL_CLIENTS_FILE": str(clients), "TOOLTOOL_UPLOAD_SECRET": UPLOAD_SECRET},
        directory / "serve.log",
    )
    process.start()
    try:
        yield Server(kind, process, clients)
    finally:
        process.stop()
    assert any("request.summary" in line for line in process.log_lines()), f"the {kind} server logged nothing"
    secrets = (*LOG_SECRETS, *HOSTILE_AUTHORS.values(), BEARER_TOKEN)
    leaks = process.leaked_secrets(secrets)
    assert not leaks, f"secrets in the {kind} server's log:\n" + "\n".join(leaks)


@pytest.fixture(scope="package")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("web-local")
    yield from _start("local", {"TOOLTOOL_STORE": f"file://{directory / 'data'}"}, directory)


@pytest.fixture(scope="package")
def s3_server(tmp_path_factory: pytest.TempPathFactory, moto_endpoint: str) -> Iterator[Server]:
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(Bucket=WEB_BUCKET)
    directory = tmp_path_factory.mktemp("web-s3")
    env = {"TOOLTOOL_STORE": f"s3://{WEB_BUCKET}/", "TOOLTOOL_S3_ENDPOINT_URL": moto_endpoint}
    yield from _start("s3", env, directory)


@pytest.fixture(params=["local", "s3"])
def server(request: pytest.FixtureRequest) -> Server:
    """The proxy on each store kind in turn (each started once for the package)."""
    return request.getfixturevalue(f"{request.param}_server")


@dataclass
class PageWatch:
    """What a page did that a test must know about."""

    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)


@pytest.fixture
def watch() -> PageWatch:
    return PageWatch()


@pytest.fixture
def page(browser: Browser, watch: PageWatch) -> Iterator[Page]:
    """A page in a fresh context (no storage shared between tests); fails the test on a script
    error, a dialog, a Content-Security-Policy violation (inline script or style), and on a
    console line holding a credential."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()

    def on_dialog(dialog: Dialog) -> None:
        watch.dialogs.append(dialog.message)
        dialog.dismiss()

    def on_console(message: ConsoleMessage) -> None:
        watch.console.append(message.text)

    page.on("pageerror", lambda error: watch.errors.append(str(error)))
    page.on("dialog", on_dialog)
    page.on("console", on_console)
    try:
        yield page
    finally:
        context.close()
    assert not watch.errors, f"script errors on the page: {watch.errors}"
    assert not watch.dialogs, f"the page opened dialogs: {watch.dialogs}"
    refused = [line for line in watch.console if "Content Security Policy" in line]
    assert not refused, f"the page broke its own Content-Security-Policy: {refused}"
    leaked = [line for line in watch.console for secret in CREDENTIALS if secret in line]
    assert not leaked, f"secrets in the browser console: {leaked}"


def open_page(page: Page, url: str) -> Page:
    """Open a view of the page and wait until it has rendered it."""
    page.goto(url)
    page.wait_for_selector("html[data-ready=true]")
    return page


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """On a failure, the page's text goes into the report (what the test saw)."""
    outcome = yield
    report = outcome.get_result()
    page = getattr(item, "funcargs", {}).get("page")
    if report.when == "call" and report.failed and page is not None:
        try:
            report.sections.append(("page text", page.locator("body").inner_text()[:4000]))
        except Exception as exc:  # the page may be gone
            report.sections.append(("page text", f"unavailable: {exc}"))
