"""Transient store errors do not reach tooltool.py (issue 8 §6): its retry helper raises on the
first failure, so a store call that fails for less than TOOLTOOL_STORE_RETRY_DEADLINE (2 s in
the tests) is retried by the proxy and the request answers as if nothing happened; a failure
that outlasts the deadline, or one that is not transient, still answers 503 with Retry-After;
a streamed download whose store connection drops mid-transfer is resumed from the next byte."""

import asyncio
import hashlib
import io
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from proxy.config import Config, StoreLocation
from proxy.keys import UPLOADS_PREFIX, artifact_key
from proxy.storage import StoreUnavailable
from proxy.stores import open_location
from tests.support.credentials import ADMIN
from tests.support.faults import FaultyStore
from tests.support.proxies import Proxy, ProxyFactory

DATA = b"bytes that must arrive although the store hiccups\n" * 100
DIGEST = hashlib.sha512(DATA).hexdigest()
# Several store chunks, and a size no chunk size divides.
LARGE = os.urandom(3 * 1024 * 1024 + 1234)
LARGE_DIGEST = hashlib.sha512(LARGE).hexdigest()
# Where the store connection drops: inside a chunk, well before the end.
BREAK_AFTER = 1024 * 1024 + 4321

FaultyFactory = Callable[..., Awaitable[tuple[Proxy, FaultyStore]]]


@pytest.fixture
def make_faulty(make_proxy: ProxyFactory) -> FaultyFactory:
    """A proxy whose real store (local or moto) sits behind a FaultyStore; keyword arguments
    are TOOLTOOL_* overrides as for make_proxy."""

    async def start(**overrides: str) -> tuple[Proxy, FaultyStore]:
        wrapped: list[FaultyStore] = []

        async def opener(location: StoreLocation, region: str, config: Config) -> Any:
            wrapped.append(FaultyStore(await open_location(location, region, config)))
            return wrapped[-1]

        proxy = await make_proxy(store_opener=opener, **overrides)
        [store] = wrapped
        return proxy, store

    return start


def download_status(proxy: Proxy) -> int:
    """What a download answers when all is well: the bytes, or a redirect to a signed URL."""
    return 200 if proxy.config.streams_downloads else 302


def batch_body(name: str = "f.bin", data: bytes = DATA) -> bytes:
    digest = hashlib.sha512(data).hexdigest()
    files = {name: {"size": len(data), "digest": digest, "algorithm": "sha512", "visibility": "public"}}
    return json.dumps({"message": "Bug 8: transient store errors", "files": files}).encode()


def assert_spent(store: FaultyStore, operation: str) -> None:
    """The injected failures did happen (the request went through the faulty call)."""
    assert store.faults[operation].times == 0, f"{operation} was not called as often as it was made to fail"


async def assert_unavailable(response: Any) -> None:
    assert response.status == 503, await response.text()
    assert int(response.headers["Retry-After"]) > 0
    assert (await response.json())["status"] == 503


@pytest.mark.parametrize("times", [1, 2])
async def test_reads_failing_briefly_do_not_reach_a_download(make_faulty: FaultyFactory, times: int) -> None:
    proxy, store = await make_faulty()
    await proxy.upload(ADMIN, "f.bin", DATA)
    proxy.index.cache.clear()
    store.fail("read", times=times)
    response = await proxy.request("GET", f"/sha512/{DIGEST}")
    assert response.status == download_status(proxy), await response.text()
    assert_spent(store, "read")
    if response.status == 200:
        assert await response.read() == DATA


@pytest.mark.parametrize("times", [1, 2])
async def test_heads_failing_briefly_do_not_reach_a_metadata_get(make_faulty: FaultyFactory, times: int) -> None:
    # In tags mode every lookup HEADs the bytes (their size and regions come from the store).
    proxy, store = await make_faulty(index="tags")
    await proxy.upload(ADMIN, "f.bin", DATA)
    proxy.index.cache.clear()
    store.fail("head", times=times)
    response = await proxy.request("GET", f"/file/sha512/{DIGEST}")
    assert response.status == 200, await response.text()
    assert_spent(store, "head")
    assert (await response.json())["digest"] == DIGEST


