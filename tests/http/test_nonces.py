"""Hawk nonces (issue 8 §5): nonces over 64 characters are refused; a request outside the clock
skew window is refused before anything is remembered of it; the per-process nonce cache is
bounded in bytes; and a request that changes something (POST /upload, PATCH, upload/complete)
is refused when replayed to another replica on the same store, while a replayed download is
not (downloads use the per-process cache only, by design)."""

import hashlib
import json
import time
from typing import Any

import aiohttp
import pytest

from proxy.auth import NONCE_CACHE_BYTES
from proxy.http.context import AUTH
from proxy.keys import REPLAY_PREFIX
from tests.support.credentials import ADMIN
from tests.support.hawk import tooltool_header
from tests.support.oracles import problem_body
from tests.support.proxies import Proxy, ProxyFactory

LOCAL = pytest.mark.parametrize("store_kind", ["local"], indirect=True)

INTERNAL_DATA = b"internal bytes only signed callers may fetch\n"
INTERNAL_DIGEST = hashlib.sha512(INTERNAL_DATA).hexdigest()
DATA = b"bytes a replayed request must not touch\n"
DIGEST = hashlib.sha512(DATA).hexdigest()
REPLAYED_DETAIL = "Hawk nonce was already used (replayed request)"
LONGEST_NONCE = 64  # issue 8 §5


def nonce_cache(proxy: Proxy) -> Any:
    return proxy.app[AUTH]._seen_nonces


def download_status(proxy: Proxy) -> int:
    return 200 if proxy.config.streams_downloads else 302


async def signed(
    proxy: Proxy,
    method: str,
    path: str,
    body: bytes | None = None,
    *,
    nonce: str | None = None,
    timestamp: int | None = None,
) -> aiohttp.ClientResponse:
    """`method path` signed as ADMIN by tooltool.py, with the given nonce and timestamp."""
    header = tooltool_header(
        ADMIN.client_id, ADMIN.access_token, method, proxy.url + path, body, nonce=nonce, timestamp=timestamp
    )
    return await proxy.request(method, path, body=body, headers={"Authorization": header})


async def assert_problem(response: aiohttp.ClientResponse, status: int, detail: str) -> None:
    assert response.status == status, await response.text()
    assert await response.json() == problem_body(status, detail)


@LOCAL
async def test_a_nonce_of_65_characters_is_refused_with_401(proxy: Proxy) -> None:
    await proxy.upload(ADMIN, "internal.bin", INTERNAL_DATA, "internal")
    response = await signed(proxy, "GET", f"/sha512/{INTERNAL_DIGEST}", nonce="n" * (LONGEST_NONCE + 1))
    await assert_problem(response, 401, f"Hawk nonce is longer than {LONGEST_NONCE} characters")
    assert response.headers["WWW-Authenticate"] == "Hawk"


@LOCAL
async def test_a_nonce_of_64_characters_is_accepted(proxy: Proxy) -> None:
    await proxy.upload(ADMIN, "internal.bin", INTERNAL_DATA, "internal")
    response = await signed(proxy, "GET", f"/sha512/{INTERNAL_DIGEST}", nonce="n" * LONGEST_NONCE)
    assert response.status == 200, await response.text()
    assert await response.read() == INTERNAL_DATA


@LOCAL
async def test_a_stale_request_is_refused_and_its_nonce_is_not_remembered(proxy: Proxy) -> None:
    await proxy.upload(ADMIN, "internal.bin", INTERNAL_DATA, "internal")
    cache = nonce_cache(proxy)
    size, count = cache.currsize, len(cache)
    stale = int(time.time()) - proxy.config.hawk_skew_seconds - 120
    path = f"/sha512/{INTERNAL_DIGEST}"

    response = await signed(proxy, "GET", path, nonce="stale-nonce", timestamp=stale)
    await assert_problem(response, 401, "Hawk timestamp is outside the allowed clock skew")
    assert (cache.currsize, len(cache)) == (size, count)

    response = await signed(proxy, "GET", path, nonce="stale-nonce")
    assert response.status == 200, await response.text()
    assert len(cache) == count + 1


@LOCAL
async def test_a_stale_mutating_request_leaves_no_replay_marker(proxy: Proxy) -> None:
    stale = int(time.time()) - proxy.config.hawk_skew_seconds - 120
    response = await signed(proxy, "POST", "/upload", batch_body(), timestamp=stale)
    await assert_problem(response, 401, "Hawk timestamp is outside the allowed clock skew")
    assert [key async for key in proxy.store.list_keys(REPLAY_PREFIX)] == []


