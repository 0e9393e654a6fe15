"""Many replicas, one store, nothing lost (issue 8): two `python -m proxy serve` processes on one
moto bucket, and two on one local directory, raced against each other hundreds of times.

- a commit on one replica against a PATCH to internal on the other;
- a PATCH (visibility) on one against a PATCH (delete_instances) on the other;
- two commits of one digest, from two batches with different filenames, one on each.
Every answer that acknowledged a write (202, 200) must be in the index afterwards, and no file
that an acknowledged PATCH made internal may be downloadable anonymously. A captured mutating
request replayed to the other replica behind one public URL is refused.
"""

import asyncio
import contextlib
import hashlib
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest

from manifests import IndexEntry
from proxy.keys import artifact_key, index_key
from proxy.storage import ObjectStore
from proxy.storage.local import LocalStore
from proxy.storage.s3 import S3Store
from tests.support.credentials import ADMIN, write_clients_file
from tests.support.hawk import tooltool_header
from tests.support.moto import BUCKET
from tests.support.proxies import Proxy
from tests.support.serve import ServeProcess

ROUNDS = 100  # of each race, on each store (200 a race across the two stores)
CONCURRENT_ROUNDS = 8  # rounds (each on its own digest) in flight at once
CACHE_TTL = 1.0


@dataclass
class Cluster:
    a: Proxy
    b: Proxy
    store: ObjectStore  # the shared store, read directly to check what was acknowledged


@pytest.fixture
async def cluster(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Cluster]:
    env = {
        "TOOLTOOL_CLIENTS_FILE": str(write_clients_file(tmp_path / "clients.json")),
        "TOOLTOOL_CACHE_TTL": str(CACHE_TTL),
        "TOOLTOOL_UPLOAD_SECRET": secrets.token_hex(16),  # one for every replica, as documented
    }
    store: ObjectStore
    if store_kind == "s3":
        request.getfixturevalue("s3_bucket")
        endpoint = request.getfixturevalue("moto_endpoint")
        env.update({"TOOLTOOL_STORE": f"s3://{BUCKET}/", "TOOLTOOL_S3_ENDPOINT_URL": endpoint})
        store = await S3Store.connect(BUCKET, endpoint_url=endpoint)
    else:
        root = tmp_path / "shared-store"
        env["TOOLTOOL_STORE"] = f"file://{root}"
        store = LocalStore(root)
    try:
        with contextlib.ExitStack() as replicas:
            # Each replica's log is kept for a failing test's report.
            servers = [replicas.enter_context(ServeProcess(env, tmp_path / f"replica-{name}.log")) for name in "ab"]
            sessions = [aiohttp.ClientSession() for _ in servers]
            proxies = [
                Proxy(url=server.url, app=cast(Any, None), session=session)
                for server, session in zip(servers, sessions, strict=True)
            ]
            try:
                yield Cluster(proxies[0], proxies[1], store)
            finally:
                for session in sessions:
                    await session.close()
    finally:
        await store.close()


async def rounds(race: Callable[[int], Awaitable[None]]) -> None:
    """ROUNDS races, CONCURRENT_ROUNDS at a time."""
    limit = asyncio.Semaphore(CONCURRENT_ROUNDS)

    async def one(number: int) -> None:
        async with limit:
            await race(number)

    await asyncio.gather(*(one(number) for number in range(ROUNDS)))


def unique_bytes(number: int) -> bytes:
    return f"round {number} ".encode() + secrets.token_bytes(200)


async def staged(proxy: Proxy, name: str, data: bytes, visibility: str = "public") -> str:
    """POST /upload and PUT the bytes through `proxy`; the digest, ready for upload/complete."""
    result = await proxy.upload_batch(ADMIN, {name: data}, visibility)
    assert await proxy.put(result["files"][name]["put_url"], data) == 200
    return hashlib.sha512(data).hexdigest()


async def complete(proxy: Proxy, digest: str) -> int:
    return (await proxy.request("GET", f"/upload/complete/sha512/{digest}", ADMIN)).status


async def patch(proxy: Proxy, digest: str, operations: list[dict[str, str]]) -> int:
    return (await proxy.request("PATCH", f"/file/sha512/{digest}", ADMIN, json.dumps(operations).encode())).status


async def stored_entry(store: ObjectStore, digest: str) -> IndexEntry:
    data = await store.read(index_key(digest))
    assert data is not None, f"no index object for {digest}"
    return IndexEntry.from_json(data, digest)


