"""File metadata from index objects, cached (DESIGN.md §2, §3).

A missing or invalid index object for bytes that exist makes the file internal: nobody without
the internal scope gets bytes that an admin has not (validly) marked public.
"""

import logging

from manifests import IndexEntry, ValidationError, Visibility
from proxy.cache import LookupCache
from proxy.keys import artifact_key, index_key
from proxy.storage import ObjectStore

log = logging.getLogger("tooltool.index")

NEGATIVE_TTL_SECONDS = 5.0


class FileIndex:
    def __init__(self, store: ObjectStore, ttl: float, maxsize: int) -> None:
        self.store = store
        self.cache: LookupCache[str, IndexEntry] = LookupCache(
            maxsize=maxsize, ttl=ttl, negative_ttl=min(ttl, NEGATIVE_TTL_SECONDS)
        )

    async def lookup(self, digest: str) -> IndexEntry | None:
        """The file's entry, or None when neither an index object nor bytes exist."""
        return await self.cache.get(digest, self.load)

    async def read_entry(self, digest: str) -> IndexEntry | None:
        """The index object as stored, or None when it is missing or invalid (logged)."""
        data = await self.store.read(index_key(digest))
        if data is None:
            return None
        try:
            return IndexEntry.from_json(data, digest)
        except ValidationError as exc:
            log.warning(
                "invalid index object; serving the file as internal",
                extra={"key": index_key(digest), "reason": str(exc)},
            )
            return None

    async def load(self, digest: str) -> IndexEntry | None:
        """What downloads must obey, bypassing the cache: the index object, or, for bytes
        without a valid one, an internal entry (fail closed). None when neither exists."""
        entry = await self.read_entry(digest)
        if entry is not None:
            return entry
        info = await self.store.head(artifact_key(digest))
        if info is None:
            return None
        log.warning("artifact has no valid index object; serving it as internal", extra={"key": index_key(digest)})
        return IndexEntry(digest=digest, size=info.size, visibility=Visibility.INTERNAL, instances=(self.store.region,))

    async def save(self, entry: IndexEntry) -> None:
        await self.store.write(index_key(entry.digest), entry.to_json())
        self.cache.invalidate(entry.digest)