@pytest.mark.parametrize("times", [1, 2])
async def test_writes_failing_briefly_do_not_reach_post_upload(make_faulty: FaultyFactory, times: int) -> None:
    proxy, store = await make_faulty()
    store.fail("write", times=times, key_prefix=UPLOADS_PREFIX)  # the pending-upload record
    response = await proxy.request("POST", "/upload", ADMIN, batch_body())
    assert response.status == 200, await response.text()
    assert_spent(store, "write")
    # The record the failed writes were for did land: the upload completes.
    put_url = (await response.json())["result"]["files"]["f.bin"]["put_url"]
    assert await proxy.put(put_url, DATA) == 200
    complete = await proxy.request("GET", f"/upload/complete/sha512/{DIGEST}", ADMIN)
    assert complete.status == 202, await complete.text()


@pytest.mark.parametrize("times", [1, 2])
async def test_copies_failing_briefly_do_not_reach_upload_complete(make_faulty: FaultyFactory, times: int) -> None:
    proxy, store = await make_faulty()
    response = await proxy.request("POST", "/upload", ADMIN, batch_body())
    assert response.status == 200, await response.text()
    assert await proxy.put((await response.json())["result"]["files"]["f.bin"]["put_url"], DATA) == 200
    store.fail("copy_if_unchanged", times=times)
    complete = await proxy.request("GET", f"/upload/complete/sha512/{DIGEST}", ADMIN)
    assert complete.status == 202, await complete.text()
    assert_spent(store, "copy_if_unchanged")
    download = await proxy.request("GET", f"/sha512/{DIGEST}")
    assert download.status == download_status(proxy), await download.text()


@pytest.mark.parametrize("times", [1, 2])
async def test_listings_failing_briefly_do_not_reach_a_search(make_faulty: FaultyFactory, times: int) -> None:
    proxy, store = await make_faulty()
    await proxy.upload(ADMIN, "transient-search.bin", DATA)
    store.fail("list_keys", times=times)
    response = await proxy.request("GET", "/file?q=transient-search")
    assert response.status == 200, await response.text()
    assert_spent(store, "list_keys")
    assert [found["digest"] for found in (await response.json())["result"]] == [DIGEST]


async def test_a_read_failing_past_the_deadline_answers_503_with_retry_after(make_faulty: FaultyFactory) -> None:
    proxy, store = await make_faulty()
    await proxy.upload(ADMIN, "f.bin", DATA)
    proxy.index.cache.clear()
    store.fail("read")
    before = store.calls.get("read", 0)
    await assert_unavailable(await proxy.request("GET", f"/sha512/{DIGEST}", ADMIN))
    assert store.calls["read"] - before > 1, "the failing read was not retried before the 503"
    store.heal()
    response = await proxy.request("GET", f"/sha512/{DIGEST}", ADMIN)
    assert response.status == download_status(proxy), await response.text()


async def test_a_write_failing_past_the_deadline_answers_503_with_retry_after(make_faulty: FaultyFactory) -> None:
    proxy, store = await make_faulty()
    store.fail("write", key_prefix=UPLOADS_PREFIX)
    before = store.calls.get("write", 0)
    await assert_unavailable(await proxy.request("POST", "/upload", ADMIN, batch_body()))
    assert store.calls["write"] - before > 1, "the failing write was not retried before the 503"


async def test_a_non_transient_store_error_answers_503_at_once_without_retrying(make_faulty: FaultyFactory) -> None:
    proxy, store = await make_faulty()
    await proxy.upload(ADMIN, "f.bin", DATA)
    proxy.index.cache.clear()
    store.fail("read", error=StoreUnavailable("S3 refused the request (AccessDenied)", transient=False))
    before = store.calls.get("read", 0)
    await assert_unavailable(await proxy.request("GET", f"/sha512/{DIGEST}", ADMIN))
    assert store.calls["read"] - before == 1


async def upload_large(proxy: Proxy, name: str, data: bytes) -> None:
    """Proxy.upload for bytes too large for aiohttp to send from a bytes object in one go."""
    digest = hashlib.sha512(data).hexdigest()
    put_url = (await proxy.upload_batch(ADMIN, {name: data}))["files"][name]["put_url"]
    headers = {"Content-Type": "application/octet-stream", "Content-Length": str(len(data))}
    async with proxy.session.put(put_url, data=io.BytesIO(data), headers=headers) as response:
        assert response.status == 200, await response.text()
    complete = await proxy.request("GET", f"/upload/complete/sha512/{digest}", ADMIN)
    assert complete.status == 202, await complete.text()


