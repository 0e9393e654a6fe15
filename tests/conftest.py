"""Fixtures that start real servers: moto_server for S3, the proxy itself, a Taskcluster stand-in."""

import contextlib
import hashlib
import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from dockerflow.logging import MozlogFormatter

from proxy.app import create_app
from proxy.config import DEFAULT_SCOPE_PREFIX, Config, load_config
from proxy.context import INDEX, STORE
from proxy.index import FileIndex
from proxy.keys import REPLAY_PREFIX
from proxy.storage import ObjectStore
from proxy.stores import StoreOpener, open_location
from tests.support.hawk import taskcluster_header, tooltool_header

# Tests talk to moto only; make sure no real AWS credentials or config are ever picked up.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
)
os.environ.pop("AWS_SESSION_TOKEN", None)
os.environ.pop("AWS_PROFILE", None)

P = DEFAULT_SCOPE_PREFIX
BUCKET = "tooltool-test"
TEST_RETRY_DEADLINE = "2"


@dataclass(frozen=True)
class Creds:
    client_id: str
    access_token: str
    scopes: tuple[str, ...]


ADMIN = Creds("admin", "admin-secret-token-0123456789", (f"{P}/*",))
PUBLIC_READER = Creds("public-reader", "public-reader-token-0123456789", (f"{P}/download/public",))
INTERNAL_READER = Creds("internal-reader", "internal-reader-token-01234567", (f"{P}/download/internal",))
UPLOADER = Creds(
    "uploader",
    "uploader-token-0123456789abcdef",
    (f"{P}/upload/public", f"{P}/upload/internal", f"{P}/download/*"),
)
PUBLIC_UPLOADER = Creds("public-uploader", "public-uploader-token-012345", (f"{P}/upload/public",))
NOBODY = Creds("nobody", "nobody-token-0123456789abcdefgh", ())
# May issue named temporary credentials called temporary-*, as Taskcluster requires.
TEMP_ISSUER = Creds(
    "temp-issuer",
    "temp-issuer-token-0123456789abcd",
    (f"{P}/download/*", "auth:create-client:temporary-*"),
)
ALL_CREDS = (ADMIN, PUBLIC_READER, INTERNAL_READER, UPLOADER, PUBLIC_UPLOADER, NOBODY, TEMP_ISSUER)
BEARER_TOKEN = "bearer-token-for-ci-0123456789abcdef"
BEARER_SCOPES = (f"{P}/download/public", f"{P}/download/internal")

# What no log line may ever hold, whichever test runs (PROTOCOL.md §6): every credential above,
# Hawk headers, S3 signatures, the token of a proxied put_url and Authorization headers at all.
LOG_SECRETS = (
    *(c.access_token for c in ALL_CREDS),
    BEARER_TOKEN,
    "Hawk mac=",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "Key-Pair-Id=",  # CloudFront signed URLs
    "signature=",
    "Authorization",
)


