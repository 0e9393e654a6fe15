"""`tooltool-proxy import-legacy` (proxy/commands/legacy.py): the legacy service's database export as index objects
and batch records."""

import hashlib
import json
from pathlib import Path
from typing import Any

from manifests import Batch, IndexEntry, Visibility
from proxy.keys import batch_key, index_key
from tests.support.admin import Admin, assert_usage_error

LEGACY_A = b"legacy a\n"
LEGACY_B = b"legacy b\n"
DIGEST_A = hashlib.sha512(LEGACY_A).hexdigest()
DIGEST_B = hashlib.sha512(LEGACY_B).hexdigest()


def legacy_export() -> dict[str, Any]:
    return {
        "files": [
            {"id": 1, "size": len(LEGACY_A), "sha512": DIGEST_A, "visibility": "public"},
            {"id": 2, "size": len(LEGACY_B), "sha512": DIGEST_B, "visibility": "internal"},
        ],
        "file_instances": [
            {"file_id": 1, "region": "us-east-1"},
            {"file_id": 1, "region": "us-west-2"},
            {"file_id": 2, "region": "us-east-1"},
        ],
        "batches": [
            {"id": 11, "uploaded": "2016-01-01T00:00:00+00:00", "author": "bob", "message": "Bug 2: again"},
            {"id": 10, "uploaded": "2015-03-01T10:00:00.5", "author": "alice", "message": "Bug 1: first"},
        ],
        "batch_files": [
            {"batch_id": 10, "file_id": 1, "filename": "a.tar.xz"},
            {"batch_id": 11, "file_id": 1, "filename": "a-renamed.tar.xz"},
            {"batch_id": 11, "file_id": 2, "filename": "b.bin"},
        ],
    }


def write_export(tmp_path: Path, doc: Any) -> str:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(doc))
    return str(path)


async def test_import_legacy_builds_index_objects_and_batch_records(admin: Admin, tmp_path: Path) -> None:
    ran = await admin("import-legacy", write_export(tmp_path, legacy_export()))
    assert ran.status == 0, ran
    assert "wrote 4 new and 0 changed documents" in ran.out

    a, b = await admin.entry(DIGEST_A), await admin.entry(DIGEST_B)
    assert a == IndexEntry(
        DIGEST_A,
        len(LEGACY_A),
        Visibility.PUBLIC,
        instances=("us-east-1", "us-west-2"),
        filenames=("a-renamed.tar.xz", "a.tar.xz"),
        uploaded="2015-03-01T10:00:00.500000Z",  # the earliest batch naming it
        author="alice",
    )
    assert b is not None
    assert (b.visibility, b.instances, b.filenames, b.author) == (
        Visibility.INTERNAL,
        ("us-east-1",),
        ("b.bin",),
        "bob",
    )
    batch = Batch.from_json((await admin.stores.home.read(batch_key(11))) or b"")
    assert (batch.uploaded, batch.author, batch.message) == ("2016-01-01T00:00:00.000000Z", "bob", "Bug 2: again")
    assert {f.filename: (f.digest, f.visibility) for f in batch.files} == {
        "a-renamed.tar.xz": (DIGEST_A, Visibility.PUBLIC),
        "b.bin": (DIGEST_B, Visibility.INTERNAL),
    }
    kinds = sorted(record["kind"] for record in await admin.journal())
    assert kinds == ["batch", "batch", "file", "file"]  # search learns of all of it


async def test_import_legacy_again_writes_nothing(admin: Admin, tmp_path: Path) -> None:
    export = write_export(tmp_path, legacy_export())
    assert (await admin("import-legacy", export)).status == 0
    before = await admin.snapshot()
    ran = await admin("import-legacy", export)
    assert ran.status == 0
    assert "wrote 0 new and 0 changed documents; 4 already up to date" in ran.out
    assert await admin.snapshot() == before


