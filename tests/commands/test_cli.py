"""The operator interface: `tooltool-proxy serve` on the embedded default, `clients add`, `check`.

These run the real command in a subprocess, as a newcomer would, and talk to it over HTTP with
a client that behaves as tooltool.py does on the wire (tests/support/tooltool_client.py).
"""

import json
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import tooltool_client
from tests.support.cli import clean_env, run_cli
from tests.support.net import free_port
from tests.support.serve import ServeProcess


@dataclass
class Served:
    url: str
    cwd: Path
    stderr: str

    @property
    def data(self) -> Path:
        return self.cwd / "tooltool-data"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """`tooltool-proxy serve` with no configuration at all, in an empty directory."""
    stderr = tmp_path / "serve.err"
    with ServeProcess({}, tmp_path / "serve.log", cwd=tmp_path, public_url=False, stderr_path=stderr) as process:
        # The banner is printed (line-buffered) before the server listens, so it is there once it answers.
        banner = "".join(stderr.read_text().splitlines(keepends=True)[:4])
        yield Served(url=f"{process.url}/", cwd=tmp_path, stderr=banner)


def test_serve_creates_admin_client_and_prints_how_to_use_it(served: Served) -> None:
    auth = json.loads((served.data / "admin-auth.json").read_text())
    clients = json.loads((served.data / "clients.json").read_text())
    assert auth["clientId"] == "admin"
    assert auth["accessToken"]
    [admin] = clients["clients"]
    assert admin["accessToken"] == auth["accessToken"]
    assert sorted(admin["scopes"]) == sorted(
        f"project:releng:services/tooltool/api/{a}"
        for a in ("download/public", "download/internal", "upload/public", "upload/internal", "manage")
    )
    assert (served.data / "admin-auth.json").stat().st_mode & 0o077 == 0
    assert "admin-auth.json" in served.stderr
    assert "clients.json" in served.stderr
    assert "tooltool.py --url" in served.stderr


