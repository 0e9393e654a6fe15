"""The image as the README's "Container" section runs it: build, a host folder, a named volume, --read-only, S3 by
environment, health, logs, restart and upgrade, and what the image holds.

    python -m pytest -m container tests/container

Uploads and fetches go through the container with tests/support/tooltool_client.py, which behaves as tooltool.py on
the wire.
"""

import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.container.conftest import (
    BASE_IMAGE,
    BUILD_ARGS,
    TAG,
    Build,
    Container,
    Containers,
    build_image,
    docker,
    heartbeat,
    host_user,
)
from tests.support import tooltool_client
from tests.support.credentials import ADMIN, write_clients_file

pytestmark = pytest.mark.container

COPY_OUT = "docker exec CONTAINER cat /data/admin-auth.json > admin-auth.json"


def copy_out_admin_auth(container: Container, destination: Path) -> Path:
    """The README's one command for the first credentials, as the start-up banner prints it."""
    stdout = docker("exec", container.name, "cat", "/data/admin-auth.json").stdout
    destination.write_text(stdout)
    return destination


def artifacts(directory: Path, label: str) -> dict[Path, str]:
    directory.mkdir(parents=True, exist_ok=True)
    public, internal = directory / f"{label}-public.tar.xz", directory / f"{label}-internal.bin"
    public.write_bytes(secrets.token_bytes(300_000))
    internal.write_bytes(secrets.token_bytes(70_001))
    return {public: "public", internal: "internal"}


def upload(container: Container, auth_file: Path, files: dict[Path, str]) -> None:
    batch = tooltool_client.upload(container.url, auth_file, files, "Bug 13: through the container")
    assert sorted(batch["files"]) == sorted(path.name for path in files)


def assert_fetches_byte_for_byte(container: Container, auth_file: Path, files: dict[Path, str], into: Path) -> None:
    into.mkdir(parents=True, exist_ok=True)
    for path, visibility in files.items():
        record = tooltool_client.file_record(path, visibility)
        tooltool_client.fetch(container.url, record, into / path.name, auth_file)
        assert (into / path.name).read_bytes() == path.read_bytes()
        if visibility == "public":
            tooltool_client.fetch(container.url, record, into / f"anonymous-{path.name}")
            assert (into / f"anonymous-{path.name}").read_bytes() == path.read_bytes()
        else:
            with pytest.raises(urllib.error.HTTPError) as refused:
                tooltool_client.fetch(container.url, record, into / f"anonymous-{path.name}")
            assert refused.value.code == 403
            refused.value.close()


def stop(container: Container) -> int:
    """`docker stop` (SIGTERM); the exit status is 0 only if the server shut down on it rather than being killed."""
    docker("stop", container.name)
    return container.exit_code()


def one_line_error(container: Container) -> str:
    assert container.exit_code() == 2
    stdout, stderr = container.logs()
    lines = stderr.strip().splitlines()
    assert stdout == ""
    assert len(lines) == 1, stderr
    assert lines[0].startswith("tooltool-proxy: error: ")
    return lines[0]


