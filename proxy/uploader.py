"""`tooltool-proxy upload`: a manifest's files, uploaded as tooltool.py does on the wire, at disk speed.

The sequence is PROTOCOL.md §4: one `POST /upload` with the batch, a bare `PUT` of each file to its
put_url (only Content-Type and Content-Length, no Authorization; only 200 counts), then
`GET /upload/complete/sha512/<d>` per file until 202, waiting `X-Retry-After` on 409. So it works
against this proxy and the legacy service alike. Requests are signed as tooltool.py signs them
(PROTOCOL.md §5): Hawk from a JSON auth file or TASKCLUSTER_CLIENT_ID/TASKCLUSTER_ACCESS_TOKEN,
Bearer from any other auth file.

What it does differently from tooltool.py: every file is checked against the manifest (size and
sha512) before anything is sent; files stream from disk in large chunks on one event loop instead
of 8 KiB pieces in threads (tooltool.py's waiting loop spins on the interpreter lock); several
files go at once; what is safe to retry is retried, with a bound; the exit status says whether
every file was committed.
"""

import asyncio
import calendar
import importlib
import json
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urljoin, urlsplit

from manifests import ManifestRecord, ValidationError, Visibility, parse_manifest
from proxy.commands.command import CommandError
from proxy.commands.progress import Progress, format_bytes
from proxy.concurrency import for_each
from proxy.hashing import hash_file

if TYPE_CHECKING:
    import aiohttp

# The HTTP client (aiohttp, yarl, mohawk: about a third of a second to import) is imported only by
# the functions that send requests: `upload --help` and a refused manifest never load it, and
# `run_upload` loads it in a worker thread while the manifest check hashes the files.
HTTP_CLIENT_MODULES = ("aiohttp", "yarl", "mohawk")

DEFAULT_MANIFEST = "manifest.tt"
DEFAULT_HOST = "tooltool.mozilla-releng.net"
DEFAULT_JOBS = 4
# Large reads: the cost per chunk (a thread hop, a socket write) vanishes against the copy.
CHUNK_BYTES = 4 * 1024 * 1024
# Bounds on retrying: attempts of one request after a 503 or a dropped connection, the longest
# wait a server may ask for, and how long (and how often) upload/complete may answer 409.
MAX_ATTEMPTS = 5
MAX_WAIT_SECONDS = 300.0
COMPLETE_PATIENCE_SECONDS = 1800.0
COMPLETE_MAX_ASKS = 200
DEFAULT_409_WAIT_SECONDS = 60  # tooltool.py's default when X-Retry-After is missing
BACKOFF_SECONDS = 1.0
# Only these statuses of a PUT are worth sending the file again for (S3's SlowDown and
# InternalError, a proxy's store failure).
RETRIED_PUT_STATUSES = frozenset({500, 502, 503, 504})
SOCKET_CONNECT_TIMEOUT = 30
SOCKET_READ_TIMEOUT = 600


class UploadRefused(Exception):
    """The server refused the whole batch for a reason the caller must fix (credentials): exit 2."""


# --- credentials (PROTOCOL.md §5) -------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    """Hawk credentials (client_id and access_token) or a Bearer token (bearer)."""

    client_id: str = ""
    access_token: str = ""
    bearer: str = ""

    def authorization(self, method: str, url: str, body: bytes | None) -> str:
        """The Authorization header tooltool.py sends: a payload hash only with a body, no ext."""
        if self.bearer:
            return f"Bearer {self.bearer}"
        import mohawk

        sender = mohawk.Sender(
            credentials={"id": self.client_id, "key": self.access_token, "algorithm": "sha256"},
            url=url,
            method=method,
            content=body if body is not None else mohawk.base.EmptyValue,
            content_type="application/json" if body is not None else mohawk.base.EmptyValue,
            always_hash_content=False,
        )
        return str(sender.request_header)


