"""A proxied PUT is hashed once, as it arrives; upload/complete trusts that hash only for exactly those bytes.

`receive_put` records the ETag of what it wrote and hashed; `upload/complete` commits the staged
object without hashing it again only while it still has that ETag. Anything staged otherwise (a
writer behind the proxy's back, a presigned PUT to the store) is hashed before it is committed,
so no bytes become visible under `sha512/<d>` unless they hash to `<d>`.

Every test runs on the local-directory store and on S3 (moto, with put_urls through the proxy).
"""

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from proxy import uploads as proxy_uploads
from proxy.keys import artifact_key, received_key, staging_key, staging_prefix
from proxy.storage import StoreUnavailable
from tests.support.credentials import UPLOADER
from tests.support.proxies import Proxy, ProxyFactory

# Many pieces of a PUT, not a whole number of them; under 1 MiB, which aiohttp (the S3 client's
# transport) refuses to send from one bytes object without a warning.
SIZE = 1024 * 1024 - 5
SHARED_UPLOAD_SECRET = "replicas-share-this-upload-secret"


@pytest.fixture
async def proxied(make_proxy: ProxyFactory, store_kind: str) -> Proxy:
    """A proxy whose put_urls point at its own PUT endpoint (always so on the local store)."""
    return await make_proxy() if store_kind == "local" else await make_proxy(upload_target="proxy")


