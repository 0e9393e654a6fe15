"""Search without a database (issue 3 §2): an in-memory catalog per replica.

The catalog maps each digest to what search shows of the file (size, visibility, instances,
every filename it was uploaded under) and each batch id to its batch. A replica builds it from
the snapshot `catalog/snapshot.json.gz` (written by `tooltool-proxy catalog compact|rebuild`)
plus the journal records newer than the snapshot, then keeps it current by listing only the
journal's recent keys, at most every `refresh_seconds`, one listing shared by all searches.
So a warm search costs a LIST of the last SAFETY_WINDOW_SECONDS of journal and a scan in
memory, whatever the size of the bucket. README "Search without a database" has the figures.

The catalog can lag the index (another replica's change until the next refresh, an index
object edited by hand until the next rebuild), and the index is what downloads obey. So a file
is shown as public to a caller who may not see internal files only once the (cached) index
lookup agrees; an index that says internal hides it (fail closed).
"""

import asyncio
import bisect
import gzip
import heapq
import itertools
import json
import logging
import sys
import time
from array import array
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from manifests import ALGORITHM, Batch, IndexEntry, ValidationError, Visibility, is_valid_digest, parse_visibility
from proxy.index import FileIndex
from proxy.journal import BATCH, FILE, RETENTION_SECONDS, Journal, JournalPosition, JournalRecord

log = logging.getLogger("tooltool.catalog")

SNAPSHOT_KEY = "catalog/snapshot.json.gz"
SNAPSHOT_FORMAT = 1
# The most results one search answers: the first matches in digest order (files) or newest
# first (batches), so that a one-letter query cannot build an answer of the whole catalog.
SEARCH_RESULT_LIMIT = 1000
STORE_CONCURRENCY = 32  # store requests one catalog operation keeps in flight

T = TypeVar("T")
R = TypeVar("R")


async def map_concurrently(function: Callable[[T], Awaitable[R]], items: Sequence[T], limit: int) -> list[R]:
    """function(item) for every item, at most `limit` at a time, results in order. The first
    failure cancels the rest and is raised."""
    results: dict[int, R] = {}
    positions = iter(range(len(items)))

    async def worker() -> None:
        for position in positions:  # one iterator shared by all workers
            results[position] = await function(items[position])

    async with asyncio.TaskGroup() as group:
        for _ in range(min(limit, len(items))):
            group.create_task(worker())
    return [results[position] for position in range(len(items))]


class TextIndex:
    """Items of a few texts each, in a fixed order, searched at C speed: one string of them all
    and where each item starts. A query finds, in order, the items with a text containing it.
    An item is its texts joined by TEXT_END; neither separator may occur in a text, or a query
    could match across two of them (see `item`)."""

    TEXT_END = "\0"
    ITEM_END = "\x1e"

    def __init__(self, items: list[str]) -> None:
        self.text = self.ITEM_END.join(items)
        self.starts = array("q", itertools.accumulate((len(item) + 1 for item in items[:-1]), initial=0))
        self.count = len(items)

    @classmethod
    def has_separator(cls, text: str) -> bool:
        return cls.TEXT_END in text or cls.ITEM_END in text

    @classmethod
    def item(cls, texts: Iterable[str]) -> str:
        """An item of `texts`, leaving out their separator characters."""
        return cls.TEXT_END.join(text.replace(cls.TEXT_END, "").replace(cls.ITEM_END, "") for text in texts)

    def containing(self, query: str) -> Iterator[int]:
        if not query:
            yield from range(self.count)
            return
        if self.has_separator(query):
            return  # no text holds one
        found = self.text.find(query)
        while found != -1:
            position = bisect.bisect_right(self.starts, found) - 1
            yield position
            if position + 1 == self.count:
                return
            found = self.text.find(query, self.starts[position + 1])  # on from the next item


@dataclass(slots=True)
class FileFacts:
    """What search shows of one file. `indexed` facts come from an index entry; the others
    only from a batch that announced the file (it was never committed). A `deleted` file (an
    admin deleted it altogether) is not shown until it is uploaded again."""

    size: int
    visibility: Visibility
    has_instances: bool
    names: str  # every filename, sorted: an item of TextIndex
    indexed: bool
    changed: str = ""  # journal key of the record these facts are from ("" when older)
    deleted: bool = False

    @property
    def filenames(self) -> list[str]:
        return self.names.split(TextIndex.TEXT_END) if self.names else []

    def with_names(self, filenames: Collection[str]) -> "FileFacts":
        merged = {*self.filenames, *(name for name in filenames if not TextIndex.has_separator(name))}
        return replace(self, names=TextIndex.item(sorted(merged)))

    def file_record(self, digest: str) -> dict[str, Any]:
        """The `file` shape of the API (PROTOCOL.md §3)."""
        return {
            "algorithm": ALGORITHM,
            "digest": digest,
            "size": self.size,
            "visibility": self.visibility.value,
            "has_instances": self.has_instances,
        }