def load_credentials(auth_file: Path | None, environ: Mapping[str, str]) -> Credentials | None:
    """From the auth file (JSON Hawk credentials, or else a Bearer token), else from the
    Taskcluster variables; None means anonymous (as inside a task behind the Taskcluster proxy)."""
    if auth_file is None:
        client_id = environ.get("TASKCLUSTER_CLIENT_ID")
        access_token = environ.get("TASKCLUSTER_ACCESS_TOKEN")
        if client_id and access_token:
            return Credentials(client_id=client_id, access_token=access_token)
        if client_id or access_token:
            raise CommandError(
                "only one of TASKCLUSTER_CLIENT_ID and TASKCLUSTER_ACCESS_TOKEN is set; set both, "
                "or pass --authentication-file"
            )
        return None
    try:
        content = auth_file.expanduser().read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise CommandError(f"cannot read the authentication file {auth_file} ({reason}); check the path") from None
    try:
        doc = json.loads(content)
    except ValueError:
        if not content or any(c.isspace() for c in content):
            raise CommandError(
                f"{auth_file} is neither JSON credentials nor a Bearer token; write "
                '{"clientId": …, "accessToken": …} or the token alone into it'
            ) from None
        return Credentials(bearer=content)
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("clientId"), str)
        or not isinstance(doc.get("accessToken"), str)
    ):
        raise CommandError(f'{auth_file} is JSON but not {{"clientId": …, "accessToken": …}}; fix the file')
    return Credentials(client_id=doc["clientId"], access_token=doc["accessToken"])


def default_base_url(environ: Mapping[str, str]) -> str:
    """tooltool.py's default: through the Taskcluster proxy inside a task, else the Mozilla service."""
    host = environ.get("TOOLTOOL_HOST", DEFAULT_HOST)
    taskcluster_proxy = environ.get("TASKCLUSTER_PROXY_URL")
    return f"{taskcluster_proxy}/{host}" if taskcluster_proxy else f"https://{host}"


# --- the files, checked against the manifest before anything is sent ----------------------------


@dataclass(frozen=True)
class ManifestFile:
    """A manifest record and the path of its file (in the manifest's directory)."""

    record: ManifestRecord
    path: Path

    @property
    def name(self) -> str:
        return self.record.filename

    @property
    def visibility(self) -> Visibility:
        assert self.record.visibility is not None
        return self.record.visibility


def read_manifest(manifest: Path) -> list[ManifestFile]:
    """The manifest's records, each with the path of its file (the manifest's directory holds them)."""
    try:
        text = manifest.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise CommandError(f"cannot read the manifest {manifest} ({reason}); give its path with -m") from None
    try:
        records = parse_manifest(text)
    except ValidationError as exc:
        raise CommandError(f"{manifest}: {exc}") from None
    if not records:
        raise CommandError(f"{manifest} lists no files; add them with `tooltool.py add --visibility V FILE`")
    names: set[str] = set()
    for record in records:
        if record.visibility is None:
            raise CommandError(
                f"{manifest}: {record.filename} has no visibility; add it with "
                "`tooltool.py add --visibility public|internal` or edit the record"
            )
        if record.filename in names:
            raise CommandError(f"{manifest} lists {record.filename} twice; a batch names each file once")
        names.add(record.filename)
    return [ManifestFile(record, manifest.parent / record.filename) for record in records]


async def mismatch(file: ManifestFile, progress: Progress) -> str | None:
    """Why the file on disk is not the one its manifest record describes, or None."""
    try:
        size = file.path.stat().st_size
    except OSError as exc:
        return f"cannot read {file.path} ({exc.strerror}); the manifest's directory must hold it"
    if size != file.record.size:
        progress.advance(file.record.size)
        return f"{file.path} has {size} bytes, the manifest says {file.record.size}; fix the manifest or the file"

    try:
        # In a worker thread, in large reads: hashlib releases the GIL, so files hash in parallel.
        actual = (await hash_file(file.path, progress.advance)).digest
    except OSError as exc:
        return f"cannot read {file.path} ({exc.strerror})"
    if actual != file.record.digest:
        return (
            f"{file.path} hashes to sha512 {actual[:16]}…, the manifest says {file.record.digest[:16]}…; "
            "fix the manifest (`tooltool.py add`) or the file"
        )
    return None


async def check_files(files: list[ManifestFile], jobs: int) -> dict[str, str]:
    """{filename: what is wrong} for the files that do not match their records."""
    problems: dict[str, str] = {}
    with Progress("upload: checking", sum(f.record.size for f in files), unit="byte") as progress:

        async def check(file: ManifestFile) -> None:
            problem = await mismatch(file, progress)
            if problem is not None:
                problems[file.name] = problem

        await for_each(files, check, jobs)
    return problems


