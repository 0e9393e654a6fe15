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

Work per request is bounded whatever uploaders announce: an answer holds at most
`result_limit` results and one request makes at most `max_lookups` index lookups in the store
(answers the lookup cache holds cost none); where it stops, the page names the position after
its last result (proxy/paging.py). A file announced by a batch but never committed is shown
only while that batch's put_urls are valid; after that it costs a search nothing, and `gc`
removes the batch record ("batch-deleted" in the journal).
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
from collections.abc import AsyncGenerator, Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from manifests import ALGORITHM, Batch, IndexEntry, ValidationError, Visibility, is_valid_digest, parse_visibility
from proxy.concurrency import map_concurrently
from proxy.index import FileIndex
from proxy.journal import BATCH, BATCH_DELETED, FILE, RETENTION_SECONDS, Journal, JournalPosition, JournalRecord
from proxy.keys import CATALOG_SNAPSHOT_KEY
from proxy.paging import BatchPosition, FilePosition

log = logging.getLogger("tooltool.catalog")

SNAPSHOT_KEY = CATALOG_SNAPSHOT_KEY
SNAPSHOT_FORMAT = 1
# The most results one search answers by default (TOOLTOOL_SEARCH_LIMIT): the first matches in
# digest order (files) or newest first (batches), so that a one-letter query cannot build an
# answer of the whole catalog.
SEARCH_RESULT_LIMIT = 1000
# The most index lookups one search request makes in the store by default
# (TOOLTOOL_SEARCH_MAX_LOOKUPS): as many as a full page of files may need confirming.
SEARCH_MAX_LOOKUPS = 1000
STORE_CONCURRENCY = 32  # store requests one catalog operation keeps in flight
CONFIRM_AHEAD = 4 * STORE_CONCURRENCY  # search results held back at most while their lookups are pending
UPLOAD_URL_TTL = 3600  # put_url lifetime assumed when none is given (TOOLTOOL_UPLOAD_URL_TTL's default)

T = TypeVar("T")
P = TypeVar("P", FilePosition, BatchPosition)


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

    def containing(self, query: str, start: int = 0) -> Iterator[int]:
        """The items from position `start` on with a text containing `query`, in order."""
        if start >= self.count:
            return
        if not query:
            yield from range(start, self.count)
            return
        if self.has_separator(query):
            return  # no text holds one
        found = self.text.find(query, self.starts[start])
        while found != -1:
            position = bisect.bisect_right(self.starts, found) - 1
            yield position
            if position + 1 == self.count:
                return
            found = self.text.find(query, self.starts[position + 1])  # on from the next item


