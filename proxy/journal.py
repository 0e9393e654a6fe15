"""The journal: one small object per metadata change, so search catalogs update incrementally.

Every index entry and batch record the proxy (or an admin command) writes is also appended
here as `journal/<UTC time>-<random>.json` holding {"kind": "file"|"batch", "doc": …}
(readers also understand "file-deleted", a tombstone for a file removed altogether, and
"batch-deleted", for a batch record `gc` removed because none of its files ever arrived). Keys
sort by time, so a replica lists only what is newer than what it has seen (DESIGN.md §2).

Keys of two writers can become visible out of order: clocks differ a little and a PUT can be
slow. So a reader lists from SAFETY_WINDOW_SECONDS before the newest key it has applied and
skips the keys it already applied (`JournalPosition`); a key that shows up later than that
window is missed until the next `tooltool-proxy catalog rebuild`.
"""

import calendar
import functools
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from manifests import Batch, IndexEntry
from proxy.keys import JOURNAL_PREFIX as JOURNAL_PREFIX  # the journal's readers import it from here too
from proxy.keys import journal_record_key
from proxy.storage import ObjectStore

log = logging.getLogger("tooltool.journal")

FILE = "file"  # doc: the index entry as written
BATCH = "batch"  # doc: the batch record
FILE_DELETED = "file-deleted"  # doc: {"algorithm", "digest"} of a file deleted altogether
BATCH_DELETED = "batch-deleted"  # doc: {"id"} of a batch record `gc` removed (never completed)
KINDS = (FILE, BATCH, FILE_DELETED, BATCH_DELETED)
# How far out of order two writers' keys may become visible (clock skew plus a slow PUT).
SAFETY_WINDOW_SECONDS = 120.0
# Compaction keeps at least this much journal, and a replica that has not looked at the
# journal for half of it reloads the snapshot instead: so no replica misses a deleted record.
RETENTION_SECONDS = 24 * 3600.0

_SECONDS_FORMAT = "%Y%m%dT%H%M%S"
_STAMP_LENGTH = 21  # the seconds format (15 characters) and 6 digits of microseconds


def _stamp(moment: float) -> str:
    return time.strftime(_SECONDS_FORMAT, time.gmtime(moment)) + f"{int(moment * 1e6) % 1_000_000:06d}"


def journal_key(now: float | None = None) -> str:
    moment = time.time() if now is None else now
    return journal_record_key(_stamp(moment), secrets.token_hex(4))


def key_time(key: str) -> float | None:
    """The UTC time written in a journal key, or None for a key journal_key did not make."""
    stamp = key.removeprefix(JOURNAL_PREFIX)[:_STAMP_LENGTH]
    if not key.startswith(JOURNAL_PREFIX) or len(stamp) != _STAMP_LENGTH or not stamp[15:].isdigit():
        return None
    try:
        seconds = calendar.timegm(time.strptime(stamp[:15], _SECONDS_FORMAT))
    except ValueError:
        return None
    return seconds + int(stamp[15:]) / 1e6


def position_at(moment: float) -> str:
    """A listing position that sorts before every key stamped at `moment` or later."""
    return f"{JOURNAL_PREFIX}{_stamp(moment)}"


@functools.lru_cache(maxsize=64)
def _window_start(last: str) -> str | None:
    moment = key_time(last)
    return None if moment is None else position_at(moment - SAFETY_WINDOW_SECONDS)


@dataclass(frozen=True)
class JournalRecord:
    key: str
    kind: str  # one of KINDS
    doc: dict[str, Any]  # as stored; {} in a record that carries its `document`
    # The index entry or batch itself, in the records this process appends (append_entry,
    # append_batch): its listeners get the object, not JSON to parse again.
    document: IndexEntry | Batch | None = None


Listener = Callable[[JournalRecord], None]


