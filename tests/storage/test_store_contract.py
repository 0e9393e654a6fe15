"""The ObjectStore contract (proxy/storage/base.py), run against LocalStore and S3Store on moto.

The proxy is written against this interface only, so both backends must agree on every
behaviour here; the few things moto cannot show (conditional copies) are checked on the wire.
"""

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from botocore.retries.standard import ExponentialBackoff
from yarl import URL

from proxy.storage import (
    LengthMismatch,
    ObjectNotFound,
    ObjectStore,
    PreconditionFailed,
    StoreUnavailable,
    keeps_tags,
    signs_urls,
)
from proxy.storage import local as local_store_module
from proxy.storage.s3 import MULTIPART_PART_SIZE, S3Store
from tests.support.capabilities import keeping_tags, signing
from tests.support.moto import BUCKET
from tests.support.net import free_port

SMALL = 1000
LARGE = MULTIPART_PART_SIZE + 1024 * 1024  # large enough for S3Store's multipart path


async def chunked(data: bytes, chunk_size: int = 256 * 1024) -> AsyncIterator[bytes]:
    for offset in range(0, len(data), chunk_size):
        yield data[offset : offset + chunk_size]


async def read_range(store: ObjectStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in await store.open_range(key, start, end)])


async def keys(store: ObjectStore, prefix: str = "") -> list[str]:
    return [key async for key in store.list_keys(prefix)]


def pattern(size: int) -> bytes:
    """Bytes whose every offset is distinguishable, so a wrong range cannot pass by accident."""
    return (bytes(range(251)) * (size // 251 + 1))[:size]


async def test_head_of_missing_key_is_none(store: ObjectStore) -> None:
    assert await store.head("sha512/missing") is None


async def test_read_of_missing_key_is_none(store: ObjectStore) -> None:
    assert await store.read("index/sha512/missing.json") is None


async def test_written_bytes_read_back(store: ObjectStore) -> None:
    await store.write("batches/1.json", b'{"id": 1}')
    assert await store.read("batches/1.json") == b'{"id": 1}'


async def test_head_reports_size_and_an_etag_stable_across_heads(store: ObjectStore) -> None:
    await store.write("sha512/abc", b"0123456789")
    first = await store.head("sha512/abc")
    second = await store.head("sha512/abc")
    assert first is not None
    assert (first.key, first.size) == ("sha512/abc", 10)
    assert first.etag
    assert second == first


async def test_rewrite_changes_the_etag(store: ObjectStore) -> None:
    await store.write("sha512/abc", b"old bytes")
    before = await store.head("sha512/abc")
    await store.write("sha512/abc", b"new bytes!")
    after = await store.head("sha512/abc")
    assert before is not None
    assert after is not None
    assert after.etag != before.etag
    assert after.size == 10


async def test_write_replaces_atomically(store: ObjectStore) -> None:
    old, new = b"a" * 256 * 1024, b"b" * 256 * 1024
    await store.write("index/sha512/x.json", old)
    for _ in range(3):
        results = await asyncio.gather(
            *(store.write("index/sha512/x.json", new if i % 2 else old) for i in range(4)),
            *(store.read("index/sha512/x.json") for _ in range(8)),
        )
        assert all(seen in (old, new) for seen in results[4:]), "a reader saw a partial object"
    assert await keys(store) == ["index/sha512/x.json"], "a temporary object is visible"


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["small", "multipart"])
async def test_write_stream_of_exact_size_stores_the_bytes(store: ObjectStore, size: int) -> None:
    data = pattern(size)
    info = await store.write_stream("uploads/d/1", chunked(data), size)
    assert (info.key, info.size) == ("uploads/d/1", size)
    assert info == await store.head("uploads/d/1")
    assert await read_range(store, "uploads/d/1") == data


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["small", "multipart"])
async def test_write_stream_with_too_many_bytes_fails_and_leaves_nothing(store: ObjectStore, size: int) -> None:
    with pytest.raises(LengthMismatch, match="more bytes"):
        await store.write_stream("uploads/d/1", chunked(pattern(size + 1)), size)
    assert await store.head("uploads/d/1") is None
    assert await keys(store) == []


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["small", "multipart"])
async def test_write_stream_with_too_few_bytes_fails_and_leaves_nothing(store: ObjectStore, size: int) -> None:
    with pytest.raises(LengthMismatch, match="fewer bytes"):
        await store.write_stream("uploads/d/1", chunked(pattern(size - 1)), size)
    assert await store.head("uploads/d/1") is None
    assert await keys(store) == []