# --- talking to the server ------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def detail(self) -> str:
        """The status and the error body's description (PROTOCOL.md §2), or the status alone."""
        try:
            doc = json.loads(self.body)
            error = doc.get("error", {})
            return f"HTTP {self.status}: {error.get('description') or doc.get('detail') or error.get('name')}"
        except (ValueError, AttributeError):
            return f"HTTP {self.status}"


def where(url: str) -> str:
    """A URL without its query string (a put_url's query is its credential): safe to print."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def describe(exc: BaseException) -> str:
    """A connection failure in a few words, never with the URL (it may carry a signature)."""
    import aiohttp

    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {exc.host}:{exc.port} ({exc.os_error.strerror or type(exc.os_error).__name__})"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    if isinstance(exc, OSError) and exc.strerror:
        return f"connection lost ({exc.strerror})"
    return f"connection lost ({type(exc).__name__})"


def wait_seconds(headers: Mapping[str, str], name: str, default: float) -> float:
    """The wait a server asked for in header `name` (seconds), kept within 0..MAX_WAIT_SECONDS."""
    try:
        asked = float(headers.get(name, default))
    except ValueError:
        return default
    return min(max(asked, 0.0), MAX_WAIT_SECONDS) if math.isfinite(asked) else default


def put_url_expiry(put_url: str) -> float | None:
    """When a put_url stops working, when it says: the proxy's `expires`, or S3's SigV4 date + expiry."""
    query = parse_qs(urlsplit(put_url).query)
    try:
        if "expires" in query:
            return float(query["expires"][0])
        if "X-Amz-Date" in query and "X-Amz-Expires" in query:
            signed = calendar.timegm(time.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ"))
            return signed + float(query["X-Amz-Expires"][0])
    except (ValueError, OverflowError):
        return None
    return None


class TooltoolAPI:
    """Signed requests to one tooltool server, with bounded retries of what is safe to repeat."""

    def __init__(self, session: "aiohttp.ClientSession", base_url: str, credentials: Credentials | None) -> None:
        self.session = session
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.credentials = credentials
        self.sleep: Callable[[float], Any] = asyncio.sleep

    def url(self, path: str) -> str:
        return urljoin(self.base_url, path)

    async def call(self, method: str, url: str, body: bytes | None = None) -> Answer:
        """One request, signed afresh (each Hawk nonce is used once)."""
        from yarl import URL

        headers = {"Content-Type": "application/json"} if body is not None else {}
        if self.credentials is not None:
            headers["Authorization"] = self.credentials.authorization(method, url, body)
        # encoded=True: the URL goes out byte for byte as it was signed, never re-quoted.
        async with self.session.request(
            method, URL(url, encoded=True), data=body, headers=headers, allow_redirects=False
        ) as response:
            return Answer(response.status, response.headers, await response.read())

    async def call_retrying(self, method: str, url: str, body: bytes | None = None, *, idempotent: bool) -> Answer:
        """Retry a 503 (after Retry-After) and a failed connection. A request that is not
        idempotent is sent again only when it never left (the connection was not made)."""
        import aiohttp

        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                answer = await self.call(method, url, body)
            except (aiohttp.ClientConnectionError, TimeoutError) as exc:
                retriable = idempotent or isinstance(exc, aiohttp.ClientConnectorError)
                if not retriable or attempt == MAX_ATTEMPTS:
                    raise
                await self.sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
                continue
            if answer.status != 503 or attempt == MAX_ATTEMPTS:
                return answer
            await self.sleep(wait_seconds(answer.headers, "Retry-After", BACKOFF_SECONDS))
        raise AssertionError("unreachable")


# --- the upload -----------------------------------------------------------------------------------


@dataclass
class Outcome:
    uploaded: list[str] = field(default_factory=list)
    already_stored: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def exit_status(self) -> int:
        return 1 if self.failed else 0


async def file_chunks(path: Path, progress: Progress) -> AsyncIterator[bytes]:
    """The file from disk in large chunks, read off the event loop (never all of it in memory)."""
    file = await asyncio.to_thread(path.open, "rb", buffering=0)
    try:
        while chunk := await asyncio.to_thread(file.read, CHUNK_BYTES):
            progress.advance(len(chunk))
            yield chunk
    finally:
        file.close()


async def put_file(api: TooltoolAPI, file: ManifestFile, put_url: str) -> str | None:
    """PUT the file as tooltool.py does; None once the target answered 200, else why not."""
    import aiohttp
    from yarl import URL

    expires = put_url_expiry(put_url)
    headers = {"Content-Type": "application/octet-stream", "Content-Length": str(file.record.size)}
    problem = ""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        if expires is not None and time.time() > expires:
            return (
                f"its upload URL expired before the file was sent ({problem or 'too slow'}); "
                "run the upload again (files already stored are skipped)"
            )
        what = f"upload {file.name}" + (f" (try {attempt})" if attempt > 1 else "")
        with Progress(what, file.record.size, unit="byte") as progress:
            try:
                async with api.session.put(
                    URL(put_url, encoded=True),  # a presigned URL's query must go out exactly as signed
                    data=file_chunks(file.path, progress),
                    headers=headers,
                    # Nothing but what tooltool.py's http.client PUT carries: the URL is the credential.
                    skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
                    allow_redirects=False,
                ) as response:
                    answer = Answer(response.status, response.headers, await response.read())
            except (aiohttp.ClientConnectionError, TimeoutError) as exc:
                problem = f"the PUT to {where(put_url)} failed: {describe(exc)}"
                if attempt < MAX_ATTEMPTS:
                    await api.sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
                continue
        if answer.status == 200:
            return None
        problem = f"the PUT to {where(put_url)} answered {answer.detail()}"
        if answer.status in RETRIED_PUT_STATUSES:
            if attempt < MAX_ATTEMPTS:
                await api.sleep(wait_seconds(answer.headers, "Retry-After", BACKOFF_SECONDS * 2 ** (attempt - 1)))
            continue
        if answer.status == 403 and expires is not None and time.time() > expires:
            return f"its upload URL expired ({problem}); run the upload again (files already stored are skipped)"
        return problem
    return f"{problem} ({MAX_ATTEMPTS} tries)"


async def complete(api: TooltoolAPI, digest: str) -> str | None:
    """Ask upload/complete until 202 (None); 409 waits X-Retry-After, as tooltool.py does, but not forever."""
    import aiohttp

    url = api.url(f"upload/complete/sha512/{digest}")
    waited = 0.0
    for _ in range(COMPLETE_MAX_ASKS):
        try:
            answer = await api.call_retrying("GET", url, idempotent=True)
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            return f"upload/complete failed: {describe(exc)} ({MAX_ATTEMPTS} tries)"
        if answer.status == 202:
            return None
        if answer.status != 409:
            return f"upload/complete answered {answer.detail()}"
        wait = wait_seconds(answer.headers, "X-Retry-After", DEFAULT_409_WAIT_SECONDS)
        if waited + wait > COMPLETE_PATIENCE_SECONDS:
            break
        await api.sleep(wait)
        waited += wait
    return f"upload/complete still answered 409 after {waited:.0f} s of waiting; run the upload again"


def batch_body(files: list[ManifestFile], message: str) -> bytes:
    return json.dumps(
        {
            "message": message,
            "files": {
                f.name: {
                    "size": f.record.size,
                    "digest": f.record.digest,
                    "algorithm": "sha512",
                    "visibility": f.visibility.value,
                }
                for f in files
            },
        }
    ).encode()


async def send_batch(api: TooltoolAPI, files: list[ManifestFile], message: str, region: str | None) -> dict[str, Any]:
    """POST /upload; the batch the server answered. Raises UploadRefused (fix the credentials)
    or RuntimeError (the batch failed: one line of why)."""
    import aiohttp

    url = api.url("upload") + (f"?region={quote(region, safe='')}" if region else "")
    try:
        answer = await api.call_retrying("POST", url, batch_body(files, message), idempotent=False)
    except (aiohttp.ClientConnectionError, TimeoutError) as exc:
        raise RuntimeError(f"POST {where(url)} failed: {describe(exc)}") from None
    if answer.status in (401, 403) and api.credentials is None:
        raise UploadRefused(
            f"the server refused the batch ({answer.detail()}) and no credentials were given; pass "
            "--authentication-file, or set TASKCLUSTER_CLIENT_ID and TASKCLUSTER_ACCESS_TOKEN"
        )
    if answer.status in (401, 403):
        raise UploadRefused(
            f"the server refused the batch ({answer.detail()}); check that the credentials "
            "(--authentication-file, or TASKCLUSTER_CLIENT_ID/TASKCLUSTER_ACCESS_TOKEN) hold the upload scopes"
        )
    if answer.status != 200:
        raise RuntimeError(f"the server refused the batch ({answer.detail()})")
    try:
        batch: dict[str, Any] = json.loads(answer.body)["result"]
        if not isinstance(batch.get("files"), dict):
            raise TypeError
    except (ValueError, KeyError, TypeError, AttributeError):
        raise RuntimeError(f"POST {where(url)} answered 200 without a batch; is --url a tooltool server?") from None
    return batch


async def upload_files(
    api: TooltoolAPI,
    files: list[ManifestFile],
    message: str,
    region: str | None,
    jobs: int,
    echo: Callable[[str], None],
) -> Outcome:
    """Everything after the check: the batch, then PUT and complete per file, `jobs` files at a time."""
    outcome = Outcome()
    try:
        batch = await send_batch(api, files, message, region)
    except RuntimeError as exc:
        for file in files:
            outcome.failed[file.name] = str(exc)
            echo(f"failed {file.name}: {exc}")
        return outcome
    by_name = {f.name: f for f in files}
    # Two names for the same bytes: one PUT and one complete serve both.
    sent: dict[str, asyncio.Task[str | None]] = {}

    async def put_and_complete(file: ManifestFile, put_url: str) -> str | None:
        return await put_file(api, file, put_url) or await complete(api, file.record.digest)

    async def upload_one(file: ManifestFile) -> None:
        put_url = batch["files"].get(file.name, {}).get("put_url")
        if not put_url:
            outcome.already_stored.append(file.name)
            echo(f"already stored {file.name} {file.record.digest} (batch {batch.get('id')})")
            return
        task = sent.get(file.record.digest)
        if task is None:
            task = sent[file.record.digest] = asyncio.ensure_future(put_and_complete(file, put_url))
        problem = await task
        if problem is None:
            outcome.uploaded.append(file.name)
            echo(f"uploaded {file.name} {file.record.digest} (batch {batch.get('id')})")
        else:
            outcome.failed[file.name] = problem
            echo(f"failed {file.name}: {problem}")

    await for_each(by_name.values(), upload_one, jobs)
    return outcome


def echo_line(line: str) -> None:
    print(line, flush=True)


def load_http_client() -> None:
    for name in HTTP_CLIENT_MODULES:
        importlib.import_module(name)


async def run_upload(
    manifest: Path,
    base_url: str,
    credentials: Credentials | None,
    message: str,
    region: str | None = None,
    jobs: int = DEFAULT_JOBS,
    echo: Callable[[str], None] = echo_line,
) -> Outcome:
    """Check every file against the manifest, then upload them; nothing is sent unless all match."""
    files = read_manifest(manifest)
    # The imports hold the interpreter lock, the hashing releases it: on two cores they overlap.
    loading = asyncio.ensure_future(asyncio.to_thread(load_http_client))
    try:
        problems = await check_files(files, jobs)
    finally:
        await loading
    if problems:
        for name, problem in problems.items():
            echo(f"failed {name}: {problem}")
        echo(f"nothing was sent: {len(problems)} of {len(files)} files do not match {manifest}")
        return Outcome(failed=problems)
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=None, sock_connect=SOCKET_CONNECT_TIMEOUT, sock_read=SOCKET_READ_TIMEOUT)
    connector = aiohttp.TCPConnector(limit=max(jobs, 1) + 2)
    async with aiohttp.ClientSession(
        timeout=timeout, connector=connector, cookie_jar=aiohttp.DummyCookieJar()
    ) as session:
        outcome = await upload_files(TooltoolAPI(session, base_url, credentials), files, message, region, jobs, echo)
    total = format_bytes(sum(f.record.size for f in files if f.name in outcome.uploaded))
    echo(
        f"{len(outcome.uploaded)} uploaded ({total}), {len(outcome.already_stored)} already stored, "
        f"{len(outcome.failed)} failed"
    )
    return outcome