def test_documented_run_on_a_folder_the_user_made_serves_tooltool_and_survives_a_restart(
    containers: Containers, tmp_path: Path
) -> None:
    # mkdir -p tooltool-data && docker run --user "$(id -u):$(id -g)" -v "$PWD/tooltool-data:/data" ...
    # The user's uid is in no /etc/passwd of the image: this is also the arbitrary-uid case.
    folder = tmp_path / "tooltool-data"
    folder.mkdir()
    user = host_user()
    uid, gid = (int(part) for part in user.split(":"))
    os.chown(folder, uid, gid)
    container = containers.run("--user", user, "-v", f"{folder}:/data")
    port = container.port
    container.wait_until_serving()

    _, banner = container.logs()
    assert f"on http://127.0.0.1:{port}/" in banner
    assert COPY_OUT in banner
    assert f"--url http://127.0.0.1:{port}/ --authentication-file admin-auth.json upload" in banner
    auth_file = copy_out_admin_auth(container, tmp_path / "admin-auth.json")
    assert auth_file.read_text() == (folder / "admin-auth.json").read_text()
    assert json.loads(auth_file.read_text())["clientId"] == "admin"
    assert {(path.stat().st_uid, path.stat().st_gid) for path in folder.rglob("*")} == {(uid, gid)}

    files = artifacts(tmp_path / "artifacts", "folder")
    upload(container, auth_file, files)
    assert_fetches_byte_for_byte(container, auth_file, files, tmp_path / "fetched")

    # Logs: mozlog JSON lines on stdout, one request.summary per request, and no credential anywhere.
    # `serve` writes its log lines in batches at least every TOOLTOOL_LOG_FLUSH_SECONDS (0.2 s).
    time.sleep(1)
    stdout, stderr = container.logs()
    records = [json.loads(line) for line in stdout.splitlines()]
    assert records
    assert all(record["Logger"] == "tooltool-proxy" for record in records)
    assert any(record["Type"] == "request.summary" for record in records)
    access_token = json.loads(auth_file.read_text())["accessToken"]
    assert access_token not in stdout + stderr

    docker("restart", container.name)
    container.wait_until_serving()
    assert_fetches_byte_for_byte(container, auth_file, files, tmp_path / "after-restart")
    assert json.loads(auth_file.read_text()) == json.loads((folder / "admin-auth.json").read_text())
    assert stop(container) == 0


def test_a_folder_docker_makes_as_root_fails_with_one_line_saying_the_fix(
    containers: Containers, tmp_path: Path
) -> None:
    folder = tmp_path / "not-made-yet"  # docker run -v creates it, owned by root
    container = containers.run("-v", f"{folder}:/data")
    error = one_line_error(container)
    assert "/data is not writable by user 10001:10001 (/data belongs to 0:0" in error
    assert 'docker run --user "$(id -u):$(id -g)"' in error
    assert "sudo chown -R 10001:10001 FOLDER" in error
    assert folder.stat().st_uid == 0
    assert list(folder.iterdir()) == []

    # The fix the line names (chown, done by a root container so it works for any test user) makes it serve.
    as_root = ["--rm", "--network", "host", "--user", "0", "-v", f"{folder}:/data"]
    docker("run", *as_root, TAG, "chown", "10001:10001", "/data")
    fixed = containers.run("-v", f"{folder}:/data")
    fixed.wait_until_serving()
    assert heartbeat(fixed) == 200
    assert (folder / "admin-auth.json").stat().st_uid == 10001


def test_named_volume_keeps_data_and_credentials_for_the_next_container(
    containers: Containers, volume: str, tmp_path: Path
) -> None:
    first = containers.run("-v", f"{volume}:/data")
    first.wait_until_serving()
    auth_file = copy_out_admin_auth(first, tmp_path / "admin-auth.json")
    files = artifacts(tmp_path / "artifacts", "volume")
    upload(first, auth_file, files)
    assert stop(first) == 0

    # The upgrade path: a new container (of a new image, in real life) on the same volume.
    docker("rm", first.name)
    second = containers.run("-v", f"{volume}:/data", port=first.port)
    second.wait_until_serving()
    assert_fetches_byte_for_byte(second, auth_file, files, tmp_path / "fetched")
    assert copy_out_admin_auth(second, tmp_path / "again.json").read_text() == auth_file.read_text()


@pytest.mark.parametrize("data", ["named volume", "the image's anonymous /data volume"])
def test_read_only_root_file_system_serves_uploads_and_downloads(
    containers: Containers, volume: str, tmp_path: Path, data: str
) -> None:
    mount = ["-v", f"{volume}:/data"] if data == "named volume" else []
    container = containers.run("--read-only", *mount)
    container.wait_until_serving()
    auth_file = copy_out_admin_auth(container, tmp_path / "admin-auth.json")
    files = artifacts(tmp_path / "artifacts", "read-only")
    upload(container, auth_file, files)
    assert_fetches_byte_for_byte(container, auth_file, files, tmp_path / "fetched")
    assert container.inspect("{{.HostConfig.ReadonlyRootfs}}") == "true"