@pytest.mark.parametrize("store_kind", ["local"])
async def test_a_local_write_stream_cancelled_while_its_file_opens_leaves_no_file_and_no_descriptor(
    store: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = threading.Event()

    def slow_open(path: Path, mode: str) -> Any:
        time.sleep(0.2)  # in the worker thread: the cancellation arrives meanwhile
        file = open(path, mode)  # noqa: SIM115 (the store closes it)
        opened.set()
        return file

    monkeypatch.setattr(local_store_module, "open", slow_open, raising=False)
    descriptors = len(os.listdir("/proc/self/fd"))
    writing = asyncio.create_task(store.write_stream("k", chunked(b"x" * 10), 10))
    await asyncio.sleep(0.05)
    writing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writing
    await asyncio.to_thread(opened.wait, 5)
    await asyncio.sleep(0.05)  # the store's clean-up of what the thread opened

    assert [p.name for p in (tmp_path / "store").rglob("*") if p.is_file() and "lock" not in str(p)] == []
    assert len(os.listdir("/proc/self/fd")) == descriptors


async def test_open_range_without_bounds_yields_the_whole_object(store: ObjectStore) -> None:
    data = pattern(3 * 1024 * 1024 + 7)  # several CHUNK_SIZE chunks
    await store.write("sha512/big", data)
    assert await read_range(store, "sha512/big") == data


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [(0, 0, slice(0, 1)), (10, 19, slice(10, 20)), (990, 999, slice(990, 1000)), (500, None, slice(500, None))],
)
async def test_open_range_yields_the_inclusive_range(
    store: ObjectStore, start: int, end: int | None, expected: slice
) -> None:
    data = pattern(1000)
    await store.write("sha512/abc", data)
    assert await read_range(store, "sha512/abc", start, end) == data[expected]


async def test_open_range_of_missing_key_raises_before_iteration(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound):
        await store.open_range("sha512/missing")


async def test_a_key_prefix_is_not_an_object(store: ObjectStore) -> None:
    await store.write("uploads/d/1", b"staged")
    assert await store.head("uploads/d") is None
    assert await store.read("uploads/d") is None
    with pytest.raises(ObjectNotFound):
        await store.open_range("uploads/d")


async def test_delete_removes_the_object(store: ObjectStore) -> None:
    await store.write("uploads/d/1.json", b"{}")
    await store.delete("uploads/d/1.json")
    assert await store.head("uploads/d/1.json") is None
    assert await store.read("uploads/d/1.json") is None


async def test_delete_of_missing_key_is_not_an_error(store: ObjectStore) -> None:
    await store.delete("uploads/missing/1.json")


async def test_list_keys_filters_by_prefix_in_lexical_order(store: ObjectStore) -> None:
    written = [
        "sha512/ab00",
        "index/sha512/cd.json",
        "index/sha512/ab2.json",
        "index/sha512/ab1.json",
        "index/sha512/abz/nested.json",
        "uploads/ab/1",
        "batches/1.json",
    ]
    for key in written:
        await store.write(key, b"{}")
    assert await keys(store) == sorted(written)
    assert await keys(store, "index/") == [
        "index/sha512/ab1.json",
        "index/sha512/ab2.json",
        "index/sha512/abz/nested.json",
        "index/sha512/cd.json",
    ]
    assert await keys(store, "index/sha512/ab") == [
        "index/sha512/ab1.json",
        "index/sha512/ab2.json",
        "index/sha512/abz/nested.json",
    ]
    assert await keys(store, "sha") == ["sha512/ab00"]
    assert await keys(store, "uploads/ab/") == ["uploads/ab/1"]
    assert await keys(store, "nothing/here") == []


async def test_copy_with_the_current_etag_copies(store: ObjectStore) -> None:
    await store.write("uploads/d/1", b"verified bytes")
    info = await store.head("uploads/d/1")
    assert info is not None
    await store.copy_if_unchanged("uploads/d/1", "sha512/d", info.etag, info.size)
    assert await store.read("sha512/d") == b"verified bytes"
    assert await store.read("uploads/d/1") == b"verified bytes"


