"""The metadata API of PROTOCOL.md §3: a file's metadata, changing it (PATCH), one upload batch.

Unlike the legacy service, metadata follows the download rules: a caller sees a file only if it
may download it, so anonymous callers learn nothing about internal files.
"""

import asyncio
import logging
import re
from dataclasses import replace

from manifests import Batch, DeleteInstances, FileOperation, IndexEntry, SetVisibility, UploadFile, Visibility
from proxy.auth import Identity
from proxy.batches import BatchRecords
from proxy.downloads import Downloads, require_digest
from proxy.keys import artifact_key
from proxy.outcomes import Forbidden, InvalidInput, NeedsCredentials, NotFound, VisibleBatch
from proxy.scopes import Scopes
from proxy.storage import ObjectStore

log = logging.getLogger("tooltool.files")

_DIGITS = re.compile(r"[0-9]+")
# Batch ids are milliseconds * 1000 + 3 digits (16 digits today): a longer number names no
# batch, and is answered as unknown without int() having to parse it.
MAX_BATCH_ID_DIGITS = 19
INVALID_BATCH_ID_DETAIL = "Invalid batch id: expected a positive integer of at most 19 digits."
UNKNOWN_BATCH_DETAIL = "The requested upload batch was not found."
MANAGE_NEEDS_CREDENTIALS_DETAIL = "Changing a file needs credentials with the manage scope; sign the request with Hawk."


def parse_batch_id(text: str) -> int | None:
    """The batch id of a path, or None for digits that name no batch (0, or too many digits), as
    the legacy service answered 404 for any integer without a batch. Anything else is invalid."""
    if _DIGITS.fullmatch(text) is None:
        raise InvalidInput(INVALID_BATCH_ID_DETAIL)
    significant = text.lstrip("0")
    if not significant or len(significant) > MAX_BATCH_ID_DIGITS:
        return None
    return int(significant)


def apply_operation(entry: IndexEntry, operation: FileOperation) -> IndexEntry:
    """The entry after one operation (the bytes are deleted separately, see Files.apply)."""
    if isinstance(operation, SetVisibility):
        return replace(entry, visibility=operation.visibility)
    return replace(entry, instances=())


class Files:
    """Reads and changes file metadata; `downloads` supplies the stores, the index and the
    download rule that also governs who sees metadata."""

    def __init__(self, downloads: Downloads, batches: BatchRecords, scopes: Scopes) -> None:
        self.downloads = downloads
        self.stores = downloads.stores
        self.index = downloads.index
        self.batches = batches
        self.manage_scope = scopes.manage

    async def describe(self, digest: str, identity: Identity) -> IndexEntry:
        """GET /file/sha512/<d>, for callers allowed to download the file."""
        require_digest(digest)
        entry = await self.index.lookup(digest)
        if entry is None:
            raise NotFound()
        if not self.downloads.may_download(identity, entry.visibility):
            raise Forbidden()
        return entry

    def require_manage(self, identity: Identity) -> None:
        """Forbidden for credentials without the scope; NeedsCredentials, as the legacy service
        asked for credentials (401), when there are none."""
        if identity.has_scope(self.manage_scope):
            return
        if identity.anonymous:
            raise NeedsCredentials(MANAGE_NEEDS_CREDENTIALS_DETAIL)
        raise Forbidden()

    async def apply(self, digest: str, operations: tuple[FileOperation, ...]) -> IndexEntry:
        """PATCH /file/sha512/<d> with validated operations, in order; the caller checked the
        manage scope. Bytes without a valid index object get one written."""
        require_digest(digest)
        entry = await self.index.load(digest)  # what is stored now, not a cached copy
        if entry is None:
            raise NotFound()
        if not operations:
            return entry
        held: set[str] = set(entry.instances)

        def apply_all(current: IndexEntry | None) -> IndexEntry:
            # Applied to whatever the index holds when the write lands (compare-and-swap), so a
            # concurrent commit's region and filename stay; bytes without a (valid) index
            # object get one.
            updated = current or entry
            held.update(updated.instances)
            for operation in operations:
                updated = apply_operation(updated, operation)
            return updated

        # The index goes first: from now on downloads answer 404 rather than point at bytes that
        # are going away, and if a deletion fails half-way the file can still be uploaded again.
        updated = await self.index.update(digest, apply_all, replace_invalid=True)
        assert updated is not None  # apply_all always gives an entry
        if any(isinstance(operation, SetVisibility) for operation in operations):
            await self.index.retag(digest)
        if any(isinstance(operation, DeleteInstances) for operation in operations):
            deleted_from = self._stores_holding(tuple(sorted(held)))
            for store in deleted_from:
                await store.delete(artifact_key(digest))
            updated = await self._unlist_deleted_bytes(digest, deleted_from) or updated
        self.downloads.forget(digest)
        return updated

    async def _unlist_deleted_bytes(self, digest: str, deleted_from: list[ObjectStore]) -> IndexEntry | None:
        """A commit on another replica that lands between this deletion's index write and its
        deletes sees the bytes still there, keeps them and lists its region again; the delete
        then removes them. Regions listed now whose bytes are gone are taken off again, so the
        index never points at missing bytes (which POST /upload would call stored for ever).
        Bytes committed after the delete are there, and stay listed."""
        entry = await self.index.read_entry(digest)
        if entry is None or not entry.instances:
            return None
        deleted = {id(store) for store in deleted_from}
        gone: set[str] = set()
        for name in entry.instances:
            store = self.stores.regions[self.stores.region(name)]
            if id(store) in deleted and await store.head(artifact_key(digest)) is None:
                gone.add(name)
        if not gone:
            return None
        log.info("a commit raced this deletion; unlisting its deleted bytes", extra={"digest": digest})

        def unlist(current: IndexEntry | None) -> IndexEntry | None:
            if current is None or not gone & set(current.instances):
                return None
            return replace(current, instances=tuple(i for i in current.instances if i not in gone))

        return await self.index.update(digest, unlist)

    def _stores_holding(self, instances: tuple[str, ...]) -> list[ObjectStore]:
        """The stores of the regions listed; names this deployment does not configure are the
        default region's (as for downloads), and each store appears once."""
        stores = [self.stores.regions[self.stores.region(name)] for name in instances]
        return list({id(store): store for store in stores}.values())

    async def batch(self, batch_id: str, identity: Identity) -> VisibleBatch:
        """GET /upload/<id>: the batch with the files the caller may download, in their current
        state. A batch showing no file is answered as unknown, so its existence is not revealed."""
        number = parse_batch_id(batch_id)
        batch = None if number is None else await self.batches.get(number)
        files = {} if batch is None else await self._visible_files(batch, identity)
        if batch is None or not files:
            raise NotFound(UNKNOWN_BATCH_DETAIL)
        return VisibleBatch(batch, files)

    async def _visible_files(self, batch: Batch, identity: Identity) -> dict[str, IndexEntry | UploadFile]:
        entries = await asyncio.gather(*(self.index.lookup(upload.digest) for upload in batch.files))
        files: dict[str, IndexEntry | UploadFile] = {}
        for upload, entry in zip(batch.files, entries, strict=True):
            # A file that was never committed has no entry: the batch record is all there is.
            visibility: Visibility = entry.visibility if entry else upload.visibility
            if self.downloads.may_download(identity, visibility):
                files[upload.filename] = entry or upload
        return files
