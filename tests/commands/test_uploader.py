"""`tooltool-proxy upload`: real manifests uploaded to a real proxy on both stores, and fetched back.

The command runs as a subprocess, as a release engineer runs it. Between it and the proxy sits a
small aiohttp pass-through that records every request and injects one fault when asked: a 503, a
409, a PUT whose connection drops. For the PUT, the pass-through also sits in front of the put_url
target (the proxy itself on the local store, moto on S3, whose presigned URLs then name it).
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
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web

from manifests import ManifestRecord, Visibility, dump_manifest
from proxy.http.problems import problem_response
from proxy.uploader import (
    MAX_ATTEMPTS,
    Credentials,
    Outcome,
    TooltoolAPI,
    load_credentials,
    put_url_expiry,
    read_manifest,
    upload_files,
    wait_seconds,
)
from tests.support import tooltool_client
from tests.support.credentials import BEARER_TOKEN, PUBLIC_UPLOADER, UPLOADER, Creds
from tests.support.net import free_port
from tests.support.proxies import Proxy, ProxyFactory

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}

Matcher = Callable[[web.Request], bool]
Action = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    raw_path: str
    headers: dict[str, str]


@dataclass
class PassThrough:
    """Forwards every request to `upstream` as it came (Host included, so Hawk still verifies),
    records it, and answers the first request a fault matches with that fault instead (once)."""

    url: str = ""
    upstream: str = ""
    seen: list[Seen] = field(default_factory=list)
    faults: list[tuple[Matcher, Action]] = field(default_factory=list)
    replies: list[tuple[str, bytes]] = field(default_factory=list)  # (method and path, body) forwarded
    session: aiohttp.ClientSession | None = None

    def inject(self, matches: Matcher, action: Action) -> None:
        self.faults.append((matches, action))

    def requests(self, method: str, path_start: str = "/") -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path.startswith(path_start)]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(Seen(request.method, request.path, request.raw_path, dict(request.headers)))
        for position, (matches, action) in enumerate(self.faults):
            if matches(request):
                del self.faults[position]
                return await action(request)
        return await self.forward(request)

    async def forward(self, request: web.Request) -> web.Response:
        assert self.session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        body = await request.read()
        async with self.session.request(
            request.method,
            self.upstream + request.raw_path,
            headers=headers,
            data=io.BytesIO(body) if body else None,
            skip_auto_headers=("Content-Type",),  # only the one the request came with
        ) as upstream:
            answer = await upstream.read()
            self.replies.append((f"{request.method} {request.path}", answer))
            # A HEAD answer's Content-Length is the object's size, not its (empty) body's.
            kept = HOP_BY_HOP - {"content-length"} if request.method == "HEAD" else HOP_BY_HOP
            reply_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in kept}
            return web.Response(status=upstream.status, headers=reply_headers, body=answer)


@pytest.fixture
async def start_passthrough() -> AsyncIterator[Callable[[str], Awaitable[PassThrough]]]:
    runners: list[web.AppRunner] = []
    sessions: list[aiohttp.ClientSession] = []

    async def start(upstream: str = "") -> PassThrough:
        front = PassThrough(upstream=upstream)
        front.session = aiohttp.ClientSession(auto_decompress=False)
        sessions.append(front.session)
        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/{tail:.*}", front.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        runners.append(runner)
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        front.url = f"http://127.0.0.1:{port}"
        return front

    yield start
    for runner in runners:
        await runner.cleanup()
    for session in sessions:
        await session.close()


@dataclass
class Deployment:
    proxy: Proxy
    front: PassThrough  # in front of the proxy: what the uploader's --url names
    put_target: PassThrough  # in front of where put_urls point (the proxy itself, or moto)

    @property
    def url(self) -> str:
        return self.front.url + "/"

    def puts(self) -> list[Seen]:
        """The PUTs to put_urls (the proxy's own S3 writes carry Authorization)."""
        return [s for s in self.put_target.seen if s.method == "PUT" and "Authorization" not in s.headers]

    def forget(self) -> None:
        """Forget what was seen so far (a test's seeding)."""
        self.front.seen.clear()
        self.put_target.seen.clear()

    def uploader_requests(self) -> list[Seen]:
        return self.front.seen + ([] if self.put_target is self.front else self.puts())


@pytest.fixture
def proxy_settings() -> dict[str, str]:
    """TOOLTOOL_* overrides for the deployment's proxy; a test parametrizes it to change them."""
    return {}


@pytest.fixture
async def deployment(
    make_proxy: ProxyFactory,
    start_passthrough: Callable[[str], Awaitable[PassThrough]],
    store_env: dict[str, str],
    proxy_settings: dict[str, str],
) -> Deployment:
    front = await start_passthrough("")
    if "TOOLTOOL_S3_ENDPOINT_URL" not in store_env:
        proxy = await make_proxy(public_url=front.url, **proxy_settings)
        put_target = front
    else:
        # The proxy's own S3 calls go through it too (signed, with Authorization); the uploader
        # only ever sends it the bare PUTs of presigned put_urls.
        put_target = await start_passthrough(store_env["TOOLTOOL_S3_ENDPOINT_URL"])
        proxy = await make_proxy(public_url=front.url, s3_endpoint_url=put_target.url, **proxy_settings)
    front.upstream = proxy.url
    return Deployment(proxy, front, put_target)


# --- the command and its inputs -------------------------------------------------------------------


@dataclass(frozen=True)
class Ran:
    status: int
    stdout: str
    stderr: str


def command_env(**extra: str) -> dict[str, str]:
    drop = ("TOOLTOOL_", "TASKCLUSTER_")
    return {**{k: v for k, v in os.environ.items() if not k.startswith(drop)}, **extra}


async def run_upload(cwd: Path, *args: str, env: dict[str, str] | None = None) -> Ran:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "proxy",
        "upload",
        *args,
        cwd=cwd,
        env=env if env is not None else command_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return Ran(process.returncode, stdout.decode(), stderr.decode())


def write_auth_file(directory: Path, creds: Creds) -> Path:
    path = directory / f"{creds.client_id}-auth.json"
    path.write_text(json.dumps({"clientId": creds.client_id, "accessToken": creds.access_token}))
    return path


def write_files(directory: Path, files: dict[str, tuple[bytes, str]]) -> Path:
    """The files and their manifest.tt (as `tooltool.py add` writes it); returns the manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    records = []
    for name, (data, visibility) in files.items():
        (directory / name).write_bytes(data)
        records.append(ManifestRecord(name, len(data), hashlib.sha512(data).hexdigest(), Visibility(visibility)))
    manifest = directory / "manifest.tt"
    manifest.write_text(dump_manifest(records))
    return manifest


def payload(seed: str, size: int) -> bytes:
    block = hashlib.sha512(seed.encode()).digest()
    return (block * (size // len(block) + 1))[:size]


async def fetch_back(proxy: Proxy, auth_file: Path, name: str, data: bytes, destination: Path) -> bytes:
    """The file as tooltool.py fetches it (size and sha512 checked by the client), from the proxy itself."""
    record = {"filename": name, "size": len(data), "digest": hashlib.sha512(data).hexdigest()}
    target = destination / name
    destination.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(tooltool_client.fetch, proxy.url + "/", record, target, auth_file)
    return target.read_bytes()


def upload_args(deployment: Deployment, auth_file: Path, *more: str) -> tuple[str, ...]:
    return ("--url", deployment.url, "--authentication-file", str(auth_file), "--message", "Bug 11: toolchains", *more)


def is_put(request: web.Request) -> bool:
    """A PUT to a put_url: the proxy's own S3 writes carry Authorization."""
    return request.method == "PUT" and "Authorization" not in request.headers


async def drop_connection(request: web.Request) -> web.StreamResponse:
    """Take the start of the body, then hang up without an answer."""
    await request.content.read(1024)
    assert request.transport is not None
    request.transport.abort()
    return web.Response(status=599)  # never reaches the client


# --- uploads that succeed -------------------------------------------------------------------------


async def test_uploads_public_and_internal_files_and_they_fetch_back(deployment: Deployment, tmp_path: Path) -> None:
    files = {
        "gcc.tar.xz": (payload("gcc", 3 * 1024 * 1024 + 17), "public"),
        "secret.bin": (payload("secret", 200_001), "internal"),
    }
    manifest = write_files(tmp_path / "up", files)
    auth_file = write_auth_file(tmp_path, UPLOADER)

    ran = await run_upload(tmp_path / "up", *upload_args(deployment, auth_file))

    assert ran.status == 0, ran.stdout + ran.stderr
    assert "2 uploaded" in ran.stdout
    assert "0 failed" in ran.stdout
    for name, (data, visibility) in files.items():
        digest = hashlib.sha512(data).hexdigest()
        assert f"uploaded {name} {digest}" in ran.stdout
        entry = await deployment.proxy.index.load(digest)
        assert entry is not None
        assert entry.visibility.value == visibility
        assert await fetch_back(deployment.proxy, auth_file, name, data, tmp_path / "back") == data
    # Not on a terminal: progress lines on stderr, one per file at least.
    assert "upload gcc.tar.xz: 3.0 MiB of 3.0 MiB (100%)" in ran.stderr
    assert "upload secret.bin: 195.3 KiB of 195.3 KiB (100%)" in ran.stderr
    # The wire sequence of PROTOCOL.md §4: one batch, a PUT per file, complete per file.
    assert len(deployment.front.requests("POST", "/upload")) == 1
    assert len(deployment.puts()) == 2
    assert len(deployment.front.requests("GET", "/upload/complete/sha512/")) == 2
    assert manifest.exists()


async def test_puts_carry_only_content_type_and_length_and_no_authorization(
    deployment: Deployment, tmp_path: Path
) -> None:
    data = payload("headers", 123_457)
    write_files(tmp_path / "up", {"tool.zip": (data, "public")})

    ran = await run_upload(tmp_path / "up", *upload_args(deployment, write_auth_file(tmp_path, UPLOADER)))

    assert ran.status == 0, ran.stdout + ran.stderr
    [put] = deployment.puts()
    assert put.headers["Content-Type"] == "application/octet-stream"
    assert put.headers["Content-Length"] == str(len(data))
    assert set(put.headers) == {"Host", "Content-Type", "Content-Length"}
    # The put_url goes out byte for byte as the server signed it (S3 checks the query it signed).
    [batch] = [json.loads(body)["result"] for what, body in deployment.front.replies if what == "POST /upload"]
    put_url = urlsplit(batch["files"]["tool.zip"]["put_url"])
    assert put.raw_path == f"{put_url.path}?{put_url.query}"
    # Every API call is signed as tooltool.py signs: a payload hash only with a body, never ext.
    [post] = deployment.front.requests("POST", "/upload")
    [done] = deployment.front.requests("GET", "/upload/complete/")
    assert post.headers["Authorization"].startswith("Hawk ")
    assert ' hash="' in post.headers["Authorization"]
    assert done.headers["Authorization"].startswith("Hawk ")
    assert "hash=" not in done.headers["Authorization"]
    assert "ext=" not in post.headers["Authorization"] + done.headers["Authorization"]


async def test_a_file_already_stored_is_not_sent_again(deployment: Deployment, tmp_path: Path) -> None:
    stored, new = payload("stored", 50_000), payload("new", 60_000)
    await deployment.proxy.upload(UPLOADER, "stored.bin", stored)
    deployment.forget()
    write_files(tmp_path / "up", {"stored.bin": (stored, "public"), "new.bin": (new, "public")})
    auth_file = write_auth_file(tmp_path, UPLOADER)

    ran = await run_upload(tmp_path / "up", *upload_args(deployment, auth_file))

    assert ran.status == 0, ran.stdout + ran.stderr
    assert f"already stored stored.bin {hashlib.sha512(stored).hexdigest()}" in ran.stdout
    assert f"uploaded new.bin {hashlib.sha512(new).hexdigest()}" in ran.stdout
    [put] = deployment.puts()
    assert hashlib.sha512(new).hexdigest() in put.path
    for name, data in (("stored.bin", stored), ("new.bin", new)):
        assert await fetch_back(deployment.proxy, auth_file, name, data, tmp_path / "back") == data


async def test_several_files_are_uploaded_at_once(deployment: Deployment, tmp_path: Path) -> None:
    files = {f"part{i}.bin": (payload(f"part{i}", 100_000 + i), "public") for i in range(4)}
    write_files(tmp_path / "up", files)
    auth_file = write_auth_file(tmp_path, UPLOADER)

    puts_in_flight = [0]
    most_in_flight = [0]

    async def slow_put(request: web.Request) -> web.StreamResponse:
        puts_in_flight[0] += 1
        most_in_flight[0] = max(most_in_flight[0], puts_in_flight[0])
        await asyncio.sleep(0.5)  # long enough for the other PUTs to arrive meanwhile
        try:
            return await deployment.put_target.forward(request)
        finally:
            puts_in_flight[0] -= 1

    for _ in files:
        deployment.put_target.inject(is_put, slow_put)

    ran = await run_upload(tmp_path / "up", *upload_args(deployment, auth_file, "--jobs", "3"))

    assert ran.status == 0, ran.stdout + ran.stderr
    assert most_in_flight[0] == 3
    for name, (data, _) in files.items():
        assert await fetch_back(deployment.proxy, auth_file, name, data, tmp_path / "back") == data


async def test_the_same_bytes_under_two_names_are_sent_once(deployment: Deployment, tmp_path: Path) -> None:
    data = payload("twins", 50_000)
    write_files(tmp_path / "up", {"gcc-13.tar.xz": (data, "public"), "gcc-latest.tar.xz": (data, "public")})
    auth_file = write_auth_file(tmp_path, UPLOADER)

    ran = await run_upload(tmp_path / "up", *upload_args(deployment, auth_file))

    assert ran.status == 0, ran.stdout + ran.stderr
    assert "uploaded gcc-13.tar.xz " in ran.stdout
    assert "uploaded gcc-latest.tar.xz " in ran.stdout
    assert len(deployment.puts()) == 1
    entry = await deployment.proxy.index.load(hashlib.sha512(data).hexdigest())
    assert entry is not None
    assert await fetch_back(deployment.proxy, auth_file, "gcc-latest.tar.xz", data, tmp_path / "back") == data


async def test_credentials_from_the_taskcluster_variables(deployment: Deployment, tmp_path: Path) -> None:
    data = payload("env", 10_000)
    write_files(tmp_path / "up", {"env.bin": (data, "internal")})
    env = command_env(TASKCLUSTER_CLIENT_ID=UPLOADER.client_id, TASKCLUSTER_ACCESS_TOKEN=UPLOADER.access_token)

    ran = await run_upload(tmp_path / "up", "--url", deployment.url, "--message", "Bug 11: env", env=env)

    assert ran.status == 0, ran.stdout + ran.stderr
    [post] = deployment.front.requests("POST", "/upload")
    assert f'id="{UPLOADER.client_id}"' in post.headers["Authorization"]
    auth_file = write_auth_file(tmp_path, UPLOADER)
    assert await fetch_back(deployment.proxy, auth_file, "env.bin", data, tmp_path / "back") == data


def read_terminal(leader: int) -> bytes:
    output = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO once the terminal's other side is closed and drained
            return output
        if not chunk:
            return output
        output += chunk


@pytest.mark.parametrize("store_kind", ["local"])
async def test_on_a_terminal_each_file_has_a_progress_bar(deployment: Deployment, tmp_path: Path) -> None:
    files = {"one.bin": (payload("one", 300_000), "public"), "two.bin": (payload("two", 400_000), "public")}
    write_files(tmp_path / "up", files)
    leader, follower = pty.openpty()
    # A terminal of 24 rows and 100 columns (a fresh pty has no size, and tqdm draws nothing).
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "proxy",
            "upload",
            *upload_args(deployment, write_auth_file(tmp_path, UPLOADER)),
            cwd=tmp_path / "up",
            env=command_env(),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=follower,
        )
        os.close(follower)
        follower = -1
        output, status = await asyncio.gather(asyncio.to_thread(read_terminal, leader), process.wait())
    finally:
        os.close(leader)
        if follower != -1:
            os.close(follower)

    assert status == 0
    text = output.decode()
    assert "upload: checking: 100%|" in text
    assert "upload one.bin: 100%|" in text
    assert "upload two.bin: 100%|" in text


