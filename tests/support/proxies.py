"""A proxy running in the test's event loop, with a client that signs requests as tooltool.py does."""

import contextlib
import hashlib
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from proxy.app import create_app
from proxy.config import Config, load_config
from proxy.http.context import CONFIG, INDEX, STORE
from proxy.index import FileIndex
from proxy.keys import REPLAY_PREFIX
from proxy.storage import ObjectStore
from proxy.stores import StoreOpener, open_location
from tests.support.credentials import Creds
from tests.support.hawk import taskcluster_header, tooltool_header
from tests.support.moto import BUCKET
from tests.support.net import free_port

# Injected outages answer 503 after this long instead of the production 10 s of retries.
TEST_RETRY_DEADLINE = "2"


def store_env_for(kind: str, data_dir: Path, moto_endpoint: str | None = None) -> dict[str, str]:
    """TOOLTOOL_* variables selecting a store of `kind` ("local": data_dir; "s3": BUCKET on moto)."""
    if kind == "s3":
        assert moto_endpoint is not None, "an s3 store needs moto's endpoint"
        env = {"TOOLTOOL_STORE": f"s3://{BUCKET}/", "TOOLTOOL_S3_ENDPOINT_URL": moto_endpoint}
    else:
        env = {"TOOLTOOL_STORE": f"file://{data_dir}"}
    env["TOOLTOOL_STORE_RETRY_DEADLINE"] = TEST_RETRY_DEADLINE
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

    async def start_files(
        self, creds: Creds, files: dict[str, tuple[bytes, str]], message: str = "Bug 1: test upload"
    ) -> Any:
        """POST /upload of {filename: (bytes, visibility)}, which must be a 200; its result."""
        body = json.dumps(
            {
                "message": message,
                "files": {
                    name: {
                        "size": len(data),
                        "digest": hashlib.sha512(data).hexdigest(),
                        "algorithm": "sha512",
                        "visibility": visibility,
                    }
                    for name, (data, visibility) in files.items()
                },
            }
        ).encode()
        response = await self.request("POST", "/upload", creds, body)
        assert response.status == 200, await response.text()
        return (await response.json())["result"]

    async def upload_files(
        self, creds: Creds, files: dict[str, tuple[bytes, str]], message: str = "Bug 1: test upload"
    ) -> Any:
        """The whole tooltool.py sequence for one batch (POST /upload, the PUTs, upload/complete);
        the POST /upload result."""
        result = await self.start_files(creds, files, message)
        for name, (data, _) in files.items():
            put_url = result["files"][name].get("put_url")
            if put_url:
                assert await self.put(put_url, data) == 200
                digest = hashlib.sha512(data).hexdigest()
                response = await self.request("GET", f"/upload/complete/sha512/{digest}", creds)
                assert response.status == 202, await response.text()
        return result

    async def upload_batch(self, creds: Creds, files: dict[str, bytes], visibility: str = "public") -> Any:
        return await self.start_files(creds, {name: (data, visibility) for name, data in files.items()})

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
        await self.upload_files(creds, {name: (data, visibility)})
        return hashlib.sha512(data).hexdigest()

    async def download(self, digest: str, creds: Creds | None = None) -> tuple[int, bytes]:
        """GET /sha512/<d> as tooltool.py does: follow a redirect with a plain GET (no Authorization)."""
        response = await self.request("GET", f"/sha512/{digest}", creds)
        if response.status != 302:
            return response.status, await response.read()
        async with self.session.get(response.headers["Location"]) as redirected:
            return redirected.status, await redirected.read()

    async def snapshot(self) -> dict[str, str]:
        """Every key of the store with its ETag: compare before and after to prove nothing changed.

        The replay guard's markers (`replay/`) are left out: every signed request that changes
        something leaves one, whether it is then refused or not, and they hold no data."""
        keys = [key async for key in self.store.list_keys("") if not key.startswith(REPLAY_PREFIX)]
        infos = [await self.store.head(key) for key in keys]
        return {info.key: info.etag for info in infos if info is not None}


ProxyFactory = Callable[..., Awaitable[Proxy]]


class ProxyPool:
    """Proxies started in the running event loop (make_proxy's), closed together."""

    def __init__(self, base_env: dict[str, str]) -> None:
        self.base_env = base_env
        self.servers: list[TestServer] = []
        self.sessions: list[aiohttp.ClientSession] = []

    async def start(self, store_opener: StoreOpener = open_location, **overrides: str) -> Proxy:
        """Keyword arguments become TOOLTOOL_* overrides of base_env."""
        port = free_port()
        env = {
            **self.base_env,
            "TOOLTOOL_PUBLIC_URL": f"http://127.0.0.1:{port}",
            **{f"TOOLTOOL_{k.upper()}": v for k, v in overrides.items()},
        }
        app = create_app(load_config(env), store_opener=store_opener)
        server = TestServer(app, host="127.0.0.1", port=port)
        # As `tooltool-proxy serve` runs it: no aiohttp access log (it would log query strings).
        await server.start_server(access_log=None)
        self.servers.append(server)
        session = aiohttp.ClientSession()
        self.sessions.append(session)
        return Proxy(url=f"http://127.0.0.1:{port}", app=app, session=session, env=env)

    async def close(self) -> None:
        for session in self.sessions:
            await session.close()
        for server in self.servers:
            with contextlib.suppress(Exception):
                await server.close()


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


def count_store_calls(proxy: Proxy, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Count the proxy's calls on its home store, by method (list_keys is left out: no
    download path lists keys; so are the capabilities the store does not have)."""
    calls: Counter[str] = Counter()
    for name in STORE_METHODS:
        original: Callable[..., Awaitable[Any]] | None = getattr(proxy.store, name, None)
        if original is None:
            continue

        async def counted(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            calls[_name] += 1
            return await _original(*args, **kwargs)

        monkeypatch.setattr(proxy.store, name, counted)
    return calls