@LOCAL
async def test_the_nonce_cache_is_bounded_in_bytes(proxy: Proxy) -> None:
    cache = nonce_cache(proxy)
    assert cache.maxsize == NONCE_CACHE_BYTES
    growth = []
    for nonce in ("short", "n" * 40):
        before = cache.currsize
        response = await signed(proxy, "GET", "/file?q=anything", nonce=nonce)
        assert response.status == 200, await response.text()
        growth.append(cache.currsize - before)
    # Each entry counts its bytes (a count-bounded cache would grow by 1 for each).
    assert all(grown > len("short") for grown in growth)
    assert growth[1] - growth[0] == 40 - len("short")


def batch_body(visibility: str = "public") -> bytes:
    files = {"f.bin": {"size": len(DATA), "digest": DIGEST, "algorithm": "sha512", "visibility": visibility}}
    return json.dumps({"message": "Bug 8: replay", "files": files}).encode()


async def replicas(make_proxy: ProxyFactory) -> tuple[Proxy, Proxy]:
    """Two proxies on one store, as two replicas behind one load balancer."""
    return await make_proxy(), await make_proxy()


async def send(
    proxy: Proxy, method: str, path: str, headers: dict[str, str], body: bytes | None = None
) -> aiohttp.ClientResponse:
    """Exactly these headers and body, to `proxy` (whatever URL they were signed for)."""
    response = await proxy.session.request(method, proxy.url + path, data=body, headers=headers, allow_redirects=False)
    await response.read()
    return response


def captured(signed_for: Proxy, method: str, path: str, body: bytes | None = None) -> dict[str, str]:
    """The headers tooltool.py sends for `method path` to `signed_for`, Host included, so that
    the same bytes can be sent to another replica."""
    headers = signed_for.headers_for(ADMIN, method, path, body)
    headers["Host"] = signed_for.url.removeprefix("http://")
    return headers


async def assert_replay_refused(first: Proxy, second: Proxy, method: str, path: str, body: bytes | None) -> None:
    """`method path` accepted by `first` and, replayed byte for byte, refused by `second` (no
    change to the store)."""
    headers = captured(first, method, path, body)
    accepted = await send(first, method, path, headers, body)
    assert accepted.status in (200, 202), await accepted.text()
    before = await first.snapshot()
    replayed = await send(second, method, path, headers, body)
    await assert_problem(replayed, 401, REPLAYED_DETAIL)
    assert replayed.headers["WWW-Authenticate"] == "Hawk"
    assert await first.snapshot() == before


async def test_a_post_upload_replayed_to_another_replica_is_refused(make_proxy: ProxyFactory) -> None:
    first, second = await replicas(make_proxy)
    await assert_replay_refused(first, second, "POST", "/upload", batch_body())


async def test_a_patch_replayed_to_another_replica_is_refused_and_does_not_undo_a_later_patch(
    make_proxy: ProxyFactory,
) -> None:
    first, second = await replicas(make_proxy)
    await first.upload(ADMIN, "f.bin", DATA)
    path = f"/file/sha512/{DIGEST}"
    to_internal = json.dumps([{"op": "set_visibility", "visibility": "internal"}]).encode()
    to_public = json.dumps([{"op": "set_visibility", "visibility": "public"}]).encode()
    headers = captured(first, "PATCH", path, to_internal)
    accepted = await send(first, "PATCH", path, headers, to_internal)
    assert accepted.status == 200, await accepted.text()
    later = await first.request("PATCH", path, ADMIN, to_public)
    assert later.status == 200, await later.text()

    before = await first.snapshot()
    replayed = await send(second, "PATCH", path, headers, to_internal)
    await assert_problem(replayed, 401, REPLAYED_DETAIL)
    assert await first.snapshot() == before
    second.index.cache.clear()
    assert (await second.request("GET", f"/sha512/{DIGEST}")).status == download_status(second)


async def test_an_upload_complete_replayed_to_another_replica_is_refused(make_proxy: ProxyFactory) -> None:
    first, second = await replicas(make_proxy)
    result = await first.upload_batch(ADMIN, {"f.bin": DATA})
    assert await first.put(result["files"]["f.bin"]["put_url"], DATA) == 200
    await assert_replay_refused(first, second, "GET", f"/upload/complete/sha512/{DIGEST}", None)


async def test_a_download_replayed_to_another_replica_is_accepted(make_proxy: ProxyFactory) -> None:
    first, second = await replicas(make_proxy)
    await first.upload(ADMIN, "internal.bin", INTERNAL_DATA, "internal")
    path = f"/sha512/{INTERNAL_DIGEST}"
    headers = captured(first, "GET", path)
    assert (await send(first, "GET", path, headers)).status == download_status(first)
    # Downloads use each process's nonce cache only: another replica accepts the same request...
    assert (await send(second, "GET", path, headers)).status == download_status(second)
    # ...and the same replica does not.
    await assert_problem(await send(first, "GET", path, headers), 401, REPLAYED_DETAIL)
