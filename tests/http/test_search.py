"""Search without a database (issue 3 §2): GET /file?q=, GET /upload?q= answered from each
replica's in-memory catalog (snapshot + journal). The `catalog` commands: tests/commands/test_catalog.py."""

import asyncio
import json
import time
from dataclasses import replace

import pytest

from manifests import Batch, UploadFile, Visibility
from proxy.catalog import SEARCH_RESULT_LIMIT, SNAPSHOT_KEY, Catalog, CatalogState
from proxy.config import ConfigError, load_config
from proxy.handlers.search import MISSING_QUERY_DETAIL
from proxy.http.context import CATALOG
from proxy.journal import FILE_DELETED, RETENTION_SECONDS, journal_key
from proxy.keys import index_key
from tests.support.credentials import ADMIN, INTERNAL_READER, PUBLIC_READER, UPLOADER
from tests.support.oracles import problem_body
from tests.support.proxies import Proxy, ProxyFactory
from tests.support.search import (
    ANONYMOUS,
    READERS,
    digests,
    entry_for,
    file_shape,
    search,
    sha512,
    upload,
    write_entry_journaled_at,
)

# --- the store contract: listing after a key ------------------------------------------------


async def test_list_keys_start_after_returns_only_later_keys_in_order(proxy: Proxy) -> None:
    for name in ("a/1", "a/2", "a/3", "a/30", "b/1"):
        await proxy.store.write(name, b"x")
    listed = [key async for key in proxy.store.list_keys("a/", start_after="a/2")]
    assert listed == ["a/3", "a/30"]
    # A position between keys (not itself a key) works as on S3.
    assert [key async for key in proxy.store.list_keys("a/", start_after="a/25")] == ["a/3", "a/30"]
    assert [key async for key in proxy.store.list_keys("a/", start_after=None)] == ["a/1", "a/2", "a/3", "a/30"]


# --- the contract ---------------------------------------------------------------------------


async def test_file_search_matches_filename_substrings_and_digest_prefixes(proxy: Proxy) -> None:
    gcc, clang = b"gcc bytes", b"clang bytes"
    await upload(
        proxy, ADMIN, "Bug 10: toolchains", {"gcc-12.tar.xz": (gcc, "public"), "clang.tar.xz": (clang, "public")}
    )

    assert await search(proxy, "file", "gcc-1") == [file_shape(gcc, "public")]
    assert await search(proxy, "file", "tar.xz") == sorted(
        [file_shape(gcc, "public"), file_shape(clang, "public")], key=lambda f: f["digest"]
    )
    assert await search(proxy, "file", sha512(clang)[:12]) == [file_shape(clang, "public")]
    # A digest matches by its start only, and matching is case-sensitive, as the legacy service.
    assert await search(proxy, "file", sha512(clang)[5:40]) == []
    assert await search(proxy, "file", "GCC") == []


async def test_batch_search_matches_author_and_message(proxy: Proxy) -> None:
    one, two = b"first", b"second"
    first = await upload(proxy, UPLOADER, "Bug 77: a new linker", {"ld.tar.xz": (one, "public")})
    second = await upload(proxy, ADMIN, "Bug 78: another tool", {"tool.tar.xz": (two, "public")})

    by_message = await search(proxy, "upload", "Bug 77", ADMIN)
    assert by_message == [
        {
            "id": first["id"],
            "uploaded": first["uploaded"],
            "author": UPLOADER.client_id,
            "message": "Bug 77: a new linker",
            "files": {"ld.tar.xz": file_shape(one, "public")},
        }
    ]
    assert [batch["id"] for batch in await search(proxy, "upload", "upload", ADMIN)] == [first["id"]]
    # Newest first.
    assert [batch["id"] for batch in await search(proxy, "upload", "Bug 7", ADMIN)] == [second["id"], first["id"]]
    assert await search(proxy, "upload", "no such text", ADMIN) == []


@pytest.mark.parametrize("what", ["file", "upload"])
async def test_search_without_q_is_400(proxy: Proxy, what: str) -> None:
    response = await proxy.request("GET", f"/{what}", ADMIN)
    assert response.status == 400
    assert response.headers["Content-Type"] == "application/json"
    assert await response.json() == problem_body(400, MISSING_QUERY_DETAIL)