@dataclass(slots=True)
class FileFacts:
    """What search shows of one file. `indexed` facts come from an index entry; the others
    only from a batch that announced the file (it was never committed), shown while the newest
    such batch (`announced`) has valid put_urls. A `deleted` file (an admin deleted it
    altogether) is not shown until it is uploaded again."""

    size: int
    visibility: Visibility
    has_instances: bool
    names: str  # every filename, sorted: an item of TextIndex
    indexed: bool
    changed: str = ""  # journal key of the record these facts are from ("" when older)
    deleted: bool = False
    announced: int = 0  # the id of the newest batch that announced the file

    def searchable(self, readable: Collection[Visibility], live_after: int) -> bool:
        """Whether search may show the file to a caller who may download `readable`, when
        batches with an id below `live_after` have expired."""
        return self.visibility in readable and not self.deleted and (self.indexed or self.announced >= live_after)

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
class SearchPage(Generic[P]):
    """One answer of a search: its results and, when `more` are left, the position after the
    last one shown (None: the start, nothing shown yet)."""

    results: list[dict[str, Any]]
    more: bool
    next: P | None


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
        self._removed = False  # batches (and files) removed since the last sort
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
        # By filename, as a batch read back from its JSON lists them, whether the batch comes
        # from the store or from this process (Journal.append_batch).
        uploads = sorted(batch.files, key=lambda upload: upload.filename)
        files = tuple((upload.filename, sys.intern(upload.digest)) for upload in uploads)
        facts = BatchFacts(batch.id, batch.uploaded, batch.author, batch.message, files)
        self._put_batch(facts)
        for upload in uploads:
            known = self.files.get(upload.digest)
            if known is None:
                known = FileFacts(upload.size, upload.visibility, has_instances=False, names="", indexed=False)
            self._put_file(upload.digest, known.with_names([upload.filename]))
        self._note_announced(facts)

    def _note_announced(self, batch: BatchFacts) -> None:
        for _, digest in batch.files:
            known = self.files.get(digest)
            if known is not None and known.announced < batch.id:
                known.announced = batch.id

    def remove_batch(self, batch_id: int) -> None:
        """A batch record `gc` removed: none of its files was ever committed. The files only it
        (or older batches) announced go too."""
        batch = self.batches.pop(batch_id, None)
        if batch is None:
            return
        self._removed = True
        self._batch_texts = None
        if self._holders is not None:
            for digest in {digest for _, digest in batch.files}:
                holders = self._holders.get(digest, [])
                if batch_id in holders:
                    holders.remove(batch_id)
        for _, digest in batch.files:
            known = self.files.get(digest)
            if known is not None and not known.indexed and known.announced <= batch_id:
                del self.files[digest]
                self._filenames = None

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
        if isinstance(record.document, IndexEntry):
            self.apply_entry(record.document, record.key)
            return
        if isinstance(record.document, Batch):
            self.apply_batch(record.document)
            return
        digest = str(record.doc.get("digest"))
        try:
            if record.kind == FILE:
                self.apply_entry(IndexEntry.from_json(json.dumps(record.doc).encode(), digest), record.key)
            elif record.kind == BATCH:
                self.apply_batch(Batch.from_json(json.dumps(record.doc).encode()))
            elif record.kind == BATCH_DELETED:
                batch_id = record.doc.get("id")
                if type(batch_id) is not int or batch_id <= 0:
                    raise ValidationError("a batch deletion without a valid batch id")
                self.remove_batch(batch_id)
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
        if self._removed:
            self._digests = sorted(self.files)
            self._batch_ids = sorted(self.batches)
            self._removed = self._unsorted = False
        elif self._unsorted:
            self._digests.sort()
            self._batch_ids.sort()
            self._unsorted = False

    def _files_matching(self, query: str, after: FilePosition | None) -> Iterator[str]:
        """Digests after `after` starting with `query` or with a filename containing it, in digest order."""
        self._sort()
        if self._filenames is None:
            self._filenames = TextIndex([self.files[digest].names for digest in self._digests])
        start = 0 if after is None else bisect.bisect_right(self._digests, after.digest)
        first = max(start, bisect.bisect_left(self._digests, query))
        by_digest = itertools.takewhile(
            lambda position: self._digests[position].startswith(query), range(first, len(self._digests))
        )
        by_name = self._filenames.containing(query, start)
        previous = -1
        for position in heapq.merge(by_digest, by_name):
            if position != previous:
                yield self._digests[position]
                previous = position

    def files_after(
        self,
        query: str,
        readable: Collection[Visibility],
        after: FilePosition | None = None,
        live_after: int = 0,
    ) -> Iterator[tuple[str, FileFacts]]:
        """Files a caller who may download `readable` may find with `query` (a digest starting
        with it or a filename containing it), in digest order from after `after`. Files only
        announced by batches with an id below `live_after` (expired) are left out."""
        if not readable:
            return
        for digest in self._files_matching(query, after):
            facts = self.files[digest]
            if facts.searchable(readable, live_after):
                yield digest, facts

    def _batches_matching(self, query: str, after: BatchPosition | None) -> Iterator[BatchFacts]:
        """Batches whose author or message contains `query`, newest first, from `after` on:
        after its batch, or from its batch when the position is inside it."""
        self._sort()
        ids = self._batch_ids
        if self._batch_texts is None:
            batches = (self.batches[batch_id] for batch_id in reversed(ids))
            self._batch_texts = TextIndex([TextIndex.item((batch.author, batch.message)) for batch in batches])
        start = 0
        if after is not None:  # how many batches come before the position, newest first
            if after.filename is None:
                start = len(ids) - bisect.bisect_left(ids, after.batch_id)
            else:
                start = len(ids) - bisect.bisect_right(ids, after.batch_id)
        for position in self._batch_texts.containing(query, start):
            yield self.batches[ids[len(ids) - 1 - position]]

    def batch_files_after(
        self,
        query: str,
        readable: Collection[Visibility],
        after: BatchPosition | None = None,
        live_after: int = 0,
    ) -> Iterator[tuple[BatchFacts, str, str, FileFacts]]:
        """(batch, filename, digest, facts) of the files a caller who may download `readable`
        may see in the batches whose author or message contains `query`: batch by batch, newest
        first, each batch's files by filename, from after `after`. Files only announced by
        batches with an id below `live_after` (expired) are left out."""
        if not readable:
            return
        yield from self._visible_files(self._batches_matching(query, after), readable, after, live_after)

    def holder_files_after(
        self,
        digest: str,
        readable: Collection[Visibility],
        after: BatchPosition | None = None,
        live_after: int = 0,
    ) -> Iterator[tuple[BatchFacts, str, str, FileFacts]]:
        """As `batch_files_after`, for the batches that uploaded the file `digest` (the web
        page's file view)."""
        if not readable:
            return
        yield from self._visible_files(self._batches_holding(digest, after), readable, after, live_after)

    def _batches_holding(self, digest: str, after: BatchPosition | None) -> Iterator[BatchFacts]:
        """Batches that uploaded `digest`, newest first, from `after` on (as `_batches_matching`)."""
        if self._holders is None:
            self._holders = {}
            for batch in self.batches.values():
                self._hold(batch)
        for batch_id in sorted(self._holders.get(digest, ()), reverse=True):
            if after is not None and (
                batch_id > after.batch_id or (batch_id == after.batch_id and after.filename is None)
            ):
                continue
            yield self.batches[batch_id]

    def _visible_files(
        self,
        batches: Iterable[BatchFacts],
        readable: Collection[Visibility],
        after: BatchPosition | None,
        live_after: int,
    ) -> Iterator[tuple[BatchFacts, str, str, FileFacts]]:
        for batch in batches:
            resume_after = after.filename if after is not None and after.batch_id == batch.id else None
            for filename, digest in sorted(batch.files):
                if resume_after is not None and filename <= resume_after:
                    continue
                facts = self.files.get(digest)
                if facts is not None and facts.searchable(readable, live_after):
                    yield batch, filename, digest, facts

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
                batch = _batch_facts(item)
                state._put_batch(batch)
                state._note_announced(batch)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed snapshot ({type(exc).__name__}: {exc})") from None
        return state


