"""The admin commands (issue 3 §4 and §5), run as `tooltool-proxy …` on both stores.

Commands run in-process through proxy.cli.main in a worker thread (each makes its own event
loop), with TOOLTOOL_* set by monkeypatch; the tests look at the store directly, behind the
commands' back. Progress on a terminal versus a log is checked in a subprocess.
"""

import asyncio
import fcntl
import hashlib
import io
import json
import os
import pty
import struct
import subprocess
import sys
import termios
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from manifests import Batch, IndexEntry, PendingUpload, UploadFile, Visibility
from proxy.admin.progress import Progress
from proxy.batches import BatchRecords
from proxy.catalog import Catalog
from proxy.cli import main
from proxy.config import load_config
from proxy.index import FileIndex
from proxy.journal import Journal
from proxy.keys import artifact_key, batch_key, index_key, pending_key, replay_marker_key, staging_key, verifying_key
from proxy.storage.local import LocalStore
from proxy.stores import Stores, open_stores
from tests.support import BUCKET, ProxyFactory

WEST_BUCKET = "tooltool-west"


@dataclass
class Ran:
    status: int
    out: str
    err: str


def _main(args: list[str]) -> int:
    try:
        return main(args)
    except SystemExit as exc:  # argparse: --help and usage errors
        return int(exc.code or 0)


class Admin:
    """`tooltool-proxy` in this process, and the stores it works on."""

    def __init__(self, capsys: pytest.CaptureFixture[str], stores: Stores) -> None:
        self.capsys = capsys
        self.stores = stores

    async def __call__(self, *args: str) -> Ran:
        self.capsys.readouterr()
        status = await asyncio.to_thread(_main, list(args))
        captured = self.capsys.readouterr()
        return Ran(status, captured.out, captured.err)

    async def snapshot(self) -> dict[str, str]:
        """Every key of every store with its ETag: equal before and after means nothing changed."""
        seen: dict[str, str] = {}
        for name, store in [("home", self.stores.home), *self.stores.regions.items()]:
            async for key in store.list_keys(""):
                info = await store.head(key)
                if info is not None:
                    seen[f"{name}:{key}"] = info.etag
        return seen

    async def keys(self, prefix: str, region: str | None = None) -> list[str]:
        store = self.stores.home if region is None else self.stores.regions[region]
        return [key async for key in store.list_keys(prefix)]

    async def seed(
        self,
        data: bytes,
        visibility: str = "public",
        regions: Iterable[str] | None = None,
        indexed: bool = True,
    ) -> str:
        """Bytes in `regions` (default: the default region) and, if `indexed`, their index object."""
        digest = hashlib.sha512(data).hexdigest()
        held = tuple(regions) if regions is not None else (self.stores.default_region,)
        for region in held:
            await self.stores.regions[region].write(artifact_key(digest), data, "application/octet-stream")
        if indexed:
            entry = IndexEntry(digest, len(data), Visibility(visibility), instances=held, filenames=("f.bin",))
            await self.stores.home.write(index_key(digest), entry.to_json())
        return digest

    async def entry(self, digest: str) -> IndexEntry | None:
        data = await self.stores.home.read(index_key(digest))
        return None if data is None else IndexEntry.from_json(data, digest)

    async def journal(self) -> list[dict[str, Any]]:
        records = []
        for key in await self.keys("journal/"):
            data = await self.stores.home.read(key)
            assert data is not None
            records.append(json.loads(data))
        return records