@dataclass(frozen=True, slots=True)
class BatchFacts:
    id: int
    uploaded: str
    author: str
    message: str
    files: tuple[tuple[str, str], ...]  # (filename, digest)

    def matches(self, query: str) -> bool:
        return query in self.author or query in self.message


@dataclass(frozen=True)
class BatchMatch:
    batch: BatchFacts
    files: list[tuple[str, str, FileFacts]]  # the visible ones: (filename, digest, facts)


class CatalogState:
    """The catalog's data and the journal position it reflects; no I/O."""

    def __init__(self, position: JournalPosition | None = None) -> None:
        self.position = position or JournalPosition()
        self.files: dict[str, FileFacts] = {}
        self.batches: dict[int, BatchFacts] = {}
        # Search order and the texts searched, made again by the first search after a change
        # (loading appends, the next search sorts once).
        self._digests: list[str] = []
        self._batch_ids: list[int] = []
        self._unsorted = False
        self._filenames: TextIndex | None = None  # in digest order
        self._batch_texts: TextIndex | None = None  # author and message, newest first
        # digest -> ids of the batches that uploaded it; built by the first look-up (the web
        # page's file view), then kept current.
        self._holders: dict[str, list[int]] | None = None

    def _is_newer(self, digest: str, changed: str) -> bool:
        """Whether a record with key `changed` is newer than the index facts known for the file."""
        known = self.files.get(digest)
        return known is None or not known.indexed or changed > known.changed

    def apply_entry(self, entry: IndexEntry, changed: str = "") -> None:
        """An index entry, unless these facts already come from a newer journal record."""
        if not self._is_newer(entry.digest, changed):
            return
        known = self.files.get(entry.digest)
        facts = FileFacts(entry.size, entry.visibility, entry.has_instances, "", indexed=True, changed=changed)
        self._put_file(entry.digest, facts.with_names([*entry.filenames, *(known.filenames if known else [])]))

    def apply_deletion(self, digest: str, changed: str) -> None:
        """A file deleted altogether: kept as a tombstone, so that an older record of it that
        becomes visible late does not bring it back."""
        if not self._is_newer(digest, changed):
            return
        known = self.files.get(digest) or FileFacts(0, Visibility.INTERNAL, False, "", indexed=True)
        self._put_file(digest, replace(known, indexed=True, changed=changed, deleted=True))

    def apply_batch(self, batch: Batch) -> None:
        files = tuple((upload.filename, sys.intern(upload.digest)) for upload in batch.files)
        self._put_batch(BatchFacts(batch.id, batch.uploaded, batch.author, batch.message, files))
        for upload in batch.files:
            known = self.files.get(upload.digest)
            if known is None:
                known = FileFacts(upload.size, upload.visibility, has_instances=False, names="", indexed=False)
            self._put_file(upload.digest, known.with_names([upload.filename]))

    def _put_file(self, digest: str, facts: FileFacts) -> None:
        known = self.files.get(digest)
        if known is None:
            digest = sys.intern(digest)  # one copy, shared with the batches that name it
            self._digests.append(digest)
            self._unsorted = True
        if known is None or known.names != facts.names:
            self._filenames = None
        self.files[digest] = facts

    def _put_batch(self, batch: BatchFacts) -> None:
        if batch.id not in self.batches:
            self._batch_ids.append(batch.id)
            self._unsorted = True
            self._batch_texts = None
            if self._holders is not None:
                self._hold(batch)
        self.batches[batch.id] = batch

    def _hold(self, batch: BatchFacts) -> None:
        assert self._holders is not None
        for digest in {digest for _, digest in batch.files}:
            self._holders.setdefault(digest, []).append(batch.id)

    def apply_record(self, record: JournalRecord) -> None:
        """One journal record (invalid ones are logged and skipped); the position is the caller's."""
        digest = str(record.doc.get("digest"))
        try:
            if record.kind == FILE:
                self.apply_entry(IndexEntry.from_json(json.dumps(record.doc).encode(), digest), record.key)
            elif record.kind == BATCH:
                self.apply_batch(Batch.from_json(json.dumps(record.doc).encode()))
            elif is_valid_digest(digest):
                self.apply_deletion(digest, record.key)
            else:
                raise ValidationError("a deletion without a valid digest")
        except ValidationError as exc:
            log.warning("ignoring an invalid journal record", extra={"key": record.key, "reason": str(exc)})

    def apply_listed(self, keys: Sequence[str], records: Sequence[JournalRecord]) -> None:
        """Records read after a listing, in key order; every listed key counts as applied."""
        for record in sorted(records, key=lambda r: r.key):
            self.apply_record(record)
        self.position.mark_applied(keys)

    def _sort(self) -> None:
        if self._unsorted:
            self._digests.sort()
            self._batch_ids.sort()
            self._unsorted = False

    def _files_matching(self, query: str) -> Iterator[str]:
        """Digests starting with `query` or with a filename containing it, in digest order."""
        self._sort()
        if self._filenames is None:
            self._filenames = TextIndex([self.files[digest].names for digest in self._digests])
        first = bisect.bisect_left(self._digests, query)
        by_digest = itertools.takewhile(
            lambda position: self._digests[position].startswith(query), range(first, len(self._digests))
        )
        by_name = self._filenames.containing(query)
        previous = -1
        for position in heapq.merge(by_digest, by_name):
            if position != previous:
                yield self._digests[position]
                previous = position

    def find_files(self, query: str, readable: Collection[Visibility], limit: int) -> list[tuple[str, FileFacts]]:
        """Files with a digest starting with `query` or a filename containing it, in digest order."""
        found = []
        for digest in self._files_matching(query) if readable else ():
            facts = self.files[digest]
            if facts.visibility in readable and not facts.deleted:
                found.append((digest, facts))
                if len(found) == limit:
                    break
        return found

    def _batches_matching(self, query: str) -> Iterator[BatchFacts]:
        """Batches whose author or message contains `query`, newest first."""
        self._sort()
        newest_first = self._batch_ids[::-1]
        if self._batch_texts is None:
            batches = (self.batches[batch_id] for batch_id in newest_first)
            self._batch_texts = TextIndex([TextIndex.item((batch.author, batch.message)) for batch in batches])
        for position in self._batch_texts.containing(query):
            yield self.batches[newest_first[position]]

    def find_batches(self, query: str, readable: Collection[Visibility], limit: int) -> list[BatchMatch]:
        """Batches whose author or message contains `query`, newest first, with their visible files."""
        return self._visible_batches(self._batches_matching(query) if readable else iter(()), readable, limit)

    def find_batches_holding(self, digest: str, readable: Collection[Visibility], limit: int) -> list[BatchMatch]:
        """Batches that uploaded the file `digest`, newest first, with their visible files."""
        if self._holders is None:
            self._holders = {}
            for batch in self.batches.values():
                self._hold(batch)
        ids = sorted(self._holders.get(digest, ()), reverse=True)
        return self._visible_batches((self.batches[batch_id] for batch_id in ids), readable, limit)

    def _visible_batches(
        self, batches: Iterator[BatchFacts], readable: Collection[Visibility], limit: int
    ) -> list[BatchMatch]:
        found = []
        for batch in batches:
            visible = []
            for name, digest in batch.files:
                facts = self.files.get(digest)
                if facts is not None and facts.visibility in readable and not facts.deleted:
                    visible.append((name, digest, facts))
            if visible:
                found.append(BatchMatch(batch, visible))
                if len(found) == limit:
                    break
        return found

    def to_snapshot(self) -> bytes:
        """The gzipped JSON of `catalog/snapshot.json.gz`."""
        window_start = self.position.start_after() or ""
        self._sort()
        doc = {
            "format": SNAPSHOT_FORMAT,
            "journal": self.position.to_dict(),
            "files": [_file_doc(digest, self.files[digest], window_start) for digest in self._digests],
            "batches": [_batch_doc(self.batches[batch_id]) for batch_id in self._batch_ids],
        }
        return gzip.compress(json.dumps(doc, separators=(",", ":")).encode(), compresslevel=6)

    @classmethod
    def from_snapshot(cls, data: bytes) -> "CatalogState":
        """Raises ValueError (or a subclass) when `data` is not a snapshot this code wrote."""
        doc = json.loads(gzip.decompress(data))
        if not isinstance(doc, dict) or doc.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"not a catalog snapshot of format {SNAPSHOT_FORMAT}")
        try:
            state = cls(JournalPosition.from_dict(doc["journal"]))
            for item in doc["files"]:
                state._put_file(str(item["digest"]), _file_facts(item))
            for item in doc["batches"]:
                state._put_batch(_batch_facts(item))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed snapshot ({type(exc).__name__}: {exc})") from None
        return state