def _first(item: tuple[str, FileFacts]) -> str:
    return item[0]


def _third(item: tuple[BatchFacts, str, str, FileFacts]) -> str:
    return item[2]


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


class Confirmation:
    """The index lookups of one search request. A file the catalog would show as public to a
    caller who may not see internal files is shown as the index has it (fail closed); callers
    who may see internal files need none, unless the answer shows what only the index holds
    (`look_up_all`: the web page's search with regions). At most `budget` lookups go to the store: answers
    the lookup cache holds cost none, and none of them is made before it is needed."""

    def __init__(
        self, index: FileIndex, readable: Collection[Visibility], budget: int, *, look_up_all: bool = False
    ) -> None:
        self.index = index
        self.readable = readable
        # `look_up_all`: every file is looked up, whoever the caller (an answer with instances).
        self.needed = look_up_all or Visibility.INTERNAL not in readable
        self.left = budget
        self.exhausted = False  # set when an item needed a lookup beyond the budget
        self.entries: dict[str, IndexEntry | None] = {}

    def _known(self, digest: str) -> bool:
        if not self.needed or digest in self.entries:
            return True
        cached, entry = self.index.cache.cached(digest)
        if cached:
            self.entries[digest] = entry
        return cached

    async def _look_up(self, digests: list[str]) -> None:
        if not digests:
            return
        self.left -= len(digests)
        entries = await map_concurrently(self.index.lookup, digests, STORE_CONCURRENCY)
        self.entries.update(zip(digests, entries, strict=True))

    async def confirmed(self, items: Iterable[T], digest_of: Callable[[T], str]) -> AsyncGenerator[T, None]:
        """The items in order, each once the index entry of its file is known (looked up
        STORE_CONCURRENCY at a time). Stops, setting `exhausted`, before the first item whose
        file would need a lookup beyond the budget."""
        ready: list[T] = []  # items waiting for the lookups in `wanted`
        wanted: list[str] = []
        for item in items:
            digest = digest_of(item)
            needs_lookup = not self._known(digest) and digest not in wanted
            if (needs_lookup and len(wanted) == min(self.left, STORE_CONCURRENCY)) or len(ready) == CONFIRM_AHEAD:
                await self._look_up(wanted)
                for done in ready:
                    yield done
                ready, wanted = [], []
            if needs_lookup:
                if self.left == 0:
                    self.exhausted = True
                    return
                wanted.append(digest)
            if wanted:
                ready.append(item)
            else:
                yield item  # nothing to wait for: the caller may stop here, before any further work
        await self._look_up(wanted)
        for done in ready:
            yield done

    def record(self, digest: str, facts: FileFacts) -> dict[str, Any] | None:
        """The record to answer for a file `confirmed` let through, or None when the index now
        hides it. A file the index does not know (announced by a batch, never committed) keeps
        its facts."""
        entry = self.entries.get(digest)
        if entry is None:
            return facts.file_record(digest)
        return entry.file_record() if entry.visibility in self.readable else None