# --- refused before anything is sent ------------------------------------------------------------


async def test_a_wrong_digest_in_the_manifest_is_refused_before_anything_is_sent(
    deployment: Deployment, tmp_path: Path
) -> None:
    good, changed = payload("good", 40_000), payload("changed", 40_000)
    manifest = write_files(tmp_path / "up", {"good.bin": (good, "public"), "changed.bin": (changed, "public")})
    (tmp_path / "up" / "changed.bin").write_bytes(payload("edited after tooltool.py add", 40_000))
    before = await deployment.proxy.snapshot()

    ran = await run_upload(tmp_path / "up", *upload_args(deployment, write_auth_file(tmp_path, UPLOADER)))

    assert ran.status == 1, ran.stdout + ran.stderr
    [failed] = [line for line in ran.stdout.splitlines() if line.startswith("failed ")]
    assert failed.startswith("failed changed.bin: ")
    assert "the manifest says" in failed
    assert f"nothing was sent: 1 of 2 files do not match {manifest.name}" in ran.stdout
    assert deployment.uploader_requests() == []
    assert await deployment.proxy.snapshot() == before


async def test_a_wrong_size_is_refused_before_anything_is_sent(deployment: Deployment, tmp_path: Path) -> None:
    write_files(tmp_path / "up", {"short.bin": (payload("short", 1000), "public")})
    (tmp_path / "up" / "short.bin").write_bytes(payload("short", 999))

    ran = await run_upload(tmp_path / "up", *upload_args(deployment, write_auth_file(tmp_path, UPLOADER)))

    assert ran.status == 1
    assert "failed short.bin: " in ran.stdout
    assert "has 999 bytes, the manifest says 1000" in ran.stdout
    assert deployment.uploader_requests() == []