async def test_results_hold_only_files_the_caller_may_download(proxy: Proxy) -> None:
    public, internal, secret = b"public bytes", b"internal bytes", b"secret bytes"
    mixed = await upload(
        proxy, UPLOADER, "Bug 5: mixed", {"pub.bin": (public, "public"), "int.bin": (internal, "internal")}
    )
    hidden = await upload(proxy, UPLOADER, "Bug 5: internal only", {"secret.bin": (secret, "internal")})
    expected_files = {
        ANONYMOUS: [public],
        PUBLIC_READER: [public],
        INTERNAL_READER: [internal, secret],
        ADMIN: [public, internal, secret],
    }
    for creds in READERS:
        found = await search(proxy, "file", ".bin", creds)
        assert digests(found) == sorted(sha512(data) for data in expected_files[creds]), creds
        batches = {batch["id"]: sorted(batch["files"]) for batch in await search(proxy, "upload", "Bug 5", creds)}
        expected_batches = {
            ANONYMOUS: {mixed["id"]: ["pub.bin"]},
            PUBLIC_READER: {mixed["id"]: ["pub.bin"]},
            INTERNAL_READER: {hidden["id"]: ["secret.bin"], mixed["id"]: ["int.bin"]},
            ADMIN: {hidden["id"]: ["secret.bin"], mixed["id"]: ["int.bin", "pub.bin"]},
        }
        assert batches == expected_batches[creds], creds