@pytest.fixture
def hashes_in_complete(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The digests upload/complete computed by reading staged bytes back (its verification hash)."""
    computed: list[str] = []
    original: Callable[[Any], Any] = proxy_uploads.sha512_of

    async def counted(chunks: Any) -> str:
        digest: str = await original(chunks)
        computed.append(digest)
        return digest

    monkeypatch.setattr(proxy_uploads, "sha512_of", counted)
    return computed


def sha512(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


def batch_of(put_url: str) -> int:
    return int(parse_qs(urlsplit(put_url).query)["batch"][0])


async def start_upload(proxy: Proxy, data: bytes) -> str:
    result = await proxy.upload_batch(UPLOADER, {"toolchain.tar.xz": data})
    put_url = result["files"]["toolchain.tar.xz"]["put_url"]
    assert "/upload/put/" in put_url, "these tests need put_urls through the proxy"
    return str(put_url)


async def put(proxy: Proxy, put_url: str, data: bytes) -> tuple[int, str]:
    """PUT as tooltool.py does (only Content-Type and Content-Length), the body in 8 KiB pieces."""

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 8192):
            yield data[start : start + 8192]

    headers = {"Content-Type": "application/octet-stream", "Content-Length": str(len(data))}
    async with proxy.session.put(put_url, data=pieces(), headers=headers) as response:
        return response.status, await response.text()


async def complete(proxy: Proxy, digest: str) -> tuple[int, str]:
    response = await proxy.request("GET", f"/upload/complete/sha512/{digest}", UPLOADER)
    return response.status, await response.text()


async def downloaded(proxy: Proxy, digest: str) -> tuple[int, bytes]:
    """GET /sha512/<d> as tooltool.py does (a redirect is followed with a plain GET)."""
    response = await proxy.request("GET", f"/sha512/{digest}", UPLOADER)
    if response.status != 302:
        return response.status, await response.read()
    async with proxy.session.get(response.headers["Location"]) as redirected:
        return redirected.status, await redirected.read()


async def test_a_proxied_put_is_committed_without_hashing_it_again(
    proxied: Proxy, hashes_in_complete: list[str]
) -> None:
    data = os.urandom(SIZE)
    digest = sha512(data)
    put_url = await start_upload(proxied, data)
    assert (await put(proxied, put_url, data))[0] == 200
    assert await proxied.store.read(received_key(digest, batch_of(put_url))) is not None

    status, body = await complete(proxied, digest)

    assert status == 202, body
    assert hashes_in_complete == []
    assert await downloaded(proxied, digest) == (200, data)
    # The record goes with the staged bytes once they are committed.
    assert [key async for key in proxied.store.list_keys(staging_prefix(digest))] == []


async def test_staged_bytes_replaced_after_the_verified_put_are_hashed_and_refused(
    proxied: Proxy, hashes_in_complete: list[str]
) -> None:
    data = os.urandom(SIZE)
    other = os.urandom(SIZE)  # the same size, other bytes
    digest = sha512(data)
    put_url = await start_upload(proxied, data)
    assert (await put(proxied, put_url, data))[0] == 200
    # A writer behind the proxy's back replaces the staged object after it was hashed.
    await proxied.store.write(staging_key(digest, batch_of(put_url)), other, "application/octet-stream")

    status, body = await complete(proxied, digest)

    assert status == 400, body
    assert "do not hash" in body
    assert hashes_in_complete == [sha512(other)]
    assert await proxied.store.head(artifact_key(digest)) is None
    assert (await downloaded(proxied, digest))[0] == 404


async def test_the_same_bytes_staged_again_are_committed_hashed_again_unless_the_etag_names_the_content(
    proxied: Proxy, hashes_in_complete: list[str], store_kind: str
) -> None:
    data = os.urandom(SIZE)
    digest = sha512(data)
    put_url = await start_upload(proxied, data)
    assert (await put(proxied, put_url, data))[0] == 200
    await proxied.store.write(staging_key(digest, batch_of(put_url)), data, "application/octet-stream")

    status, body = await complete(proxied, digest)

    assert status == 202, body
    # LocalStore's ETag names the file (a rewrite is a new inode), so the record no longer covers
    # it; S3's is the MD5 of the content, the same for the same bytes.
    assert hashes_in_complete == ([digest] if store_kind == "local" else [])
    assert await downloaded(proxied, digest) == (200, data)


async def test_a_put_of_wrong_bytes_never_completes_a_write_of_them(
    proxied: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(SIZE)
    other = os.urandom(SIZE)
    digest = sha512(data)
    put_url = await start_upload(proxied, data)
    original = proxied.store.write_stream
    finished: list[str] = []

    async def watched(key: str, chunks: Any, size: int) -> Any:
        info = await original(key, chunks, size)
        finished.append(key)
        return info

    monkeypatch.setattr(proxied.store, "write_stream", watched)

    response = await proxied.session.put(put_url, data=other, headers={"Content-Type": "application/octet-stream"})

    assert response.status == 400, await response.text()
    assert finished == [], "the store finished writing bytes that do not hash to the digest"
    assert [key async for key in proxied.store.list_keys(staging_prefix(digest))] == [
        f"uploads/{digest}/{batch_of(put_url)}.json"
    ]


async def test_without_a_record_the_staged_bytes_are_hashed(proxied: Proxy, hashes_in_complete: list[str]) -> None:
    """A crash between the PUT's write and its record, or bytes from a presigned PUT to the store."""
    data = os.urandom(SIZE)
    digest = sha512(data)
    put_url = await start_upload(proxied, data)
    assert (await put(proxied, put_url, data))[0] == 200
    await proxied.store.delete(received_key(digest, batch_of(put_url)))

    status, body = await complete(proxied, digest)

    assert status == 202, body
    assert hashes_in_complete == [digest]
    assert await downloaded(proxied, digest) == (200, data)


async def test_a_store_failure_writing_the_record_leaves_the_put_good_and_the_bytes_hashed_later(
    proxied: Proxy, hashes_in_complete: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(SIZE)
    digest = sha512(data)
    put_url = await start_upload(proxied, data)
    original = proxied.store.write

    async def failing_for_the_record(key: str, *args: Any, **kwargs: Any) -> str:
        if key == received_key(digest, batch_of(put_url)):
            raise StoreUnavailable("injected: the store failed")
        result: str = await original(key, *args, **kwargs)
        return result

    monkeypatch.setattr(proxied.store, "write", failing_for_the_record)
    assert (await put(proxied, put_url, data))[0] == 200
    assert await proxied.store.read(received_key(digest, batch_of(put_url))) is None

    status, body = await complete(proxied, digest)

    assert status == 202, body
    assert hashes_in_complete == [digest]
    assert await downloaded(proxied, digest) == (200, data)


async def test_two_replicas_receiving_the_same_put_url_at_once_commit_the_uploaded_bytes(
    make_proxy: ProxyFactory, store_kind: str
) -> None:
    """Each replica stages and records its own copy; whichever record survives, the commit copies
    only an object with the recorded ETag, or hashes what is staged."""
    through_proxy = {"upload_target": "proxy"} if store_kind == "s3" else {}
    first = await make_proxy(upload_secret=SHARED_UPLOAD_SECRET, **through_proxy)
    second = await make_proxy(upload_secret=SHARED_UPLOAD_SECRET, **through_proxy)
    data = os.urandom(SIZE)
    digest = sha512(data)
    put_url = await start_upload(first, data)

    answers = await asyncio.gather(put(first, put_url, data), put(second, put_url.replace(first.url, second.url), data))

    assert [status for status, _ in answers] == [200, 200], answers
    status, body = await complete(second, digest)
    assert status == 202, body
    assert await downloaded(first, digest) == (200, data)
    assert [key async for key in first.store.list_keys(staging_prefix(digest))] == []