async def test_a_batch_the_server_refuses_fails_every_file_with_its_reason(
    deployment: Deployment, tmp_path: Path
) -> None:
    stored = payload("public already", 5000)
    await deployment.proxy.upload(UPLOADER, "tool.bin", stored, visibility="public")
    deployment.forget()
    write_files(tmp_path / "up", {"tool.bin": (stored, "internal"), "other.bin": (payload("other", 10), "public")})

    ran = await run_upload(tmp_path / "up", *upload_args(deployment, write_auth_file(tmp_path, UPLOADER)))

    assert ran.status == 1
    failed = sorted(line for line in ran.stdout.splitlines() if line.startswith("failed "))
    reason = "the server refused the batch (HTTP 400: Cannot change already existing file's visibility level.)"
    assert failed == [f"failed other.bin: {reason}", f"failed tool.bin: {reason}"]
    assert deployment.puts() == []


# --- what is safe to retry ------------------------------------------------------------------------


async def test_upload_complete_answering_409_is_asked_again_until_202(deployment: Deployment, tmp_path: Path) -> None:
    data = payload("late", 70_000)
    write_files(tmp_path / "up", {"late.bin": (data, "public")})
    auth_file = write_auth_file(tmp_path, UPLOADER)

    async def not_yet(request: web.Request) -> web.StreamResponse:
        detail = "The uploaded file has not arrived yet; retry later."
        return problem_response(409, detail, {"X-Retry-After": "0", "Retry-After": "0"})

    deployment.front.inject(lambda r: r.path.startswith("/upload/complete/"), not_yet)
    ran = await run_upload(tmp_path / "up", *upload_args(deployment, auth_file))

    assert ran.status == 0, ran.stdout + ran.stderr
    assert len(deployment.front.requests("GET", "/upload/complete/")) == 2
    assert len(deployment.puts()) == 1
    assert await fetch_back(deployment.proxy, auth_file, "late.bin", data, tmp_path / "back") == data


