"""The clients file on its own (proxy/clients.py): re-read when it changes, the last good version kept while
it does not parse. What a running proxy makes of it: tests/http/test_auth.py."""

import os
from pathlib import Path

import pytest

from proxy import clients as clients_module
from proxy.clients import Client, ClientsFile, add_client, write_private_json


@pytest.fixture
def instant_recheck(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clients_module, "RECHECK_SECONDS", 0.0)


@pytest.mark.usefixtures("instant_recheck")
@pytest.mark.parametrize(
    "broken",
    [
        b'{"clients": [{"clientId": "admin", "accessT',
        b"\xff\xfe not even UTF-8",
        b'{"clients": 5}',
        b'{"clients": null}',
        b'{"clients": [{"clientId": "admin"}]}',
        b"[]",
    ],
    ids=["truncated", "not-utf8", "clients-not-a-list", "clients-null", "client-without-token", "not-an-object"],
)
def test_clients_file_keeps_the_last_good_version_until_fixed(tmp_path: Path, broken: bytes) -> None:
    path = tmp_path / "clients.json"
    good = add_client(path, "first", ["s"])
    clients = ClientsFile(path)
    path.write_bytes(broken)
    assert clients.client("first") == good
    write_private_json(path, {"clients": [{"clientId": "second", "accessToken": "second-token", "scopes": ["t"]}]})
    assert clients.client("second") == Client("second", "second-token", ("t",))
    assert clients.client("first") is None


@pytest.mark.usefixtures("instant_recheck")
def test_clients_file_replaced_within_the_same_mtime_is_reread(tmp_path: Path) -> None:
    path = tmp_path / "clients.json"
    add_client(path, "first", ["s"])
    clients = ClientsFile(path)
    before = path.stat()
    added = add_client(path, "second", ["t"])
    # Filesystem timestamps are coarse: a replacement may keep the very same mtime.
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert clients.client("second") == added
