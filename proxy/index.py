"""File metadata from index objects, cached (DESIGN.md §2, §3).

A missing or invalid index object for bytes that exist makes the file internal: nobody without
the internal scope gets bytes that an admin has not (validly) marked public.
"""

import asyncio
import json
import logging

from cachetools import TTLCache

from manifests import IndexEntry, ValidationError, Visibility
from proxy.cache import LookupCache
from proxy.journal import Journal
from proxy.keys import artifact_key, index_key
from proxy.stores import Stores

log = logging.getLogger("tooltool.index")

NEGATIVE_TTL_SECONDS = 5.0


class FileIndex:
    """Index entries in the home store, cached; writes are journaled for the search catalog."""

    def __init__(self, stores: Stores, ttl: float, maxsize: int) -> None:
        self.stores = stores
        self.store = stores.home
        self.journal = Journal(stores.home)
        self.cache: LookupCache[str, IndexEntry] = LookupCache(
            maxsize=maxsize, ttl=ttl, negative_ttl=min(ttl, NEGATIVE_TTL_SECONDS)
        )
        # Invalid hand-written index objects seen recently (key -> reason), for /__heartbeat__.
        self.invalid: TTLCache[str, str] = TTLCache(maxsize=1000, ttl=max(ttl, 300))

    async def lookup(self, digest: str) -> IndexEntry | None:
        """The file's entry, or None when neither an index object nor bytes exist."""
        return await self.cache.get(digest, self.load)

    async def read_entry(self, digest: str) -> IndexEntry | None:
        """The index object as stored, or None when it is missing or invalid (logged)."""
        key = index_key(digest)
        data = await self.store.read(key)
        if data is None:
            return None
        try:
            return IndexEntry.from_json(data, digest)
        except ValidationError as exc:
            log.warning("invalid index object; serving the file as internal", extra={"key": key, "reason": str(exc)})
            self.invalid[key] = str(exc)
            return None

    async def load(self, digest: str) -> IndexEntry | None:
        """What downloads must obey, bypassing the cache: the index object, or, for bytes
        without a valid one, an internal entry (fail closed). None when neither exists."""
        entry = await self.read_entry(digest)
        if entry is not None:
            return entry
        heads = await asyncio.gather(*(store.head(artifact_key(digest)) for store in self.stores.regions.values()))
        found = {region: info for region, info in zip(self.stores.regions, heads, strict=True) if info is not None}
        if not found:
            return None
        log.warning("artifact has no valid index object; serving it as internal", extra={"key": index_key(digest)})
        size = next(iter(found.values())).size
        return IndexEntry(digest=digest, size=size, visibility=Visibility.INTERNAL, instances=tuple(found))

    async def save(self, entry: IndexEntry) -> None:
        """Write the entry, journal it, and make this replica see it at once."""
        await self.store.write(index_key(entry.digest), entry.to_json())
        self.cache.invalidate(entry.digest)
        await self.journal.append("file", json.loads(entry.to_json()))