async def test_a_503_is_retried_after_retry_after(deployment: Deployment, tmp_path: Path) -> None:
    data = payload("busy", 80_000)
    write_files(tmp_path / "up", {"busy.bin": (data, "internal")})
    auth_file = write_auth_file(tmp_path, UPLOADER)

    async def unavailable(request: web.Request) -> web.StreamResponse:
        await request.read()
        return problem_response(503, "The object store is unavailable; retry later.", {"Retry-After": "0"})

    deployment.front.inject(lambda r: r.method == "POST", unavailable)
    deployment.front.inject(lambda r: r.path.startswith("/upload/complete/"), unavailable)
    ran = await run_upload(tmp_path / "up", *upload_args(deployment, auth_file))

    assert ran.status == 0, ran.stdout + ran.stderr
    posts = deployment.front.requests("POST", "/upload")
    assert len(posts) == 2
    # Signed afresh: the proxy refuses a replayed Hawk nonce.
    assert posts[0].headers["Authorization"] != posts[1].headers["Authorization"]
    assert len(deployment.front.requests("GET", "/upload/complete/")) == 2
    assert await fetch_back(deployment.proxy, auth_file, "busy.bin", data, tmp_path / "back") == data


async def test_a_put_whose_connection_drops_is_sent_again(deployment: Deployment, tmp_path: Path) -> None:
    data = payload("dropped", 2 * 1024 * 1024 + 5)
    write_files(tmp_path / "up", {"dropped.bin": (data, "public")})
    auth_file = write_auth_file(tmp_path, UPLOADER)

    deployment.put_target.inject(is_put, drop_connection)
    ran = await run_upload(tmp_path / "up", *upload_args(deployment, auth_file))

    assert ran.status == 0, ran.stdout + ran.stderr
    first, second = deployment.puts()
    assert first.path == second.path
    assert await fetch_back(deployment.proxy, auth_file, "dropped.bin", data, tmp_path / "back") == data