# A download that stalls (the proxy stopped sending, the connection stays open) fails the test
# instead of hanging it until aiohttp's five-minute default.
STALL_SECONDS = 60


async def download(proxy: Proxy, headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
    """GET the large file: status, headers and every byte of the body."""
    async with asyncio.timeout(STALL_SECONDS):
        response = await proxy.request("GET", f"/sha512/{LARGE_DIGEST}", headers=headers)
        return response.status, response.headers, await response.read()


async def streaming_proxy_with(make_faulty: FaultyFactory, data: bytes) -> tuple[Proxy, FaultyStore]:
    """A proxy that streams downloads (the local store always does; on S3 by configuration)
    holding `data`, with the open_range calls seen so far forgotten."""
    proxy, store = await make_faulty(download="stream")
    await upload_large(proxy, "large.bin", data)
    store.ranges_opened.clear()
    return proxy, store


async def test_a_stream_dropped_mid_download_is_resumed_and_the_client_gets_exactly_the_bytes(
    make_faulty: FaultyFactory,
) -> None:
    proxy, store = await streaming_proxy_with(make_faulty, LARGE)
    store.break_stream(after=BREAK_AFTER)
    status, _headers, body = await download(proxy)
    assert status == 200, body[:1000]
    assert len(body) == len(LARGE)
    assert hashlib.sha512(body).hexdigest() == LARGE_DIGEST
    # Resumed with a range read from the first byte the client had not received.
    key, last = artifact_key(LARGE_DIGEST), len(LARGE) - 1
    assert store.ranges_opened == [(key, 0, last), (key, BREAK_AFTER, last)]


async def test_a_stream_dropped_mid_range_request_is_resumed_and_the_client_gets_exactly_its_range(
    make_faulty: FaultyFactory,
) -> None:
    proxy, store = await streaming_proxy_with(make_faulty, LARGE)
    first, last = 100_000, len(LARGE) - 200_000
    store.break_stream(after=BREAK_AFTER)
    status, headers, body = await download(proxy, {"Range": f"bytes={first}-{last}"})
    assert status == 206, body[:1000]
    assert headers["Content-Range"] == f"bytes {first}-{last}/{len(LARGE)}"
    assert hashlib.sha512(body).hexdigest() == hashlib.sha512(LARGE[first : last + 1]).hexdigest()
    assert len(body) == last - first + 1
    key = artifact_key(LARGE_DIGEST)
    assert store.ranges_opened == [(key, first, last), (key, first + BREAK_AFTER, last)]


async def test_a_stream_dropped_twice_is_resumed_twice(make_faulty: FaultyFactory) -> None:
    proxy, store = await streaming_proxy_with(make_faulty, LARGE)
    store.break_stream(after=BREAK_AFTER, times=2)
    status, _headers, body = await download(proxy)
    assert status == 200, body[:1000]
    assert hashlib.sha512(body).hexdigest() == LARGE_DIGEST
    key, last = artifact_key(LARGE_DIGEST), len(LARGE) - 1
    assert store.ranges_opened == [(key, 0, last), (key, BREAK_AFTER, last), (key, 2 * BREAK_AFTER, last)]


async def test_a_stream_that_fails_for_good_mid_download_cuts_the_connection_at_once(
    make_faulty: FaultyFactory,
) -> None:
    """After the status line no error body can follow: the client must see a short read at
    once (tooltool.py then fails its size check), not wait for its own timeout."""
    proxy, store = await streaming_proxy_with(make_faulty, LARGE)
    store.break_stream(after=BREAK_AFTER, error=StoreUnavailable("access denied", transient=False))
    async with asyncio.timeout(10):  # far below any client's own timeout
        response = await proxy.session.get(f"{proxy.url}/sha512/{LARGE_DIGEST}")
        assert response.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()


async def test_a_stream_that_breaks_without_progress_gives_up_after_the_deadline(
    make_faulty: FaultyFactory,
) -> None:
    """Every re-open succeeds but every stream breaks before its first byte: resuming must stop
    once the retry deadline has passed, and the connection be cut, rather than loop for ever."""
    proxy, store = await streaming_proxy_with(make_faulty, LARGE)
    store.break_stream(after=BREAK_AFTER)
    store.break_stream(after=0, times=100_000)
    async with asyncio.timeout(STALL_SECONDS):
        response = await proxy.session.get(f"{proxy.url}/sha512/{LARGE_DIGEST}")
        assert response.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
    assert len(store.ranges_opened) < 100_000
