"""Small leaks and traps (issue 8 §8): /__heartbeat__ tells anonymous callers how many index
objects are invalid, never which; a clients file that fails to parse on reload is logged at
every recheck and shown in the heartbeat until it is fixed; streamed public files may be cached
for TOOLTOOL_CACHE_TTL, not for a year as immutable; and a pending upload of a visibility the
caller may not upload does not block `complete` for the one it may commit."""

import hashlib
import logging
from pathlib import Path
from typing import Any

import pytest

from proxy import clients as clients_module
from proxy.clients import RELOAD_FAILED_WARNING
from proxy.keys import index_key
from tests.support.credentials import ADMIN, PUBLIC_UPLOADER, write_clients_file
from tests.support.proxies import Proxy, ProxyFactory

LOCAL = pytest.mark.parametrize("store_kind", ["local"], indirect=True)

PUBLIC_DATA = b"public bytes a shared cache may keep for a while\n"
INTERNAL_DATA = b"internal bytes no shared cache may keep\n"
PUBLIC_DIGEST = hashlib.sha512(PUBLIC_DATA).hexdigest()
INTERNAL_DIGEST = hashlib.sha512(INTERNAL_DATA).hexdigest()


def download_status(proxy: Proxy) -> int:
    return 200 if proxy.config.streams_downloads else 302


async def heartbeat(proxy: Proxy) -> tuple[str, dict[str, Any]]:
    """/__heartbeat__ as an anonymous caller sees it: its raw text and its JSON."""
    response = await proxy.request("GET", "/__heartbeat__")
    assert response.status == 200, await response.text()
    return await response.text(), await response.json()


async def test_heartbeat_counts_invalid_index_objects_without_naming_them(
    proxy: Proxy, caplog: pytest.LogCaptureFixture
) -> None:
    digests = [await proxy.upload(ADMIN, f"f{n}.bin", f"file {n}\n".encode()) for n in range(2)]
    for digest in digests:
        await proxy.store.write(index_key(digest), b"{not json")
    proxy.index.cache.clear()
    with caplog.at_level(logging.WARNING, logger="tooltool.index"):
        for digest in digests:
            await proxy.request("GET", f"/sha512/{digest}")  # the lookup finds the invalid object

    text, body = await heartbeat(proxy)
    invalid = [warning for warning in body.get("warnings", []) if "invalid" in warning]
    assert len(invalid) == 1, body
    assert invalid[0].startswith(f"{len(digests)} "), invalid
    for digest in digests:
        assert digest not in text
        assert digest[:16] not in text
    assert "index/" not in text
    # The log, which only operators read, names each key.
    logged = {getattr(record, "key", None) for record in caplog.records}
    assert {index_key(digest) for digest in digests} <= logged


@LOCAL
async def test_a_clients_file_broken_on_reload_keeps_the_last_good_clients_and_is_reported_until_fixed(
    proxy: Proxy, clients_file: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(clients_module, "RECHECK_SECONDS", 0.0)  # recheck at every lookup, not once a second
    await proxy.upload(ADMIN, "internal.bin", INTERNAL_DATA, "internal")
    path = f"/sha512/{INTERNAL_DIGEST}"
    _text, body = await heartbeat(proxy)
    assert RELOAD_FAILED_WARNING not in body.get("warnings", [])

    clients_file.write_text('{"clients": [{"clientId": ')  # half-written
    with caplog.at_level(logging.ERROR, logger="tooltool.clients"):
        logged = []
        for _recheck in range(2):
            response = await proxy.request("GET", path, ADMIN)
            assert response.status == 200, await response.text()  # the last good clients
            logged.append(sum(record.getMessage() == RELOAD_FAILED_WARNING for record in caplog.records))
    assert 0 < logged[0] < logged[1], f"error records after each recheck: {logged}"
    assert all(record.levelno == logging.ERROR for record in caplog.records if record.name == "tooltool.clients")
    _text, body = await heartbeat(proxy)
    assert RELOAD_FAILED_WARNING in body["warnings"]

    write_clients_file(clients_file)
    response = await proxy.request("GET", path, ADMIN)
    assert response.status == 200, await response.text()
    _text, body = await heartbeat(proxy)
    assert RELOAD_FAILED_WARNING not in body.get("warnings", [])


async def test_streamed_public_files_may_be_cached_for_the_cache_ttl_and_are_not_immutable(
    make_proxy: ProxyFactory,
) -> None:
    proxy = await make_proxy(cache_ttl="30", download="stream")
    await proxy.upload(ADMIN, "public.bin", PUBLIC_DATA, "public")
    response = await proxy.request("GET", f"/sha512/{PUBLIC_DIGEST}")
    assert response.status == 200, await response.text()
    assert response.headers["Cache-Control"] == "public, max-age=30"
    assert "immutable" not in response.headers["Cache-Control"]


async def test_streamed_internal_files_stay_private_and_uncached(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(cache_ttl="30", download="stream")
    await proxy.upload(ADMIN, "internal.bin", INTERNAL_DATA, "internal")
    response = await proxy.request("GET", f"/sha512/{INTERNAL_DIGEST}", ADMIN)
    assert response.status == 200, await response.text()
    assert response.headers["Cache-Control"] == "private, no-store"


async def test_a_public_only_uploader_completes_its_upload_despite_an_internal_pending_upload_of_the_digest(
    proxy: Proxy,
) -> None:
    # Another batch, by someone who may upload internal files, is pending for the same bytes.
    internal = await proxy.upload_batch(ADMIN, {"theirs.bin": PUBLIC_DATA}, "internal")
    assert "put_url" in internal["files"]["theirs.bin"]
    public = await proxy.upload_batch(PUBLIC_UPLOADER, {"mine.bin": PUBLIC_DATA}, "public")
    assert await proxy.put(public["files"]["mine.bin"]["put_url"], PUBLIC_DATA) == 200

    response = await proxy.request("GET", f"/upload/complete/sha512/{PUBLIC_DIGEST}", PUBLIC_UPLOADER)
    assert response.status == 202, await response.text()
    download = await proxy.request("GET", f"/sha512/{PUBLIC_DIGEST}")
    assert download.status == download_status(proxy), await download.text()
    if download.status == 200:
        assert await download.read() == PUBLIC_DATA