@pytest.mark.parametrize("store_kind", ["local"])
async def test_local_copy_with_a_stale_etag_raises_precondition_failed(store: ObjectStore) -> None:
    await store.write("uploads/d/1", b"verified bytes")
    stale = await store.head("uploads/d/1")
    await store.write("uploads/d/1", b"swapped bytes!")
    assert stale is not None
    with pytest.raises(PreconditionFailed):
        await store.copy_if_unchanged("uploads/d/1", "sha512/d", stale.etag, stale.size)
    assert await store.head("sha512/d") is None


@pytest.mark.parametrize("store_kind", ["s3"])
async def test_s3_copy_is_conditioned_on_the_etag(store: ObjectStore) -> None:
    """moto ignores x-amz-copy-source-if-match, so check that S3 would be asked to enforce it."""
    assert isinstance(store, S3Store)
    sent: list[dict[str, Any]] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        sent.append(params["headers"])

    store._client.meta.events.register("before-call.s3.CopyObject", capture)
    await store.write("uploads/d/1", b"verified bytes")
    stale = await store.head("uploads/d/1")
    await store.write("uploads/d/1", b"swapped bytes!")
    assert stale is not None
    await store.copy_if_unchanged("uploads/d/1", "sha512/d", stale.etag, stale.size)
    assert len(sent) == 1
    assert sent[0]["x-amz-copy-source-if-match"] == stale.etag


async def test_copy_of_missing_source_raises_object_not_found(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound):
        await store.copy_if_unchanged("uploads/d/1", "sha512/d", '"0-0-0"', 3)
    assert await store.head("sha512/d") is None


# --- object tags (TOOLTOOL_INDEX=tags keeps the visibility in one) --------------------------------


async def test_tags_of_a_missing_key_are_none(store: ObjectStore) -> None:
    assert await keeping_tags(store).get_tags("sha512/missing") is None


async def test_a_new_object_has_no_tags(store: ObjectStore) -> None:
    await store.write("sha512/d", b"bytes")
    assert await keeping_tags(store).get_tags("sha512/d") == {}


async def test_put_tags_replaces_the_whole_tag_set(store: ObjectStore) -> None:
    await store.write("sha512/d", b"bytes")
    await keeping_tags(store).put_tags("sha512/d", {"visibility": "public", "owner": "releng"})
    assert await keeping_tags(store).get_tags("sha512/d") == {"visibility": "public", "owner": "releng"}
    await keeping_tags(store).put_tags("sha512/d", {"visibility": "internal"})
    assert await keeping_tags(store).get_tags("sha512/d") == {"visibility": "internal"}
    assert await store.read("sha512/d") == b"bytes"


async def test_put_tags_on_a_missing_key_raises_object_not_found(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound):
        await keeping_tags(store).put_tags("sha512/missing", {"visibility": "public"})
    assert await keeping_tags(store).get_tags("sha512/missing") is None


async def test_writing_an_object_again_drops_its_tags(store: ObjectStore) -> None:
    await store.write("sha512/d", b"bytes")
    await keeping_tags(store).put_tags("sha512/d", {"visibility": "public"})
    await store.write("sha512/d", b"other bytes")
    assert await keeping_tags(store).get_tags("sha512/d") == {}
    await keeping_tags(store).put_tags("sha512/d", {"visibility": "public"})
    await store.write_stream("sha512/d", chunked(b"streamed"), len(b"streamed"))
    assert await keeping_tags(store).get_tags("sha512/d") == {}


async def test_deleting_an_object_deletes_its_tags(store: ObjectStore) -> None:
    await store.write("sha512/d", b"bytes")
    await keeping_tags(store).put_tags("sha512/d", {"visibility": "public"})
    await store.delete("sha512/d")
    assert await keeping_tags(store).get_tags("sha512/d") is None
    await store.write("sha512/d", b"bytes")
    assert await keeping_tags(store).get_tags("sha512/d") == {}


async def test_copy_does_not_carry_the_source_tags(store: ObjectStore) -> None:
    await store.write("uploads/d/1", b"verified bytes")
    await keeping_tags(store).put_tags("uploads/d/1", {"visibility": "public"})
    info = await store.head("uploads/d/1")
    assert info is not None
    await store.copy_if_unchanged("uploads/d/1", "sha512/d", info.etag, info.size)
    assert await keeping_tags(store).get_tags("sha512/d") == {}
    assert await keeping_tags(store).get_tags("uploads/d/1") == {"visibility": "public"}


