"""The upload sequence of PROTOCOL.md §4: batches, staged bytes, verification and commit.

Uploaders only ever write to staging keys (`uploads/<digest>/<batch>`). `verify_and_commit`
copies the staged bytes (conditional on their ETag) to a key only the proxy writes, hashes that
copy and commits exactly it to `sha512/<digest>`, so nothing becomes downloadable unless it
hashes to its name, whatever the uploader does with its put_url meanwhile.

Bytes that arrived through the proxy's own PUT endpoint are hashed once, as they arrive:
`receive_put` lets the store finish the write only if they hash to the digest, then records the
ETag and size of what it wrote under `received_key`, which no put_url reaches. `upload/complete`
commits such bytes straight from the staging key, conditional on that recorded ETag, so bytes
written there later by anyone (the ETag then differs: LocalStore's names a new inode, S3's is
the content's MD5) are hashed again as above instead.
"""

import asyncio
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import Enum
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from weakref import WeakValueDictionary

from manifests import Batch, IndexEntry, PendingUpload, UploadRequest, ValidationError, Visibility
from proxy.auth import Identity
from proxy.batches import BatchRecords
from proxy.config import Config, ConfigError, IndexMode
from proxy.hashing import hashed_blocks
from proxy.hashing import sha512_of as sha512_of  # its home before proxy.hashing
from proxy.index import FileIndex
from proxy.keys import (
    artifact_key,
    is_pending_key,
    pending_key,
    received_key,
    staging_key,
    staging_prefix,
    verifying_key,
)
from proxy.outcomes import (
    BatchFile,
    CommitOutcome,
    CreatedBatch,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    PutInProgress,
    PutStalled,
    RejectedBytes,
)
from proxy.scopes import Scopes
from proxy.storage import LengthMismatch, ObjectInfo, ObjectNotFound, ObjectStore, PreconditionFailed, StoreError
from proxy.storage.cas import ContendedWrite
from proxy.stores import Stores
from proxy.tokens import PutGrant, put_query

log = logging.getLogger("tooltool.uploads")

BATCH_ID_ATTEMPTS = 5


class PutUrls(Enum):
    """Where the put_urls of a new batch point."""

    STORE = "store"  # URLs the object store signs (S3 presigned PUTs)
    PROXY = "proxy"  # this proxy's own PUT endpoint, at `proxy_put_base`
    NONE = "none"  # none handed out: the caller PUTs through receive_put in process (the import)


@dataclass(frozen=True)
class UploadSettings:
    scopes: Scopes
    put_url_ttl: int
    max_file_bytes: int
    secret: bytes
    put_urls: PutUrls
    proxy_put_base: str | None = None  # e.g. "http://host:8000" for PutUrls.PROXY

    @classmethod
    def from_config(
        cls, config: Config, put_base_url: str | None = None, *, in_process: bool = False
    ) -> "UploadSettings":
        """The settings of `config`. `put_base_url` is where clients reach this proxy when
        TOOLTOOL_PUBLIC_URL is not set; `in_process` for a caller that PUTs the bytes itself."""
        put_urls, base = PutUrls.STORE, None
        if in_process:
            put_urls = PutUrls.NONE
        elif config.uploads_through_proxy:
            put_urls, base = PutUrls.PROXY, config.public_url or put_base_url
            if base is None:
                raise ConfigError("TOOLTOOL_PUBLIC_URL is required: uploads go through the proxy's PUT endpoint")
        return cls(
            scopes=Scopes(config.scope_prefix),
            put_url_ttl=config.upload_url_ttl,
            max_file_bytes=config.max_file_bytes,
            secret=config.upload_secret,
            put_urls=put_urls,
            proxy_put_base=base,
        )


def with_explicit_port(base_url: str) -> str:
    """tooltool.py connects to port 443 when a put_url names none, even for http://."""
    parts = urlsplit(base_url)
    if parts.port is not None or not parts.hostname:
        return base_url
    port = 443 if parts.scheme == "https" else 80
    return urlunsplit((parts.scheme, f"{parts.netloc}:{port}", parts.path, "", ""))


def new_batch_id() -> int:
    """Unique without coordination: milliseconds since the epoch and three random digits."""
    return int(time.time() * 1000) * 1000 + secrets.randbelow(1000)