async def test_a_put_that_keeps_failing_fails_that_file_after_a_bounded_number_of_tries(
    deployment: Deployment, tmp_path: Path
) -> None:
    # In-process, so the backoff between tries is recorded instead of slept.
    bad, good = payload("bad", 30_000), payload("fine", 30_000)
    manifest = write_files(tmp_path / "up", {"bad.bin": (bad, "public"), "fine.bin": (good, "public")})
    auth_file = write_auth_file(tmp_path, UPLOADER)
    bad_digest = hashlib.sha512(bad).hexdigest()
    for _ in range(MAX_ATTEMPTS + 1):
        deployment.put_target.inject(lambda r: is_put(r) and bad_digest in r.path, drop_connection)
    lines: list[str] = []
    waits: list[float] = []

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)

    files = read_manifest(manifest)
    async with aiohttp.ClientSession() as session:
        api = TooltoolAPI(session, deployment.url, load_credentials(auth_file, {}))
        api.sleep = no_sleep
        outcome = await upload_files(api, files, "Bug 11: flaky", None, 2, lines.append)

    assert outcome.exit_status == 1
    assert outcome.uploaded == ["fine.bin"]
    assert list(outcome.failed) == ["bad.bin"]
    assert outcome.failed["bad.bin"].startswith("the PUT to ")
    assert f"({MAX_ATTEMPTS} tries)" in outcome.failed["bad.bin"]
    assert "?" not in outcome.failed["bad.bin"]  # the put_url's query is its credential
    assert f"failed bad.bin: {outcome.failed['bad.bin']}" in lines
    assert len([p for p in deployment.puts() if bad_digest in p.path]) == MAX_ATTEMPTS
    assert waits == [1.0, 2.0, 4.0, 8.0]
    assert await fetch_back(deployment.proxy, auth_file, "fine.bin", good, tmp_path / "back") == good
    assert await deployment.proxy.index.load(bad_digest) is None