async def test_copy_with_tags_gives_the_copy_exactly_those_tags(store: ObjectStore) -> None:
    await store.write("sha512/d", b"verified bytes")
    await keeping_tags(store).put_tags("sha512/d", {"visibility": "public", "stale": "yes"})
    await store.write("uploads/d/1", b"verified bytes")
    await keeping_tags(store).put_tags("uploads/d/1", {"visibility": "public"})
    info = await store.head("uploads/d/1")
    assert info is not None
    await store.copy_if_unchanged("uploads/d/1", "sha512/d", info.etag, info.size, tags={"visibility": "internal"})
    assert await keeping_tags(store).get_tags("sha512/d") == {"visibility": "internal"}
    assert await store.read("sha512/d") == b"verified bytes"


@pytest.mark.parametrize("store_kind", ["s3"])
async def test_s3_multipart_copy_sets_exactly_the_given_tags(
    store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Objects over 5 GiB are copied part by part; force that path with a tiny single-copy limit."""
    monkeypatch.setattr("proxy.storage.s3.MAX_SINGLE_COPY", 0)
    sent: list[str] = []
    assert isinstance(store, S3Store)
    store._client.meta.events.register("before-call.s3.UploadPartCopy", lambda **_: sent.append("part"))
    await store.write("uploads/d/1", b"verified bytes")
    await keeping_tags(store).put_tags("uploads/d/1", {"visibility": "public"})
    info = await store.head("uploads/d/1")
    assert info is not None
    await store.copy_if_unchanged("uploads/d/1", "sha512/d", info.etag, info.size, tags={"visibility": "internal"})
    assert sent == ["part"]
    assert await keeping_tags(store).get_tags("sha512/d") == {"visibility": "internal"}
    await store.copy_if_unchanged("uploads/d/1", "sha512/e", info.etag, info.size)
    assert await keeping_tags(store).get_tags("sha512/e") == {}


@pytest.mark.parametrize("store_kind", ["local"])
async def test_local_tags_are_not_keys_and_no_key_reaches_them(store: ObjectStore) -> None:
    await store.write("sha512/d", b"bytes")
    await keeping_tags(store).put_tags("sha512/d", {"visibility": "public"})
    assert await keys(store) == ["sha512/d"]
    assert await keys(store, ".tags/") == []
    for key in (".tags/sha512/d", ".tags"):
        with pytest.raises(ValueError, match="invalid key"):
            await store.write(key, b'{"visibility": "internal"}')
        with pytest.raises(ValueError, match="invalid key"):
            await store.read(key)
    assert await keeping_tags(store).get_tags("sha512/d") == {"visibility": "public"}


async def test_ping_succeeds_on_a_reachable_store(store: ObjectStore) -> None:
    await store.ping()


@pytest.mark.parametrize("store_kind", ["local"])
async def test_local_store_keeps_tags_but_signs_no_urls(store: ObjectStore) -> None:
    assert keeps_tags(store)
    assert not signs_urls(store)
    assert not hasattr(store, "presign_get")


@pytest.mark.parametrize("store_kind", ["s3"])
async def test_s3_presigned_get_url_serves_the_bytes_without_credentials(store: ObjectStore) -> None:
    await store.write("sha512/d", b"artifact bytes")
    assert signs_urls(store)
    assert keeps_tags(store)
    url = await signing(store).presign_get("sha512/d", 300)
    async with aiohttp.ClientSession() as session, session.get(URL(url, encoded=True)) as response:
        assert response.status == 200
        assert await response.read() == b"artifact bytes"


OPERATIONS: dict[str, Callable[[ObjectStore], Awaitable[object]]] = {
    "head": lambda store: store.head("sha512/d"),
    "read": lambda store: store.read("index/sha512/d.json"),
    "write": lambda store: store.write("batches/1.json", b"{}"),
    "ping": lambda store: store.ping(),
    "get_tags": lambda store: keeping_tags(store).get_tags("sha512/d"),
    "put_tags": lambda store: keeping_tags(store).put_tags("sha512/d", {"visibility": "public"}),
}


@pytest.mark.parametrize("operation", OPERATIONS)
async def test_unreachable_s3_raises_store_unavailable(monkeypatch: pytest.MonkeyPatch, operation: str) -> None:
    # botocore still retries as S3Store.connect configures it; only the jittered waits are skipped.
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
    store = await S3Store.connect(BUCKET, endpoint_url=f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(StoreUnavailable, match="unreachable"):
            await OPERATIONS[operation](store)
    finally:
        await store.close()