def utc_timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class PutBodyStalled(Exception):
    """The client of a proxied PUT sent no byte of the body for `seconds`."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no bytes for {seconds:g} seconds")
        self.seconds = seconds


class _WrongBytes(Exception):
    """A proxied PUT's body, complete, does not hash to the digest: the store must not keep it."""


def _received_record(staged: ObjectInfo, digest: str) -> bytes:
    return json.dumps({"etag": staged.etag, "size": staged.size, "sha512": digest}, sort_keys=True).encode()


def _size_mismatch(upload: PendingUpload, size: int) -> RejectedBytes:
    return RejectedBytes(f"Size mismatch for {upload.filename}: {size} bytes arrived, not {upload.size}")


class Uploads:
    def __init__(
        self,
        stores: Stores,
        index: FileIndex,
        batches: BatchRecords,
        settings: UploadSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.stores = stores
        self.store = stores.home  # pending records
        self.batches = batches
        self.index = index
        self.settings = settings
        self.clock = clock
        self._locks: WeakValueDictionary[str, asyncio.Lock] = WeakValueDictionary()
        # (region, staging key) of the proxied PUTs this process is receiving: one per put_url.
        self._active_puts: set[tuple[str, str]] = set()

    def _scope(self, visibility: Visibility) -> str:
        return self.settings.scopes.upload(visibility)

    async def create_batch(self, request: UploadRequest, identity: Identity, region: str | None = None) -> CreatedBatch:
        """Record the batch; hand out put_urls for files not stored yet, staged in `region`
        (a configured region, else the default one)."""
        upload_region = self.stores.region(region)
        if not identity.has_all(self._scope(v) for v in sorted(request.visibilities)):
            raise Forbidden()
        for upload in request.files:
            if upload.size > self.settings.max_file_bytes:
                raise InvalidInput(f"{upload.filename} is larger than this server accepts")
        digests = sorted({f.digest for f in request.files})
        existing = dict(zip(digests, await asyncio.gather(*(self.index.load(d) for d in digests)), strict=True))
        for upload in request.files:
            entry = existing[upload.digest]
            if entry is None:
                continue
            if entry.visibility != upload.visibility:
                raise InvalidInput("Cannot change already existing file's visibility level.")
            if entry.size != upload.size:
                raise InvalidInput(f"Size mismatch for {upload.filename}")

        batch = await self._record_batch(request, identity.client_id or "anonymous")
        expires = int(self.clock()) + self.settings.put_url_ttl
        to_stage: list[PendingUpload] = []
        for upload in request.files:
            entry = existing[upload.digest]
            if not (entry and entry.has_instances):
                to_stage.append(
                    PendingUpload(
                        digest=upload.digest,
                        batch_id=batch.id,
                        size=upload.size,
                        visibility=upload.visibility,
                        filename=upload.filename,
                        author=batch.author,
                        expires=expires,
                        region=upload_region,
                    )
                )
        # One pending record per digest: the same bytes under two names are uploaded once, to
        # one put_url (the record is created only if absent, never overwritten). It carries the
        # other names, so the commit records them all.
        names: dict[str, list[str]] = {}
        for pending in to_stage:
            names.setdefault(pending.digest, []).append(pending.filename)
        first_of = {
            pending.digest: replace(pending, other_filenames=tuple(names[pending.digest][1:]))
            for pending in reversed(to_stage)
        }
        put_urls = dict(zip(first_of, await asyncio.gather(*map(self._stage, first_of.values())), strict=True))
        staged = {pending.filename: put_urls[pending.digest] for pending in to_stage}
        files = tuple(
            BatchFile(upload, stored=upload.filename not in staged, put_url=staged.get(upload.filename))
            for upload in request.files
        )
        return CreatedBatch(batch, files)

    async def _record_batch(self, request: UploadRequest, author: str) -> Batch:
        """Write the batch record under a new id. Ids are random within a millisecond, so two
        replicas (or two requests) can draw the same one: the record is created only if absent,
        and a clash draws again."""
        for _attempt in range(BATCH_ID_ATTEMPTS):
            batch = Batch(
                id=new_batch_id(), uploaded=utc_timestamp(), author=author, message=request.message, files=request.files
            )
            try:
                await self.batches.save(batch)
                return batch
            except PreconditionFailed:
                log.info("batch id taken; drawing another", extra={"batch": batch.id})
        raise ContendedWrite("no free batch id was found; retry the upload")

    async def _stage(self, pending: PendingUpload) -> str | None:
        """Record the pending upload; return the URL its bytes are to be PUT to, if any."""
        await self.store.write(pending_key(pending.digest, pending.batch_id), pending.to_json(), if_absent=True)
        return await self._put_url(pending)

    async def _put_url(self, pending: PendingUpload) -> str | None:
        if self.settings.put_urls is PutUrls.NONE:
            return None
        if self.settings.put_urls is PutUrls.STORE or self.settings.proxy_put_base is None:
            # Uploads go to the store: start-up made sure every region's store signs (proxy.stores).
            signer = self.stores.signers[self.stores.region(pending.region)]
            return await signer.presign_put(staging_key(pending.digest, pending.batch_id), self.settings.put_url_ttl)
        grant = PutGrant(pending.digest, pending.batch_id, pending.size, int(pending.expires), pending.region)
        query = put_query(self.settings.secret, grant)
        return f"{with_explicit_port(self.settings.proxy_put_base)}/upload/put/sha512/{pending.digest}?{query}"

    async def receive_put(self, grant: PutGrant, chunks: Any) -> None:
        """Store a proxied PUT in its staging key, refusing wrong lengths and wrong bytes at once.

        One PUT per put_url at a time (in this process): a second one is refused (PutInProgress),
        so that one URL cannot hold many connections and their buffers. `chunks` raises
        PutBodyStalled when the client stops sending: PutStalled, and nothing is left staged.
        Wrong lengths and wrong bytes are RejectedBytes.
        """
        active = (self.stores.region(grant.region), staging_key(grant.digest, grant.batch_id))
        if active in self._active_puts:
            raise PutInProgress()
        self._active_puts.add(active)
        try:
            await self._receive_put(grant, chunks)
        finally:
            self._active_puts.discard(active)

    async def _receive_put(self, grant: PutGrant, chunks: Any) -> None:
        digest = hashlib.sha512()

        async def verified() -> Any:
            # Hashed in a worker thread while the store writes the previous block. The check
            # comes before the stream ends, so the store never finishes a write of wrong bytes.
            received = 0
            async for block in hashed_blocks(chunks, digest):
                received += len(block)
                yield block
            if received == grant.size and digest.hexdigest() != grant.digest:
                raise _WrongBytes

        key = staging_key(grant.digest, grant.batch_id)
        store = self._region_store(grant.region)
        try:
            staged = await store.write_stream(key, verified(), grant.size)
        except LengthMismatch as exc:
            await self._drop_staged(store, grant)
            raise RejectedBytes(f"Upload length does not match the announced size ({exc})") from None
        except PutBodyStalled as exc:
            await self._drop_staged(store, grant)
            raise PutStalled(exc.seconds) from None
        except _WrongBytes:
            await self._drop_staged(store, grant)
            raise RejectedBytes("The uploaded bytes do not hash to the digest of the upload URL") from None
        # Written only now that the bytes under that ETag are known to hash to the digest. Without
        # it (a crash or a store failure here) upload/complete hashes them, as for a presigned PUT.
        try:
            await store.write(received_key(grant.digest, grant.batch_id), _received_record(staged, grant.digest))
        except StoreError as exc:
            log.warning(
                "could not record the hash of a proxied PUT; upload/complete will hash the bytes again",
                extra={"digest": grant.digest, "batch": grant.batch_id, "reason": str(exc)},
            )

    async def _drop_staged(self, store: ObjectStore, grant: PutGrant) -> None:
        await store.delete(staging_key(grant.digest, grant.batch_id))
        await store.delete(received_key(grant.digest, grant.batch_id))

    async def verify_and_commit(self, digest: str, identity: Identity) -> CommitOutcome:
        """COMMITTED once `sha512/<digest>` holds verified bytes; WAITING while they have not
        arrived.

        Raises Forbidden for a caller without the scope, NotFound for no pending upload,
        RejectedBytes for staged bytes of the wrong size or hash (which are deleted), and
        InvalidInput when the put_url expired before the bytes arrived.
        """
        lock = self._locks.get(digest)
        if lock is None:
            lock = self._locks[digest] = asyncio.Lock()
        async with lock:
            return await self._verify_and_commit(digest, identity)

    async def _pending_uploads(self, digest: str) -> list[PendingUpload]:
        pending = []
        async for key in self.store.list_keys(staging_prefix(digest)):
            if not is_pending_key(key):
                continue
            data = await self.store.read(key)
            try:
                if data is not None:
                    pending.append(PendingUpload.from_json(data))
            except ValidationError:
                log.warning("ignoring an unreadable pending-upload record", extra={"key": key})
        return sorted(pending, key=lambda p: p.batch_id, reverse=True)

    async def _verify_and_commit(self, digest: str, identity: Identity) -> CommitOutcome:
        every_pending = await self._pending_uploads(digest)
        if not every_pending:
            entry = await self.index.load(digest)
            if entry is not None and entry.has_instances:
                if not identity.has_scope(self._scope(entry.visibility)):
                    raise Forbidden()
                return CommitOutcome.COMMITTED
            raise NotFound("No upload of this file is pending; start one with POST /upload.")
        # Records of a visibility the caller may not upload are someone else's to commit.
        pending = [upload for upload in every_pending if identity.has_scope(self._scope(upload.visibility))]
        if not pending:
            raise Forbidden()

        # Regions whose bytes the index lists were committed (verified) before: a pending upload
        # there only adds its filename. Elsewhere the staged bytes are verified, newest first.
        entry = await self.index.read_entry(digest)
        stored_in = set(entry.instances) if entry is not None else set()
        committed = waiting = False
        problem: DomainError | None = None
        for upload in pending:
            region = self.stores.region(upload.region)
            if region in stored_in:
                await self._record_instance(upload, upload.visibility)
                await self._discard(upload)
                committed = True
                continue
            staged = await self._region_store(upload.region).head(staging_key(digest, upload.batch_id))
            if staged is None:
                if self.clock() <= upload.expires:
                    waiting = True
                else:
                    await self.store.delete(pending_key(digest, upload.batch_id))
                    problem = InvalidInput("The upload URL expired before the file arrived; upload it again.")
                continue
            try:
                if await self._commit_if_valid(upload, staged):
                    stored_in.add(region)
                    committed = True
                else:
                    waiting = True
            except RejectedBytes as exc:
                problem = exc
        if committed:
            return CommitOutcome.COMMITTED
        if waiting:
            # Another pending upload of the same bytes (say, from a batch abandoned after a
            # crash, or one another replica is committing right now) may never arrive here; a
            # file that is stored is complete all the same.
            stored = await self.index.read_entry(digest)
            return CommitOutcome.COMMITTED if stored is not None and stored.has_instances else CommitOutcome.WAITING
        assert problem is not None
        raise problem

    async def _commit_if_valid(self, upload: PendingUpload, staged: ObjectInfo) -> bool:
        """Verify the staged bytes and commit them. Bytes that receive_put recorded as hashed on
        arrival are committed from the staging key while they keep the recorded ETag. Others are
        copied to a key of this attempt's own, which no uploader, other attempt or replica
        writes; that copy is hashed and exactly it is committed."""
        if staged.size != upload.size:
            await self._discard(upload)
            raise _size_mismatch(upload, staged.size)
        store = self._region_store(upload.region)
        if await self._received_intact(upload, store, staged):
            # receive_put hashed exactly these bytes as they arrived; the copy is conditional on
            # their ETag, so different bytes staged since then fail it (and are hashed next time).
            return await self._commit_verified(upload, store, staged)
        verifying = verifying_key(upload.digest, upload.batch_id, secrets.token_hex(8))
        try:
            try:
                await store.copy_if_unchanged(staged.key, verifying, staged.etag, staged.size)
            except (PreconditionFailed, ObjectNotFound):
                # Replaced or removed since we looked at it: look again on the client's next call.
                return False
            return await self._verify_copy(upload, store, verifying)
        finally:
            await store.delete(verifying)

    async def _verify_copy(self, upload: PendingUpload, store: ObjectStore, verifying: str) -> bool:
        digest = upload.digest
        copy = await store.head(verifying)
        if copy is None:
            return False
        if copy.size != upload.size:
            await self._discard(upload)
            raise _size_mismatch(upload, copy.size)
        try:
            async with await store.open_range(verifying) as chunks:
                actual = await sha512_of(chunks)
        except ObjectNotFound:
            return False
        if actual != digest:
            await self._discard(upload)
            raise RejectedBytes(f"The bytes uploaded for {upload.filename} do not hash to its sha512 digest")
        return await self._commit_verified(upload, store, copy)

    async def _received_intact(self, upload: PendingUpload, store: ObjectStore, staged: ObjectInfo) -> bool:
        """Whether receive_put recorded that it wrote and hashed the object staged now (same ETag)."""
        data = await store.read(received_key(upload.digest, upload.batch_id))
        if data is None:
            return False  # staged by a presigned PUT to the store, or by an older version
        try:
            record = json.loads(data)
        except ValueError:
            return False
        return bool(
            isinstance(record, dict)
            and record.get("sha512") == upload.digest
            and record.get("size") == staged.size
            and isinstance(record.get("etag"), str)
            and record["etag"] == staged.etag
        )

    async def _commit_verified(self, upload: PendingUpload, store: ObjectStore, copy: ObjectInfo) -> bool:
        """Commit `copy` (bytes known to hash to the digest, while they keep its ETag) to
        `sha512/<digest>` and record the instance; False when `copy` changed meanwhile."""
        digest = upload.digest

        # A file the index already knows keeps its visibility (in tags mode: the tag its bytes
        # carry); only a new file takes the batch's. Bytes without an index object are not
        # "known" here: they are this upload's own commit that failed before its index write
        # (a legacy file's bytes are internal, and POST /upload refused other visibilities).
        record = await self.index.read_entry(digest)
        known = await self.index.load(digest) if self.index.mode is IndexMode.TAGS else record
        visibility = upload.visibility if known is None else known.visibility
        stored = await store.head(artifact_key(digest))
        copied = stored is None or stored.size != copy.size
        if copied:
            # In tags mode the visibility tag arrives in the same copy as the bytes: never a
            # moment when sha512/<d> is visible with a tag the uploader chose.
            tags = self.index.commit_tags(visibility)
            try:
                await store.copy_if_unchanged(copy.key, artifact_key(digest), copy.etag, copy.size, tags=tags)
            except (PreconditionFailed, ObjectNotFound):
                return False
        # Otherwise the proxy committed these bytes before (only it writes sha512/): keep them.
        entry = await self._record_instance(upload, visibility)
        if copied and entry is not None and entry.visibility is not (record.visibility if record else visibility):
            await self.index.retag(digest)  # a PATCH changed the visibility while this copy was made
        await self._discard(upload)
        log.info("upload verified and committed", extra={"digest": digest, "batch": upload.batch_id})
        return True

    async def _record_instance(self, upload: PendingUpload, visibility: Visibility) -> IndexEntry | None:
        """Add this region and the filenames to the file's index entry (compare-and-swap: whatever
        else changed meanwhile stays); a new entry gets `visibility`."""
        region = self.stores.region(upload.region)
        uploaded = utc_timestamp()

        def add_instance(current: IndexEntry | None) -> IndexEntry | None:
            if current is None:
                return IndexEntry(
                    digest=upload.digest,
                    size=upload.size,
                    visibility=visibility,
                    instances=(region,),
                    filenames=tuple(sorted(set(upload.filenames))),
                    uploaded=uploaded,
                    author=upload.author,
                )
            if region in current.instances and set(upload.filenames) <= set(current.filenames):
                return None
            return replace(
                current,
                instances=tuple(sorted({*current.instances, region})),
                filenames=tuple(sorted({*current.filenames, *upload.filenames})),
            )

        return await self.index.update(upload.digest, add_instance)

    def _region_store(self, region: str) -> ObjectStore:
        return self.stores.regions[self.stores.region(region)]

    async def _discard(self, upload: PendingUpload) -> None:
        store = self._region_store(upload.region)
        await store.delete(staging_key(upload.digest, upload.batch_id))
        await store.delete(received_key(upload.digest, upload.batch_id))
        # Copies left by attempts that were killed mid-verification (any still hashing elsewhere
        # loses its copy and answers 409; the retry then finds the file stored).
        async for key in store.list_keys(verifying_key(upload.digest, upload.batch_id, "")):
            await store.delete(key)
        await self.store.delete(pending_key(upload.digest, upload.batch_id))
