"""The admin commands run in this process (proxy.cli.main in a worker thread, each command making its own event
loop), with TOOLTOOL_* set by monkeypatch, and the stores they work on, for looking behind the commands' back."""

import asyncio
import hashlib
import json
import os
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from manifests import IndexEntry, Visibility
from proxy.cli import main
from proxy.config import load_config
from proxy.keys import artifact_key, index_key
from proxy.stores import Stores, open_stores

WEST_BUCKET = "tooltool-west"


@dataclass
class Ran:
    status: int
    out: str
    err: str


def run_main(args: list[str]) -> int:
    try:
        return main(args)
    except SystemExit as exc:  # argparse: --help and usage errors
        return int(exc.code or 0)


class Admin:
    """`tooltool-proxy` in this process, and the stores it works on."""

    def __init__(self, capsys: pytest.CaptureFixture[str], stores: Stores) -> None:
        self.capsys = capsys
        self.stores = stores

    async def __call__(self, *args: str) -> Ran:
        self.capsys.readouterr()
        status = await asyncio.to_thread(run_main, list(args))
        captured = self.capsys.readouterr()
        return Ran(status, captured.out, captured.err)

    async def snapshot(self) -> dict[str, str]:
        """Every key of every store with its ETag: equal before and after means nothing changed."""
        seen: dict[str, str] = {}
        for name, store in [("home", self.stores.home), *self.stores.regions.items()]:
            async for key in store.list_keys(""):
                info = await store.head(key)
                if info is not None:
                    seen[f"{name}:{key}"] = info.etag
        return seen

    async def keys(self, prefix: str, region: str | None = None) -> list[str]:
        store = self.stores.home if region is None else self.stores.regions[region]
        return [key async for key in store.list_keys(prefix)]

    async def seed(
        self,
        data: bytes,
        visibility: str = "public",
        regions: Iterable[str] | None = None,
        indexed: bool = True,
    ) -> str:
        """Bytes in `regions` (default: the default region) and, if `indexed`, their index object."""
        digest = hashlib.sha512(data).hexdigest()
        held = tuple(regions) if regions is not None else (self.stores.default_region,)
        for region in held:
            await self.stores.regions[region].write(artifact_key(digest), data, "application/octet-stream")
        if indexed:
            entry = IndexEntry(digest, len(data), Visibility(visibility), instances=held, filenames=("f.bin",))
            await self.stores.home.write(index_key(digest), entry.to_json())
        return digest

    async def entry(self, digest: str) -> IndexEntry | None:
        data = await self.stores.home.read(index_key(digest))
        return None if data is None else IndexEntry.from_json(data, digest)

    async def journal(self) -> list[dict[str, Any]]:
        records = []
        for key in await self.keys("journal/"):
            data = await self.stores.home.read(key)
            assert data is not None
            records.append(json.loads(data))
        return records


def set_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name in list(os.environ):
        if name.startswith("TOOLTOOL_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def make_local_dirs(env: dict[str, str]) -> None:
    for value in (env.get("TOOLTOOL_STORE", ""), *env.get("TOOLTOOL_REGIONS", "").split(";")):
        where = value.partition("file://")[2]
        if where:
            Path(where).mkdir(parents=True, exist_ok=True)


async def open_admin(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> AsyncIterator[Admin]:
    make_local_dirs(env)
    set_env(monkeypatch, env)
    stores = await open_stores(load_config(env))
    try:
        yield Admin(capsys, stores)
    finally:
        await stores.close()


def assert_usage_error(ran: Ran, *words: str) -> None:
    """Exit 2 with exactly one line `tooltool-proxy: error: …` naming what to fix."""
    assert ran.status == 2, ran
    lines = ran.err.strip().splitlines()
    assert len(lines) == 1, ran.err
    assert lines[0].startswith("tooltool-proxy: error: ")
    for word in words:
        assert word in lines[0]
