"""GET/HEAD /sha512/<digest> through a running proxy (PROTOCOL.md §2-§3, DESIGN.md §3).

Files are put in place by writing the bucket directly (artifact bytes plus index object), so
these tests depend on the download path only, not on the upload sequence.
"""

import hashlib
import json
import os
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest
from yarl import URL

from manifests import IndexEntry, Visibility
from proxy.storage.local import LocalStore
from proxy.storage.retrying import RetryingStore
from tests.support.credentials import INTERNAL_READER
from tests.support.moto import BUCKET
from tests.support.oracles import sigv4_query_signature
from tests.support.proxies import Proxy, ProxyFactory, count_store_calls

FORBIDDEN_DETAIL = (
    "You don't have the permission to access the requested resource. "
    "It is either read-protected or not readable by the server."
)
DATA = bytes(range(256)) * 4  # 1 KiB
DIGEST = hashlib.sha512(DATA).hexdigest()
SIZE = len(DATA)
MiB = 1024 * 1024


async def put_file(proxy: Proxy, data: bytes = DATA, visibility: str = "public") -> str:
    """Artifact bytes and a valid index object, as a commit leaves them."""
    digest = hashlib.sha512(data).hexdigest()
    await proxy.store.write(f"sha512/{digest}", data, "application/octet-stream")
    entry = IndexEntry(digest=digest, size=len(data), visibility=Visibility(visibility), instances=("us-east-1",))
    await proxy.index.save(entry)
    return digest


def success_status(proxy: Proxy) -> int:
    """What an authorized download answers: a redirect on S3, the bytes when the proxy streams."""
    return 200 if proxy.config.streams_downloads else 302


async def error_body(response: aiohttp.ClientResponse) -> dict[str, Any]:
    assert response.content_type == "application/json"
    body: dict[str, Any] = json.loads(await response.read())
    return body


@pytest.fixture
async def streamer(make_proxy: ProxyFactory) -> Proxy:
    """A proxy that streams bytes on both stores (the local store always does)."""
    return await make_proxy(download="stream")


# --- digest validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "digest",
    [
        "invalid",
        DIGEST.upper(),
        DIGEST[:127],
        DIGEST + "0",
        "g" * 128,
        DIGEST[:60] + "%2F" + DIGEST[63:],
        "",
    ],
    ids=["word", "upper-case", "127-chars", "129-chars", "non-hex", "encoded-slash", "empty"],
)
async def test_malformed_digest_is_400_before_any_lookup(
    proxy: Proxy, monkeypatch: pytest.MonkeyPatch, digest: str
) -> None:
    await put_file(proxy)
    calls = count_store_calls(proxy, monkeypatch)
    response = await proxy.request("GET", f"/sha512/{digest}")
    assert response.status == 400
    body = await error_body(response)
    assert body["detail"] == "Invalid sha512 digest"
    assert body["title"] == "400 Bad Request: Invalid sha512 digest"
    assert body["error"]["description"] == "Invalid sha512 digest"
    assert calls == Counter()
    assert proxy.index.cache.stats.loads == 0


async def test_unknown_digest_is_404(proxy: Proxy) -> None:
    response = await proxy.request("GET", f"/sha512/{DIGEST}")
    assert response.status == 404
    body = await error_body(response)
    assert body["status"] == 404
    assert body["title"].startswith("404 Not Found: ")


async def test_internal_file_is_403_for_anonymous_callers_with_the_runbook_body(proxy: Proxy) -> None:
    digest = await put_file(proxy, visibility="internal")
    response = await proxy.request("GET", f"/sha512/{digest}")
    assert response.status == 403
    body = await error_body(response)
    assert body["detail"] == FORBIDDEN_DETAIL
    assert body["title"] == f"403 Forbidden: {FORBIDDEN_DETAIL}"
    assert body["error"]["name"] == f"403 Forbidden: {FORBIDDEN_DETAIL}"
    assert body["error"]["description"] == FORBIDDEN_DETAIL


async def test_region_query_parameter_is_accepted(proxy: Proxy) -> None:
    digest = await put_file(proxy)
    response = await proxy.request("GET", f"/sha512/{digest}?region=us-east-1")
    assert response.status == success_status(proxy)


# --- redirects to signed URLs (S3) ------------------------------------------------------------


