"""The admin context: commands report invalid and missing index objects themselves, so the index they
use logs none of them, while the server's index keeps warning its log."""

import asyncio
import hashlib
import logging
from pathlib import Path

import pytest

from proxy.cli import main
from proxy.config import load_config
from proxy.index import FileIndex
from proxy.keys import artifact_key, index_key
from proxy.storage.local import LocalStore
from proxy.stores import open_stores

INVALID_ENTRY = b'{"digest": "%s", "size": -1}'


def seed(root: Path, data: bytes, index_object: bytes | None) -> str:
    """Bytes at their key in a local store at root and, unless None, `index_object` as their index object."""
    digest = hashlib.sha512(data).hexdigest()

    async def write() -> None:
        store = LocalStore(str(root))
        await store.write(artifact_key(digest), data)
        if index_object is not None:
            await store.write(index_key(digest), index_object % digest.encode())

    asyncio.run(write())
    return digest


@pytest.mark.parametrize(
    ("index_object", "note"),
    [(INVALID_ENTRY, "is invalid"), (None, "does not exist; the bytes are served as internal")],
    ids=["invalid", "missing"],
)
def test_an_admin_command_reports_the_index_object_and_the_index_logs_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    index_object: bytes | None,
    note: str,
) -> None:
    digest = seed(tmp_path, b"hand-edited\n", index_object)
    monkeypatch.setenv("TOOLTOOL_STORE", f"file://{tmp_path}")
    with caplog.at_level(logging.DEBUG, logger="tooltool.index"):
        assert main(["index", "show", digest]) == 0
    assert note in capsys.readouterr().err
    assert [record for record in caplog.records if record.name == "tooltool.index"] == []
    assert logging.getLogger("tooltool.index").level == logging.NOTSET  # nobody changed the logger's level


async def test_the_servers_index_still_warns_of_an_invalid_index_object(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    digest = await asyncio.to_thread(seed, tmp_path, b"hand-edited\n", INVALID_ENTRY)
    stores = await open_stores(load_config({"TOOLTOOL_STORE": f"file://{tmp_path}"}))
    try:
        with caplog.at_level(logging.WARNING, logger="tooltool.index"):
            entry = await FileIndex(stores, ttl=0.0, maxsize=1).lookup(digest)
    finally:
        await stores.close()
    assert entry is not None
    assert entry.visibility.value == "internal"
    assert [record.getMessage() for record in caplog.records if record.name == "tooltool.index"] == [
        "invalid index object; serving the file as internal",
        "artifact has no valid index object; serving it as internal",
    ]
