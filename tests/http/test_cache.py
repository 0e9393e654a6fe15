"""The metadata cache: LookupCache on its own, then what it saves the object store per download.

DESIGN.md §3: a download's metadata comes from the cache; a miss costs one object-store read,
and concurrent misses for one digest share it. A replica sees its own index writes at once and
admins' hand edits within the TTL.
"""

import asyncio
import contextlib
import hashlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from manifests import IndexEntry, Visibility
from proxy.app import create_app
from proxy.cache import LookupCache
from proxy.config import Config, StoreLocation, load_config
from proxy.storage import ByteStream, ObjectInfo, ObjectStore, Versioned
from proxy.stores import open_location
from tests.support.capabilities import signing
from tests.support.net import free_port
from tests.support.proxies import Proxy, ProxyFactory

DATA = b"hot artifact bytes"
DIGEST = hashlib.sha512(DATA).hexdigest()


class FakeClock:
    """A timer for the cache that only moves when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Loader:
    """A load function that counts its calls and can be held at a gate."""

    def __init__(self, value: str | None = "value", error: Exception | None = None) -> None:
        self.value = value
        self.error = error
        self.calls: Counter[str] = Counter()
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, key: str) -> str | None:
        self.calls[key] += 1
        await self.gate.wait()
        await asyncio.sleep(0)  # let every concurrent caller arrive while the load is in flight
        if self.error is not None:
            raise self.error
        return self.value


class CountingStore(ObjectStore):
    """The real store, with a count of every request made on it."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.region = inner.region
        self.calls: Counter[str] = Counter()

    async def head(self, key: str) -> ObjectInfo | None:
        self.calls["head"] += 1
        return await self.inner.head(key)

    async def read(self, key: str) -> bytes | None:
        self.calls["read"] += 1
        return await self.inner.read(key)

    async def read_versioned(self, key: str) -> Versioned | None:
        self.calls["read"] += 1
        return await self.inner.read_versioned(key)

    async def write(self, key: str, data: bytes, content_type: str = "application/json", **condition: Any) -> str:
        self.calls["write"] += 1
        return await self.inner.write(key, data, content_type, **condition)

    async def write_stream(self, key: str, chunks: AsyncIterator[bytes], size: int) -> ObjectInfo:
        self.calls["write_stream"] += 1
        return await self.inner.write_stream(key, chunks, size)

    async def open_range(self, key: str, start: int = 0, end: int | None = None) -> ByteStream:
        self.calls["open_range"] += 1
        return await self.inner.open_range(key, start, end)

    async def delete(self, key: str) -> None:
        self.calls["delete"] += 1
        await self.inner.delete(key)

    async def list_keys(self, prefix: str, start_after: str | None = None) -> AsyncIterator[str]:
        self.calls["list_keys"] += 1
        async for key in self.inner.list_keys(prefix, start_after):
            yield key

    async def copy_if_unchanged(
        self, source: str, destination: str, etag: str, size: int, tags: dict[str, str] | None = None
    ) -> None:
        self.calls["copy_if_unchanged"] += 1
        await self.inner.copy_if_unchanged(source, destination, etag, size, tags)

    async def ping(self) -> None:
        self.calls["ping"] += 1
        await self.inner.ping()

    async def presign_get(self, key: str, expires_in: int) -> str | None:
        self.calls["presign_get"] += 1  # computed locally, but counted all the same
        return await signing(self.inner).presign_get(key, expires_in)

    async def presign_put(self, key: str, expires_in: int) -> str | None:
        self.calls["presign_put"] += 1
        return await signing(self.inner).presign_put(key, expires_in)

    async def close(self) -> None:
        await self.inner.close()


async def publish(store: ObjectStore, visibility: Visibility = Visibility.PUBLIC) -> IndexEntry:
    """Artifact bytes and their index object, written straight to the bucket (no cache involved)."""
    entry = IndexEntry(digest=DIGEST, size=len(DATA), visibility=visibility, instances=("us-east-1",))
    await store.write(f"sha512/{DIGEST}", DATA, "application/octet-stream")
    await store.write(f"index/sha512/{DIGEST}.json", entry.to_json())
    return entry


def success_status(proxy: Proxy) -> int:
    return 200 if proxy.config.streams_downloads else 302