async def upload_in_process(deployment: Deployment, manifest: Path, auth_file: Path) -> tuple[Outcome, list[float]]:
    """upload_files against the deployment, with the waits between tries recorded instead of slept."""
    waits: list[float] = []

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)

    async with aiohttp.ClientSession() as session:
        api = TooltoolAPI(session, deployment.url, load_credentials(auth_file, {}))
        api.sleep = no_sleep
        outcome = await upload_files(api, read_manifest(manifest), "Bug 11: flaky", None, 2, lambda line: None)
    return outcome, waits


# The client decides this, so one store is enough: the wait for the expiry is 11 s.
@pytest.mark.parametrize("store_kind", ["local"])
@pytest.mark.parametrize("proxy_settings", [{"upload_url_ttl": "10"}])  # the shortest the proxy allows
async def test_a_put_url_that_expired_during_the_retries_is_said_so(deployment: Deployment, tmp_path: Path) -> None:
    data = payload("late", 1000)
    manifest = write_files(tmp_path / "up", {"late.bin": (data, "public")})

    async def hang_up_after_expiry(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(11)
        return await drop_connection(request)

    deployment.put_target.inject(is_put, hang_up_after_expiry)
    outcome, waits = await upload_in_process(deployment, manifest, write_auth_file(tmp_path, UPLOADER))

    assert outcome.exit_status == 1
    problem = outcome.failed["late.bin"]
    assert problem.startswith("its upload URL expired before the file was sent (the PUT to ")
    assert problem.endswith("; run the upload again (files already stored are skipped)")
    assert len(deployment.puts()) == 1  # not sent again to a URL that no longer works
    assert waits == [1.0]


@pytest.mark.parametrize("store_kind", ["local"])
async def test_a_server_that_stays_unavailable_fails_every_file_after_a_bounded_number_of_tries(
    deployment: Deployment, tmp_path: Path
) -> None:
    manifest = write_files(
        tmp_path / "up", {"a.bin": (payload("a", 100), "public"), "b.bin": (payload("b", 100), "public")}
    )

    async def unavailable(request: web.Request) -> web.StreamResponse:
        await request.read()
        return problem_response(503, "The object store is unavailable; retry later.", {"Retry-After": "7"})

    for _ in range(MAX_ATTEMPTS + 1):
        deployment.front.inject(lambda r: r.method == "POST", unavailable)
    outcome, waits = await upload_in_process(deployment, manifest, write_auth_file(tmp_path, UPLOADER))

    assert outcome.exit_status == 1
    assert sorted(outcome.failed) == ["a.bin", "b.bin"]
    assert "HTTP 503" in outcome.failed["a.bin"]
    assert len(deployment.front.requests("POST", "/upload")) == MAX_ATTEMPTS
    assert waits == [7.0] * (MAX_ATTEMPTS - 1)  # Retry-After, between tries
    assert deployment.puts() == []


@pytest.mark.parametrize("store_kind", ["local"])
async def test_upload_complete_answering_409_for_ever_fails_that_file(deployment: Deployment, tmp_path: Path) -> None:
    data = payload("never", 100)
    manifest = write_files(tmp_path / "up", {"never.bin": (data, "public")})

    async def not_yet(request: web.Request) -> web.StreamResponse:
        return problem_response(409, "The uploaded file has not arrived yet; retry later.", {"X-Retry-After": "60"})

    for _ in range(100):
        deployment.front.inject(lambda r: r.path.startswith("/upload/complete/"), not_yet)
    outcome, waits = await upload_in_process(deployment, manifest, write_auth_file(tmp_path, UPLOADER))

    assert outcome.exit_status == 1
    assert "still answered 409 after 1800 s" in outcome.failed["never.bin"]
    assert waits == [60.0] * 30


# --- credentials and usage errors -----------------------------------------------------------------


async def test_refused_credentials_exit_2_with_one_line(deployment: Deployment, tmp_path: Path) -> None:
    write_files(tmp_path / "up", {"internal.bin": (payload("internal", 1000), "internal")})
    auth_file = write_auth_file(tmp_path, PUBLIC_UPLOADER)  # holds upload/public only

    ran = await run_upload(tmp_path / "up", *upload_args(deployment, auth_file))

    assert ran.status == 2
    [error] = [line for line in ran.stderr.splitlines() if line.startswith("tooltool-proxy: error: ")]
    assert "HTTP 403" in error
    assert "hold the upload scopes" in error
    assert deployment.puts() == []


async def test_a_non_json_auth_file_is_sent_as_a_bearer_token(deployment: Deployment, tmp_path: Path) -> None:
    write_files(tmp_path / "up", {"b.bin": (payload("bearer", 1000), "public")})
    token_file = tmp_path / "token"
    token_file.write_text(BEARER_TOKEN + "\n")

    ran = await run_upload(tmp_path / "up", *upload_args(deployment, token_file))

    [post] = deployment.front.requests("POST", "/upload")
    assert post.headers["Authorization"] == f"Bearer {BEARER_TOKEN}"
    assert ran.status == 2  # the token holds download scopes only: the proxy answers 403


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--url", "http://127.0.0.1:9/"), "--message is required"),
        (("--message", "m", "--url", "ftp://example.com/"), "is not an http(s) URL"),
        (("--message", "m", "--url", "http://127.0.0.1:9/", "-m", "missing.tt"), "cannot read the manifest"),
    ],
)
async def test_usage_errors_exit_2_with_one_line(tmp_path: Path, args: tuple[str, ...], expected: str) -> None:
    ran = await run_upload(tmp_path, *args)

    assert ran.status == 2
    assert ran.stderr.startswith("tooltool-proxy: error: ")
    assert expected in ran.stderr
    assert len(ran.stderr.strip().splitlines()) == 1


