"""`tooltool-proxy import` (proxy/commands/import_cmds.py): local files stored as an upload would store them."""

import hashlib
import os
from pathlib import Path

from manifests import Batch, Visibility
from tests.support.admin import Admin, assert_usage_error
from tests.support.proxies import ProxyFactory


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
