"""Fixtures only: real servers (moto_server for S3, the proxy itself) and the session-wide log scanner.

The helpers they use live in tests/support; tests import them from there, never from this file.
"""

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support.credentials import LOG_SECRETS, write_clients_file
from tests.support.log_scanner import SecretScanningHandler
from tests.support.memory import freeze_what_lives_for_the_run, release_closed_apps
from tests.support.moto import AWS_TEST_ENV, AWS_UNSET, fresh_bucket, moto_server
from tests.support.proxies import Proxy, ProxyFactory, ProxyPool, store_env_for

_aws_env = pytest.MonkeyPatch()


def pytest_configure(config: pytest.Config) -> None:
    """Before any test module is imported: no real AWS credentials or config are ever picked up, by this
    process or the servers it starts."""
    for name, value in AWS_TEST_ENV.items():
        _aws_env.setenv(name, value)
    for name in AWS_UNSET:
        _aws_env.delenv(name, raising=False)


def pytest_unconfigure(config: pytest.Config) -> None:
    _aws_env.undo()


def pytest_collection_finish(session: pytest.Session) -> None:
    freeze_what_lives_for_the_run()


def pytest_runtest_logfinish(nodeid: str, location: tuple[str, int | None, str]) -> None:
    """After each test: the apps it started can be freed (tests/support/memory.py says why)."""
    release_closed_apps()


@pytest.fixture(scope="session", autouse=True)
def log_secret_scanner() -> Iterator[SecretScanningHandler]:
    """Every log record of the whole run, searched for LOG_SECRETS; the session fails if one holds any."""
    root = logging.getLogger()
    handler = SecretScanningHandler(LOG_SECRETS)
    level = root.level
    root.addHandler(handler)
    if level > logging.INFO:
        root.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    assert not handler.leaks, f"secrets in {len(handler.leaks)} log record(s):\n" + "\n".join(handler.leaks)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A real S3 wire protocol: moto_server on a free loopback port, for the whole session."""
    with moto_server() as url:
        yield url


@pytest.fixture
def s3_bucket(moto_endpoint: str) -> str:
    """An empty bucket: moto is wiped first (POST /moto-api/reset)."""
    return fresh_bucket(moto_endpoint)


@pytest.fixture
def s3_client(moto_endpoint: str, s3_bucket: str) -> Any:
    """A plain boto3 client on the same bucket, for looking behind the proxy's back."""
    return boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")


@pytest.fixture(params=["local", "s3"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clients_file(tmp_path: Path) -> Path:
    return write_clients_file(tmp_path / "clients.json")


@pytest.fixture(params=["objects", "tags"])
def index_mode(request: pytest.FixtureRequest) -> str:
    """TOOLTOOL_INDEX for tests that opt in; the others run the default (objects) only.

    Opt a module in with `pytestmark = pytest.mark.usefixtures("index_mode")`: store_env then
    sets TOOLTOOL_INDEX, so every proxy of its tests runs in both modes. A test picks one mode
    with `@pytest.mark.parametrize("index_mode", ["tags"])`.
    """
    return str(request.param)


@pytest.fixture
def store_env(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, str]:
    """TOOLTOOL_* variables selecting a fresh store of the parametrized kind (and index mode,
    for tests using the index_mode fixture)."""
    endpoint = None
    if store_kind == "s3":
        endpoint = request.getfixturevalue("moto_endpoint")
        request.getfixturevalue("s3_bucket")
    env = store_env_for(store_kind, tmp_path / "data", endpoint)
    if "index_mode" in request.fixturenames:
        env["TOOLTOOL_INDEX"] = request.getfixturevalue("index_mode")
    return env


@pytest.fixture
async def make_proxy(store_env: dict[str, str], clients_file: Path) -> AsyncIterator[ProxyFactory]:
    """Start proxies on the parametrized store; keyword arguments become TOOLTOOL_* overrides."""
    pool = ProxyPool({**store_env, "TOOLTOOL_CLIENTS_FILE": str(clients_file)})
    yield pool.start
    await pool.close()


@pytest.fixture
async def proxy(make_proxy: ProxyFactory) -> Proxy:
    """A proxy with default settings on the parametrized store (downloads redirect on S3)."""
    return await make_proxy()