async def test_a_record_without_visibility_is_a_usage_error(tmp_path: Path) -> None:
    data = payload("novis", 100)
    (tmp_path / "novis.bin").write_bytes(data)
    record = ManifestRecord("novis.bin", len(data), hashlib.sha512(data).hexdigest())
    (tmp_path / "manifest.tt").write_text(dump_manifest([record]))

    ran = await run_upload(tmp_path, "--url", "http://127.0.0.1:9/", "--message", "m")

    assert ran.status == 2
    assert "novis.bin has no visibility" in ran.stderr


def test_credentials_come_from_the_file_then_the_environment(tmp_path: Path) -> None:
    hawk = write_auth_file(tmp_path, UPLOADER)
    bearer = tmp_path / "token"
    bearer.write_text("abc123\n")
    env = {"TASKCLUSTER_CLIENT_ID": "from-env", "TASKCLUSTER_ACCESS_TOKEN": "env-token"}

    assert load_credentials(hawk, env) == Credentials(UPLOADER.client_id, UPLOADER.access_token)
    assert load_credentials(bearer, env) == Credentials(bearer="abc123")
    assert load_credentials(None, env) == Credentials("from-env", "env-token")
    assert load_credentials(None, {}) is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [("7", 7.0), ("0", 0.0), ("-3", 0.0), ("100000", 300.0), ("soon", 60.0), ("nan", 60.0), ("inf", 60.0)],
)
def test_waits_a_server_asks_for_are_kept_within_bounds(header: str, expected: float) -> None:
    assert wait_seconds({"X-Retry-After": header}, "X-Retry-After", 60.0) == expected