@dataclass
class JournalPosition:
    """How much of the journal a reader has applied: every key up to SAFETY_WINDOW_SECONDS
    before `last` (the newest key a listing returned), and exactly the keys in `recent` after
    that. Its size is bounded by the keys written within one window, not by the journal."""

    last: str | None = None
    recent: set[str] = field(default_factory=set)

    def start_after(self) -> str | None:
        """Where the next listing starts (None: at the beginning of the journal)."""
        return None if self.last is None else _window_start(self.last)

    def is_applied(self, key: str) -> bool:
        start = self.start_after()
        return key in self.recent or (start is not None and key <= start)

    def mark_applied(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        if not keys:
            return
        newest = max(keys)
        if self.last is None or newest > self.last:
            self.last = newest
        start = self.start_after() or ""
        self.recent = {key for key in (*self.recent, *keys) if key > start}

    def to_dict(self) -> dict[str, Any]:
        return {"last": self.last, "recent": sorted(self.recent)}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> "JournalPosition":
        last = doc.get("last")
        recent = doc.get("recent", [])
        if not (last is None or isinstance(last, str)) or not all(isinstance(key, str) for key in recent):
            raise ValueError("journal position: 'last' must be a key or null, 'recent' a list of keys")
        return cls(last=last, recent=set(recent))


def parse_record(key: str, data: bytes) -> JournalRecord | None:
    """The record stored at `key`, or None (logged) when it is not one."""
    try:
        obj = json.loads(data)
        kind, doc = obj["kind"], obj["doc"]
    except (UnicodeDecodeError, ValueError, TypeError, KeyError):
        kind, doc = None, None
    if kind not in KINDS or not isinstance(doc, dict):
        log.warning("ignoring an unreadable journal record", extra={"key": key})
        return None
    return JournalRecord(key, kind, doc)


class Journal:
    """The journal of one home store. Listeners (this replica's search catalog) hear of every
    record appended through this object at once, before other replicas can list it."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def append(self, kind: str, doc: dict[str, Any], key: str | None = None) -> str:
        """Write the record (at `key`, a journal_key() taken earlier, or a new one) and tell the
        listeners. A writer taking the key just before its compare-and-swap succeeds gets keys
        in the order of its writes (see FileIndex.update)."""
        key = journal_key() if key is None else key
        await self.store.write(key, json.dumps({"kind": kind, "doc": doc}, sort_keys=True).encode(), if_absent=True)
        self._tell(JournalRecord(key, kind, doc))
        return key

    async def append_entry(self, entry: IndexEntry, key: str | None = None) -> str:
        """Journal an index entry as written (see append for `key`)."""
        return await self._append_document(FILE, entry, key)

    async def append_batch(self, batch: Batch) -> str:
        return await self._append_document(BATCH, batch, None)

    async def _append_document(self, kind: str, document: IndexEntry | Batch, key: str | None) -> str:
        key = journal_key() if key is None else key
        # The stored form of append's, {"doc": …, "kind": …}, around the document's own JSON.
        data = b'{"doc": ' + document.to_json().rstrip() + b', "kind": ' + json.dumps(kind).encode() + b"}"
        await self.store.write(key, data, if_absent=True)
        self._tell(JournalRecord(key, kind, {}, document))
        return key

    def _tell(self, record: JournalRecord) -> None:
        key = record.key
        for listener in self._listeners:
            try:
                listener(record)
            except Exception:  # the write succeeded; a listener's bug must not fail it
                log.exception("journal listener failed", extra={"key": key})

    async def keys_after(self, start_after: str | None) -> list[str]:
        """The journal's keys after `start_after`, in order; objects that are not records are skipped."""
        return [key async for key in self.store.list_keys(JOURNAL_PREFIX, start_after) if key_time(key) is not None]

    async def read(self, key: str) -> JournalRecord | None:
        """The record, or None when it is unreadable or was deleted since it was listed."""
        data = await self.store.read(key)
        return None if data is None else parse_record(key, data)
