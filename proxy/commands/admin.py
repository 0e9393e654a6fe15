"""What every admin command needs: the configured stores, the index and the batch records."""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from proxy.batches import BatchRecords
from proxy.config import Config
from proxy.index import FileIndex
from proxy.stores import Stores, open_stores


@dataclass
class AdminContext:
    config: Config
    stores: Stores
    index: FileIndex
    batches: BatchRecords


@contextlib.asynccontextmanager
async def admin_context(config: Config) -> AsyncIterator[AdminContext]:
    stores = await open_stores(config)
    try:
        # Admin commands must see the store as it is now: no cache (ttl 0).
        index = FileIndex(stores, ttl=0.0, maxsize=1, mode=config.index_mode)
        yield AdminContext(config, stores, index, BatchRecords(stores.home, index.journal))
    finally:
        await stores.close()