@pytest.mark.parametrize("store_kind", ["s3"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_public_download_redirects_anonymous_callers(proxy: Proxy, method: str) -> None:
    digest = await put_file(proxy)
    response = await proxy.request(method, f"/sha512/{digest}")
    assert response.status == 302
    assert urlsplit(response.headers["Location"]).path == f"/{BUCKET}/sha512/{digest}"
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("store_kind", ["s3"])
async def test_signed_url_has_a_valid_sigv4_signature(proxy: Proxy) -> None:
    digest = await put_file(proxy)
    location = (await proxy.request("GET", f"/sha512/{digest}")).headers["Location"]
    params = dict(parse_qsl(urlsplit(location).query))
    assert params["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert params["X-Amz-Credential"].startswith("testing/")
    assert params["X-Amz-Credential"].endswith("/us-east-1/s3/aws4_request")
    assert params["X-Amz-SignedHeaders"] == "host"
    assert int(params["X-Amz-Expires"]) == proxy.config.signed_url_ttl == 300
    assert params["X-Amz-Signature"] == sigv4_query_signature("GET", location, "testing")


@pytest.mark.parametrize("store_kind", ["s3"])
async def test_signed_url_serves_the_bytes_to_a_plain_get(proxy: Proxy) -> None:
    digest = await put_file(proxy)
    location = (await proxy.request("GET", f"/sha512/{digest}")).headers["Location"]
    async with aiohttp.ClientSession() as plain, plain.get(URL(location, encoded=True)) as response:
        assert response.status == 200
        assert await response.read() == DATA


@pytest.mark.parametrize("store_kind", ["s3"])
async def test_signed_url_is_reused_for_the_next_download(proxy: Proxy, monkeypatch: pytest.MonkeyPatch) -> None:
    digest = await put_file(proxy)
    calls = count_store_calls(proxy, monkeypatch)
    first = await proxy.request("GET", f"/sha512/{digest}")
    second = await proxy.request("GET", f"/sha512/{digest}")
    assert first.headers["Location"] == second.headers["Location"]
    assert calls["presign_get"] == 1


# --- streaming --------------------------------------------------------------------------------


async def test_stream_serves_the_bytes_with_entity_headers(streamer: Proxy) -> None:
    digest = await put_file(streamer)
    response = await streamer.request("GET", f"/sha512/{digest}")
    assert response.status == 200
    assert await response.read() == DATA
    assert response.headers["Content-Length"] == str(SIZE)
    assert response.headers["ETag"] == f'"{digest}"'
    assert response.headers["Accept-Ranges"] == "bytes"


async def test_head_sends_the_headers_without_a_body(streamer: Proxy) -> None:
    digest = await put_file(streamer)
    response = await streamer.request("HEAD", f"/sha512/{digest}")
    assert response.status == 200
    assert response.headers["Content-Length"] == str(SIZE)
    assert response.headers["ETag"] == f'"{digest}"'
    assert await response.read() == b""


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=-5", SIZE - 5, SIZE - 1),
        ("bytes=10-", 10, SIZE - 1),
        ("bytes=1000-999999", 1000, SIZE - 1),
    ],
    ids=["bounded", "suffix", "open-ended", "clamped-past-end"],
)
async def test_satisfiable_range_is_206_with_content_range(streamer: Proxy, header: str, first: int, last: int) -> None:
    digest = await put_file(streamer)
    response = await streamer.request("GET", f"/sha512/{digest}", headers={"Range": header})
    assert response.status == 206
    assert response.headers["Content-Range"] == f"bytes {first}-{last}/{SIZE}"
    assert response.headers["Content-Length"] == str(last - first + 1)
    assert await response.read() == DATA[first : last + 1]


@pytest.mark.parametrize("header", [f"bytes={SIZE}-", f"bytes={SIZE + 100}-", f"bytes={SIZE}-{SIZE + 100}"])
async def test_range_starting_past_the_end_is_416(streamer: Proxy, header: str) -> None:
    digest = await put_file(streamer)
    response = await streamer.request("GET", f"/sha512/{digest}", headers={"Range": header})
    assert response.status == 416
    assert response.headers["Content-Range"] == f"bytes */{SIZE}"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "bytes=abc", "items=0-9", "bytes=9-2", "bytes=-"])
async def test_unsupported_range_header_gets_the_whole_file(streamer: Proxy, header: str) -> None:
    digest = await put_file(streamer)
    response = await streamer.request("GET", f"/sha512/{digest}", headers={"Range": header})
    assert response.status == 200
    assert "Content-Range" not in response.headers
    assert await response.read() == DATA


async def test_streaming_an_indexed_file_whose_bytes_are_gone_is_404(streamer: Proxy) -> None:
    digest = await put_file(streamer)
    await streamer.store.delete(f"sha512/{digest}")
    response = await streamer.request("GET", f"/sha512/{digest}")
    assert response.status == 404
    assert (await error_body(response))["status"] == 404