def set_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name in list(os.environ):
        if name.startswith("TOOLTOOL_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def make_local_dirs(env: dict[str, str]) -> None:
    for value in (env.get("TOOLTOOL_STORE", ""), *env.get("TOOLTOOL_REGIONS", "").split(";")):
        where = value.partition("file://")[2]
        if where:
            Path(where).mkdir(parents=True, exist_ok=True)


@pytest.fixture
def env(store_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    make_local_dirs(store_env)
    set_env(monkeypatch, store_env)
    return store_env


@pytest.fixture
def regions_env(
    store_kind: str, store_env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> dict[str, str]:
    """Two regions, `east` and `west`, each with its own artifact store."""
    if store_kind == "local":
        regions = f"east:file://{tmp_path / 'east'};west:file://{tmp_path / 'west'}"
    else:
        request.getfixturevalue("s3_client").create_bucket(Bucket=WEST_BUCKET)
        regions = f"east:{BUCKET};west:{WEST_BUCKET}"
    return {**store_env, "TOOLTOOL_REGIONS": regions}


async def open_admin(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> AsyncIterator[Admin]:
    make_local_dirs(env)
    set_env(monkeypatch, env)
    stores = await open_stores(load_config(env))
    try:
        yield Admin(capsys, stores)
    finally:
        await stores.close()


@pytest.fixture
async def admin(
    store_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> AsyncIterator[Admin]:
    async for opened in open_admin(store_env, monkeypatch, capsys):
        yield opened


@pytest.fixture
async def regional(
    regions_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> AsyncIterator[Admin]:
    async for opened in open_admin(regions_env, monkeypatch, capsys):
        yield opened


def assert_usage_error(ran: Ran, *words: str) -> None:
    """Exit 2 with exactly one line `tooltool-proxy: error: …` naming what to fix."""
    assert ran.status == 2, ran
    lines = ran.err.strip().splitlines()
    assert len(lines) == 1, ran.err
    assert lines[0].startswith("tooltool-proxy: error: ")
    for word in words:
        assert word in lines[0]


# --- --help -------------------------------------------------------------------------------

COMMANDS = [
    ["index", "show"],
    ["index", "set-visibility"],
    ["index", "delete"],
    ["index", "lint"],
    ["import"],
    ["import-legacy"],
    ["verify"],
    ["gc"],
    ["replicate"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_admin_command_has_help_with_its_exit_status(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: tooltool-proxy {' '.join(command)}")
    assert "exit status:" in out
    assert "2  usage or configuration error" in out
    if command[-1] in ("set-visibility", "delete", "import-legacy", "gc", "replicate"):
        assert "--dry-run" in out


# --- index show ---------------------------------------------------------------------------


async def test_index_show_prints_the_index_object_as_stored(admin: Admin) -> None:
    digest = await admin.seed(b"shown\n")
    ran = await admin("index", "show", digest)
    assert ran.status == 0
    assert ran.out.encode() == await admin.stores.home.read(index_key(digest))
    assert ran.err == ""


async def test_index_show_notes_that_bytes_without_index_object_are_internal(admin: Admin) -> None:
    digest = await admin.seed(b"no index\n", indexed=False)
    ran = await admin("index", "show", digest)
    assert ran.status == 0
    shown = json.loads(ran.out)
    assert (shown["digest"], shown["visibility"], shown["size"]) == (digest, "internal", len(b"no index\n"))
    assert "note: index/sha512/" in ran.err
    assert "does not exist; the bytes are served as internal" in ran.err


async def test_index_show_notes_an_invalid_index_object(admin: Admin) -> None:
    digest = await admin.seed(b"bad index\n")
    await admin.stores.home.write(index_key(digest), b'{"digest": "%s", "size": -1}' % digest.encode())
    ran = await admin("index", "show", digest)
    assert ran.status == 0
    assert '"size": -1' in ran.out
    assert "is invalid (index entry: 'size' is out of range); the file is served as internal" in ran.err


async def test_index_show_of_an_unknown_file_exits_1(admin: Admin) -> None:
    ran = await admin("index", "show", "0" * 128)
    assert ran.status == 1
    assert "no such file" in ran.err


async def test_index_commands_refuse_a_malformed_digest_with_exit_2(admin: Admin) -> None:
    for args in (["show"], ["set-visibility", "--dry-run"], ["delete", "--dry-run"]):
        extra = ["public"] if args[0] == "set-visibility" else []
        ran = await admin("index", args[0], "ABC", *extra, *args[1:])
        assert_usage_error(ran, "'ABC' is not a sha512 digest")


# --- index set-visibility -----------------------------------------------------------------


async def test_set_visibility_rewrites_the_entry_and_journals_it(admin: Admin) -> None:
    digest = await admin.seed(b"to hide\n", "public")
    ran = await admin("index", "set-visibility", digest, "internal")
    assert ran.status == 0, ran
    entry = await admin.entry(digest)
    assert entry is not None
    assert entry.visibility == Visibility.INTERNAL
    assert entry.filenames == ("f.bin",)  # the rest of the entry is kept
    [record] = await admin.journal()
    assert record["kind"] == "file"
    assert (record["doc"]["digest"], record["doc"]["visibility"]) == (digest, "internal")


async def test_set_visibility_creates_the_index_object_for_bytes_without_one(admin: Admin) -> None:
    digest = await admin.seed(b"unindexed\n", indexed=False)
    ran = await admin("index", "set-visibility", digest, "public")
    assert ran.status == 0, ran
    assert "creating its index object" in ran.out
    entry = await admin.entry(digest)
    assert entry is not None
    assert (entry.visibility, entry.size, entry.instances) == (Visibility.PUBLIC, 10, (admin.stores.default_region,))


async def test_set_visibility_dry_run_changes_nothing(admin: Admin) -> None:
    digest = await admin.seed(b"stay public\n", "public")
    before = await admin.snapshot()
    ran = await admin("index", "set-visibility", digest, "internal", "--dry-run")
    assert ran.status == 0
    assert "would set visibility" in ran.out
    assert await admin.snapshot() == before


async def test_set_visibility_to_the_same_value_writes_nothing(admin: Admin) -> None:
    digest = await admin.seed(b"already\n", "internal")
    before = await admin.snapshot()
    ran = await admin("index", "set-visibility", digest, "internal")
    assert ran.status == 0
    assert "already internal" in ran.out
    assert await admin.snapshot() == before


async def test_set_visibility_of_an_unknown_file_exits_1(admin: Admin) -> None:
    ran = await admin("index", "set-visibility", "1" * 128, "public")
    assert ran.status == 1
    assert await admin.keys("index/") == []


# --- index delete -------------------------------------------------------------------------


async def test_index_delete_removes_the_bytes_in_every_region_and_the_index_object(regional: Admin) -> None:
    digest = await regional.seed(b"doomed\n", regions=["east", "west"])
    ran = await regional("index", "delete", digest)
    assert ran.status == 0, ran
    for region in ("east", "west"):
        assert await regional.stores.regions[region].head(artifact_key(digest)) is None
    assert await regional.stores.home.read(index_key(digest)) is None
    [record] = await regional.journal()
    assert record["kind"] == "file"
    assert (record["doc"]["digest"], record["doc"]["instances"]) == (digest, [])
    assert IndexEntry.from_json(json.dumps(record["doc"]).encode(), digest).instances == ()


async def test_index_delete_dry_run_changes_nothing(regional: Admin) -> None:
    digest = await regional.seed(b"kept\n", regions=["east", "west"])
    before = await regional.snapshot()
    ran = await regional("index", "delete", digest, "--dry-run")
    assert ran.status == 0
    assert ran.out.count("would delete") == 3  # two regions' bytes and the index object
    assert await regional.snapshot() == before


async def test_index_delete_of_an_unknown_file_exits_1(admin: Admin) -> None:
    ran = await admin("index", "delete", "2" * 128)
    assert ran.status == 1
    assert await admin.journal() == []


# --- index lint ---------------------------------------------------------------------------


async def test_index_lint_of_a_consistent_store_exits_0(admin: Admin) -> None:
    await admin.seed(b"one\n")
    await admin.seed(b"two\n", "internal")
    ran = await admin("index", "lint")
    assert ran.status == 0, ran
    assert "2 index objects, 2 stored files, 0 problems" in ran.out


async def test_index_lint_reports_every_kind_of_problem(admin: Admin) -> None:
    fine = await admin.seed(b"fine\n")
    not_json = await admin.seed(b"not json\n")
    await admin.stores.home.write(index_key(not_json), b"{oops")
    wrong_digest = await admin.seed(b"wrong digest\n")
    await admin.stores.home.write(index_key(wrong_digest), (await admin.stores.home.read(index_key(fine))) or b"")
    no_bytes = hashlib.sha512(b"no bytes\n").hexdigest()
    entry = IndexEntry(no_bytes, 9, Visibility.PUBLIC, instances=(admin.stores.default_region,))
    await admin.stores.home.write(index_key(no_bytes), entry.to_json())
    unindexed = await admin.seed(b"unindexed\n", indexed=False)
    await admin.stores.home.write("index/sha512/not-a-digest.json", b"{}")

    ran = await admin("index", "lint")
    assert ran.status == 1
    problems = dict(line.split(": ", 1) for line in ran.out.splitlines()[:-1])
    assert problems[index_key(not_json)].startswith("invalid (not valid JSON")
    assert problems[index_key(wrong_digest)] == (
        "invalid (index entry: 'digest' does not match the object's key); the file is served as internal"
    )
    assert problems[index_key(no_bytes)].endswith("but no region holds its bytes")
    assert problems[artifact_key(unindexed)].endswith("have no index object; served as internal")
    assert problems["index/sha512/not-a-digest.json"].startswith("not an index object name")
    assert index_key(fine) not in problems
    assert ran.out.splitlines()[-1].endswith("5 problems")


# --- import -------------------------------------------------------------------------------


async def test_import_stores_files_as_an_upload_would(admin: Admin, tmp_path: Path, make_proxy: ProxyFactory) -> None:
    first, second = tmp_path / "gcc.tar.xz", tmp_path / "notes.txt"
    first.write_bytes(os.urandom(300_000))
    second.write_bytes(b"notes\n")
    ran = await admin("import", str(first), str(second), "--visibility", "public", "--message", "Bug 9: toolchain")
    assert ran.status == 0, ran
    assert "2 stored" in ran.out

    [batch_name] = await admin.keys("batches/")
    batch = Batch.from_json((await admin.stores.home.read(batch_name)) or b"")
    assert (batch.author, batch.message) == ("admin", "Bug 9: toolchain")
    assert sorted(f.filename for f in batch.files) == ["gcc.tar.xz", "notes.txt"]
    for path in (first, second):
        digest = hashlib.sha512(path.read_bytes()).hexdigest()
        entry = await admin.entry(digest)
        assert entry is not None
        assert (entry.visibility, entry.size, entry.filenames, entry.author) == (
            Visibility.PUBLIC,
            path.stat().st_size,
            (path.name,),
            "admin",
        )
        assert entry.instances == (admin.stores.default_region,)
    assert await admin.keys("uploads/") == []  # nothing left staged

    # A proxy on the same store serves the imported file to anonymous callers.
    proxy = await make_proxy()
    digest = hashlib.sha512(second.read_bytes()).hexdigest()
    response = await proxy.request("GET", f"/sha512/{digest}")
    assert response.status in (200, 302)


async def test_import_skips_files_already_stored(admin: Admin, tmp_path: Path) -> None:
    path = tmp_path / "same.bin"
    path.write_bytes(b"same bytes\n")
    assert (await admin("import", str(path), "--visibility", "internal", "--message", "m")).status == 0
    before = await admin.snapshot()
    ran = await admin("import", str(path), "--visibility", "internal", "--message", "again", "--author", "ops")
    assert ran.status == 0
    assert "skipped same.bin: already stored" in ran.out
    assert await admin.snapshot() == before  # no second batch, no write


async def test_import_refuses_a_file_stored_with_another_visibility(admin: Admin, tmp_path: Path) -> None:
    path = tmp_path / "public.bin"
    path.write_bytes(b"already public\n")
    await admin.seed(path.read_bytes(), "public")
    other = tmp_path / "other.bin"
    other.write_bytes(b"new internal\n")
    ran = await admin("import", str(path), str(other), "--visibility", "internal", "--message", "m")
    assert ran.status == 1
    assert "failed public.bin: already stored as public" in ran.out
    assert "1 stored" in ran.out  # the other file still went in
    assert await admin.entry(hashlib.sha512(other.read_bytes()).hexdigest()) is not None


async def test_import_usage_errors_exit_2(admin: Admin, tmp_path: Path) -> None:
    assert_usage_error(
        await admin("import", str(tmp_path / "missing"), "--visibility", "public", "--message", "m"),
        "is not a file",
    )
    path = tmp_path / "x.bin"
    path.write_bytes(b"x")
    assert_usage_error(await admin("import", str(path), "--visibility", "public", "--message", " "), "--message")
    ran = await admin("import", str(path), "--visibility", "secret", "--message", "m")
    assert ran.status == 2
    assert "invalid choice: 'secret'" in ran.err
    assert await admin.keys("") == []


# --- import-legacy ------------------------------------------------------------------------

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


# --- verify -------------------------------------------------------------------------------


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


# --- gc -----------------------------------------------------------------------------------


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


# --- replicate ----------------------------------------------------------------------------


async def test_replicate_copies_each_file_where_it_is_missing(regional: Admin) -> None:
    east_only = await regional.seed(b"east only\n", regions=["east"])
    west_only = await regional.seed(b"west only\n", "internal", regions=["west"])
    everywhere = await regional.seed(b"everywhere\n", regions=["east", "west"])
    ran = await regional("replicate")
    assert ran.status == 0, ran
    assert "copied 2 (20 B), 0 failures" in ran.out
    for digest, data in ((east_only, b"east only\n"), (west_only, b"west only\n"), (everywhere, b"everywhere\n")):
        for region in ("east", "west"):
            assert await regional.stores.regions[region].read(artifact_key(digest)) == data
        entry = await regional.entry(digest)
        assert entry is not None
        assert entry.instances == ("east", "west")
    assert await regional.keys("uploads/", "east") == await regional.keys("uploads/", "west") == []

    before = await regional.snapshot()
    again = await regional("replicate")
    assert again.status == 0
    assert "copied 0 (0 B)" in again.out
    assert await regional.snapshot() == before


async def test_replicate_to_one_region_only(regional: Admin) -> None:
    digest = await regional.seed(b"west bound\n", regions=["east"])
    ran = await regional("replicate", "--region", "east")
    assert ran.status == 0
    assert await regional.stores.regions["west"].head(artifact_key(digest)) is None
    assert (await regional("replicate", "--region", "west")).status == 0
    assert await regional.stores.regions["west"].read(artifact_key(digest)) == b"west bound\n"


async def test_replicate_dry_run_changes_nothing(regional: Admin) -> None:
    digest = await regional.seed(b"stay east\n", regions=["east"])
    before = await regional.snapshot()
    ran = await regional("replicate", "--dry-run")
    assert ran.status == 0
    assert f"would copy {artifact_key(digest)} from east to west" in ran.out
    assert await regional.snapshot() == before


async def test_replicate_refuses_bytes_that_do_not_hash_to_their_name(regional: Admin) -> None:
    digest = await regional.seed(b"original\n", regions=["east"])
    await regional.stores.regions["east"].write(artifact_key(digest), b"tampered\n")
    ran = await regional("replicate")
    assert ran.status == 1
    assert "do not hash to their name; not copied to west" in ran.out
    assert await regional.keys("", "west") == []  # not even a private copy stays behind
    entry = await regional.entry(digest)
    assert entry is not None
    assert entry.instances == ("east",)


async def test_replicate_with_one_region_has_nothing_to_do(admin: Admin) -> None:
    await admin.seed(b"alone\n")
    ran = await admin("replicate")
    assert ran.status == 0
    assert "only one region is configured" in ran.out


async def test_replicate_to_an_unknown_region_exits_2(regional: Admin) -> None:
    assert_usage_error(await regional("replicate", "--region", "mars"), "use one of: east, west")


# --- tags mode ----------------------------------------------------------------------------


@pytest.fixture
async def tagged(
    regions_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> AsyncIterator[Admin]:
    async for opened in open_admin({**regions_env, "TOOLTOOL_INDEX": "tags"}, monkeypatch, capsys):
        yield opened


async def test_in_tags_mode_replicate_copies_the_visibility_tag(tagged: Admin) -> None:
    digest = await tagged.seed(b"tagged\n", "internal", regions=["east"])
    await tagged.stores.regions["east"].put_tags(artifact_key(digest), {"visibility": "public"})
    ran = await tagged("replicate")
    assert ran.status == 0, ran
    assert await tagged.stores.regions["west"].get_tags(artifact_key(digest)) == {"visibility": "public"}


async def test_in_tags_mode_set_visibility_rewrites_the_tag_everywhere(tagged: Admin) -> None:
    digest = await tagged.seed(b"tagged\n", "public", regions=["east", "west"])
    for region in ("east", "west"):
        await tagged.stores.regions[region].put_tags(artifact_key(digest), {"visibility": "public", "team": "a"})
    ran = await tagged("index", "set-visibility", digest, "internal")
    assert ran.status == 0, ran
    for region in ("east", "west"):
        tags = await tagged.stores.regions[region].get_tags(artifact_key(digest))
        assert tags == {"visibility": "internal", "team": "a"}


# --- configuration errors -----------------------------------------------------------------


def test_a_missing_local_store_directory_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    set_env(monkeypatch, {"TOOLTOOL_STORE": f"file://{tmp_path / 'typo'}"})
    assert _main(["index", "lint"]) == 2
    assert capsys.readouterr().err.startswith("tooltool-proxy: error: TOOLTOOL_STORE: the directory")
    assert not (tmp_path / "typo").exists()


def test_a_missing_bucket_exits_2(
    moto_endpoint: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    set_env(monkeypatch, {"TOOLTOOL_STORE": "s3://no-such-bucket/", "TOOLTOOL_S3_ENDPOINT_URL": moto_endpoint})
    assert _main(["verify"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tooltool-proxy: error: the home store does not answer")
    assert "TOOLTOOL_STORE" in err


# --- progress -----------------------------------------------------------------------------


def test_progress_without_a_terminal_logs_a_line_per_interval_and_one_at_the_end() -> None:
    stream = io.StringIO()
    now = [0.0]
    with Progress("verify", 4, unit="object", stream=stream, interval=10, clock=lambda: now[0]) as progress:
        progress.advance(1, 1024)
        now[0] = 11
        progress.advance(1, 1024)  # 11 s since the last line: one more
        now[0] = 12
        progress.advance(1, 1024)  # 1 s: none
    assert stream.getvalue().splitlines() == [
        "verify: 2/4 objects, 2.0 KiB (50%)",
        "verify: 3/4 objects, 3.0 KiB (75%)",
    ]


def run_lint_subprocess(store: Path, stderr_is_terminal: bool) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLTOOL_")}
    env["TOOLTOOL_STORE"] = f"file://{store}"
    command = [sys.executable, "-m", "proxy", "index", "lint"]
    if not stderr_is_terminal:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        return done.stderr
    leader, follower = pty.openpty()
    # A terminal of 24 rows and 100 columns (a fresh pty has no size, and tqdm draws nothing).
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        process = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=follower, timeout=60, check=False)
        assert process.returncode == 0
        os.close(follower)
        follower = -1
        output = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO once the terminal's other side is closed and drained
                break
            if not chunk:
                break
            output += chunk
        return output.decode()
    finally:
        os.close(leader)
        if follower != -1:
            os.close(follower)


def test_progress_is_a_bar_on_a_terminal_and_log_lines_otherwise(tmp_path: Path) -> None:
    store = tmp_path / "data"
    digest = hashlib.sha512(b"one\n").hexdigest()
    entry = IndexEntry(digest, 4, Visibility.PUBLIC, instances=("local",))

    async def seed() -> None:
        local = LocalStore(store)
        await local.write(artifact_key(digest), b"one\n")
        await local.write(index_key(digest), entry.to_json())

    asyncio.run(seed())
    on_terminal = run_lint_subprocess(store, stderr_is_terminal=True)
    assert "index lint: 100%|" in on_terminal
    assert "1/1" in on_terminal
    in_a_log = run_lint_subprocess(store, stderr_is_terminal=False)
    assert in_a_log == "index lint: 1/1 objects (100%)\n"
