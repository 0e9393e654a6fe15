"""The image, built from a clean copy of this tree, and containers of it (README "Container").

Run by `python -m pytest -m container tests/container`; the default test command does not collect this directory
(tox.ini `norecursedirs`). Asked for, these tests fail with the reason when no Docker daemon or base image is there.
Containers use the host's network (`--network host`: the machines these run on have no bridge network) and listen on
127.0.0.1 only; every request goes to 127.0.0.1.
"""

import json
import os
import shutil
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.net import free_port, wait_for_http

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = "python:3.11-slim"
# Kept between runs: its intermediate images are the build cache a second run reuses.
TAG = "tooltool-proxy:container-tests"
BUILD_ARGS = {"SOURCE": "https://example.invalid/tooltool-proxy", "COMMIT": "c0ffee", "BUILD": "container-tests"}


def docker(*args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def docker_daemon() -> None:
    """A Docker daemon and the base image, or the test fails saying which is missing and how to get it."""
    how = "../shared/tools/container-base.sh starts one and builds a stand-in base on machines without a registry"
    if shutil.which("docker") is None:
        pytest.fail(f"the container tests need the docker command; install Docker ({how})", pytrace=False)
    info = docker("info", "--format", "{{.ServerVersion}}", check=False, timeout=30)
    if info.returncode != 0:
        pytest.fail(f"no Docker daemon answers `docker info` ({info.stderr.strip()}); {how}", pytrace=False)
    if docker("image", "inspect", BASE_IMAGE, check=False, timeout=30).returncode != 0:
        pytest.fail(f"the base image {BASE_IMAGE} is not present; `docker pull {BASE_IMAGE}` ({how})", pytrace=False)


def clean_copy(destination: Path) -> Path:
    """What a clone would hold if the working tree were committed now: tracked and new unignored files."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a deleted, not yet committed file is listed too
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


@dataclass
class Build:
    tag: str
    context: Path
    seconds: float
    output: str

    def layers(self) -> list[str]:
        inspected = docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", self.tag).stdout
        layers: list[str] = json.loads(inspected)
        return layers

    def config(self) -> dict[str, object]:
        inspected: dict[str, object] = json.loads(
            docker("image", "inspect", "--format", "{{json .Config}}", self.tag).stdout
        )
        return inspected


def build_image(context: Path, tag: str) -> Build:
    """The README's build command, with every build argument, timed."""
    build_args = [arg for name, value in BUILD_ARGS.items() for arg in ("--build-arg", f"{name}={value}")]
    started = time.monotonic()
    result = docker("build", "--network", "host", *build_args, "-t", tag, str(context))
    return Build(tag, context, time.monotonic() - started, result.stdout + result.stderr)


@pytest.fixture(scope="session")
def image(docker_daemon: None, tmp_path_factory: pytest.TempPathFactory) -> Build:
    previous = docker("image", "inspect", "--format", "{{.Id}}", TAG, check=False).stdout.strip()
    build = build_image(clean_copy(tmp_path_factory.mktemp("clone")), TAG)
    print(f"\nbuilt {TAG} in {build.seconds:.1f} s")
    if previous and previous != docker("image", "inspect", "--format", "{{.Id}}", TAG).stdout.strip():
        docker("rmi", previous, check=False)  # the last run's image, untagged now; its shared layers stay
    return build


def host_user() -> str:
    """What `--user "$(id -u):$(id -g)"` gives the README's reader: their own ids. Run as root, a stand-in
    unprivileged user's, since a folder that root made and root writes proves nothing."""
    if os.geteuid() == 0:
        return "4242:4242"
    return f"{os.getuid()}:{os.getgid()}"


def loopback_command(build: Build) -> list[str]:
    """The image's own CMD, listening on 127.0.0.1 instead of every interface (the host's network is shared)."""
    command = build.config()["Cmd"]
    assert isinstance(command, list)
    local = [part.replace("--host 0.0.0.0", "--host 127.0.0.1") for part in command]
    assert local != command, f"the image's CMD no longer says --host 0.0.0.0: {command}"
    return local


def url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


@dataclass
class Container:
    name: str
    port: int

    @property
    def url(self) -> str:
        return f"{url(self.port)}/"

    def logs(self) -> tuple[str, str]:
        result = docker("logs", self.name)
        return result.stdout, result.stderr

    def exit_code(self) -> int:
        return int(docker("wait", self.name).stdout.strip())

    def inspect(self, template: str) -> str:
        return docker("inspect", "--format", template, self.name).stdout.strip()

    def wait_until_serving(self) -> None:
        try:
            wait_for_http(f"{self.url}__lbheartbeat__", timeout=60)
        except BaseException:
            stdout, stderr = self.logs()
            raise AssertionError(f"{self.name} is not serving:\n{stdout}\n{stderr}") from None


class Containers:
    """Starts containers of an image on free ports; removes them (not their volumes) at the end."""

    def __init__(self, build: Build) -> None:
        self.build = build
        self.started: list[str] = []

    def run(
        self, *options: str, command: list[str] | None = None, port: int | None = None, public_url: bool = True
    ) -> Container:
        """`docker run -d` with the options and TOOLTOOL_PUBLIC_URL=http://127.0.0.1:PORT, as the README says;
        the command defaults to the image's CMD listening on 127.0.0.1."""
        name = f"tooltool-test-{uuid.uuid4().hex[:10]}"
        port = port or free_port()
        self.started.append(name)
        docker(
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "host",
            "-e",
            f"PORT={port}",
            *(["-e", f"TOOLTOOL_PUBLIC_URL={url(port)}"] if public_url else []),
            *options,
            self.build.tag,
            *(loopback_command(self.build) if command is None else command),
        )
        return Container(name, port)

    def remove_all(self) -> None:
        for name in self.started:
            docker("rm", "--force", "--volumes", name, check=False)  # anonymous volumes only, never named ones


@pytest.fixture
def containers(image: Build) -> Iterator[Containers]:
    started = Containers(image)
    try:
        yield started
    finally:
        started.remove_all()


@pytest.fixture
def volume() -> Iterator[str]:
    name = f"tooltool-test-{uuid.uuid4().hex[:10]}"
    docker("volume", "create", name)
    try:
        yield name
    finally:
        docker("volume", "rm", "--force", name, check=False)


def heartbeat(container: Container) -> int:
    with urllib.request.urlopen(f"{container.url}__lbheartbeat__", timeout=10) as response:
        status: int = response.status
        return status
