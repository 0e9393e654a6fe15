"""File metadata from index objects or object tags, cached (DESIGN.md §2, §3).

Two index modes (TOOLTOOL_INDEX):
- objects: the index object `index/sha512/<d>.json` says everything, visibility included.
- tags: the visibility is the object tag `visibility` on `sha512/<d>` itself, set only by the
  proxy (the commit's copy, `save`) or by admins; size and instances come from the bytes;
  filenames, upload time and author from the index object when there is one.

Fail closed in both: bytes without a valid index object (objects) or without a valid
visibility tag (tags) are internal, so nobody without the internal scope gets bytes that an
admin has not (validly) marked public.
"""

import asyncio
import contextlib
import json
import logging
from dataclasses import replace

from cachetools import TTLCache

from manifests import IndexEntry, ValidationError, Visibility, parse_visibility
from proxy.cache import LookupCache
from proxy.config import IndexMode
from proxy.journal import Journal
from proxy.keys import artifact_key, index_key
from proxy.storage import ObjectInfo, ObjectNotFound, ObjectStore
from proxy.stores import Stores

log = logging.getLogger("tooltool.index")

NEGATIVE_TTL_SECONDS = 5.0
VISIBILITY_TAG = "visibility"


class FileIndex:
    """Index entries in the home store (and, in tags mode, tags on the artifacts), cached;
    writes are journaled for the search catalog.

    Store requests per cache miss, with R configured regions (a hit costs none):
    - objects mode: 1 GET of the index object; R HEADs more only when it is missing or invalid.
    - tags mode: R + 2 in two round trips: the index object GET and R HEADs at once, then one
      GetObjectTagging on the first region that holds the bytes.
    `save` in tags mode adds, per region holding the bytes, a GetObjectTagging and, when the
    visibility changes, a PutObjectTagging.
    """

    def __init__(self, stores: Stores, ttl: float, maxsize: int, mode: IndexMode = IndexMode.OBJECTS) -> None:
        self.stores = stores
        self.store = stores.home
        self.mode = mode
        self.journal = Journal(stores.home)
        self.cache: LookupCache[str, IndexEntry] = LookupCache(
            maxsize=maxsize, ttl=ttl, negative_ttl=min(ttl, NEGATIVE_TTL_SECONDS)
        )
        # Invalid hand-written index objects (and visibility tags) seen recently (key -> reason),
        # for /__heartbeat__.
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
        """What downloads must obey, bypassing the cache. None when neither an index object
        nor bytes exist."""
        if self.mode is IndexMode.TAGS:
            return await self._load_from_tags(digest)
        return await self._load_from_index_object(digest)

    async def _load_from_index_object(self, digest: str) -> IndexEntry | None:
        """The index object, or, for bytes without a valid one, an internal entry (fail closed)."""
        entry = await self.read_entry(digest)
        if entry is not None:
            return entry
        found = await self._artifacts(digest)
        if not found:
            return None
        log.warning("artifact has no valid index object; serving it as internal", extra={"key": index_key(digest)})
        size = next(iter(found.values())).size
        return IndexEntry(digest=digest, size=size, visibility=Visibility.INTERNAL, instances=tuple(found))

    async def _load_from_tags(self, digest: str) -> IndexEntry | None:
        """The bytes' size, regions and visibility tag, with the index object's other fields.

        Without bytes anywhere the index object stands as it is, with no instances: its
        metadata outlives deleted bytes, as in objects mode (PROTOCOL.md §3, delete_instances).
        """
        entry, found = await asyncio.gather(self.read_entry(digest), self._artifacts(digest))
        if not found:
            return None if entry is None else replace(entry, instances=())
        region, info = next(iter(found.items()))
        visibility = await self._tagged_visibility(self.stores.regions[region], digest)
        if entry is None:
            return IndexEntry(digest=digest, size=info.size, visibility=visibility, instances=tuple(found))
        return replace(entry, size=info.size, visibility=visibility, instances=tuple(found))

    async def _artifacts(self, digest: str) -> dict[str, ObjectInfo]:
        """The regions holding the bytes (in configured order), with what their HEAD says."""
        stores = self.stores.regions
        heads = await asyncio.gather(*(store.head(artifact_key(digest)) for store in stores.values()))
        return {region: info for region, info in zip(stores, heads, strict=True) if info is not None}

    async def _tagged_visibility(self, store: ObjectStore, digest: str) -> Visibility:
        """The `visibility` tag of the bytes; internal when it is missing or unknown (logged)."""
        key = artifact_key(digest)
        value = ((await store.get_tags(key)) or {}).get(VISIBILITY_TAG)
        if value is None:
            log.warning("artifact has no visibility tag; serving it as internal", extra={"key": key})
            return Visibility.INTERNAL
        try:
            return parse_visibility(value)
        except ValidationError as exc:
            log.warning("invalid visibility tag; serving the file as internal", extra={"key": key, "reason": str(exc)})
            self.invalid[key] = f"tag {exc}"  # "tag visibility must be 'public' or 'internal'"
            return Visibility.INTERNAL

    def commit_tags(self, visibility: Visibility) -> dict[str, str] | None:
        """The tags an upload's commit gives `sha512/<d>` in the same copy that makes the bytes
        visible: the visibility tag in tags mode, none in objects mode."""
        if self.mode is IndexMode.TAGS:
            return {VISIBILITY_TAG: visibility.value}
        return None

    async def save(self, entry: IndexEntry) -> None:
        """Write the entry (and in tags mode the visibility tag on the bytes in every region),
        journal it, and make this replica see it at once."""
        await self.store.write(index_key(entry.digest), entry.to_json())
        if self.mode is IndexMode.TAGS:
            await asyncio.gather(*(self._tag(store, entry) for store in self.stores.regions.values()))
        self.cache.invalidate(entry.digest)
        await self.journal.append("file", json.loads(entry.to_json()))

    async def _tag(self, store: ObjectStore, entry: IndexEntry) -> None:
        """Set the visibility tag on the bytes in `store`, keeping any other tags admins set."""
        key = artifact_key(entry.digest)
        tags = await store.get_tags(key)
        if tags is None or tags.get(VISIBILITY_TAG) == entry.visibility.value:
            return  # no bytes in this region, or already right
        with contextlib.suppress(ObjectNotFound):  # deleted meanwhile
            await store.put_tags(key, tags | {VISIBILITY_TAG: entry.visibility.value})
