"""`tooltool-proxy verify` and `gc` (proxy/commands/maintenance.py)."""

import hashlib
import time

from manifests import Batch, IndexEntry, PendingUpload, UploadFile, Visibility
from proxy.batches import BatchRecords
from proxy.catalog import Catalog
from proxy.index import FileIndex
from proxy.journal import Journal
from proxy.keys import artifact_key, batch_key, index_key, pending_key, replay_marker_key, staging_key, verifying_key
from tests.support.admin import Admin, assert_usage_error


async def test_verify_of_intact_files_exits_0(regional: Admin) -> None:
    await regional.seed(b"intact\n", regions=["east", "west"])
    await regional.seed(b"also intact\n", regions=["west"])
    ran = await regional("verify")
    assert ran.status == 0, ran
    assert "verify: 3 objects (26 B) hashed, 0 mismatches, 0 failures" in ran.out


async def test_verify_reports_a_mismatch_and_moves_nothing_without_quarantine(regional: Admin) -> None:
    digest = await regional.seed(b"good bytes\n", regions=["east", "west"])
    await regional.stores.regions["west"].write(artifact_key(digest), b"rotten bytes\n")
    before = await regional.snapshot()
    ran = await regional("verify")
    assert ran.status == 1
    assert f"MISMATCH {artifact_key(digest)} in region west" in ran.out
    assert "1 mismatches" in ran.out
    assert await regional.snapshot() == before


async def test_verify_quarantine_moves_the_bad_copy_and_drops_its_region(regional: Admin) -> None:
    digest = await regional.seed(b"good bytes\n", regions=["east", "west"])
    await regional.stores.regions["west"].write(artifact_key(digest), b"rotten bytes\n")
    ran = await regional("verify", "--quarantine", "--region", "west")
    assert ran.status == 1
    west = regional.stores.regions["west"]
    assert await west.head(artifact_key(digest)) is None
    assert await west.read(f"quarantine/sha512/{digest}") == b"rotten bytes\n"
    assert await regional.stores.regions["east"].read(artifact_key(digest)) == b"good bytes\n"
    entry = await regional.entry(digest)
    assert entry is not None
    assert entry.instances == ("east",)
    # The good copy passes on its own.
    assert (await regional("verify")).status == 0


async def test_verify_of_an_unknown_region_exits_2(admin: Admin) -> None:
    assert_usage_error(await admin("verify", "--region", "mars"), "--region 'mars' is not a configured region")


def old_batch_id(age_seconds: float) -> int:
    return int((time.time() - age_seconds) * 1000) * 1000 + 123


async def stage(admin: Admin, data: bytes, batch_id: int, expires: float | None) -> list[str]:
    """An upload's leftovers: staged bytes, a .verifying copy and (unless None) its pending record."""
    digest = hashlib.sha512(data).hexdigest()
    store = admin.stores.regions[admin.stores.default_region]
    await store.write(staging_key(digest, batch_id), data)
    await store.write(verifying_key(digest, batch_id, "0a1b2c3d"), data)
    keys = [staging_key(digest, batch_id), verifying_key(digest, batch_id, "0a1b2c3d")]
    if expires is not None:
        pending = PendingUpload(digest, batch_id, len(data), Visibility.PUBLIC, "f.bin", "admin", expires)
        await admin.stores.home.write(pending_key(digest, batch_id), pending.to_json())
        keys.append(pending_key(digest, batch_id))
    return keys


async def test_gc_removes_stale_uploads_and_keeps_fresh_ones(admin: Admin) -> None:
    now = time.time()
    expired = await stage(admin, b"expired\n", old_batch_id(9 * 86400), expires=now - 8 * 86400)
    orphan = await stage(admin, b"orphan\n", old_batch_id(10 * 86400), expires=None)
    fresh = await stage(admin, b"fresh\n", old_batch_id(60), expires=now + 3600)
    # Recently expired, though the batch is old: the age counts from the record's expiry.
    recent = await stage(admin, b"recent\n", old_batch_id(30 * 86400), expires=now - 3600)
    young_orphan = await stage(admin, b"young orphan\n", old_batch_id(3600), expires=None)
    stored = await admin.seed(b"stored\n")

    ran = await admin("gc", "--older-than", "7d")
    assert ran.status == 0, ran
    remaining = set(await admin.keys("uploads/"))
    assert remaining == {*fresh, *recent, *young_orphan}
    assert not remaining & {*expired, *orphan}
    assert "removed 5 objects of 2 uploads older than 7d" in ran.out
    assert await admin.entry(stored) is not None
    assert await admin.stores.home.head(artifact_key(stored)) is not None


async def test_gc_dry_run_changes_nothing(admin: Admin) -> None:
    expired = await stage(admin, b"expired\n", old_batch_id(2 * 86400), expires=time.time() - 86400)
    before = await admin.snapshot()
    ran = await admin("gc", "--older-than", "12h", "--dry-run")
    assert ran.status == 0
    for key in expired:
        assert f"would remove {key}" in ran.out
    assert await admin.snapshot() == before


