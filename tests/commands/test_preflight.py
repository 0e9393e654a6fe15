"""Start-up checks of `serve` (proxy/preflight.py): a deployment mistake stops start-up with one line saying the fix.

The container tests (tests/container) run the same checks inside the image; these run without Docker.
"""

import errno
from pathlib import Path

import pytest

from proxy import preflight
from proxy.config import ConfigError, load_config
from tests.support.cli import clean_env, run_cli
from tests.support.net import free_port

EVERY_IPV4 = "0.0.0.0"  # noqa: S104 - never bound: start-up refuses first


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("tooltool-proxy: error: ")
    return lines[0]


@pytest.mark.parametrize("host", [EVERY_IPV4, "::"])
def test_every_interface_without_public_url_is_refused_before_the_store_is_touched(tmp_path: Path, host: str) -> None:
    # A store below a regular file cannot be made: were the refusal missing, start-up would still stop (with
    # another message) rather than listen on every interface of this shared machine.
    (tmp_path / "a-file").write_text("not a directory")
    env = {**clean_env(), "TOOLTOOL_STORE": f"file://{tmp_path}/a-file/data"}
    port = free_port()
    result = run_cli("serve", "--host", host, "--port", str(port), cwd=tmp_path, env=env)
    assert result.returncode == 2
    error = one_error_line(result.stderr)
    assert f"listening on {host} needs TOOLTOOL_PUBLIC_URL" in error
    assert f"put_urls point at http://{host}:{port}/" in error
    assert "set it: " in error  # the form of the fix depends on whether this machine is itself a container


@pytest.mark.parametrize(
    ("host", "env", "refused"),
    [
        (EVERY_IPV4, {}, True),
        ("[::]", {}, True),
        ("", {}, True),
        (EVERY_IPV4, {"TOOLTOOL_PUBLIC_URL": "https://tooltool.example.com"}, False),
        ("127.0.0.1", {}, False),
        ("tooltool.internal", {}, False),
        # Uploads straight to S3: the listen address is in no URL handed out.
        (EVERY_IPV4, {"TOOLTOOL_STORE": "s3://bucket"}, False),
        (EVERY_IPV4, {"TOOLTOOL_STORE": "s3://bucket", "TOOLTOOL_UPLOAD_TARGET": "proxy"}, True),
    ],
)
def test_refusal_only_when_a_put_url_would_carry_the_wildcard_address(
    host: str, env: dict[str, str], refused: bool
) -> None:
    config = load_config(env)
    if refused:
        with pytest.raises(ConfigError, match="needs TOOLTOOL_PUBLIC_URL"):
            preflight.refuse_unreachable_put_urls(config, host, 8000)
    else:
        preflight.refuse_unreachable_put_urls(config, host, 8000)


def test_a_store_directory_that_cannot_be_made_stops_start_up_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    env = {**clean_env(), "TOOLTOOL_STORE": f"file://{tmp_path}/a-file/data"}
    result = run_cli("serve", "--port", str(free_port()), cwd=tmp_path, env=env)
    assert result.returncode == 2
    error = one_error_line(result.stderr)
    assert f"the store directory {tmp_path}/a-file/data cannot be written (Not a directory)" in error


def test_the_write_check_leaves_nothing_in_the_store(tmp_path: Path) -> None:
    preflight.check_store_writable(load_config({"TOOLTOOL_STORE": f"file://{tmp_path}/data"}))
    assert list((tmp_path / "data").iterdir()) == []


def in_a_container(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, inside: bool) -> None:
    marker = tmp_path / ".dockerenv"
    if inside:
        marker.touch()
    monkeypatch.setattr(preflight, "CONTAINER_MARKERS", (marker,))


@pytest.mark.parametrize("inside", [True, False], ids=["in a container", "on a host"])
def test_permission_denied_names_the_owner_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, inside: bool
) -> None:
    in_a_container(monkeypatch, tmp_path, inside)
    store = tmp_path / "data"
    store.mkdir()
    message = preflight._not_writable(store, PermissionError(errno.EACCES, "Permission denied"))
    owner = store.stat()
    assert f"{store} belongs to {owner.st_uid}:{owner.st_gid}, mode" in message
    assert "sudo chown -R" in message
    assert ('docker run --user "$(id -u):$(id -g)"' in message) is inside


def test_read_only_file_system_says_to_mount_a_volume(tmp_path: Path) -> None:
    message = preflight._not_writable(Path("/data"), OSError(errno.EROFS, "Read-only file system"))
    assert "read-only file system; mount a writable volume there (docker run -v tooltool-data:/data" in message


@pytest.mark.parametrize("inside", [True, False], ids=["in a container", "on a host"])
def test_banner_tells_how_to_get_the_admin_credentials_out(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, inside: bool
) -> None:
    in_a_container(monkeypatch, tmp_path, inside)
    note, usable = preflight.admin_auth_for_clients(Path("/data/admin-auth.json"))
    if inside:
        assert (
            note
            == " (inside the container; copy it out: docker exec CONTAINER cat /data/admin-auth.json > admin-auth.json)"
        )
        assert usable == "admin-auth.json"
    else:
        assert (note, usable) == ("", "/data/admin-auth.json")
