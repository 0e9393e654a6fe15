"""`tooltool-proxy catalog compact|rebuild` (proxy/commands/catalog_cmds.py): the snapshot search starts from, and
search answering the same after either."""

import time
from dataclasses import replace
from typing import Any

import pytest

from manifests import Visibility
from proxy.catalog import SNAPSHOT_KEY
from proxy.keys import index_key
from tests.support.credentials import ADMIN, UPLOADER
from tests.support.proxies import Proxy, ProxyFactory
from tests.support.search import (
    READERS,
    entry_for,
    file_shape,
    journal_keys,
    run_cli_in_process,
    search,
    sha512,
    upload,
    write_entry_journaled_at,
)

QUERIES = [("file", ".bin"), ("file", "a"), ("upload", "Bug"), ("upload", "uploader")]


async def all_results(proxy: Proxy) -> dict[str, Any]:
    results = {}
    for creds in READERS:
        for what, query in QUERIES:
            name = creds.client_id if creds else "anonymous"
            results[f"{name} {what} {query}"] = await search(proxy, what, query, creds)
    return results


async def populate(proxy: Proxy) -> None:
    await upload(proxy, UPLOADER, "Bug 20: mixed", {"a.bin": (b"a", "public"), "b.bin": (b"b", "internal")})
    await upload(proxy, ADMIN, "Bug 21: again", {"a-again.bin": (b"a", "public"), "c.bin": (b"c", "public")})
    made_internal = await proxy.index.lookup(sha512(b"c"))
    assert made_internal is not None
    await proxy.index.save(replace(made_internal, visibility=Visibility.INTERNAL))
    # A record from long ago, so that compaction may delete it.
    await write_entry_journaled_at(proxy, entry_for(b"old", "old.bin"), time.time() - 3 * 86400)


async def test_search_answers_the_same_after_compaction(
    make_proxy: ProxyFactory, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    proxy = await make_proxy()
    await populate(proxy)
    before = await all_results(await make_proxy())
    old_key = min(await journal_keys(proxy))

    assert await run_cli_in_process(monkeypatch, proxy, "catalog", "compact") == 0
    assert "wrote catalog/snapshot.json.gz: 4 files, 2 batches" in capsys.readouterr().out
    assert await proxy.store.head(SNAPSHOT_KEY) is not None
    remaining = await journal_keys(proxy)
    assert old_key not in remaining  # folded into the snapshot and older than the retention
    assert len(remaining) > 0  # recent records are kept for replicas still catching up

    assert await all_results(await make_proxy()) == before
    # Compacting again changes nothing either.
    assert await run_cli_in_process(monkeypatch, proxy, "catalog", "compact") == 0
    assert await all_results(await make_proxy()) == before


async def test_rebuild_writes_the_snapshot_from_the_objects(
    make_proxy: ProxyFactory, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    proxy = await make_proxy()
    await populate(proxy)
    before = await all_results(await make_proxy())
    # A legacy bucket has no journal: search knows nothing until the rebuild.
    for key in await journal_keys(proxy):
        await proxy.store.delete(key)
    assert await search(await make_proxy(), "file", ".bin", ADMIN) == []

    assert await run_cli_in_process(monkeypatch, proxy, "catalog", "rebuild") == 0
    captured = capsys.readouterr()
    assert "wrote catalog/snapshot.json.gz: 4 files, 2 batches" in captured.out
    assert "reading index objects and batch records" in captured.err  # progress, as log lines off a terminal
    assert await all_results(await make_proxy()) == before


async def test_rebuild_picks_up_index_objects_edited_by_hand(
    make_proxy: ProxyFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = await make_proxy()
    data = b"made public by hand"
    await upload(proxy, ADMIN, "Bug 22: x", {"hand.bin": (data, "internal")})
    entry = replace(entry_for(data, "hand.bin"), filenames=("hand.bin", "renamed.bin"))
    await proxy.store.write(index_key(entry.digest), entry.to_json())  # no journal record
    assert await search(await make_proxy(), "file", "renamed", ADMIN) == []

    assert await run_cli_in_process(monkeypatch, proxy, "catalog", "rebuild") == 0
    assert await search(await make_proxy(), "file", "renamed") == [file_shape(data, "public")]