async def save_batch(admin: Admin, batch_id: int, *files: bytes) -> Batch:
    """A batch record as POST /upload writes it (and journals it), for `files` never uploaded."""
    uploads = tuple(
        UploadFile(f"file-{number}.bin", len(data), hashlib.sha512(data).hexdigest(), Visibility.PUBLIC)
        for number, data in enumerate(files)
    )
    batch = Batch(batch_id, "2026-01-01T00:00:00.000000Z", "uploader", f"Bug 80: batch {batch_id}", uploads)
    journal = Journal(admin.stores.home)
    await BatchRecords(admin.stores.home, journal).save(batch)
    return batch


async def test_gc_removes_expired_batches_none_of_whose_files_arrived_and_journals_it(admin: Admin) -> None:
    day = 86400
    never = await save_batch(admin, old_batch_id(2 * day), b"never 1\n", b"never 2\n")
    stored = await admin.seed(b"stored\n")
    part_done = await save_batch(admin, old_batch_id(2 * day), b"stored\n", b"never 3\n")
    # Its bytes were deleted (PATCH delete_instances; the index object stays): committed all the same.
    deleted = hashlib.sha512(b"bytes deleted\n").hexdigest()
    await admin.stores.home.write(index_key(deleted), IndexEntry(deleted, 14, Visibility.PUBLIC).to_json())
    bytes_gone = await save_batch(admin, old_batch_id(2 * day), b"bytes deleted\n")
    fresh = await save_batch(admin, old_batch_id(60), b"fresh\n")  # its put_urls are still valid
    # Expired just under 1h ago: put_urls live an hour (TOOLTOOL_UPLOAD_URL_TTL) after the batch.
    recent = await save_batch(admin, old_batch_id(3600 + 1800), b"recent\n")
    # Its upload's staged bytes and pending record expired a day ago: this run removes them, then it.
    pending = await save_batch(admin, old_batch_id(2 * day), b"pending\n")
    await stage(admin, b"pending\n", pending.id, expires=time.time() - day)

    ran = await admin("gc", "--older-than", "1h")
    assert ran.status == 0, ran
    gone = {never.id, pending.id}
    for batch in (never, part_done, bytes_gone, fresh, recent, pending):
        assert (await admin.stores.home.head(batch_key(batch.id)) is None) == (batch.id in gone), batch.id
    assert f"removed {batch_key(never.id)}: none of its files ever arrived" in ran.out
    assert "removed 2 batch records of uploads never completed" in ran.out
    deletions = [record["doc"]["id"] for record in await admin.journal() if record["kind"] == "batch-deleted"]
    assert sorted(deletions) == sorted(gone)
    assert await admin.entry(stored) is not None


async def test_gc_keeps_a_batch_while_an_upload_of_it_is_left(admin: Admin) -> None:
    batch = await save_batch(admin, old_batch_id(30 * 86400), b"still staged\n")
    # Its pending record expired recently: kept by --older-than 7d, and so is the batch.
    await stage(admin, b"still staged\n", batch.id, expires=time.time() - 86400)
    ran = await admin("gc", "--older-than", "7d")
    assert ran.status == 0, ran
    assert await admin.stores.home.head(batch_key(batch.id)) is not None
    assert "removed 0 batch records" in ran.out


async def test_a_batch_gc_removed_leaves_the_search_catalog(admin: Admin) -> None:
    batch = await save_batch(admin, old_batch_id(2 * 86400), b"never searched\n")
    assert (await admin("gc", "--older-than", "1h")).status == 0
    index = FileIndex(admin.stores, ttl=0, maxsize=1)
    state = await Catalog(index).load()  # a replica starting now: batch record, then its deletion
    assert batch.id not in state.batches
    assert hashlib.sha512(b"never searched\n").hexdigest() not in state.files


async def test_gc_removes_replay_markers_older_than_an_hour(admin: Admin) -> None:
    now = int(time.time())
    stale = [replay_marker_key(now - 7200, "ab" * 32), replay_marker_key(now - 3700, "cd" * 32)]
    fresh = [replay_marker_key(now - 30, "ab" * 32), replay_marker_key(now - 600, "ef" * 32)]
    for key in [*stale, *fresh, "replay/not-a-marker"]:
        await admin.stores.home.write(key, b"")
    ran = await admin("gc", "--older-than", "7d")
    assert ran.status == 0, ran
    assert sorted(await admin.keys("replay/")) == sorted([*fresh, "replay/not-a-marker"])
    assert "removed 2 replay markers older than 1 hour" in ran.out


async def test_gc_dry_run_removes_no_batch_and_no_marker(admin: Admin) -> None:
    never = await save_batch(admin, old_batch_id(2 * 86400), b"dry never\n")
    await admin.stores.home.write(replay_marker_key(int(time.time()) - 7200, "ab" * 32), b"")
    before = await admin.snapshot()
    ran = await admin("gc", "--older-than", "1h", "--dry-run")
    assert ran.status == 0, ran
    assert f"would remove {batch_key(never.id)}" in ran.out
    assert "would remove 1 replay markers" in ran.out
    assert await admin.snapshot() == before


async def test_gc_refuses_a_malformed_duration(admin: Admin) -> None:
    assert_usage_error(await admin("gc", "--older-than", "7 weeks"), "is not a duration", "7d")