async def anonymous_status(proxy: Proxy, digest: str) -> int:
    return (await proxy.request("GET", f"/sha512/{digest}")).status


MAKE_INTERNAL = [{"op": "set_visibility", "visibility": "internal"}]
DELETE_INSTANCES = [{"op": "delete_instances"}]


async def test_commit_racing_a_patch_to_internal_loses_neither(cluster: Cluster) -> None:
    made_internal: list[str] = []
    committed: list[str] = []

    async def race(number: int) -> None:
        name = f"tool-{number}.tar.xz"
        digest = await staged(cluster.a, name, unique_bytes(number))
        completing = asyncio.create_task(complete(cluster.a, digest))
        # PATCH again and again while the commit is under way: 404 until the file exists.
        patched = await patch(cluster.b, digest, MAKE_INTERNAL)
        while patched == 404 and not completing.done():
            patched = await patch(cluster.b, digest, MAKE_INTERNAL)
        assert await completing == 202
        assert patched in (200, 404)
        committed.append(digest)
        entry = await stored_entry(cluster.store, digest)
        assert name in entry.filenames, "the acknowledged commit's filename was lost"
        assert entry.instances, "the acknowledged commit's instance was lost"
        if patched == 200:
            made_internal.append(digest)
            assert entry.visibility.value == "internal", "the acknowledged PATCH was undone"

    await rounds(race)
    assert len(committed) == ROUNDS
    assert made_internal, "no PATCH ever found the file: the race was not exercised"
    await asyncio.sleep(CACHE_TTL + 0.2)  # the documented bound on another replica's cache
    for digest in made_internal:
        assert await anonymous_status(cluster.a, digest) == 403
        assert await anonymous_status(cluster.b, digest) == 403


async def test_patch_racing_a_patch_keeps_both_operations(cluster: Cluster) -> None:
    async def race(number: int) -> None:
        digest = await staged(cluster.a, f"tool-{number}", unique_bytes(number))
        assert await complete(cluster.a, digest) == 202
        statuses = await asyncio.gather(
            patch(cluster.a, digest, MAKE_INTERNAL), patch(cluster.b, digest, DELETE_INSTANCES)
        )
        assert list(statuses) == [200, 200]
        entry = await stored_entry(cluster.store, digest)
        assert entry.visibility.value == "internal", "the visibility PATCH was undone by the other"
        assert entry.instances == (), "the delete_instances PATCH was undone by the other"
        assert await cluster.store.head(artifact_key(digest)) is None

    await rounds(race)


async def test_two_commits_of_one_digest_keep_both_filenames(cluster: Cluster) -> None:
    async def race(number: int) -> None:
        data = unique_bytes(number)
        digest, _ = await asyncio.gather(
            staged(cluster.a, f"first-{number}.bin", data), staged(cluster.b, f"second-{number}.bin", data)
        )
        statuses = await asyncio.gather(complete(cluster.a, digest), complete(cluster.b, digest))
        assert list(statuses) == [202, 202]
        entry = await stored_entry(cluster.store, digest)
        assert {f"first-{number}.bin", f"second-{number}.bin"} <= set(entry.filenames)
        assert entry.instances

    await rounds(race)


async def test_a_mutating_request_replayed_to_the_other_replica_is_refused(cluster: Cluster) -> None:
    """Both replicas behind one public URL (a load balancer): the same signed PATCH, byte for
    byte with the same Host, goes to A and then to B."""
    digest = await staged(cluster.a, "tool.bin", unique_bytes(0))
    assert await complete(cluster.a, digest) == 202
    public_url = f"http://tooltool.example.com/file/sha512/{digest}"
    body = json.dumps(MAKE_INTERNAL).encode()
    headers = {
        "Host": "tooltool.example.com",
        "Content-Type": "application/json",
        "Authorization": tooltool_header(ADMIN.client_id, ADMIN.access_token, "PATCH", public_url, body),
    }
    path = f"/file/sha512/{digest}"
    first = await cluster.a.session.patch(cluster.a.url + path, data=body, headers=headers)
    assert first.status == 200, await first.text()
    # A later, legitimate PATCH that the replay would undo.
    assert await patch(cluster.a, digest, [{"op": "set_visibility", "visibility": "public"}]) == 200

    replayed = await cluster.b.session.patch(cluster.b.url + path, data=body, headers=headers)

    assert replayed.status == 401
    assert (await replayed.json())["detail"] == "Hawk nonce was already used (replayed request)"
    assert (await stored_entry(cluster.store, digest)).visibility.value == "public"
