"""Bounded work per request (issue 8 §7): a search answers at most TOOLTOOL_SEARCH_LIMIT results
and makes at most TOOLTOOL_SEARCH_MAX_LOOKUPS index lookups in the store whatever uploaders
announced, the rest reached by an opaque cursor; announced files of expired batches cost a
search nothing; a proxied PUT has a body idle timeout, one active PUT per put_url, and buffers
at most one multipart part. Store reads are counted, not timed."""

import asyncio
import base64
import hashlib
import itertools
import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import pytest
import yarl

from manifests import Batch, IndexEntry, UploadFile, Visibility
from proxy.batches import BatchRecords
from proxy.catalog import CatalogState, Confirmation
from proxy.handlers.search import INVALID_CURSOR_DETAIL
from proxy.journal import BATCH_DELETED, JournalRecord
from proxy.keys import index_key
from proxy.outcomes import PutInProgress
from proxy.storage import s3 as s3_storage
from tests.support.credentials import ADMIN, UPLOADER, Creds
from tests.support.oracles import problem_body
from tests.support.proxies import Proxy, ProxyFactory, count_store_calls
from tests.support.raw_http import RawPut, hold_put

ANONYMOUS = None
# Store calls one index lookup can make with one region: the index object GET, then a HEAD of
# the bytes when there is no index object (objects mode, the default).
CALLS_PER_LOOKUP = 2


def sha512(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


def announced(name: str, data: bytes, visibility: str = "public") -> dict[str, Any]:
    return {name: {"size": len(data), "digest": sha512(data), "algorithm": "sha512", "visibility": visibility}}


async def plant(proxy: Proxy, message: str, files: dict[str, bytes]) -> dict[str, Any]:
    """POST /upload of files whose bytes never follow: what an uploader can plant at no cost."""
    body = {
        "message": message,
        "files": {k: v for name, data in files.items() for k, v in announced(name, data).items()},
    }
    response = await proxy.request("POST", "/upload", UPLOADER, json.dumps(body).encode())
    assert response.status == 200, await response.text()
    result: dict[str, Any] = (await response.json())["result"]
    return result


async def page(proxy: Proxy, what: str, query: str, creds: Creds | None, cursor: str | None = None) -> Any:
    path = f"/{what}?q={quote(query, safe='')}"
    if cursor is not None:
        path += f"&cursor={quote(cursor, safe='')}"
    response = await proxy.request("GET", path, creds)
    assert response.status == 200, await response.text()
    body = await response.json()
    link = response.headers.get("Link")
    if "next" in body:
        # The Link header names the same next page, relative to the request's own URL.
        assert link is not None
        assert link.endswith('>; rel="next"')
        target = yarl.URL(proxy.url + path).join(yarl.URL(link[1 : link.index(">")]))
        assert target.path == f"/{what}"
        assert target.query == {"q": query, "cursor": body["next"]}
    else:
        assert link is None
        assert set(body) == {"result"}  # exactly the legacy shape on the last page
    return body


async def every_page(proxy: Proxy, what: str, query: str, creds: Creds | None) -> list[Any]:
    pages = [await page(proxy, what, query, creds)]
    while "next" in pages[-1]:
        assert len(pages) < 100, "the cursor does not advance"
        pages.append(await page(proxy, what, query, creds, pages[-1]["next"]))
    return pages


def cursor_doc(cursor: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))


def store_reads(calls: dict[str, int]) -> int:
    return sum(calls.get(name, 0) for name in ("read", "head", "get_tags"))


# --- search: results per answer and the cursor -------------------------------------------------


