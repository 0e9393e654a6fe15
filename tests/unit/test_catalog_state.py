"""The search catalog's state without a store (proxy/catalog.py's CatalogState, proxy/journal.py's
JournalPosition): what folding journal records gives, whatever order replicas' records arrive in."""

import hashlib
import json
import logging

import pytest

from manifests import Batch, IndexEntry, UploadFile, Visibility
from proxy.catalog import CatalogState
from proxy.journal import BATCH, BATCH_DELETED, FILE, FILE_DELETED, SAFETY_WINDOW_SECONDS, JournalRecord, journal_key

T0 = 1_767_000_000.0  # a fixed moment: journal keys sort by the time they carry
EVERYONE = (Visibility.PUBLIC, Visibility.INTERNAL)
PUBLIC_ONLY = (Visibility.PUBLIC,)


def digest_of(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


A, B, C = digest_of(b"a"), digest_of(b"b"), digest_of(b"c")


def file_record(seconds: float, digest: str, visibility: Visibility, *filenames: str) -> JournalRecord:
    entry = IndexEntry(digest, 1, visibility, instances=("us-east-1",), filenames=filenames)
    return JournalRecord(journal_key(T0 + seconds), FILE, json.loads(entry.to_json()))


def deletion(seconds: float, digest: str) -> JournalRecord:
    return JournalRecord(journal_key(T0 + seconds), FILE_DELETED, {"algorithm": "sha512", "digest": digest})


def batch_record(seconds: float, batch_id: int, message: str, *files: tuple[str, str]) -> JournalRecord:
    uploads = tuple(UploadFile(name, 1, digest, Visibility.PUBLIC) for name, digest in files)
    batch = Batch(batch_id, "2026-01-01T00:00:00.000000Z", "uploader", message, uploads)
    return JournalRecord(journal_key(T0 + seconds), BATCH, json.loads(batch.to_json()))


def batch_deletion(seconds: float, batch_id: object) -> JournalRecord:
    return JournalRecord(journal_key(T0 + seconds), BATCH_DELETED, {"id": batch_id})


def folded(*records: JournalRecord) -> CatalogState:
    state = CatalogState()
    state.apply_listed([record.key for record in records], records)
    return state


def found(
    state: CatalogState, query: str, readable: tuple[Visibility, ...] = EVERYONE, live_after: int = 0
) -> list[str]:
    return [digest for digest, _ in state.files_after(query, readable, live_after=live_after)]


def test_the_newest_file_record_wins_whatever_order_the_records_come_in() -> None:
    older, newer = file_record(1, A, Visibility.PUBLIC, "a.bin"), file_record(2, A, Visibility.INTERNAL, "a.bin")
    for records in ((older, newer), (newer, older)):
        state = folded(*records)
        assert state.files[A].visibility == Visibility.INTERNAL
        assert found(state, "a.bin", PUBLIC_ONLY) == []
    late = folded(newer)
    late.apply_record(older)  # another replica's older record, visible only now
    assert late.files[A].visibility == Visibility.INTERNAL


def test_filenames_of_every_record_and_batch_are_kept() -> None:
    state = folded(
        file_record(1, A, Visibility.PUBLIC, "gcc.tar.xz"),
        file_record(2, A, Visibility.PUBLIC, "gcc-13.tar.xz"),
        batch_record(3, 7, "Bug 7: renamed", ("toolchain.tar.xz", A)),
    )
    assert state.files[A].filenames == ["gcc-13.tar.xz", "gcc.tar.xz", "toolchain.tar.xz"]
    for query in ("gcc-13", "toolchain", A[:12]):
        assert found(state, query) == [A], query


def test_a_file_deleted_altogether_stays_deleted_until_a_newer_record() -> None:
    state = folded(file_record(1, A, Visibility.PUBLIC, "a.bin"), deletion(2, A))
    assert found(state, "a.bin") == []
    state.apply_record(file_record(1.5, A, Visibility.PUBLIC, "a.bin"))  # older than the deletion: no resurrection
    assert found(state, "a.bin") == []
    state.apply_record(file_record(3, A, Visibility.PUBLIC, "a.bin"))  # uploaded again
    assert found(state, "a.bin") == [A]


def test_results_hold_only_what_the_caller_may_download() -> None:
    state = folded(file_record(1, A, Visibility.PUBLIC, "x.bin"), file_record(2, B, Visibility.INTERNAL, "x.bin"))
    assert found(state, "x.bin") == sorted([A, B])
    assert found(state, "x.bin", PUBLIC_ONLY) == [A]
    assert found(state, "x.bin", ()) == []


def test_an_announced_file_is_found_only_while_its_batch_may_still_upload_it() -> None:
    state = folded(batch_record(1, 7, "Bug 7", ("announced.bin", A)))
    facts = state.files[A]
    assert (facts.indexed, facts.has_instances, facts.announced) == (False, False, 7)
    assert found(state, "announced", live_after=7) == [A]
    assert found(state, "announced", live_after=8) == []  # batch 7's put_urls have expired
    state.apply_record(file_record(2, A, Visibility.PUBLIC, "announced.bin"))  # committed
    assert found(state, "announced", live_after=8) == [A]


def test_a_batch_gc_removed_takes_the_files_only_it_announced() -> None:
    state = folded(
        file_record(1, A, Visibility.PUBLIC, "kept.bin"),
        batch_record(2, 7, "Bug 7: never completed", ("kept.bin", A), ("gone.bin", B)),
        batch_record(3, 9, "Bug 9: announced again", ("again.bin", C)),
        batch_deletion(4, 7),
    )
    assert 7 not in state.batches
    assert set(state.files) == {A, C}  # A is committed; C belongs to another batch
    assert [batch.id for batch, *_ in state.batch_files_after("Bug", EVERYONE)] == [9]


def test_batches_are_found_newest_first_with_their_files_by_name() -> None:
    state = folded(
        file_record(1, A, Visibility.PUBLIC),
        file_record(1, B, Visibility.INTERNAL),
        batch_record(2, 5, "Bug 5: older", ("z.bin", A)),
        batch_record(3, 6, "Bug 6: newer", ("b.bin", B), ("a.bin", A)),
    )
    shown = [(batch.id, name) for batch, name, _, _ in state.batch_files_after("Bug", EVERYONE)]
    assert shown == [(6, "a.bin"), (6, "b.bin"), (5, "z.bin")]
    public = [(batch.id, name) for batch, name, _, _ in state.batch_files_after("Bug", PUBLIC_ONLY)]
    assert public == [(6, "a.bin"), (5, "z.bin")]


@pytest.mark.parametrize(
    "record",
    [
        JournalRecord(journal_key(T0), FILE, {"digest": A, "size": -1, "visibility": "public"}),
        JournalRecord(journal_key(T0), BATCH, {"id": "seven"}),
        batch_deletion(0, "seven"),
        batch_deletion(0, 0),
        JournalRecord(journal_key(T0), FILE_DELETED, {"digest": "not-a-digest"}),
    ],
    ids=["file-invalid-entry", "batch-invalid", "batch-deletion-id-not-int", "batch-deletion-id-zero", "bad-deletion"],
)
def test_an_invalid_record_is_logged_and_skipped(record: JournalRecord, caplog: pytest.LogCaptureFixture) -> None:
    state = folded(file_record(1, A, Visibility.PUBLIC, "a.bin"), batch_record(2, 7, "Bug 7", ("a.bin", A)))
    before = (dict(state.files), dict(state.batches))
    with caplog.at_level(logging.WARNING):
        state.apply_record(record)
    assert (state.files, state.batches) == before
    assert "ignoring an invalid journal record" in caplog.text


def test_a_snapshot_holds_the_same_answers_and_position() -> None:
    state = folded(
        file_record(1, A, Visibility.PUBLIC, "a.bin"),
        file_record(2, B, Visibility.INTERNAL, "b.bin"),
        batch_record(3, 7, "Bug 7", ("a.bin", A), ("c.bin", C)),
        deletion(4, B),
    )
    loaded = CatalogState.from_snapshot(state.to_snapshot())
    assert loaded.position == state.position
    for readable in (EVERYONE, PUBLIC_ONLY):
        for live_after in (0, 8):
            assert found(loaded, ".bin", readable, live_after) == found(state, ".bin", readable, live_after)
            assert list(loaded.batch_files_after("Bug", readable, live_after=live_after)) == list(
                state.batch_files_after("Bug", readable, live_after=live_after)
            )
    assert found(loaded, "b.bin") == []  # the tombstone survives


def test_the_position_holds_every_key_up_to_the_window_and_exactly_the_recent_ones() -> None:
    keys = [journal_key(T0 + seconds) for seconds in (0, 100, 200, 500)]
    position = CatalogState().position
    position.mark_applied(keys)
    assert position.last == keys[-1]
    inside_window = journal_key(T0 + 500 - SAFETY_WINDOW_SECONDS / 2)  # another replica's, not yet listed
    before_window = journal_key(T0 + 500 - SAFETY_WINDOW_SECONDS * 2)
    assert position.is_applied(keys[-1])
    assert not position.is_applied(inside_window)
    assert position.is_applied(before_window)
    assert position.recent == {keys[-1]}
    start = position.start_after()
    assert start is not None
    assert keys[-2] <= start < inside_window