async def test_a_file_made_internal_disappears_from_anonymous_results_at_once(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(catalog_refresh="3600")  # no refresh during the test: only the write itself
    data = b"soon internal"
    await upload(proxy, ADMIN, "Bug 6: x", {"soon.bin": (data, "public")})
    assert digests(await search(proxy, "file", "soon")) == [sha512(data)]
    assert await search(proxy, "file", "soon", INTERNAL_READER) == []

    entry = await proxy.index.lookup(sha512(data))
    assert entry is not None
    await proxy.index.save(replace(entry, visibility=Visibility.INTERNAL))

    assert await search(proxy, "file", "soon") == []
    assert await search(proxy, "file", "soon", PUBLIC_READER) == []
    assert await search(proxy, "upload", "Bug 6") == []
    assert await search(proxy, "file", "soon", INTERNAL_READER) == [file_shape(data, "internal")]


async def test_a_file_deleted_altogether_leaves_the_results_at_once(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(catalog_refresh="3600")
    data = b"to be deleted"
    await upload(proxy, ADMIN, "Bug 8: x", {"doomed.bin": (data, "public")})
    assert digests(await search(proxy, "file", "doomed", ADMIN)) == [sha512(data)]
    await proxy.index.journal.append(FILE_DELETED, {"algorithm": "sha512", "digest": sha512(data)})
    assert await search(proxy, "file", "doomed", ADMIN) == []
    assert await search(proxy, "upload", "Bug 8", ADMIN) == []


async def test_an_index_object_edited_by_hand_to_internal_is_not_shown_as_public(make_proxy: ProxyFactory) -> None:
    writer = await make_proxy()
    data = b"edited by hand"
    await upload(writer, ADMIN, "Bug 9: x", {"edited.bin": (data, "public")})
    entry = entry_for(data, "edited.bin", Visibility.INTERNAL)
    await writer.store.write(index_key(entry.digest), entry.to_json())  # no journal record

    reader = await make_proxy()  # its catalog says public (journal); its index says internal
    assert await search(reader, "file", "edited") == []
    assert await search(reader, "file", "edited", PUBLIC_READER) == []
    assert await search(reader, "upload", "Bug 9") == []


async def test_a_file_announced_but_never_uploaded_is_found_without_instances(proxy: Proxy) -> None:
    data = b"announced only"
    body = {
        "message": "Bug 14: never sent",
        "files": {
            "ghost.bin": {"size": len(data), "digest": sha512(data), "algorithm": "sha512", "visibility": "public"}
        },
    }
    response = await proxy.request("POST", "/upload", UPLOADER, json.dumps(body).encode())
    assert response.status == 200
    assert await search(proxy, "file", "ghost") == [file_shape(data, "public", has_instances=False)]
    [batch] = await search(proxy, "upload", "Bug 14")
    assert batch["files"] == {"ghost.bin": file_shape(data, "public", has_instances=False)}


# --- replicas and the journal ---------------------------------------------------------------


async def test_another_replicas_upload_appears_after_the_refresh_interval(make_proxy: ProxyFactory) -> None:
    interval = 1.0
    reader = await make_proxy(catalog_refresh=str(interval))
    writer = await make_proxy()
    assert await search(reader, "file", "later.bin") == []  # the reader's catalog is loaded

    data = b"uploaded elsewhere"
    batch = await upload(writer, ADMIN, "Bug 11: elsewhere", {"later.bin": (data, "public")})
    await asyncio.sleep(interval)

    assert await search(reader, "file", "later.bin") == [file_shape(data, "public")]
    assert [b["id"] for b in await search(reader, "upload", "Bug 11")] == [batch["id"]]


async def test_journal_keys_visible_out_of_order_within_the_window_are_not_missed(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(catalog_refresh="0.2")
    assert await search(proxy, "file", ".bin") == []
    now = time.time()
    ahead, late = b"from a clock ahead", b"visible late"
    # Another replica's clock is 10 s ahead: the catalog's newest key is now in the future.
    await write_entry_journaled_at(proxy, entry_for(ahead, "ahead.bin"), now + 10)
    await asyncio.sleep(0.3)
    assert digests(await search(proxy, "file", ".bin")) == [sha512(ahead)]

    # A record stamped 60 s before that newest key becomes visible only now.
    await write_entry_journaled_at(proxy, entry_for(late, "late.bin"), now - 50)
    await asyncio.sleep(0.3)
    assert digests(await search(proxy, "file", ".bin")) == sorted([sha512(ahead), sha512(late)])


async def test_concurrent_searches_share_one_refresh_and_do_not_list_again_within_the_interval(
    make_proxy: ProxyFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = await make_proxy(catalog_refresh="3600")
    await upload(proxy, ADMIN, "Bug 12: x", {"shared.bin": (b"shared", "public")})
    catalog: Catalog = proxy.app[CATALOG]
    listings = 0
    list_journal = catalog.journal.keys_after

    async def counted(start_after: str | None) -> list[str]:
        nonlocal listings
        listings += 1
        return await list_journal(start_after)

    monkeypatch.setattr(catalog.journal, "keys_after", counted)
    results = await asyncio.gather(*(search(proxy, "file", "shared") for _ in range(20)))
    assert all(len(found) == 1 for found in results)
    assert listings == 1
    await asyncio.gather(*(search(proxy, "upload", "Bug 12") for _ in range(20)))
    assert listings == 1


async def test_an_unreadable_journal_record_is_skipped(proxy: Proxy) -> None:
    await proxy.store.write(journal_key(), b"not json")
    data = b"still found"
    await upload(proxy, ADMIN, "Bug 13: x", {"found.bin": (data, "public")})
    assert await search(proxy, "file", "found") == [file_shape(data, "public")]


async def test_a_replica_idle_for_half_the_journal_retention_reloads_the_snapshot(proxy: Proxy) -> None:
    now = [1000.0]
    catalog = Catalog(proxy.index, refresh_seconds=5, clock=lambda: now[0])
    readable = frozenset(Visibility)
    assert (await catalog.search_files("kept", readable)).results == []
    # A compaction elsewhere wrote a snapshot holding a file whose journal record it deleted.
    state = CatalogState()
    data = b"only in the snapshot"
    state.apply_entry(entry_for(data, "kept.bin"))
    await proxy.store.write(SNAPSHOT_KEY, state.to_snapshot())

    now[0] += 10  # a refresh lists the journal only
    assert (await catalog.search_files("kept", readable)).results == []
    now[0] += RETENTION_SECONDS / 2 + 1
    assert (await catalog.search_files("kept", readable)).results == [file_shape(data, "public")]


# --- the cap ----------------------------------------------------------------------------------


async def test_results_are_capped_at_the_first_matches_in_order(make_proxy: ProxyFactory) -> None:
    writer = await make_proxy()
    state = CatalogState()
    for number in range(SEARCH_RESULT_LIMIT + 1):
        data = f"tool {number}".encode()
        state.apply_entry(entry_for(data, f"tool-{number}.tar.xz"))
    batch_ids = []
    for number in range(SEARCH_RESULT_LIMIT + 1):
        data = f"tool {number}".encode()
        upload_file = UploadFile(f"tool-{number}.tar.xz", len(data), sha512(data), Visibility.PUBLIC)
        batch = Batch(1_000_000 + number, "2026-01-01T00:00:00.000000Z", "admin", f"Bug {number}", (upload_file,))
        state.apply_batch(batch)
        batch_ids.append(batch.id)
    await writer.store.write(SNAPSHOT_KEY, state.to_snapshot())

    proxy = await make_proxy()
    found = await search(proxy, "file", "tool-", ADMIN)
    all_digests = sorted(sha512(f"tool {number}".encode()) for number in range(SEARCH_RESULT_LIMIT + 1))
    assert digests(found) == all_digests[:SEARCH_RESULT_LIMIT]
    batches = await search(proxy, "upload", "Bug", ADMIN)
    assert [batch["id"] for batch in batches] == sorted(batch_ids, reverse=True)[:SEARCH_RESULT_LIMIT]


def test_catalog_refresh_interval_is_configurable() -> None:
    assert load_config({"TOOLTOOL_CATALOG_REFRESH": "2.5"}).catalog_refresh == 2.5
    with pytest.raises(ConfigError, match="TOOLTOOL_CATALOG_REFRESH"):
        load_config({"TOOLTOOL_CATALOG_REFRESH": "soon"})