class SecretScanningHandler(logging.Handler):
    """Formats every record as production does (mozlog JSON lines) and keeps those holding a secret."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__(logging.INFO)  # production logs at INFO (proxy.observability)
        self.setFormatter(MozlogFormatter(logger_name="tooltool-proxy"))
        self.secrets = tuple(secrets)
        self.scanned = 0
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        self.scanned += 1
        self.leaks += [f"{secret!r} in a {record.name!r} record: {line}" for secret in self.secrets if secret in line]


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError as answered:
            answered.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


STORE_METHODS = (
    "head",
    "read",
    "write",
    "write_stream",
    "open_range",
    "delete",
    "copy_if_unchanged",
    "ping",
    "presign_get",
    "presign_put",
    "get_tags",
    "put_tags",
)


def count_store_calls(proxy: "Proxy", monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Count the proxy's calls on its home store, by method (list_keys is left out: no
    download path lists keys)."""
    calls: Counter[str] = Counter()
    for name in STORE_METHODS:
        original: Callable[..., Awaitable[Any]] = getattr(proxy.store, name)

        async def counted(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            calls[_name] += 1
            return await _original(*args, **kwargs)

        monkeypatch.setattr(proxy.store, name, counted)
    return calls


def write_clients_file(path: Path) -> Path:
    doc = {
        "clients": [
            {"clientId": c.client_id, "accessToken": c.access_token, "scopes": list(c.scopes)} for c in ALL_CREDS
        ],
        "bearerTokens": [
            {"name": "ci", "sha256": hashlib.sha256(BEARER_TOKEN.encode()).hexdigest(), "scopes": list(BEARER_SCOPES)}
        ],
    }
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A real S3 wire protocol: moto_server on a free loopback port, for the whole session."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/moto-api/")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def s3_bucket(moto_endpoint: str) -> str:
    """An empty bucket: moto is wiped first (POST /moto-api/reset)."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST"), timeout=10)
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    return BUCKET


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
    env = {"TOOLTOOL_STORE": f"file://{tmp_path / 'data'}"}
    if store_kind == "s3":
        endpoint = request.getfixturevalue("moto_endpoint")
        request.getfixturevalue("s3_bucket")
        env = {"TOOLTOOL_STORE": f"s3://{BUCKET}/", "TOOLTOOL_S3_ENDPOINT_URL": endpoint}
    # Injected outages answer 503 after this long instead of the production 10 s of retries.
    env["TOOLTOOL_STORE_RETRY_DEADLINE"] = TEST_RETRY_DEADLINE
    if "index_mode" in request.fixturenames:
        env["TOOLTOOL_INDEX"] = request.getfixturevalue("index_mode")
    return env


@dataclass
class Proxy:
    """A running proxy and a client that signs requests as tooltool.py does."""

    url: str
    app: web.Application
    session: aiohttp.ClientSession
    env: dict[str, str] = field(default_factory=dict)

    @property
    def config(self) -> Config:
        from proxy.context import CONFIG

        return self.app[CONFIG]

    @property
    def store(self) -> ObjectStore:
        return self.app[STORE]

    @property
    def index(self) -> FileIndex:
        return self.app[INDEX]

    def headers_for(
        self, creds: Creds | None, method: str, path: str, body: bytes | None = None, style: str = "tooltool"
    ) -> dict[str, str]:
        headers: dict[str, str] = {}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if creds is None:
            return headers
        url = self.url + path
        if style == "tooltool":
            headers["Authorization"] = tooltool_header(creds.client_id, creds.access_token, method, url, body)
        else:
            headers["Authorization"] = taskcluster_header(creds.client_id, creds.access_token, method, url, body)
        return headers

    async def request(
        self,
        method: str,
        path: str,
        creds: Creds | None = None,
        body: bytes | None = None,
        style: str = "tooltool",
        headers: dict[str, str] | None = None,
    ) -> aiohttp.ClientResponse:
        all_headers = self.headers_for(creds, method, path, body, style)
        all_headers.update(headers or {})
        response = await self.session.request(
            method, self.url + path, data=body, headers=all_headers, allow_redirects=False
        )
        await response.read()
        return response

    async def upload_batch(self, creds: Creds, files: dict[str, bytes], visibility: str = "public") -> Any:
        body = json.dumps(
            {
                "message": "Bug 1: test upload",
                "files": {
                    name: {
                        "size": len(data),
                        "digest": hashlib.sha512(data).hexdigest(),
                        "algorithm": "sha512",
                        "visibility": visibility,
                    }
                    for name, data in files.items()
                },
            }
        ).encode()
        response = await self.request("POST", "/upload", creds, body)
        assert response.status == 200, await response.text()
        return (await response.json())["result"]

    async def put(self, put_url: str, data: bytes) -> int:
        """PUT as tooltool.py does: only Content-Type and Content-Length, no Authorization."""
        async with self.session.put(
            put_url,
            data=data,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(data))},
        ) as response:
            await response.read()
            return response.status

    async def upload(self, creds: Creds, name: str, data: bytes, visibility: str = "public") -> str:
        """The whole tooltool.py sequence for one file; returns its digest."""
        digest = hashlib.sha512(data).hexdigest()
        result = await self.upload_batch(creds, {name: data}, visibility)
        put_url = result["files"][name].get("put_url")
        if put_url:
            assert await self.put(put_url, data) == 200
            response = await self.request("GET", f"/upload/complete/sha512/{digest}", creds)
            assert response.status == 202, await response.text()
        return digest

    async def snapshot(self) -> dict[str, str]:
        """Every key of the store with its ETag: compare before and after to prove nothing changed.

        The replay guard's markers (`replay/`) are left out: every signed request that changes
        something leaves one, whether it is then refused or not, and they hold no data."""
        keys = [key async for key in self.store.list_keys("") if not key.startswith(REPLAY_PREFIX)]
        infos = [await self.store.head(key) for key in keys]
        return {info.key: info.etag for info in infos if info is not None}


ProxyFactory = Callable[..., Awaitable[Proxy]]


@pytest.fixture
async def make_proxy(store_env: dict[str, str], clients_file: Path) -> AsyncIterator[ProxyFactory]:
    """Start proxies on the parametrized store; keyword arguments become TOOLTOOL_* overrides."""
    servers: list[TestServer] = []
    sessions: list[aiohttp.ClientSession] = []

    async def start(store_opener: StoreOpener = open_location, **overrides: str) -> Proxy:
        port = free_port()
        env = {
            **store_env,
            "TOOLTOOL_CLIENTS_FILE": str(clients_file),
            "TOOLTOOL_PUBLIC_URL": f"http://127.0.0.1:{port}",
            **{f"TOOLTOOL_{k.upper()}": v for k, v in overrides.items()},
        }
        app = create_app(load_config(env), store_opener=store_opener)
        server = TestServer(app, host="127.0.0.1", port=port)
        # As `tooltool-proxy serve` runs it: no aiohttp access log (it would log query strings).
        await server.start_server(access_log=None)
        servers.append(server)
        session = aiohttp.ClientSession()
        sessions.append(session)
        return Proxy(url=f"http://127.0.0.1:{port}", app=app, session=session, env=env)

    yield start
    for session in sessions:
        await session.close()
    for server in servers:
        with contextlib.suppress(Exception):
            await server.close()


@pytest.fixture
async def proxy(make_proxy: ProxyFactory) -> Proxy:
    """A proxy with default settings on the parametrized store (downloads redirect on S3)."""
    return await make_proxy()