async def test_if_none_match_with_the_etag_is_304(streamer: Proxy) -> None:
    digest = await put_file(streamer)
    response = await streamer.request("GET", f"/sha512/{digest}", headers={"If-None-Match": f'"{digest}"'})
    assert response.status == 304
    assert await response.read() == b""


async def test_public_stream_may_be_cached_by_anyone_for_the_cache_ttl_only(streamer: Proxy) -> None:
    digest = await put_file(streamer, visibility="public")
    response = await streamer.request("GET", f"/sha512/{digest}")
    assert response.status == 200
    directives = {d.strip() for d in response.headers["Cache-Control"].split(",")}
    # Shared caches may keep it only as long as a replica may serve a stale visibility.
    assert directives == {"public", f"max-age={int(streamer.config.cache_ttl)}"}


async def test_internal_stream_is_private_and_not_stored(streamer: Proxy) -> None:
    digest = await put_file(streamer, visibility="internal")
    response = await streamer.request("GET", f"/sha512/{digest}", INTERNAL_READER)
    assert response.status == 200
    assert {d.strip() for d in response.headers["Cache-Control"].split(",")} == {"private", "no-store"}


@pytest.mark.parametrize("store_kind", ["local"])
async def test_streaming_a_large_file_uses_constant_memory(proxy: Proxy, tmp_path: Path) -> None:
    assert isinstance(proxy.store, RetryingStore)
    assert isinstance(proxy.store.inner, LocalStore)
    staged, hasher = tmp_path / "large", hashlib.sha512()
    with staged.open("wb") as file:
        for i in range(64):
            chunk = bytes([i]) * MiB
            hasher.update(chunk)
            file.write(chunk)
    digest = hasher.hexdigest()
    target = proxy.store.inner.root / "sha512" / digest
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staged, target)
    await proxy.index.save(IndexEntry(digest=digest, size=64 * MiB, visibility=Visibility.PUBLIC, instances=("x",)))

    received = hashlib.sha512()
    tracemalloc.start()
    try:
        async with proxy.session.get(f"{proxy.url}/sha512/{digest}") as response:
            assert response.status == 200
            async for chunk in response.content.iter_chunked(256 * 1024):
                received.update(chunk)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert received.hexdigest() == digest
    assert peak < 16 * MiB, f"peak traced memory {peak / MiB:.1f} MiB"


# --- fail closed on missing or invalid index objects ----------------------------------------------


async def test_artifact_without_index_object_is_served_as_internal(proxy: Proxy) -> None:
    await proxy.store.write(f"sha512/{DIGEST}", DATA, "application/octet-stream")
    anonymous = await proxy.request("GET", f"/sha512/{DIGEST}")
    assert anonymous.status == 403
    internal = await proxy.request("GET", f"/sha512/{DIGEST}", INTERNAL_READER)
    assert internal.status == success_status(proxy)


def _valid_index_doc() -> dict[str, Any]:
    return {"algorithm": "sha512", "digest": DIGEST, "size": SIZE, "visibility": "public", "instances": ["us-east-1"]}


@pytest.mark.parametrize(
    "document",
    [
        b'{"digest": "' + DIGEST.encode() + b'", "visibility": "public",',
        json.dumps({**_valid_index_doc(), "digest": hashlib.sha512(b"other").hexdigest()}).encode(),
        json.dumps({**_valid_index_doc(), "visibility": "PUBLIC"}).encode(),
        json.dumps({**_valid_index_doc(), "size": "12"}).encode(),
    ],
    ids=["bad-json", "wrong-digest", "upper-case-visibility", "size-as-string"],
)
async def test_invalid_index_object_makes_the_file_internal(proxy: Proxy, document: bytes) -> None:
    await proxy.store.write(f"sha512/{DIGEST}", DATA, "application/octet-stream")
    await proxy.store.write(f"index/sha512/{DIGEST}.json", document)
    anonymous = await proxy.request("GET", f"/sha512/{DIGEST}")
    assert anonymous.status == 403
    internal = await proxy.request("GET", f"/sha512/{DIGEST}", INTERNAL_READER)
    assert internal.status == success_status(proxy)


async def test_file_whose_instances_were_deleted_is_404(proxy: Proxy) -> None:
    await proxy.store.write(f"index/sha512/{DIGEST}.json", json.dumps({**_valid_index_doc(), "instances": []}).encode())
    response = await proxy.request("GET", f"/sha512/{DIGEST}")
    assert response.status == 404
    assert (await error_body(response))["status"] == 404