async def test_import_legacy_keeps_regions_and_filenames_the_store_added(admin: Admin, tmp_path: Path) -> None:
    await admin.seed(LEGACY_A, "public", regions=[admin.stores.default_region])
    ran = await admin("import-legacy", write_export(tmp_path, legacy_export()))
    assert ran.status == 0, ran
    entry = await admin.entry(DIGEST_A)
    assert entry is not None
    assert set(entry.instances) == {admin.stores.default_region, "us-east-1", "us-west-2"}
    assert set(entry.filenames) == {"f.bin", "a.tar.xz", "a-renamed.tar.xz"}


async def test_import_legacy_dry_run_changes_nothing(admin: Admin, tmp_path: Path) -> None:
    before = await admin.snapshot()
    ran = await admin("import-legacy", write_export(tmp_path, legacy_export()), "--dry-run")
    assert ran.status == 0
    assert f"would create {index_key(DIGEST_A)}" in ran.out
    assert f"would create {batch_key(10)}" in ran.out
    assert await admin.snapshot() == before


async def test_import_legacy_reports_every_bad_row_and_writes_nothing(admin: Admin, tmp_path: Path) -> None:
    export = legacy_export()
    export["files"].append({"id": 3, "size": "12", "sha512": "abc", "visibility": "public"})
    export["files"].append({"id": 4, "size": 1, "sha512": "d" * 128, "visibility": "secret"})
    export["files"].append({"id": 5, "size": 1, "sha512": DIGEST_A, "visibility": "public"})
    export["file_instances"].append({"file_id": 99, "region": "us-east-1"})
    export["batches"].append({"id": 12, "uploaded": "yesterday", "author": "eve", "message": "m"})
    export["batch_files"].append({"batch_id": 10, "file_id": 2, "filename": "dir/b.bin"})
    export["batch_files"].append("not a row")
    before = await admin.snapshot()
    ran = await admin("import-legacy", write_export(tmp_path, export))
    assert ran.status == 1
    lines = ran.out.splitlines()
    assert lines[:-1] == [
        "files[2] (id 3): 'size' must be an integer",
        "files[3] (id 4): visibility must be 'public' or 'internal'",
        f"files[4] (id 5): sha512 {DIGEST_A[:16]}… is also file id 1",
        "file_instances[3]: file_id 99 is not in 'files'",
        "batches[2] (id 12): 'uploaded' is not an ISO 8601 time: 'yesterday'",
        "batch_files[3]: invalid filename 'dir/b.bin': a bare file name is required",
        "batch_files[4]: must be a JSON object",
    ]
    assert lines[-1] == "import-legacy: 7 bad rows or conflicts; nothing was written"
    assert await admin.snapshot() == before


async def test_import_legacy_refuses_a_size_that_contradicts_the_store(admin: Admin, tmp_path: Path) -> None:
    entry = IndexEntry(DIGEST_A, 12345, Visibility.PUBLIC, instances=("x",))
    await admin.stores.home.write(index_key(DIGEST_A), entry.to_json())
    before = await admin.snapshot()
    ran = await admin("import-legacy", write_export(tmp_path, legacy_export()))
    assert ran.status == 1
    assert f"{index_key(DIGEST_A)}: size {len(LEGACY_A)} differs from the stored index object's 12345" in ran.out
    assert await admin.snapshot() == before


async def test_import_legacy_accepts_empty_tables_as_json_agg_writes_them(admin: Admin, tmp_path: Path) -> None:
    export = {"files": None, "file_instances": None, "batches": None, "batch_files": None}
    ran = await admin("import-legacy", write_export(tmp_path, export))
    assert ran.status == 0, ran
    assert "0 files, 0 batches" in ran.out


async def test_import_legacy_usage_errors_exit_2(admin: Admin, tmp_path: Path) -> None:
    not_json = tmp_path / "dump.sql"
    not_json.write_text("COPY tooltool_files ...")
    assert_usage_error(await admin("import-legacy", str(not_json)), "is not JSON", "README.md")
    assert_usage_error(
        await admin("import-legacy", write_export(tmp_path, {"files": []})), "needs the keys files, file_instances"
    )
    assert_usage_error(await admin("import-legacy", str(tmp_path / "nowhere.json")), "No such file")