def _file_doc(digest: str, facts: FileFacts, window_start: str) -> dict[str, Any]:
    doc = facts.file_record(digest) | {"filenames": facts.filenames, "indexed": facts.indexed}
    if facts.deleted:
        doc["deleted"] = True
    # Only a change within the journal's window can still meet an older record, so only those
    # need their key to decide which is newer.
    if facts.changed > window_start:
        doc["changed"] = facts.changed
    return doc


def _file_facts(item: dict[str, Any]) -> FileFacts:
    return FileFacts(
        size=int(item["size"]),
        visibility=parse_visibility(item["visibility"]),
        has_instances=bool(item["has_instances"]),
        names=TextIndex.item(str(name) for name in item["filenames"]),  # written sorted
        indexed=bool(item["indexed"]),
        changed=str(item.get("changed", "")),
        deleted=bool(item.get("deleted", False)),
    )


def _batch_doc(batch: BatchFacts) -> dict[str, Any]:
    return {
        "id": batch.id,
        "uploaded": batch.uploaded,
        "author": batch.author,
        "message": batch.message,
        "files": dict(batch.files),
    }


def _batch_facts(item: dict[str, Any]) -> BatchFacts:
    files = tuple((str(name), sys.intern(str(digest))) for name, digest in item["files"].items())
    return BatchFacts(int(item["id"]), str(item["uploaded"]), str(item["author"]), str(item["message"]), files)