def test_embedded_default_round_trips_public_and_internal_files(served: Served, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    public, internal = work / "gcc.tar.xz", work / "secret.bin"
    public.write_bytes(os.urandom(200_000))
    internal.write_bytes(b"internal bytes\n" * 100)
    auth_file = served.data / "admin-auth.json"

    batch = tooltool_client.upload(
        served.url, auth_file, {public: "public", internal: "internal"}, "Bug 1: first upload"
    )
    assert batch["author"] == "admin"
    assert all("put_url" in f for f in batch["files"].values())

    fetched = tmp_path / "fetched"
    fetched.mkdir()
    for path, visibility in ((public, "public"), (internal, "internal")):
        record = tooltool_client.file_record(path, visibility)
        tooltool_client.fetch(served.url, record, fetched / path.name, auth_file)
        assert (fetched / path.name).read_bytes() == path.read_bytes()

    # Anonymous: the public file comes, the internal one is refused.
    tooltool_client.fetch(served.url, tooltool_client.file_record(public, "public"), fetched / "anon-public")
    with pytest.raises(urllib.error.HTTPError) as refused:
        tooltool_client.fetch(served.url, tooltool_client.file_record(internal, "internal"), fetched / "anon")
    assert refused.value.code == 403
    refused.value.close()

    # Uploading the same files again hands out no put_url.
    again = tooltool_client.upload(served.url, auth_file, {public: "public"}, "Bug 1: again")
    assert "put_url" not in again["files"]["gcc.tar.xz"]


def test_clients_add_creates_working_credentials_without_restart(served: Served, tmp_path: Path) -> None:
    auth_file = tmp_path / "reader-auth.json"
    result = run_cli(
        "clients",
        "add",
        "reader",
        "--scope",
        "project:releng:services/tooltool/api/download/internal",
        "--auth-file",
        str(auth_file),
        cwd=served.cwd,
    )
    assert result.returncode == 0, result.stderr
    internal = tmp_path / "internal.bin"
    internal.write_bytes(b"for readers only")
    tooltool_client.upload(served.url, served.data / "admin-auth.json", {internal: "internal"}, "Bug 2: x")
    record = tooltool_client.file_record(internal, "internal")
    tooltool_client.fetch(served.url, record, tmp_path / "got", auth_file)
    assert (tmp_path / "got").read_bytes() == b"for readers only"


def test_bearer_token_file_works_as_tooltool_auth_file(served: Served, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    result = run_cli(
        "clients",
        "add-token",
        "ci",
        "--scope",
        "project:releng:services/tooltool/api/download/internal",
        "--token-file",
        str(token_file),
        cwd=served.cwd,
    )
    assert result.returncode == 0, result.stderr
    stored = (served.data / "clients.json").read_text()
    assert token_file.read_text().strip() not in stored  # only its digest is kept
    internal = tmp_path / "internal.bin"
    internal.write_bytes(b"ci only")
    tooltool_client.upload(served.url, served.data / "admin-auth.json", {internal: "internal"}, "Bug 3: x")
    tooltool_client.fetch(served.url, tooltool_client.file_record(internal, "internal"), tmp_path / "got", token_file)
    assert (tmp_path / "got").read_bytes() == b"ci only"


def test_check_passes_on_a_healthy_server_and_fails_when_internal_is_readable(served: Served, tmp_path: Path) -> None:
    public, internal = tmp_path / "p.bin", tmp_path / "i.bin"
    public.write_bytes(b"public")
    internal.write_bytes(b"internal")
    auth_file = served.data / "admin-auth.json"
    tooltool_client.upload(served.url, auth_file, {public: "public", internal: "internal"}, "Bug 4: x")
    public_digest = tooltool_client.file_record(public, "public")["digest"]
    internal_digest = tooltool_client.file_record(internal, "internal")["digest"]

    good = run_cli("check", served.url, "--public", public_digest, "--internal", internal_digest)
    assert good.returncode == 0, good.stdout
    assert "4 passed, 0 failed" in good.stdout

    # Claiming the public file is internal must fail the 403 step, and the exit status says so.
    bad = run_cli("check", served.url, "--public", public_digest, "--internal", public_digest)
    assert bad.returncode == 1
    assert "FAIL  known internal digest is protected (403)" in bad.stdout


def test_check_exits_nonzero_when_nothing_answers() -> None:
    digest = "a" * 128
    result = run_cli("check", f"http://127.0.0.1:{free_port()}", "--public", digest, "--internal", digest)
    assert result.returncode == 1
    assert "0 passed, 4 failed" in result.stdout


def test_check_refuses_a_malformed_digest_argument() -> None:
    result = run_cli("check", "http://127.0.0.1:1", "--public", "nope", "--internal", "a" * 128)
    assert result.returncode == 2
    assert "128 lower-case hex" in result.stderr


@pytest.mark.parametrize(
    "command",
    [[], ["serve"], ["clients"], ["clients", "add"], ["clients", "add-token"], ["check"]],
    ids=lambda c: " ".join(c) or "top",
)
def test_every_command_has_help(command: list[str]) -> None:
    result = run_cli(*command, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: tooltool-proxy")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TOOLTOOL_DOWNLOAD", "sideways"),
        ("TOOLTOOL_STORE", "ftp://example/x"),
        ("TOOLTOOL_CACHE_TTL", "soon"),
        ("TOOLTOOL_TASKCLUSTER_ROOT_URL", "not a url"),
        ("TOOLTOOL_INDEX", "sql"),
    ],
)
def test_bad_configuration_stops_start_up_with_one_line(tmp_path: Path, variable: str, value: str) -> None:
    env = clean_env()
    env[variable] = value
    result = run_cli("serve", "--port", str(free_port()), cwd=tmp_path, env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tooltool-proxy: error: ")
    assert variable in lines[0]
    assert not (tmp_path / "tooltool-data").exists() or variable != "TOOLTOOL_STORE"


def test_malformed_clients_file_stops_start_up_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "tooltool-data").mkdir()
    (tmp_path / "tooltool-data" / "clients.json").write_text("{not json")
    result = run_cli("serve", "--port", str(free_port()), cwd=tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "clients.json" in result.stderr


def test_requests_the_parser_refuses_leave_no_secret_in_the_logs(tmp_path: Path) -> None:
    # aiohttp refuses over-long lines before the application runs, and logs the offending text.
    server = ServeProcess(
        {}, tmp_path / "serve.log", cwd=tmp_path, public_url=False, stderr_path=tmp_path / "serve.err"
    )
    with server:
        for raw in (
            b"GET /sha512/x?token=QUERY-SECRET" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /sha512/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer HEADER-SECRET" + b"b" * 9000 + b"\r\n\r\n",
        ):
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
                connection.sendall(raw)
                assert connection.recv(100).startswith(b"HTTP/1.")
    text = server.log_path.read_text()
    assert "refused a request the HTTP parser could not read (LineTooLong" in text
    assert "QUERY-SECRET" not in text
    assert "HEADER-SECRET" not in text