def test_every_interface_without_public_url_is_refused_in_one_line_with_the_fix(containers: Containers) -> None:
    # The image's own CMD (--host 0.0.0.0), as `docker run -p 8000:8000 tooltool-proxy` starts it; it exits
    # before binding anything.
    container = containers.run(command=[], public_url=False)
    error = one_line_error(container)
    assert "listening on 0.0.0.0 needs TOOLTOOL_PUBLIC_URL" in error
    assert "docker run -e TOOLTOOL_PUBLIC_URL=http://HOST:PORT" in error


def test_s3_store_configured_by_environment(
    containers: Containers, moto_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    clients = write_clients_file(tmp_path / "clients.json")
    clients.chmod(0o644)  # readable by the container's user
    auth_file = tmp_path / "admin-auth.json"
    auth_file.write_text(json.dumps({"clientId": ADMIN.client_id, "accessToken": ADMIN.access_token}))
    environment = [
        f"TOOLTOOL_STORE=s3://{s3_bucket}/tooltool",
        f"TOOLTOOL_S3_ENDPOINT_URL={moto_endpoint}",
        "TOOLTOOL_CLIENTS_FILE=/etc/tooltool/clients.json",
        "AWS_ACCESS_KEY_ID=testing",
        "AWS_SECRET_ACCESS_KEY=testing",
    ]
    options = [arg for item in environment for arg in ("-e", item)]
    container = containers.run(*options, "-v", f"{clients}:/etc/tooltool/clients.json:ro")
    container.wait_until_serving()
    files = artifacts(tmp_path / "artifacts", "s3")
    upload(container, auth_file, files)
    assert_fetches_byte_for_byte(container, auth_file, files, tmp_path / "fetched")
    with urllib.request.urlopen(f"{container.url}__heartbeat__", timeout=10) as answer:
        assert answer.status == 200


def test_health_check_is_the_heartbeat_with_the_images_own_python(containers: Containers, image: Build) -> None:
    check: dict[str, Any] = image.config()["Healthcheck"]  # type: ignore[assignment]
    assert check["Test"][:3] == ["CMD", "python", "-c"]
    assert "/__lbheartbeat__" in check["Test"][3]
    container = containers.run("--health-interval", "1s")
    for _ in range(60):
        status = container.inspect("{{.State.Health.Status}}")
        if status == "healthy":
            break
        time.sleep(1)
    assert status == "healthy", container.inspect("{{json .State.Health}}")
    assert stop(container) == 0


def test_image_holds_only_the_installed_package_and_version_json(image: Build) -> None:
    listing = ["find", "/", "-xdev", "-not", "-path", "/proc*", "-not", "-path", "/sys*"]
    base = set(docker("run", "--rm", "--network", "host", "--user", "0", BASE_IMAGE, *listing).stdout.split())
    ours = set(docker("run", "--rm", "--network", "host", "--user", "0", TAG, *listing).stdout.split())
    added = ours - base
    outside_venv = {path for path in added if not path.startswith("/opt/venv")}
    # Besides /opt/venv: /app/version.json, the empty /data volume and useradd's backups of the account files.
    accounts = {f"/etc/{name}-" for name in ("passwd", "group", "shadow", "gshadow", "subuid", "subgid")}
    logs = {"/var/log/faillog", "/var/log/lastlog"}
    assert outside_venv <= {"/opt", "/app", "/app/version.json", "/data"} | accounts | logs, sorted(outside_venv)

    site = "/opt/venv/lib/python3.11/site-packages"
    top = {path.removeprefix(f"{site}/") for path in added if path.startswith(f"{site}/") and path.count("/") == 6}
    constraints = (image.context / "requirements" / "constraints.txt").read_text().splitlines()
    pinned = {line.split("==")[0].lower().replace("-", "_") for line in constraints if "==" in line}
    dist_infos = {name.removesuffix(".dist-info").rsplit("-", 1)[0].lower() for name in top if "dist-info" in name}
    assert dist_infos == pinned | {"tooltool_proxy"}
    assert {"proxy", "manifests"} <= top
    assert not {"pip", "setuptools", "wheel", "tests", "benchmarks", "build"} & top
    leftovers = [p for p in added if p.endswith((".whl", ".egg-info", "/setup.py", "/pyproject.toml", "/.cache"))]
    assert leftovers == []

    version = json.loads(docker("run", "--rm", "--network", "host", TAG, "cat", "/app/version.json").stdout)
    installed = docker("run", "--rm", "--network", "host", TAG, "python", "-c", VERSION_OF_PACKAGE).stdout.strip()
    assert version == {**{name.lower(): value for name, value in BUILD_ARGS.items()}, "version": installed}
    assert image.config()["User"] == "10001:10001"
    assert docker("run", "--rm", "--network", "host", TAG, "id", "-u").stdout.strip() == "10001"


VERSION_OF_PACKAGE = "import importlib.metadata as m; print(m.version('tooltool-proxy'))"


COPIED_FILES = ("pyproject.toml", "setup.py", "README.md", "requirements/constraints.txt", "requirements/build.txt")


def test_build_context_is_only_what_the_dockerfile_copies(image: Build, tmp_path: Path) -> None:
    context = tmp_path / "working-copy"
    shutil.copytree(image.context, context)
    expected = {
        str(path.relative_to(context))
        for path in context.rglob("*")
        if path.is_file()
        and (
            path.relative_to(context).as_posix().startswith(("proxy/", "manifests/"))
            or path.relative_to(context).as_posix() in COPIED_FILES
        )
    }
    planted = [
        ".git/config",
        ".venv/bin/python",
        "tooltool-data/admin-auth.json",
        "tooltool-data/clients.json",
        ".pytest_cache/v/cache/lastfailed",
        ".mypy_cache/3.11/proxy.json",
        "proxy/__pycache__/cli.cpython-311.pyc",
        "build/lib/proxy/cli.py",
        "dist/tooltool_proxy-0.1.0-py3-none-any.whl",
        "tooltool_proxy.egg-info/PKG-INFO",
    ]
    for name in planted:
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        (context / name).write_text("must not reach the daemon\n")
    tag = f"{TAG}-context"
    listing = f"FROM {BASE_IMAGE}\nCOPY . /context\n"
    try:
        built = subprocess_build_from_stdin(listing, context, tag)
        assert built.returncode == 0, built.stderr
        found = docker("run", "--rm", "--network", "host", tag, "find", "/context", "-type", "f").stdout.split()
    finally:
        docker("rmi", "--force", tag, check=False)
    assert {path.removeprefix("/context/") for path in found} == expected


def subprocess_build_from_stdin(dockerfile: str, context: Path, tag: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "build", "--network", "host", "-t", tag, "-f", "-", str(context)],
        input=dockerfile,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_rebuild_after_one_source_change_reuses_the_dependency_layers(image: Build, tmp_path: Path) -> None:
    context = tmp_path / "changed"
    shutil.copytree(image.context, context)
    with (context / "proxy" / "errors.py").open("a") as source:
        source.write(f"# one changed source file: {secrets.token_hex(8)}\n")  # new each run: never cached
    rebuilt = build_image(context, f"{TAG}-rebuilt")
    try:
        print(f"\nfirst build {image.seconds:.1f} s; rebuild after one source change {rebuilt.seconds:.1f} s")
        before, after = image.layers(), rebuilt.layers()
        # ... base image, useradd, the dependencies | the package | version.json
        assert len(before) == len(after)
        assert before[:-2] == after[:-2]
        assert before[-2] != after[-2]
        assert step_was_cached(rebuilt.output, "/tmp/constraints.txt")
        assert step_was_cached(rebuilt.output, "pip download")
        assert "Downloading" not in rebuilt.output
    finally:
        docker("rmi", "--force", rebuilt.tag, check=False)


def step_was_cached(output: str, marker: str) -> bool:
    """Whether the RUN step mentioning marker came from the cache, in the classic builder's or BuildKit's words."""
    lines = output.splitlines()
    for position, line in enumerate(lines):
        if "RUN" in line and marker in line:
            following = lines[position : position + 3]
            return any("Using cache" in text or "CACHED" in text for text in following)
    raise AssertionError(f"no RUN step mentioning {marker!r} in the build output:\n{output}")
