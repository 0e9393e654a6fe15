"""Conditional writes (If-Match / If-None-Match) in the store contract, on both stores, and the
compare-and-swap loop built on them, shown with two processes writing one key (issue 8 §1-3)."""

import asyncio
import json
import subprocess
import sys
from typing import Any

import pytest

from proxy.config import Config, StoreLocation
from proxy.storage import ObjectStore, PreconditionFailed
from proxy.storage.cas import CONDITIONS_IGNORED_WARNING, probe_conditional_writes, update_object
from proxy.storage.local import LocalStore
from proxy.stores import open_location
from tests.support.moto import BUCKET
from tests.support.proxies import ProxyFactory

KEY = "index/sha512/counter.json"


async def test_create_if_absent_refuses_an_existing_object(store: ObjectStore) -> None:
    etag = await store.write(KEY, b"first", if_absent=True)
    with pytest.raises(PreconditionFailed):
        await store.write(KEY, b"second", if_absent=True)
    found = await store.read_versioned(KEY)
    assert found is not None
    assert (found.data, found.etag) == (b"first", etag)


async def test_write_if_match_needs_the_etag_that_was_read(store: ObjectStore) -> None:
    first = await store.write(KEY, b"one")
    second = await store.write(KEY, b"two", if_match=first)
    assert second != first
    with pytest.raises(PreconditionFailed):
        await store.write(KEY, b"lost update", if_match=first)  # stale: someone wrote since
    assert await store.read(KEY) == b"two"


async def test_write_if_match_on_a_deleted_object_fails(store: ObjectStore) -> None:
    etag = await store.write(KEY, b"one")
    await store.delete(KEY)
    with pytest.raises(PreconditionFailed):
        await store.write(KEY, b"resurrected", if_match=etag)
    assert await store.read(KEY) is None


async def test_read_versioned_etag_is_the_heads(store: ObjectStore) -> None:
    written = await store.write(KEY, b"{}")
    found = await store.read_versioned(KEY)
    info = await store.head(KEY)
    assert found is not None
    assert info is not None
    assert found.etag == info.etag == written
    assert await store.read_versioned("index/sha512/missing.json") is None


async def test_update_object_merges_concurrent_changes_without_losing_one(store: ObjectStore) -> None:
    def add(item: str) -> Any:
        def change(current: bytes | None) -> bytes:
            items = set(json.loads(current)) if current else set()
            return json.dumps(sorted(items | {item})).encode()

        return change

    await asyncio.gather(*(update_object(store, KEY, add(f"item-{n}")) for n in range(20)))
    assert json.loads(await store.read(KEY) or b"[]") == sorted(f"item-{n}" for n in range(20))


async def test_update_object_writes_nothing_when_the_change_declines(store: ObjectStore) -> None:
    await store.write(KEY, b"same")
    before = await store.head(KEY)
    updated = await update_object(store, KEY, lambda current: current)
    assert updated.written is False
    assert await store.head(KEY) == before


# Each process adds 1 to a counter document INCREMENTS times through update_object.
WRITER = """
import asyncio, json, sys
from proxy.storage.cas import update_object
from proxy.storage.local import LocalStore
from proxy.storage.s3 import S3Store

async def main(kind, where, key, increments):
    store = LocalStore(where) if kind == "local" else await S3Store.connect(sys.argv[5], endpoint_url=where)
    def increment(current):
        return json.dumps((json.loads(current) if current else 0) + 1).encode()
    for _ in range(increments):
        await update_object(store, key, increment)
    await store.close()

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
"""
INCREMENTS = 60


async def test_two_processes_incrementing_one_key_lose_no_increment(
    store: ObjectStore, store_kind: str, request: pytest.FixtureRequest
) -> None:
    where = str(store.root) if isinstance(store, LocalStore) else request.getfixturevalue("moto_endpoint")
    command = [sys.executable, "-c", WRITER, store_kind, where, KEY, str(INCREMENTS), BUCKET]
    writers = [subprocess.Popen(command) for _ in range(2)]
    assert [await asyncio.to_thread(writer.wait, 120) for writer in writers] == [0, 0]
    assert json.loads(await store.read(KEY) or b"0") == 2 * INCREMENTS


class IgnoresConditions:
    """A store that accepts If-Match / If-None-Match and overwrites anyway (as some
    S3-compatible servers do): the real store with the conditions dropped."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner

    async def write(self, key: str, data: bytes, content_type: str = "application/json", **_conditions: Any) -> str:
        return await self.inner.write(key, data, content_type)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_probe_finds_a_store_that_ignores_conditions(store: ObjectStore) -> None:
    assert await probe_conditional_writes(store) is None
    assert store.serialised_writes is None
    ignoring: Any = IgnoresConditions(store)
    assert await probe_conditional_writes(ignoring) == CONDITIONS_IGNORED_WARNING
    assert ignoring.serialised_writes is not None
    assert [key async for key in store.list_keys("probe/")] == []  # the probe cleans up


async def test_a_store_ignoring_conditions_is_named_in_the_log_and_the_heartbeat(
    make_proxy: ProxyFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async def ignoring_opener(location: StoreLocation, region: str, config: Config) -> Any:
        return IgnoresConditions(await open_location(location, region, config))

    proxy = await make_proxy(store_opener=ignoring_opener)
    response = await proxy.request("GET", "/__heartbeat__")
    body = await response.json()
    assert response.status == 200
    assert CONDITIONS_IGNORED_WARNING in body["warnings"]
    assert CONDITIONS_IGNORED_WARNING in caplog.text


async def test_a_store_honouring_conditions_gives_no_warning(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy()
    body = await (await proxy.request("GET", "/__heartbeat__")).json()
    assert CONDITIONS_IGNORED_WARNING not in body.get("warnings", [])