async def test_results_beyond_the_limit_are_reached_by_the_cursor(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(search_limit="3")
    files = {f"tool-{number}.tar.xz": f"tool {number}".encode() for number in range(7)}
    await plant(proxy, "Bug 70: seven tools", files)
    batches = []
    for number in range(5):
        batches.append((await plant(proxy, f"Bug 71: batch {number}", {f"b{number}.bin": f"b{number}".encode()}))["id"])

    pages = await every_page(proxy, "file", "tool-", ADMIN)
    assert [len(p["result"]) for p in pages] == [3, 3, 1]
    assert [r["digest"] for p in pages for r in p["result"]] == sorted(sha512(data) for data in files.values())

    pages = await every_page(proxy, "upload", "Bug 71", ADMIN)
    assert [len(p["result"]) for p in pages] == [3, 2]
    assert [batch["id"] for p in pages for batch in p["result"]] == sorted(batches, reverse=True)


async def test_an_answer_that_fits_is_exactly_the_legacy_shape(proxy: Proxy) -> None:
    await plant(proxy, "Bug 72: one", {"only.bin": b"only"})
    for what, query in (("file", "only"), ("upload", "Bug 72")):
        response = await proxy.request("GET", f"/{what}?q={quote(query)}", ANONYMOUS)
        assert set(await response.json()) == {"result"}
        assert "Link" not in response.headers


# --- search: index lookups per request, counted -------------------------------------------------


async def test_planted_batches_cannot_raise_the_store_reads_of_one_search_above_the_bound(
    make_proxy: ProxyFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Announced files are confirmed against the index before an anonymous caller sees them;
    however many an uploader plants, one request makes at most max_lookups of those lookups."""
    max_lookups = 10
    proxy = await make_proxy(search_max_lookups=str(max_lookups), catalog_refresh="3600")
    planted: dict[str, bytes] = {}
    for batch in range(4):
        files = {f"planted-{batch}-{number}.bin": f"planted {batch} {number}".encode() for number in range(15)}
        await plant(proxy, f"Bug 73: planted {batch}", files)
        planted |= files
    await page(proxy, "file", "nothing matches this", ANONYMOUS)  # the catalog is loaded

    for what, query in (("file", "planted-"), ("upload", "Bug 73")):
        proxy.index.cache.clear()  # each search type looks everything up afresh
        calls = count_store_calls(proxy, monkeypatch)
        seen: dict[str, str] = {}
        cursor = None
        while True:
            calls.clear()
            body = await page(proxy, what, query, ANONYMOUS, cursor)
            # Each page looks up as many files as it may (the cache holds none of them yet).
            assert store_reads(calls) == max_lookups * CALLS_PER_LOOKUP or "next" not in body, (what, dict(calls))
            assert store_reads(calls) <= max_lookups * CALLS_PER_LOOKUP, (what, dict(calls))
            if what == "file":
                seen |= {record["digest"]: record["digest"] for record in body["result"]}
            else:
                seen |= {record["digest"]: name for batch in body["result"] for name, record in batch["files"].items()}
            if "next" not in body:
                break
            cursor = body["next"]
        # Bounded, yet nothing is lost: the pages hold every planted file once.
        assert sorted(seen) == sorted(sha512(data) for data in planted.values())
        monkeypatch.undo()


async def test_a_batch_with_more_files_than_the_lookup_bound_is_answered_across_pages(
    make_proxy: ProxyFactory,
) -> None:
    proxy = await make_proxy(search_max_lookups="4", catalog_refresh="3600")
    files = {f"wide-{number:02}.bin": f"wide {number}".encode() for number in range(10)}
    batch = await plant(proxy, "Bug 74: wide", files)
    pages = await every_page(proxy, "upload", "Bug 74", ANONYMOUS)
    assert len(pages) == 3
    assert all([b["id"] for b in p["result"]] == [batch["id"]] for p in pages)
    names = [name for p in pages for b in p["result"] for name in b["files"]]
    assert names == sorted(files)  # each file once, in filename order


async def test_callers_who_may_see_internal_files_cost_no_lookups(
    make_proxy: ProxyFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = await make_proxy(search_max_lookups="1", catalog_refresh="3600")
    await plant(proxy, "Bug 75: many", {f"many-{n}.bin": f"many {n}".encode() for n in range(20)})
    await page(proxy, "file", "nothing matches this", ADMIN)
    calls = count_store_calls(proxy, monkeypatch)
    body = await page(proxy, "file", "many-", ADMIN)
    assert len(body["result"]) == 20
    assert store_reads(calls) == 0


async def test_expired_batches_never_completed_cost_search_nothing_and_are_not_shown(
    make_proxy: ProxyFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = await make_proxy(catalog_refresh="3600")
    # Batches made two hours ago, as POST /upload made them (record and journal): their
    # put_urls (TOOLTOOL_UPLOAD_URL_TTL, an hour) have expired, and no byte ever arrived.
    records = BatchRecords(proxy.store, proxy.index.journal)
    long_ago = int((time.time() - 7200) * 1000) * 1000
    for number in range(5):
        uploads = tuple(
            UploadFile(f"stale-{number}-{n}.bin", 5, sha512(f"stale {number} {n}".encode()), Visibility.PUBLIC)
            for n in range(50)
        )
        await records.save(
            Batch(long_ago + number, "2026-01-01T00:00:00.000000Z", "uploader", "Bug 76: stale", uploads)
        )
    live = await plant(proxy, "Bug 76: live", {"live.bin": b"live"})
    await page(proxy, "file", "nothing matches this", ANONYMOUS)

    calls = count_store_calls(proxy, monkeypatch)
    assert (await page(proxy, "file", "stale-", ANONYMOUS))["result"] == []
    assert [batch["id"] for batch in (await page(proxy, "upload", "Bug 76", ANONYMOUS))["result"]] == [live["id"]]
    assert store_reads(calls) == CALLS_PER_LOOKUP  # live.bin's lookup only (then cached)


async def test_a_search_repeated_while_its_lookups_are_cached_reads_nothing(
    make_proxy: ProxyFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full page takes no item beyond itself, so it looks nothing up past its last result."""
    proxy = await make_proxy(search_limit="3", catalog_refresh="3600")
    for number in range(10):
        await plant(
            proxy, f"Bug 79: batch {number}", {f"many-{number}-{n}.bin": f"{number} {n}".encode() for n in range(2)}
        )
    for what, query in (("file", "many-"), ("upload", "Bug 79")):
        first = await page(proxy, what, query, ANONYMOUS)
        assert len(first["result"]) == 3
        calls = count_store_calls(proxy, monkeypatch)
        assert await page(proxy, what, query, ANONYMOUS) == first
        assert store_reads(calls) == 0, (what, dict(calls))
        monkeypatch.undo()


async def test_confirmation_holds_back_no_result_that_needs_no_lookup(proxy: Proxy) -> None:
    """A page ends as soon as it is full: results that need no lookup are passed on at once,
    so a search never walks more of the catalog than its page needs."""
    endless = ((f"{n:0128x}", n) for n in itertools.count())
    confirmation = Confirmation(proxy.index, frozenset(Visibility), budget=1)
    stream = confirmation.confirmed(endless, lambda item: item[0])

    async def first_three() -> list[Any]:
        return [item async for item in aislice(stream, 3)]

    assert await asyncio.wait_for(first_three(), 10) == [(f"{n:0128x}", n) for n in range(3)]
    await stream.aclose()


async def aislice(stream: AsyncIterator[Any], count: int) -> AsyncIterator[Any]:
    async for item in stream:
        yield item
        count -= 1
        if not count:
            return


# --- search: cursors ---------------------------------------------------------------------------


async def test_a_cursor_names_only_what_its_page_showed(make_proxy: ProxyFactory) -> None:
    """A page that ends on a file the index hides (the catalog says public, an index object
    edited by hand says internal) names the last file it showed, never the hidden one."""
    proxy = await make_proxy(search_max_lookups="2", catalog_refresh="3600")
    entries = sorted(
        (
            IndexEntry(sha512(f"kept {n}".encode()), 6, Visibility.PUBLIC, ("local",), (f"kept-{n}.bin",))
            for n in range(4)
        ),
        key=lambda entry: entry.digest,
    )
    for entry in entries:
        await proxy.index.save(entry)
    hidden = replace(entries[1], visibility=Visibility.INTERNAL)
    await proxy.store.write(index_key(hidden.digest), hidden.to_json())  # no journal record

    pages = await every_page(proxy, "file", "kept-", ANONYMOUS)
    shown = [record["digest"] for p in pages for record in p["result"]]
    assert shown == [entries[0].digest, entries[2].digest, entries[3].digest]
    first = pages[0]
    assert [record["digest"] for record in first["result"]] == [entries[0].digest]
    assert cursor_doc(first["next"]) == {"d": entries[0].digest}
    for p in pages:
        if "next" in p:
            assert hidden.digest not in json.dumps(cursor_doc(p["next"]))


MALFORMED_CURSORS = {
    "empty": "",
    "not-base64url": "a+b/c=",
    "not-json": base64.urlsafe_b64encode(b"{not json").decode().rstrip("="),
    "json-list": base64.urlsafe_b64encode(b"[]").decode().rstrip("="),
    "digest-invalid": base64.urlsafe_b64encode(b'{"d": "abc"}').decode().rstrip("="),
    "extra-key": base64.urlsafe_b64encode(b'{"d": "' + b"a" * 128 + b'", "x": 1}').decode().rstrip("="),
    "too-long": "A" * 5000,
}


@pytest.mark.parametrize("cursor", MALFORMED_CURSORS.values(), ids=MALFORMED_CURSORS.keys())
@pytest.mark.parametrize("what", ["file", "upload"])
async def test_a_malformed_cursor_is_400(proxy: Proxy, what: str, cursor: str) -> None:
    response = await proxy.request("GET", f"/{what}?q=x&cursor={quote(cursor, safe='')}", ANONYMOUS)
    assert response.status == 400
    assert await response.json() == problem_body(400, INVALID_CURSOR_DETAIL)


async def test_a_cursor_of_one_search_is_refused_by_the_other(proxy: Proxy) -> None:
    file_cursor = base64.urlsafe_b64encode(json.dumps({"d": "a" * 128}).encode()).decode().rstrip("=")
    batch_cursor = base64.urlsafe_b64encode(json.dumps({"b": 12345}).encode()).decode().rstrip("=")
    for what, cursor in (("upload", file_cursor), ("file", batch_cursor)):
        response = await proxy.request("GET", f"/{what}?q=x&cursor={cursor}", ANONYMOUS)
        assert response.status == 400
        assert await response.json() == problem_body(400, INVALID_CURSOR_DETAIL)


# --- the web page's search with filenames and a file's batches: the same bounds and cursors ----


async def file_batch_pages(proxy: Proxy, digest: str, creds: Creds | None) -> list[Any]:
    """Every page of GET /file/batches/sha512/<d>, following `next` (and checking its Link)."""
    path = f"/file/batches/sha512/{digest}"
    pages: list[Any] = []
    cursor = None
    while True:
        assert len(pages) < 100, "the cursor does not advance"
        target = path if cursor is None else f"{path}?cursor={quote(cursor, safe='')}"
        response = await proxy.request("GET", target, creds)
        assert response.status == 200, await response.text()
        body = await response.json()
        pages.append(body)
        if "next" not in body:
            assert "Link" not in response.headers
            assert set(body) == {"result"}
            return pages
        link = response.headers["Link"]
        assert link == f'<?cursor={body["next"]}>; rel="next"'
        cursor = body["next"]


async def test_the_web_file_search_answers_pages_of_the_limit_with_the_cursor(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(search_limit="3")
    files = {f"tool-{number}.tar.xz": f"tool {number}".encode() for number in range(7)}
    await plant(proxy, "Bug 80: seven tools", files)
    pages = await every_page(proxy, "file/search", "tool-", ADMIN)
    assert [len(p["result"]) for p in pages] == [3, 3, 1]
    found = [r for p in pages for r in p["result"]]
    assert [r["digest"] for r in found] == sorted(sha512(data) for data in files.values())
    names = {sha512(data): [name] for name, data in files.items()}
    assert all(r["filenames"] == names[r["digest"]] and r["instances"] == [] for r in found)
    # The same pages as GET /file?q=, whose cursor it takes.
    legacy = await every_page(proxy, "file", "tool-", ADMIN)
    assert [p.get("next") for p in pages] == [p.get("next") for p in legacy]


async def test_the_web_file_search_counts_every_lookup_against_the_bound(
    make_proxy: ProxyFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It looks every result up (for its regions), even for a caller who may see internal files
    (whom GET /file?q= needs no lookups for): at most max_lookups per request all the same."""
    max_lookups = 10
    proxy = await make_proxy(search_max_lookups=str(max_lookups), catalog_refresh="3600")
    planted = {f"planted-{number}.bin": f"planted {number}".encode() for number in range(25)}
    await plant(proxy, "Bug 81: planted", planted)
    await page(proxy, "file/search", "nothing matches this", ADMIN)  # the catalog is loaded
    calls = count_store_calls(proxy, monkeypatch)
    seen: list[str] = []
    cursor = None
    while True:
        calls.clear()
        body = await page(proxy, "file/search", "planted-", ADMIN, cursor)
        assert store_reads(calls) == max_lookups * CALLS_PER_LOOKUP or "next" not in body, dict(calls)
        assert store_reads(calls) <= max_lookups * CALLS_PER_LOOKUP, dict(calls)
        seen += [record["digest"] for record in body["result"]]
        if "next" not in body:
            break
        cursor = body["next"]
    assert seen == sorted(sha512(data) for data in planted.values())


async def test_a_files_batches_answer_pages_of_the_limit_with_the_cursor(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(search_limit="2")
    data = b"announced again and again\n"
    digest = await proxy.upload(ADMIN, "first.bin", data)
    for number in range(4):
        await plant(proxy, f"Bug 82: again {number}", {f"again-{number}.bin": data})
    pages = await file_batch_pages(proxy, digest, ANONYMOUS)
    assert [len(p["result"]) for p in pages] == [2, 2, 1]
    found = [batch for p in pages for batch in p["result"]]
    assert [list(batch["files"]) for batch in found] == [[f"again-{n}.bin"] for n in range(3, -1, -1)] + [["first.bin"]]
    assert [batch["id"] for batch in found] == sorted((batch["id"] for batch in found), reverse=True)


async def test_a_files_batches_answer_makes_at_most_the_bounded_lookups(
    make_proxy: ProxyFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches that announce the file beside many planted ones cannot make one request look up
    more than max_lookups files; the rest is reached by the cursor, each file once."""
    max_lookups = 4
    proxy = await make_proxy(search_max_lookups=str(max_lookups), catalog_refresh="3600")
    data = b"a file planted batches name\n"
    digest = await proxy.upload(ADMIN, "real.bin", data)
    planted = {f"wide-{number:02}.bin": f"wide {number}".encode() for number in range(10)} | {"zz-real.bin": data}
    wide = await plant(proxy, "Bug 83: wide", planted)
    await file_batch_pages(proxy, digest, ANONYMOUS)  # the catalog is loaded
    proxy.index.cache.clear()
    calls = count_store_calls(proxy, monkeypatch)
    pages = []
    cursor = None
    path = f"/file/batches/sha512/{digest}"
    while True:
        calls.clear()
        response = await proxy.request("GET", path if cursor is None else f"{path}?cursor={cursor}", ANONYMOUS)
        body = await response.json()
        assert store_reads(calls) <= (max_lookups + 1) * CALLS_PER_LOOKUP, dict(calls)  # + the digest's own check
        pages.append(body)
        if "next" not in body:
            break
        cursor = body["next"]
    assert len(pages) > 2
    names = [(batch["id"], name) for p in pages for batch in p["result"] for name in batch["files"]]
    assert names[: len(planted)] == [(wide["id"], name) for name in sorted(planted)]
    assert names[len(planted) :] == [(names[-1][0], "real.bin")]


@pytest.mark.parametrize("path", ["/file/search?q=x&cursor=", f"/file/batches/sha512/{'0' * 128}?cursor="])
async def test_a_malformed_cursor_of_the_web_calls_is_400(proxy: Proxy, path: str) -> None:
    digest = await proxy.upload(ADMIN, "cursor.bin", b"cursor test\n")
    path = path.replace("0" * 128, digest)
    for cursor in MALFORMED_CURSORS.values():
        response = await proxy.request("GET", path + quote(cursor, safe=""), ANONYMOUS)
        assert response.status == 400
        assert await response.json() == problem_body(400, INVALID_CURSOR_DETAIL)


# --- the catalog drops batches gc removed --------------------------------------------------------


def test_a_batch_deleted_record_removes_the_batch_and_the_files_only_it_announced() -> None:
    state = CatalogState()
    now_id = int(time.time() * 1_000_000)
    lone = UploadFile("lone.bin", 4, sha512(b"lone"), Visibility.PUBLIC)
    shared = UploadFile("shared.bin", 6, sha512(b"shared"), Visibility.PUBLIC)
    state.apply_batch(Batch(now_id, "2026-01-01T00:00:00.000000Z", "u", "Bug 78: old", (lone, shared)))
    state.apply_batch(Batch(now_id + 1, "2026-01-01T00:00:00.000000Z", "u", "Bug 78: newer", (shared,)))
    readable = frozenset({Visibility.PUBLIC})

    state.apply_record(JournalRecord("journal/x", BATCH_DELETED, {"id": now_id}))
    assert [digest for digest, _ in state.files_after("", readable)] == [shared.digest]
    assert [batch.id for batch, *_ in state.batch_files_after("Bug 78", readable)] == [now_id + 1]
    again = CatalogState.from_snapshot(state.to_snapshot())
    assert sorted(again.batches) == [now_id + 1]
    assert sorted(again.files) == [shared.digest]
    # A record naming no valid batch is skipped, not applied.
    state.apply_record(JournalRecord("journal/y", BATCH_DELETED, {"id": "all"}))
    assert sorted(state.batches) == [now_id + 1]


# --- proxied PUT ------------------------------------------------------------------------------


async def staged_keys(proxy: Proxy) -> list[str]:
    return [key async for key in proxy.store.list_keys("uploads/") if not key.endswith(".json")]


DATA = b"bytes sent through the proxy's own PUT endpoint\n" * 200
OTHER = b"other bytes of the same batch\n" * 100


async def test_a_put_that_stops_sending_is_408_and_leaves_nothing_staged(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(upload_target="proxy", put_idle_timeout="0.5")
    batch = await proxy.upload_batch(UPLOADER, {"f.bin": DATA})
    put_url = batch["files"]["f.bin"]["put_url"]

    stalled = await RawPut.start(put_url, DATA, len(DATA) // 2)
    status, headers, body = await stalled.answer()  # the client never sends the rest
    assert status == 408
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body) == problem_body(408, "The upload sent no bytes for 0.5 seconds; send the file again.")
    assert await staged_keys(proxy) == []
    complete = await proxy.request("GET", f"/upload/complete/sha512/{sha512(DATA)}", UPLOADER)
    assert complete.status == 409  # still waiting for the bytes
    assert await proxy.put(put_url, DATA) == 200  # the same put_url works for the retry
    assert (await proxy.request("GET", f"/upload/complete/sha512/{sha512(DATA)}", UPLOADER)).status == 202


async def test_a_second_put_to_a_put_url_while_one_is_in_progress_is_409(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(upload_target="proxy")
    batch = await proxy.upload_batch(UPLOADER, {"f.bin": DATA, "other.bin": OTHER})
    put_url, other_url = batch["files"]["f.bin"]["put_url"], batch["files"]["other.bin"]["put_url"]

    first = await hold_put(proxy.session, put_url, DATA)
    async with proxy.session.put(put_url, data=DATA, headers={"Content-Type": "application/octet-stream"}) as second:
        assert second.status == 409
        assert await second.json() == problem_body(409, PutInProgress.default_detail)
    assert await proxy.put(other_url, OTHER) == 200  # another put_url is not held up

    status, _, _ = await first.finish()
    assert status == 200
    assert (await proxy.request("GET", f"/upload/complete/sha512/{sha512(DATA)}", UPLOADER)).status == 202
    assert await proxy.put(put_url, DATA) == 200  # done: the URL takes a PUT again


@pytest.mark.parametrize("store_kind", ["s3"])
async def test_a_multipart_write_holds_at_most_one_part(proxy: Proxy, monkeypatch: pytest.MonkeyPatch) -> None:
    """write_stream of a body larger than a part hands S3 parts of exactly MULTIPART_PART_SIZE
    bytes (the last one the rest), whatever the sizes of the chunks it is given."""
    part = s3_storage.MULTIPART_PART_SIZE
    data = bytes(range(256)) * ((part + part // 3) // 256) + b"tail"
    handed: list[int] = []
    upload_part = s3_storage.S3Store._upload_part

    async def counted(self: s3_storage.S3Store, key: str, upload_id: str, number: int, body: bytes) -> Any:
        handed.append(len(body))
        return await upload_part(self, key, upload_id, number, body)

    monkeypatch.setattr(s3_storage.S3Store, "_upload_part", counted)

    async def odd_chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 1_000_003):
            yield data[start : start + 1_000_003]

    await proxy.store.write_stream("uploads/multipart-test", odd_chunks(), len(data))
    assert handed == [part, len(data) - part]
    assert await proxy.store.read("uploads/multipart-test") == data
