"""Journal records this process appends reach its listeners as objects, and are stored so that
other replicas read back the same record (proxy/journal.py)."""

import json
from pathlib import Path

from manifests import Batch, IndexEntry, UploadFile, Visibility
from proxy.catalog import CatalogState
from proxy.journal import BATCH, FILE, Journal, JournalRecord, parse_record
from proxy.storage.local import LocalStore

DIGEST = "cd" * 64
ENTRY = IndexEntry(
    digest=DIGEST,
    size=3,
    visibility=Visibility.PUBLIC,
    instances=("local",),
    filenames=("a.tar.gz",),
    uploaded="2026-01-01T00:00:00.000000Z",
    author="someone",
)
BATCH_RECORD = Batch(
    id=1_700_000_000_000_123,
    uploaded="2026-01-01T00:00:00.000000Z",
    author="someone",
    message="Bug 1: files",
    files=(
        UploadFile(filename="z.txt", digest=DIGEST, size=3, visibility=Visibility.PUBLIC),
        UploadFile(filename="a.txt", digest=DIGEST, size=3, visibility=Visibility.PUBLIC),
    ),
)


async def test_an_appended_entry_reaches_listeners_as_the_entry_and_reads_back_the_same(tmp_path: Path) -> None:
    journal = Journal(LocalStore(tmp_path))
    heard: list[JournalRecord] = []
    journal.subscribe(heard.append)

    key = await journal.append_entry(ENTRY)

    assert [(record.key, record.kind, record.document) for record in heard] == [(key, FILE, ENTRY)]
    stored = await journal.read(key)
    assert stored is not None
    assert (stored.kind, stored.document) == (FILE, None)
    assert IndexEntry.from_json(ENTRY.to_json(), DIGEST) == IndexEntry.from_json(
        json.dumps(stored.doc).encode(), DIGEST
    )


async def test_an_appended_batch_reads_back_as_the_same_batch(tmp_path: Path) -> None:
    journal = Journal(LocalStore(tmp_path))
    heard: list[JournalRecord] = []
    journal.subscribe(heard.append)

    key = await journal.append_batch(BATCH_RECORD)

    assert heard[0].document is BATCH_RECORD
    data = await journal.store.read(key)
    assert data is not None
    record = parse_record(key, data)
    assert record is not None
    assert record.kind == BATCH
    assert Batch.from_json(json.dumps(record.doc).encode()) == Batch.from_json(BATCH_RECORD.to_json())


async def test_the_catalog_state_is_the_same_from_the_object_and_from_the_stored_record(tmp_path: Path) -> None:
    journal = Journal(LocalStore(tmp_path))
    own, other = CatalogState(), CatalogState()
    journal.subscribe(own.apply_record)

    keys = [await journal.append_entry(ENTRY), await journal.append_batch(BATCH_RECORD)]
    for key in keys:
        record = await journal.read(key)
        assert record is not None
        other.apply_record(record)

    assert own.files == other.files
    assert own.batches == other.batches