@pytest.fixture
async def counted(store_env: dict[str, str], clients_file: Path) -> AsyncIterator[tuple[Proxy, CountingStore]]:
    """A proxy (same settings as `make_proxy`) whose store counts the requests made on it."""
    port = free_port()
    env = {
        **store_env,
        "TOOLTOOL_CLIENTS_FILE": str(clients_file),
        "TOOLTOOL_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    stores: list[CountingStore] = []

    async def counting_store(location: StoreLocation, region: str, config: Config) -> ObjectStore:
        stores.append(CountingStore(await open_location(location, region, config)))
        return stores[-1]

    app = create_app(load_config(env), store_opener=counting_store)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server(access_log=None)
    async with aiohttp.ClientSession() as session:
        try:
            yield Proxy(url=f"http://127.0.0.1:{port}", app=app, session=session, env=env), stores[0]
        finally:
            with contextlib.suppress(Exception):
                await server.close()


# --- LookupCache --------------------------------------------------------------------------------


async def test_found_value_is_served_from_cache_until_the_ttl_expires() -> None:
    clock, load = FakeClock(), Loader("entry")
    cache: LookupCache[str, str] = LookupCache(maxsize=10, ttl=60, negative_ttl=5, timer=clock)
    assert await cache.get("d", load) == "entry"
    clock.now += 59
    assert await cache.get("d", load) == "entry"
    assert load.calls["d"] == 1
    clock.now += 2
    assert await cache.get("d", load) == "entry"
    assert load.calls["d"] == 2


async def test_missing_value_is_cached_only_for_the_negative_ttl() -> None:
    clock, load = FakeClock(), Loader(None)
    cache: LookupCache[str, str] = LookupCache(maxsize=10, ttl=60, negative_ttl=5, timer=clock)
    assert await cache.get("d", load) is None
    clock.now += 4
    assert await cache.get("d", load) is None
    assert load.calls["d"] == 1
    clock.now += 2
    assert await cache.get("d", load) is None
    assert load.calls["d"] == 2


async def test_concurrent_misses_for_one_key_share_one_load() -> None:
    load = Loader("entry")
    load.gate.clear()
    cache: LookupCache[str, str] = LookupCache(maxsize=10, ttl=60, negative_ttl=5)
    waiters = asyncio.gather(*(cache.get("d", load) for _ in range(50)))
    await asyncio.sleep(0.01)
    load.gate.set()
    assert await waiters == ["entry"] * 50
    assert load.calls["d"] == 1


async def test_cancelling_the_first_caller_does_not_cancel_the_shared_load() -> None:
    load = Loader("entry")
    load.gate.clear()
    cache: LookupCache[str, str] = LookupCache(maxsize=10, ttl=60, negative_ttl=5)
    first = asyncio.ensure_future(cache.get("d", load))
    await asyncio.sleep(0.01)
    others = asyncio.gather(*(cache.get("d", load) for _ in range(5)))
    await asyncio.sleep(0.01)
    first.cancel()
    load.gate.set()
    assert await others == ["entry"] * 5
    assert first.cancelled()
    assert load.calls["d"] == 1


async def test_failed_load_reaches_every_waiter_and_is_not_cached() -> None:
    failing = Loader(error=RuntimeError("store unavailable"))
    failing.gate.clear()
    cache: LookupCache[str, str] = LookupCache(maxsize=10, ttl=60, negative_ttl=5)
    waiters = asyncio.gather(*(cache.get("d", failing) for _ in range(10)), return_exceptions=True)
    await asyncio.sleep(0.01)
    failing.gate.set()
    outcomes = await waiters
    assert all(isinstance(outcome, RuntimeError) for outcome in outcomes), outcomes
    assert failing.calls["d"] == 1
    working = Loader("entry")
    assert await cache.get("d", working) == "entry"
    assert working.calls["d"] == 1


async def test_invalidate_during_a_load_keeps_its_result_out_of_the_cache() -> None:
    stale = Loader("old")
    stale.gate.clear()
    cache: LookupCache[str, str] = LookupCache(maxsize=10, ttl=60, negative_ttl=5)
    in_flight = asyncio.create_task(cache.get("d", stale))
    await asyncio.sleep(0.01)
    cache.invalidate("d")
    stale.gate.set()
    assert await in_flight == "old"
    fresh = Loader("new")
    assert await cache.get("d", fresh) == "new"
    assert fresh.calls["d"] == 1


@pytest.mark.parametrize("value", ["entry", None], ids=["found", "missing"])
async def test_cache_holds_at_most_maxsize_keys(value: str | None) -> None:
    load = Loader(value)
    cache: LookupCache[str, str] = LookupCache(maxsize=2, ttl=60, negative_ttl=60)
    for key in ("a", "b", "c"):
        await cache.get(key, load)
    await cache.get("a", load)
    assert load.calls == {"a": 2, "b": 1, "c": 1}


# --- through the proxy ----------------------------------------------------------------------------


async def test_hot_downloads_make_no_store_request_per_download(counted: tuple[Proxy, CountingStore]) -> None:
    proxy, store = counted
    await publish(store.inner)
    store.calls.clear()  # what start-up did (the conditional-write probe) is not a download
    for _ in range(200):
        response = await proxy.request("GET", f"/sha512/{DIGEST}")
        assert response.status == success_status(proxy)
    assert store.calls["read"] + store.calls["head"] <= 2
    assert store.calls["presign_get"] <= 1
    # Streaming must still open the bytes for each download; that is the only per-download request.
    assert store.calls["open_range"] == (200 if proxy.config.streams_downloads else 0)
    assert set(store.calls) <= {"read", "head", "presign_get", "open_range"}


async def test_concurrent_cold_downloads_share_one_index_read(counted: tuple[Proxy, CountingStore]) -> None:
    proxy, store = counted
    await publish(store.inner)
    store.calls.clear()  # what start-up did (the conditional-write probe) is not a download
    responses = await asyncio.gather(*(proxy.request("GET", f"/sha512/{DIGEST}") for _ in range(50)))
    assert [r.status for r in responses] == [success_status(proxy)] * 50
    assert store.calls["read"] == 1
    assert store.calls["head"] == 0


async def test_index_write_on_this_replica_applies_to_the_next_download(proxy: Proxy) -> None:
    entry = await publish(proxy.store)
    assert (await proxy.request("GET", f"/sha512/{DIGEST}")).status == success_status(proxy)
    await proxy.index.save(replace(entry, visibility=Visibility.INTERNAL))
    assert (await proxy.request("GET", f"/sha512/{DIGEST}")).status == 403


async def test_hand_edit_of_the_index_is_seen_within_the_cache_ttl(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(cache_ttl="1")
    entry = await publish(proxy.store)
    assert (await proxy.request("GET", f"/sha512/{DIGEST}")).status == success_status(proxy)
    await proxy.store.write(f"index/sha512/{DIGEST}.json", replace(entry, visibility=Visibility.INTERNAL).to_json())
    edited = time.monotonic()
    while (await proxy.request("GET", f"/sha512/{DIGEST}")).status != 403:
        assert time.monotonic() - edited < 1.2, "the edit was not picked up within the 1 s TTL"
        await asyncio.sleep(0.05)