class Catalog:
    """This replica's search catalog over the home store of `index`."""

    def __init__(self, index: FileIndex, refresh_seconds: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self.index = index
        self.store = index.store
        self.journal: Journal = index.journal
        self.refresh_seconds = refresh_seconds
        self._clock = clock
        self._state: CatalogState | None = None
        self._refreshed_at = float("-inf")
        self._refreshing: asyncio.Task[None] | None = None
        # This replica's own writes show in its searches at once; they are listed (and applied
        # again, which changes nothing) with the next refresh.
        self.journal.subscribe(self._apply_own_record)

    def _apply_own_record(self, record: JournalRecord) -> None:
        if self._state is not None:
            self._state.apply_record(record)

    async def search_files(
        self, query: str, readable: Collection[Visibility], *, detailed: bool = False
    ) -> list[dict[str, Any]]:
        """The `file` shapes of up to SEARCH_RESULT_LIMIT files matching `query` that a caller
        who may download `readable` visibilities may see. `detailed` (the web page's search)
        adds each file's `filenames` and `instances`, looking every result up in the index (the
        cached lookup downloads use)."""
        state = await self.current()
        found = state.find_files(query, readable, SEARCH_RESULT_LIMIT)
        digests = [digest for digest, _ in found]
        confirmed = await (self._lookup(digests) if detailed else self._confirm(readable, digests))
        records = []
        for digest, facts in found:
            record = self._shown(digest, facts, confirmed, readable)
            if record is not None and detailed:
                entry = confirmed.get(digest)
                record |= {"filenames": facts.filenames, "instances": list(entry.instances) if entry else []}
            if record is not None:
                records.append(record)
        return records

    async def search_batches(self, query: str, readable: Collection[Visibility]) -> list[dict[str, Any]]:
        """The `batch` shapes of up to SEARCH_RESULT_LIMIT batches matching `query`, each with
        the files the caller may see; batches with none are left out."""
        state = await self.current()
        return await self._batch_results(state.find_batches(query, readable, SEARCH_RESULT_LIMIT), readable)

    async def batches_holding(self, digest: str, readable: Collection[Visibility]) -> list[dict[str, Any]]:
        """The `batch` shapes of up to SEARCH_RESULT_LIMIT batches that uploaded `digest`, newest
        first, each with the files the caller may see."""
        state = await self.current()
        found = state.find_batches_holding(digest, readable, SEARCH_RESULT_LIMIT)
        return await self._batch_results(found, readable)

    async def _batch_results(self, found: list[BatchMatch], readable: Collection[Visibility]) -> list[dict[str, Any]]:
        digests = sorted({digest for match in found for _, digest, _ in match.files})
        confirmed = await self._confirm(readable, digests)
        results = []
        for match in found:
            files = {}
            for filename, digest, facts in match.files:
                record = self._shown(digest, facts, confirmed, readable)
                if record is not None:
                    files[filename] = record
            if files:
                batch = match.batch
                results.append(
                    {"id": batch.id, "uploaded": batch.uploaded, "author": batch.author, "message": batch.message}
                    | {"files": files}
                )
        return results

    async def _confirm(self, readable: Collection[Visibility], digests: list[str]) -> dict[str, IndexEntry | None]:
        """The index's entries for files the catalog would show as public to a caller who may
        not see internal files; nothing to confirm for callers who may see internal ones."""
        if Visibility.INTERNAL in readable:
            return {}
        return await self._lookup(digests)

    async def _lookup(self, digests: list[str]) -> dict[str, IndexEntry | None]:
        entries = await map_concurrently(self.index.lookup, digests, STORE_CONCURRENCY)
        return dict(zip(digests, entries, strict=True))

    @staticmethod
    def _shown(
        digest: str, facts: FileFacts, confirmed: dict[str, IndexEntry | None], readable: Collection[Visibility]
    ) -> dict[str, Any] | None:
        """The record to answer for a found file, or None when the index now hides it. A file
        the index does not know (announced by a batch, never committed) keeps its facts."""
        entry = confirmed.get(digest)
        if entry is None:
            return facts.file_record(digest)
        return entry.file_record() if entry.visibility in readable else None

    async def current(self) -> CatalogState:
        """The catalog, refreshed first if the last look at the journal is `refresh_seconds` old.
        Concurrent callers share one refresh; if it fails they all get its error."""
        if self._state is None or self._clock() - self._refreshed_at >= self.refresh_seconds:
            if self._refreshing is None:
                self._refreshing = asyncio.create_task(self._refresh())
                self._refreshing.add_done_callback(self._refresh_finished)
            await asyncio.shield(self._refreshing)
        assert self._state is not None
        return self._state

    def _refresh_finished(self, task: "asyncio.Task[None]") -> None:
        self._refreshing = None
        if not task.cancelled():
            task.exception()  # retrieved: the waiters re-raise it

    async def _refresh(self) -> None:
        started = self._clock()
        # After half the retention, compaction may have deleted records this replica has not
        # listed yet: start again from the snapshot, which holds them.
        if self._state is None or started - self._refreshed_at > RETENTION_SECONDS / 2:
            self._state = await self.load()
        else:
            await self.catch_up(self._state)
        self._refreshed_at = started

    async def load(self) -> CatalogState:
        """A catalog from the snapshot and the journal records it does not include."""
        state = await self.read_snapshot()
        if state is None:
            state = CatalogState()
        await self.catch_up(state)
        return state

    async def catch_up(self, state: CatalogState) -> None:
        """Apply the journal records listed after the state's position that it has not applied."""
        await self.apply_journal(state, await self.unapplied_keys(state))

    async def unapplied_keys(self, state: CatalogState) -> list[str]:
        listed = await self.journal.keys_after(state.position.start_after())
        return [key for key in listed if not state.position.is_applied(key)]

    async def apply_journal(
        self, state: CatalogState, keys: Sequence[str], on_read: Callable[[], object] | None = None
    ) -> None:
        """Read the records at `keys` (calling `on_read` after each) and apply them."""

        async def read(key: str) -> JournalRecord | None:
            record = await self.journal.read(key)
            if on_read is not None:
                on_read()
            return record

        records = await map_concurrently(read, keys, STORE_CONCURRENCY)
        state.apply_listed(keys, [record for record in records if record is not None])

    async def read_snapshot(self) -> CatalogState | None:
        state, _etag = await self.read_snapshot_versioned()
        return state

    async def read_snapshot_versioned(self) -> tuple[CatalogState | None, str | None]:
        """The snapshot (None when missing or unreadable) and the ETag of the object read (None
        when there is none): what `write_snapshot` must find unchanged to replace it."""
        found = await self.store.read_versioned(SNAPSHOT_KEY)
        if found is None:
            log.info("no catalog snapshot yet; reading the whole journal", extra={"key": SNAPSHOT_KEY})
            return None, None
        try:
            # Parsing 100,000 entries takes a while: off the event loop, which keeps serving.
            return await asyncio.to_thread(CatalogState.from_snapshot, found.data), found.etag
        except (ValueError, EOFError, gzip.BadGzipFile) as exc:
            log.error(
                "unreadable catalog snapshot; search shows only the journal until "
                "`tooltool-proxy catalog rebuild` writes a new one",
                extra={"key": SNAPSHOT_KEY, "reason": str(exc)},
            )
            return None, found.etag

    async def write_snapshot(self, state: CatalogState, replacing: str | None) -> None:
        """Write the snapshot only over the one with ETag `replacing` (None: only if there is
        none): a compaction racing another never loses what the other folded in. Raises
        PreconditionFailed when the snapshot changed meanwhile."""
        data = await asyncio.to_thread(state.to_snapshot)
        if replacing is None:
            await self.store.write(SNAPSHOT_KEY, data, "application/gzip", if_absent=True)
        else:
            await self.store.write(SNAPSHOT_KEY, data, "application/gzip", if_match=replacing)