async def test_put_url_expiry_is_read_from_real_put_urls(proxy: Proxy) -> None:
    data = payload("expiry", 100)
    batch = await proxy.upload_batch(UPLOADER, {"e.bin": data})
    expiry = put_url_expiry(batch["files"]["e.bin"]["put_url"])

    assert expiry is not None
    assert abs(expiry - (time.time() + proxy.config.upload_url_ttl)) < 120


def test_the_upload_benchmark_runs_end_to_end() -> None:
    """`python -m benchmarks.upload` on small files (not a timed test: it only proves the command works)."""
    command = [sys.executable, "-m", "benchmarks.upload", "--mib", "4", "--runs", "1", "--json"]
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=120, check=False)

    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["file_mib"] == 4
    assert result["upload"]["median_mib_s"] > 0
    assert result["ratio_to_read_sha512"]["median"] > 0
    assert result["ratio_to_cold_read"]["median"] > 0
    assert result["ratio_to_protocol_bound"]["median"] > 0
    assert result["cpu_ratio_to_protocol_bound"]["median"] > 0
    assert result["protocol_bound"]["median_mib_s"] < result["sha512"]["median_mib_s"]
    assert result["server_put_s"] > 0
    assert result["server_complete_s"] > 0
    assert result["tooltool"]["median_mib_s"] > 0
    assert result["tooltool_kind"].startswith("tooltool.py-shaped stand-in")
