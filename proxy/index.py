"""File metadata from index objects or object tags, cached (DESIGN.md §2, §3).

Two index modes (TOOLTOOL_INDEX):
- objects: the index object `index/sha512/<d>.json` says everything, visibility included.
- tags: the visibility is the object tag `visibility` on `sha512/<d>` itself, set only by the
  proxy (the commit's copy, `retag`) or by admins; size and instances come from the bytes;
  filenames, upload time and author from the index object when there is one.

Fail closed in both: bytes without a valid index object (objects) or without a valid
visibility tag (tags) are internal, so nobody without the internal scope gets bytes that an
admin has not (validly) marked public.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace

from cachetools import TTLCache

from manifests import IndexEntry, ValidationError, Visibility, parse_visibility
from proxy.cache import LookupCache
from proxy.config import IndexMode
from proxy.journal import Journal, journal_key
from proxy.keys import artifact_key, index_key
from proxy.storage import KeepsTags, ObjectInfo, ObjectNotFound
from proxy.storage.cas import update_object
from proxy.stores import Stores

log = logging.getLogger("tooltool.index")

NEGATIVE_TTL_SECONDS = 5.0
VISIBILITY_TAG = "visibility"

RETAG_ROUNDS = 5

IndexChange = Callable[[IndexEntry | None], IndexEntry | None]


def _ignore(*args: object, **kwargs: object) -> None:
    pass


class FileIndex:
    """Index entries in the home store (and, in tags mode, tags on the artifacts), cached;
    writes are journaled for the search catalog.

    Store requests per cache miss, with R configured regions (a hit costs none):
    - objects mode: 1 GET of the index object; R HEADs more only when it is missing or invalid.
    - tags mode: R + 2 in two round trips: the index object GET and R HEADs at once, then one
      GetObjectTagging on the first region that holds the bytes.
    `retag` (tags mode) adds, per region holding the bytes, a GetObjectTagging and, when the
    visibility changes, a PutObjectTagging.
    """

    def __init__(
        self,
        stores: Stores,
        ttl: float,
        maxsize: int,
        mode: IndexMode = IndexMode.OBJECTS,
        *,
        warn_invalid_entries: bool = True,
    ) -> None:
        self.stores = stores
        # Warnings of invalid or missing index objects and tags (off for callers that report them).
        self.warn: Callable[..., None] = log.warning if warn_invalid_entries else _ignore
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
            self.warn("invalid index object; serving the file as internal", extra={"key": key, "reason": str(exc)})
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
        self.warn("artifact has no valid index object; serving it as internal", extra={"key": index_key(digest)})
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
        visibility = await self._tagged_visibility(self.stores.tag_keepers[region], digest)
        if entry is None:
            return IndexEntry(digest=digest, size=info.size, visibility=visibility, instances=tuple(found))
        return replace(entry, size=info.size, visibility=visibility, instances=tuple(found))

    async def _artifacts(self, digest: str) -> dict[str, ObjectInfo]:
        """The regions holding the bytes (in configured order), with what their HEAD says."""
        stores = self.stores.regions
        heads = await asyncio.gather(*(store.head(artifact_key(digest)) for store in stores.values()))
        return {region: info for region, info in zip(stores, heads, strict=True) if info is not None}

    async def _tagged_visibility(self, store: KeepsTags, digest: str) -> Visibility:
        """The `visibility` tag of the bytes; internal when it is missing or unknown (logged)."""
        key = artifact_key(digest)
        value = ((await store.get_tags(key)) or {}).get(VISIBILITY_TAG)
        if value is None:
            self.warn("artifact has no visibility tag; serving it as internal", extra={"key": key})
            return Visibility.INTERNAL
        try:
            return parse_visibility(value)
        except ValidationError as exc:
            self.warn("invalid visibility tag; serving the file as internal", extra={"key": key, "reason": str(exc)})
            self.invalid[key] = f"tag {exc}"  # "tag visibility must be 'public' or 'internal'"
            return Visibility.INTERNAL

    def commit_tags(self, visibility: Visibility) -> dict[str, str] | None:
        """The tags an upload's commit gives `sha512/<d>` in the same copy that makes the bytes
        visible: the visibility tag in tags mode, none in objects mode."""
        if self.mode is IndexMode.TAGS:
            return {VISIBILITY_TAG: visibility.value}
        return None

    async def update(self, digest: str, change: IndexChange, *, replace_invalid: bool = False) -> IndexEntry | None:
        """Change the index object by compare-and-swap (DESIGN.md §6) and return the entry stored
        afterwards; journal it and make this replica see it at once.

        `change(current)` gets the stored entry (None when there is none) and returns the new one,
        or None to leave it; it may run several times, so it must merge only what its operation
        owns into what it is given. An invalid (hand-edited) index object is passed as None with
        `replace_invalid`; otherwise it is left as it is and None is returned.
        """
        key = index_key(digest)
        journal_keys: list[str] = []

        def change_bytes(data: bytes | None) -> bytes | None:
            current = None
            if data is not None:
                try:
                    current = IndexEntry.from_json(data, digest)
                except ValidationError as exc:
                    if not replace_invalid:
                        self.warn("invalid index object left as it is", extra={"key": key, "reason": str(exc)})
                        self.invalid[key] = str(exc)
                        return None
            new = change(current)
            if new is None:
                return None
            # Taken before each attempt: the write that succeeds has a journal key later than
            # that of every write it read (see Journal.append).
            journal_keys.append(journal_key())
            return new.to_json()

        updated = await update_object(self.store, key, change_bytes)
        if updated.stored is None:
            return None
        try:
            entry = IndexEntry.from_json(updated.stored.data, digest)
        except ValidationError:
            return None  # the invalid object, left alone
        if updated.written:
            self.invalid.pop(key, None)
            self.cache.invalidate(digest)
            await self.journal.append_entry(entry, key=journal_keys[-1])
        return entry

    async def save(self, entry: IndexEntry) -> IndexEntry:
        """Write `entry` whole, over whatever index object is there (as an admin's hand edit
        would), and make the tags follow it."""
        saved = await self.update(entry.digest, lambda _current: entry, replace_invalid=True)
        await self.retag(entry.digest)
        assert saved is not None
        return saved

    async def retag(self, digest: str) -> None:
        """Tags mode: make the visibility tag of the bytes, in every region holding them, that of
        the index object (PATCH, `index set-visibility`, and a commit that raced a PATCH; commits
        never retag bytes otherwise). S3 has no conditional tag write, so each round reads the
        index object again after tagging and repeats while it changed: the tags end as the last
        acknowledged visibility, whatever order concurrent taggers ran in."""
        if self.mode is not IndexMode.TAGS:
            return
        tagged: Visibility | None = None
        for _ in range(RETAG_ROUNDS):
            entry = await self.read_entry(digest)
            if entry is None or entry.visibility is tagged:
                break
            await asyncio.gather(*(self._tag(store, entry) for store in self.stores.tag_keepers.values()))
            tagged = entry.visibility
        self.cache.invalidate(digest)

    async def _tag(self, store: KeepsTags, entry: IndexEntry) -> None:
        """Set the visibility tag on the bytes in `store`, keeping any other tags admins set."""
        key = artifact_key(entry.digest)
        tags = await store.get_tags(key)
        if tags is None or tags.get(VISIBILITY_TAG) == entry.visibility.value:
            return  # no bytes in this region, or already right
        with contextlib.suppress(ObjectNotFound):  # deleted meanwhile
            await store.put_tags(key, tags | {VISIBILITY_TAG: entry.visibility.value})