@dataclass
class _PageEnd:
    """Where a page's items end, once it is known: when the page is full (files), or after
    the batch that fills it, once that shows a file (batches). Items beyond are not taken, so
    none of them is looked up; that there was one is noted."""

    full: bool = False
    last_batch: int | None = None
    beyond: bool = False

    def admits(self, batch_id: int | None = None) -> bool:
        if self.full and (batch_id is None or batch_id != self.last_batch):
            self.beyond = True
            return False
        return True


@dataclass
class _BatchAnswer:
    """A batch of a search answer while its files are confirmed."""

    batch: BatchFacts
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_filename: str = ""

    def shape(self) -> dict[str, Any]:
        batch = self.batch
        return {"id": batch.id, "uploaded": batch.uploaded, "author": batch.author, "message": batch.message} | {
            "files": self.files
        }


class Catalog:
    """This replica's search catalog over the home store of `index`.

    A search answers at most `result_limit` results and makes at most `max_lookups` index
    lookups in the store; files announced by batches older than `upload_url_ttl` (their
    put_urls have expired) that were never committed are not shown."""

    def __init__(
        self,
        index: FileIndex,
        refresh_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        result_limit: int = SEARCH_RESULT_LIMIT,
        max_lookups: int = SEARCH_MAX_LOOKUPS,
        upload_url_ttl: float = UPLOAD_URL_TTL,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.index = index
        self.store = index.store
        self.journal: Journal = index.journal
        self.refresh_seconds = refresh_seconds
        self.result_limit = result_limit
        self.max_lookups = max_lookups
        self.upload_url_ttl = upload_url_ttl
        self._clock = clock
        self._wall_clock = wall_clock
        self._state: CatalogState | None = None
        self._refreshed_at = float("-inf")
        self._refreshing: asyncio.Task[None] | None = None
        # This replica's own writes show in its searches at once; they are listed (and applied
        # again, which changes nothing) with the next refresh.
        self.journal.subscribe(self._apply_own_record)

    def _apply_own_record(self, record: JournalRecord) -> None:
        if self._state is not None:
            self._state.apply_record(record)

    def live_after(self) -> int:
        """The smallest batch id whose put_urls are still valid (ids are microseconds since the
        epoch, give or take the three random digits)."""
        return int((self._wall_clock() - self.upload_url_ttl) * 1_000_000)

    async def search_files(
        self,
        query: str,
        readable: Collection[Visibility],
        after: FilePosition | None = None,
        *,
        detailed: bool = False,
    ) -> SearchPage[FilePosition]:
        """The `file` shapes of the files matching `query` (in digest order, from after
        `after`) that a caller who may download `readable` visibilities may see. `detailed`
        (the web page's search) adds each file's `filenames` and `instances`, looking every
        result up in the index (the cached lookup downloads use), within the same bounds."""
        state = await self.current()
        confirmation = Confirmation(self.index, readable, self.max_lookups, look_up_all=detailed)
        end = _PageEnd()
        found = itertools.takewhile(
            lambda item: end.admits(), state.files_after(query, readable, after, self.live_after())
        )
        results: list[dict[str, Any]] = []
        last, more = after, False
        stream = confirmation.confirmed(found, _first)
        try:
            async for digest, facts in stream:
                if len(results) == self.result_limit:
                    more = True  # taken before the page was full
                    break
                record = confirmation.record(digest, facts)
                if record is not None and detailed:
                    entry = confirmation.entries.get(digest)
                    record |= {"filenames": facts.filenames, "instances": list(entry.instances) if entry else []}
                if record is not None:
                    results.append(record)
                    last = FilePosition(digest)
                    end.full = len(results) == self.result_limit
        finally:
            await stream.aclose()
        return SearchPage(results, more or end.beyond or confirmation.exhausted, last)

    async def search_batches(
        self, query: str, readable: Collection[Visibility], after: BatchPosition | None = None
    ) -> SearchPage[BatchPosition]:
        """The `batch` shapes of the batches matching `query` (newest first, from after
        `after`), each with the files the caller may see; batches with none are left out.

        A batch is answered whole, except the first of a page when it has more files to confirm
        than one request may look up: those confirmed are answered, and the page's position is
        inside that batch."""
        state = await self.current()
        return await self._batch_page(
            state.batch_files_after(query, readable, after, self.live_after()), readable, after
        )

    async def batches_holding(
        self, digest: str, readable: Collection[Visibility], after: BatchPosition | None = None
    ) -> SearchPage[BatchPosition]:
        """The `batch` shapes of the batches that uploaded `digest` (newest first, from after
        `after`), each with the files the caller may see: pages as `search_batches` makes them."""
        state = await self.current()
        found = state.holder_files_after(digest, readable, after, self.live_after())
        return await self._batch_page(found, readable, after)

    async def _batch_page(
        self,
        items: Iterator[tuple[BatchFacts, str, str, FileFacts]],
        readable: Collection[Visibility],
        after: BatchPosition | None,
    ) -> SearchPage[BatchPosition]:
        confirmation = Confirmation(self.index, readable, self.max_lookups)
        end = _PageEnd()
        found = itertools.takewhile(lambda item: end.admits(item[0].id), items)
        results: list[dict[str, Any]] = []
        last, more = after, False
        answer: _BatchAnswer | None = None
        stream = confirmation.confirmed(found, _third)
        try:
            async for batch, filename, digest, facts in stream:
                if answer is None or answer.batch.id != batch.id:
                    if answer is not None and answer.files:
                        results.append(answer.shape())
                        last = BatchPosition(answer.batch.id)
                    answer = None
                    if len(results) == self.result_limit:
                        more = True  # taken before the page was full
                        break
                    answer = _BatchAnswer(batch)
                record = confirmation.record(digest, facts)
                if record is not None:
                    answer.files[filename] = record
                    answer.last_filename = filename
                    if len(results) == self.result_limit - 1:  # this batch fills the page
                        end.full, end.last_batch = True, batch.id
        finally:
            await stream.aclose()
        if answer is not None and answer.files:
            if not confirmation.exhausted:
                results.append(answer.shape())
                last = BatchPosition(answer.batch.id)
            elif not results:
                results.append(answer.shape())
                last = BatchPosition(answer.batch.id, answer.last_filename)
            # else: the lookups ran out inside it; the next page answers it whole
        return SearchPage(results, more or end.beyond or confirmation.exhausted, last)

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
