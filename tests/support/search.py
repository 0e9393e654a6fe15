"""Searching a live proxy (GET /file?q=, GET /upload?q=) and putting files where its catalog will find them."""

import asyncio
import hashlib
import json
from typing import Any
from urllib.parse import quote

import pytest

from manifests import IndexEntry, Visibility
from proxy import cli
from proxy.journal import JOURNAL_PREFIX, journal_key
from proxy.keys import index_key
from tests.support.credentials import ADMIN, INTERNAL_READER, PUBLIC_READER, Creds
from tests.support.proxies import Proxy

ANONYMOUS = None
READERS: list[Creds | None] = [ANONYMOUS, PUBLIC_READER, INTERNAL_READER, ADMIN]


def sha512(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


async def upload(proxy: Proxy, creds: Creds, message: str, files: dict[str, tuple[bytes, str]]) -> dict[str, Any]:
    """The tooltool.py sequence for one batch: POST /upload, the PUTs, upload/complete."""
    batch: dict[str, Any] = await proxy.upload_files(creds, files, message)
    return batch


async def search(proxy: Proxy, what: str, query: str, creds: Creds | None = ANONYMOUS) -> list[dict[str, Any]]:
    response = await proxy.request("GET", f"/{what}?q={quote(query, safe='')}", creds)
    assert response.status == 200, await response.text()
    result: list[dict[str, Any]] = (await response.json())["result"]
    return result


def file_shape(data: bytes, visibility: str, has_instances: bool = True) -> dict[str, Any]:
    return {
        "algorithm": "sha512",
        "digest": sha512(data),
        "size": len(data),
        "visibility": visibility,
        "has_instances": has_instances,
    }


def digests(results: list[dict[str, Any]]) -> list[str]:
    return [result["digest"] for result in results]


async def run_cli_in_process(monkeypatch: pytest.MonkeyPatch, proxy: Proxy, *args: str) -> int:
    """`tooltool-proxy <args>` in-process, configured for the proxy's store (in a thread: it
    runs its own event loop)."""
    for name, value in proxy.env.items():
        monkeypatch.setenv(name, value)
    return await asyncio.to_thread(cli.main, list(args))


async def journal_keys(proxy: Proxy) -> list[str]:
    return [key async for key in proxy.store.list_keys(JOURNAL_PREFIX)]


async def write_entry_journaled_at(proxy: Proxy, entry: IndexEntry, moment: float) -> str:
    """What FileIndex.save writes, with a journal key stamped at `moment`: a record of another
    replica whose clock differs, or that became visible late."""
    await proxy.store.write(index_key(entry.digest), entry.to_json())
    key = journal_key(moment)
    record = {"kind": "file", "doc": json.loads(entry.to_json())}
    await proxy.store.write(key, json.dumps(record).encode())
    return key


def entry_for(data: bytes, filename: str, visibility: Visibility = Visibility.PUBLIC) -> IndexEntry:
    return IndexEntry(sha512(data), len(data), visibility, instances=("local",), filenames=(filename,))
