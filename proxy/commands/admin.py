"""Running an admin command, one that works on the store directly with no running proxy (issue 3 §5):
the configured stores, the index and the batch records, checked to answer first."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from proxy.batches import BatchRecords
from proxy.commands.command import CommandError
from proxy.commands.layout import named_stores
from proxy.config import Config, load_config
from proxy.index import FileIndex
from proxy.storage import StoreError
from proxy.stores import Stores, open_stores


@dataclass
class AdminContext:
    config: Config
    stores: Stores
    index: FileIndex
    batches: BatchRecords


AdminWork = Callable[[AdminContext], Awaitable[int]]


@contextlib.asynccontextmanager
async def admin_context(config: Config) -> AsyncIterator[AdminContext]:
    stores = await open_stores(config)
    try:
        # Admin commands must see the store as it is now: no cache (ttl 0). They report invalid
        # and missing index objects themselves, in their own words, so the index does not log them.
        index = FileIndex(stores, ttl=0.0, maxsize=1, mode=config.index_mode, warn_invalid_entries=False)
        yield AdminContext(config, stores, index, BatchRecords(stores.home, index.journal))
    finally:
        await stores.close()


def run_admin(work: AdminWork) -> int:
    """Run `work` on the configured stores and return its exit status."""
    config = load_config()
    _require_local_directories(config)
    return asyncio.run(_run(config, work))


def selected_regions(context: AdminContext, name: str | None) -> list[str]:
    """The regions a command works on: the one named by --region, or every configured one."""
    if name is None:
        return list(context.stores.regions)
    if name not in context.stores.regions:
        configured = ", ".join(context.stores.regions)
        raise CommandError(f"--region {name!r} is not a configured region; use one of: {configured}")
    return [name]


async def _run(config: Config, work: AdminWork) -> int:
    async with admin_context(config) as context:
        await _require_reachable(context)
        try:
            return await work(context)
        except StoreError as exc:
            raise CommandError(
                f"the object store failed ({exc or type(exc).__name__}); "
                "run the command again once it answers (admin commands are safe to re-run)"
            ) from None


def _require_local_directories(config: Config) -> None:
    # Opening a local store creates its directory; an admin command on a mistyped path must
    # say so rather than report an empty store.
    places = [("TOOLTOOL_STORE", config.store)] + [(f"TOOLTOOL_REGIONS ({r.name})", r.store) for r in config.regions]
    for variable, location in places:
        if location.is_local and not Path(location.path).is_dir():
            raise CommandError(f"{variable}: the directory {location.path} does not exist; check the path")


async def _require_reachable(context: AdminContext) -> None:
    for what, store in named_stores(context.stores):
        try:
            await store.ping()
        except StoreError as exc:
            raise CommandError(
                f"the {what} store does not answer ({exc or 'bucket not found'}); "
                "check TOOLTOOL_STORE, TOOLTOOL_REGIONS and TOOLTOOL_S3_ENDPOINT_URL"
            ) from None
