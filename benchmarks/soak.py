"""Load and soak: many concurrent tooltool clients doing a mixed workload for a fixed time.

    python -m benchmarks.soak --duration 120 --clients 64 --store s3

Run it from the repository root. It starts everything it needs on 127.0.0.1 (for `--store s3`
moto_server and a bucket; the proxy as `python -m proxy serve` with a clients file it writes),
seeds a few files, then runs `--clients` aiohttp clients for `--duration` seconds. Each client
picks operations by weight (WEIGHTS): anonymous downloads of public files and Hawk-signed
downloads of internal ones (following the redirect to the store as tooltool.py does, and
checking every byte), metadata reads, searches, and uploads exactly as tooltool.py makes them
(POST /upload, a bare PUT per put_url, GET /upload/complete until 202, honouring X-Retry-After).
When the time is up no new operation starts; the ones in flight get `--grace` seconds more,
then the run stops hard. Finally every uploaded file is downloaded again and its sha512 checked.

It prints a progress line every few seconds (stderr), then requests, errors and p50/p99
latency per operation, req/s and the final check (stdout; `--json` for a machine-readable
report). Exit status 0 only when no request got a 5xx or any other unexpected answer, no
download returned wrong bytes, and every upload is downloadable with the right bytes.
"""

import argparse
import asyncio
import contextlib
import hashlib
import io
import itertools
import json
import math
import random
import secrets
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.deployment import AWS_ENV, BUCKET, Bucket, start_moto
from benchmarks.load import Hawk
from benchmarks.processes import Cores, Server, free_port, start_server
from proxy.config import DEFAULT_SCOPE_PREFIX
from tests.support.hawk import tooltool_header

# Relative frequency of each operation a client starts.
WEIGHTS = {
    "download_public": 40,
    "download_internal": 15,
    "file_info": 12,
    "batch_info": 6,
    "search_files": 5,
    "search_batches": 4,
    "upload": 18,
}
SEARCHES = {"search_files": "/file?q=soak", "search_batches": "/upload?q=soak"}
MIN_FILE_BYTES = 4 * 1024
MAX_FILE_BYTES = 4 * 1024 * 1024
FILES_PER_BATCH = (1, 1, 1, 2, 3)  # drawn uniformly: mostly one file, as most uploads are
REANNOUNCE_SHARE = 0.1  # uploads that announce a file already stored (the answer has no put_url)
SEED_FILES_PER_VISIBILITY = 4
REQUEST_TIMEOUT_SECONDS = 60
PROGRESS_SECONDS = 5.0
FINAL_CHECK_CONCURRENCY = 16
ERROR_SAMPLES = 10
UPLOADER_ACTIONS = ("download/public", "download/internal", "upload/public", "upload/internal")


class SoakError(Exception):
    """The run could not start (or seed); str() says why."""


class Failed(Exception):
    """A request got no answer, or one it may not get here; already counted in the Stats."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class StoredFile:
    digest: str
    size: int
    visibility: str
    filename: str


@dataclass(frozen=True)
class NewFile:
    """Bytes to upload and what the batch announces about them."""

    data: bytes
    announced: StoredFile

    @classmethod
    def of(cls, filename: str, data: bytes, visibility: str) -> "NewFile":
        return cls(data, StoredFile(hashlib.sha512(data).hexdigest(), len(data), visibility, filename))


@dataclass
class OperationStats:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    errors: int = 0


@dataclass
class Stats:
    """What the clients saw: per operation, every request's latency and status."""

    operations: defaultdict[str, OperationStats] = field(default_factory=lambda: defaultdict(OperationStats))
    server_errors: int = 0
    integrity_failures: int = 0
    protocol_errors: int = 0
    uploads_committed: int = 0
    uploads_reannounced: int = 0
    samples: list[str] = field(default_factory=list)

    def record(self, operation: str, seconds: float, status: str, expected: bool, what: str) -> None:
        stats = self.operations[operation]
        stats.latencies.append(seconds)
        stats.statuses[status] += 1
        if not expected:
            stats.errors += 1
            if status.isdigit() and int(status) >= 500:
                self.server_errors += 1
            self.sample(f"{operation}: {what} -> {status}")

    def protocol_error(self, what: str) -> None:
        self.protocol_errors += 1
        self.sample(what)

    def integrity_failure(self, what: str) -> None:
        self.integrity_failures += 1
        self.sample(what)

    def sample(self, text: str) -> None:
        if len(self.samples) < ERROR_SAMPLES:
            self.samples.append(text)

    @property
    def requests(self) -> int:
        return sum(len(stats.latencies) for stats in self.operations.values())

    @property
    def errors(self) -> int:
        request_errors = sum(stats.errors for stats in self.operations.values())
        return request_errors + self.protocol_errors + self.integrity_failures


@dataclass
class Known:
    """Files committed so far (what downloads and metadata reads pick from) and batches."""

    files: dict[str, list[StoredFile]] = field(default_factory=lambda: {"public": [], "internal": []})
    batches: list[tuple[int, str]] = field(default_factory=list)  # (id, a search text unique to it)

    def add_file(self, file: StoredFile) -> None:
        self.files[file.visibility].append(file)

    def pick(self, rng: random.Random, visibility: str | None = None) -> StoredFile | None:
        candidates = self.files[visibility] if visibility else [*self.files["public"], *self.files["internal"]]
        return rng.choice(candidates) if candidates else None

    def unique_files(self) -> list[StoredFile]:
        return list({f.digest: f for files in self.files.values() for f in files}.values())


@dataclass(frozen=True)
class Deployment:
    store: str
    proxy: Server
    uploader: Hawk
    log_path: Path


def _path_of(url: str) -> str:
    """The URL without its query string: put_urls and redirects are signed there."""
    return url.split("?", 1)[0]


class Client:
    """One tooltool client: its own connection pool, random stream and counters."""

    def __init__(
        self,
        name: str,
        session: aiohttp.ClientSession,
        deployment: Deployment,
        known: Known,
        stats: Stats,
        rng: random.Random,
        nonces: Iterator[str],
    ) -> None:
        self.name = name
        self.session = session
        self.base_url = deployment.proxy.url
        self.uploader = deployment.uploader
        self.known = known
        self.stats = stats
        self.rng = rng
        self.nonces = nonces
        self.uploads = itertools.count()

    async def fetch(
        self,
        operation: str,
        method: str,
        url: str,
        expect: set[int],
        *,
        signed: bool = False,
        json_body: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """One request, timed and counted under `operation`; Failed unless its status is in `expect`.

        Signed requests carry Hawk as tooltool.py makes it (a payload hash only for JSON bodies)."""
        url = url if url.startswith("http") else self.base_url + url
        headers = dict(headers or {})
        json_data = None if json_body is None else json.dumps(json_body).encode()
        if json_data is not None:
            headers["Content-Type"] = "application/json"
        if signed:
            headers["Authorization"] = tooltool_header(
                self.uploader.client_id, self.uploader.access_token, method, url, json_data, nonce=next(self.nonces)
            )
        # Large bytes bodies go through a file object, so aiohttp does not copy them on the loop.
        content = json_data if json_data is not None else io.BytesIO(data) if data is not None else None
        what = f"{method} {_path_of(url)}"
        started = time.perf_counter()
        try:
            async with self.session.request(method, url, data=content, headers=headers, allow_redirects=False) as reply:
                answer = Answer(reply.status, reply.headers, await reply.read())
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.stats.record(operation, time.perf_counter() - started, type(exc).__name__, False, what)
            raise Failed from None
        expected = answer.status in expect
        detail = "" if expected else f" {answer.body[:200]!r}"
        self.stats.record(operation, time.perf_counter() - started, str(answer.status), expected, what + detail)
        if not expected:
            raise Failed
        return answer

    async def run_until(self, deadline: float, weights: Mapping[str, int]) -> None:
        operations: dict[str, Callable[[], Awaitable[None]]] = {
            "download_public": lambda: self.download("public"),
            "download_internal": lambda: self.download("internal"),
            "file_info": self.file_info,
            "batch_info": self.batch_info,
            "search_files": self.search_files,
            "search_batches": self.search_batches,
            "upload": self.upload,
        }
        names = list(weights)
        while time.monotonic() < deadline:
            operation = self.rng.choices(names, [weights[name] for name in names])[0]
            with contextlib.suppress(Failed):
                await operations[operation]()

    # Downloads, as tooltool.py fetches: GET the proxy, follow a redirect without credentials.

    async def download(self, visibility: str) -> None:
        file = self.known.pick(self.rng, visibility)
        if file is not None:
            await self.download_file(f"download_{visibility}", file)

    async def download_file(self, operation: str, file: StoredFile) -> bool:
        """False (counted) when the bytes do not hash to the file's digest."""
        signed = file.visibility == "internal"
        answer = await self.fetch(operation, "GET", f"/sha512/{file.digest}", {200, 302}, signed=signed)
        if answer.status == 302:
            answer = await self.fetch("store_get", "GET", answer.headers["Location"], {200})
        if len(answer.body) != file.size or hashlib.sha512(answer.body).hexdigest() != file.digest:
            self.stats.integrity_failure(f"{operation}: {file.filename}: {len(answer.body)} bytes of wrong content")
            return False
        return True

    # Metadata reads and searches.

    async def file_info(self) -> None:
        file = self.known.pick(self.rng)
        if file is not None:
            answer = await self.fetch("file_info", "GET", f"/file/sha512/{file.digest}", {200}, signed=True)
            if json.loads(answer.body).get("size") != file.size:
                self.stats.protocol_error(f"file_info: {file.filename}: the size differs from the upload's")

    async def batch_info(self) -> None:
        if self.known.batches:
            batch_id, _ = self.rng.choice(self.known.batches)
            await self.fetch("batch_info", "GET", f"/upload/{batch_id}", {200}, signed=True)

    async def search_files(self) -> None:
        file = self.known.pick(self.rng)
        if file is not None:
            text = self.rng.choice((file.digest[:16], file.filename))
            await self.fetch("search_files", "GET", f"/file?q={text}", {200}, signed=True)

    async def search_batches(self) -> None:
        if self.known.batches:
            _, text = self.rng.choice(self.known.batches)
            await self.fetch("search_batches", "GET", f"/upload?q={text}", {200}, signed=True)

    # Uploads, as tooltool.py makes them.

    async def upload(self) -> None:
        existing = self.known.pick(self.rng)
        if existing is not None and self.rng.random() < REANNOUNCE_SHARE:
            await self.reannounce(existing)
        else:
            await self.upload_new([self.new_file() for _ in range(self.rng.choice(FILES_PER_BATCH))])

    def new_file(self, visibility: str | None = None) -> NewFile:
        size = int(math.exp(self.rng.uniform(math.log(MIN_FILE_BYTES), math.log(MAX_FILE_BYTES))))
        visibility = visibility or self.rng.choice(("public", "internal"))
        return NewFile.of(f"soak-{self.name}-{next(self.uploads)}.bin", self.rng.randbytes(size), visibility)

    async def upload_new(self, files: list[NewFile]) -> None:
        result = await self.post_batch([file.announced for file in files])
        put_urls = {name: entry.get("put_url") for name, entry in result["files"].items()}
        to_put = [file for file in files if put_urls.get(file.announced.filename)]
        if len(to_put) != len(files):
            self.stats.protocol_error(f"upload_post: no put_url for a new file in batch {result['id']}")
        # All PUTs at once (tooltool.py starts a thread per file); complete those that succeeded.
        puts = [self.put(put_urls[file.announced.filename], file.data) for file in to_put]
        outcomes = await asyncio.gather(*puts, return_exceptions=True)
        for file, outcome in zip(to_put, outcomes, strict=True):
            if isinstance(outcome, BaseException) and not isinstance(outcome, Failed):
                raise outcome
            if outcome is None and await self.complete(file.announced.digest):
                self.known.add_file(file.announced)
                self.stats.uploads_committed += 1

    async def reannounce(self, existing: StoredFile) -> None:
        """Announce a stored file under a new name: tooltool.py then has nothing to PUT."""
        renamed = StoredFile(
            existing.digest, existing.size, existing.visibility, f"soak-{self.name}-{next(self.uploads)}.bin"
        )
        result = await self.post_batch([renamed])
        if result["files"][renamed.filename].get("put_url"):
            self.stats.protocol_error(f"upload_post: a put_url for a stored file in batch {result['id']}")
        self.stats.uploads_reannounced += 1

    async def post_batch(self, files: list[StoredFile]) -> Any:
        search_text = f"{self.name}.{next(self.uploads)}."
        body = {
            "message": f"Bug 1: soak batch {search_text}",
            "files": {
                f.filename: {"size": f.size, "digest": f.digest, "algorithm": "sha512", "visibility": f.visibility}
                for f in files
            },
        }
        answer = await self.fetch("upload_post", "POST", "/upload", {200}, signed=True, json_body=body)
        result = json.loads(answer.body)["result"]
        self.known.batches.append((int(result["id"]), search_text))
        return result

    async def put(self, put_url: str, data: bytes) -> None:
        """Only Content-Type and Content-Length, no Authorization: the URL is the credential."""
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(len(data))}
        await self.fetch("upload_put", "PUT", put_url, {200}, data=data, headers=headers)

    async def complete(self, digest: str) -> bool:
        """Ask until 202, sleeping X-Retry-After seconds after each 409 (tooltool.py has no limit)."""
        while True:
            answer = await self.fetch(
                "upload_complete", "GET", f"/upload/complete/sha512/{digest}", {202, 409}, signed=True
            )
            if answer.status == 202:
                return True
            await asyncio.sleep(int(answer.headers.get("X-Retry-After", "60")))


# Setting up: servers, credentials, seed files.


def write_clients_file(path: Path, uploader: Hawk) -> Path:
    scopes = [f"{DEFAULT_SCOPE_PREFIX}/{action}" for action in UPLOADER_ACTIONS]
    client = {"clientId": uploader.client_id, "accessToken": uploader.access_token, "scopes": scopes}
    path.write_text(json.dumps({"clients": [client]}))
    return path


def start_deployment(store: str, workdir: Path, stack: contextlib.ExitStack) -> Deployment:
    """moto and a bucket (S3) or a directory (local), and the proxy on it; stopped by `stack`."""
    env = dict(AWS_ENV)
    if store == "s3":
        moto = start_moto(Cores(None, None))
        stack.callback(moto.stop)
        Bucket(moto.url)  # creates the bucket
        env |= {"TOOLTOOL_STORE": f"s3://{BUCKET}/", "TOOLTOOL_S3_ENDPOINT_URL": moto.url}
    else:
        env["TOOLTOOL_STORE"] = f"file://{workdir / 'data'}"
    uploader = Hawk("soak-uploader", secrets.token_hex(24))
    port = free_port()
    env |= {
        "TOOLTOOL_CLIENTS_FILE": str(write_clients_file(workdir / "clients.json", uploader)),
        "TOOLTOOL_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    log_path = workdir / "proxy.log"
    args = ["-m", "proxy", "serve", "--port", str(port)]
    proxy = start_server("proxy", args, port, cores=None, env=env, log_path=log_path, ready_path="/__lbheartbeat__")
    stack.callback(proxy.stop)
    return Deployment(store, proxy, uploader, log_path)


def reproducible_random(seed: str) -> random.Random:
    """Choices and file contents that --seed reproduces (not secrets)."""
    return random.Random(seed)  # noqa: S311


def unique_nonces() -> Iterator[str]:
    """Hawk nonces never repeated in a run (random ones could collide under load: a 401)."""
    prefix = secrets.token_hex(2)
    return (f"{prefix}{n:x}" for n in itertools.count())


async def seed(client: Client) -> None:
    """A few files of each visibility, so downloads have something to fetch from the start."""
    for visibility in ("public", "internal"):
        for _ in range(SEED_FILES_PER_VISIBILITY):
            with contextlib.suppress(Failed):
                await client.upload_new([client.new_file(visibility)])
    if client.stats.errors:
        raise SoakError("seeding failed: " + "; ".join(client.stats.samples))


async def unavailable_searches(client: Client) -> list[str]:
    """The searches this server does not implement yet (501): skipped, with a note."""
    skipped = []
    for operation, path in SEARCHES.items():
        answer = await client.fetch("setup", "GET", path, {200, 501}, signed=True)
        if answer.status == 501:
            skipped.append(operation)
            print(f"note: {path.split('?')[0]} answers 501; {operation} is skipped", file=sys.stderr)
    return skipped


# The run.


async def report_progress(stats: Stats, started: float) -> None:
    while True:
        await asyncio.sleep(PROGRESS_SECONDS)
        elapsed = time.monotonic() - started
        print(
            f"[{elapsed:5.0f} s] {stats.requests} requests ({stats.requests / elapsed:.0f}/s), "
            f"{stats.errors} errors, {stats.uploads_committed} uploads committed",
            file=sys.stderr,
            flush=True,
        )


def new_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS))


async def run_load(
    args: argparse.Namespace, deployment: Deployment, known: Known, weights: Mapping[str, int], nonces: Iterator[str]
) -> tuple[Stats, float, int]:
    """The clients for `args.duration` seconds; returns the stats, the time taken and the
    number of clients still busy at the hard stop (duration + grace)."""
    stats = Stats()
    async with contextlib.AsyncExitStack() as stack:
        sessions = [await stack.enter_async_context(new_session()) for _ in range(args.clients)]
        clients = [
            Client(str(n), session, deployment, known, stats, reproducible_random(f"{args.seed}-{n}"), nonces)
            for n, session in enumerate(sessions)
        ]
        started = time.monotonic()
        progress = asyncio.create_task(report_progress(stats, started))
        deadline = started + args.duration
        tasks = [asyncio.create_task(client.run_until(deadline, weights)) for client in clients]
        done, busy = await asyncio.wait(tasks, timeout=args.duration + args.grace)
        elapsed = time.monotonic() - started
        for task in [*busy, progress]:
            task.cancel()
        await asyncio.gather(*busy, progress, return_exceptions=True)
        for task in done:
            task.result()  # a bug in this script must not pass for a clean run
    return stats, elapsed, len(busy)


async def final_check(deployment: Deployment, known: Known, nonces: Iterator[str]) -> dict[str, Any]:
    """Download every committed file again and check its sha512."""
    stats = Stats()
    outcomes: Counter[str] = Counter()
    limit = asyncio.Semaphore(FINAL_CHECK_CONCURRENCY)
    async with new_session() as session:
        client = Client("check", session, deployment, known, stats, reproducible_random("check"), nonces)

        async def check(file: StoredFile) -> None:
            async with limit:
                try:
                    outcomes["intact" if await client.download_file("check", file) else "corrupt"] += 1
                except Failed:
                    outcomes["lost"] += 1

        files = known.unique_files()
        await asyncio.gather(*(check(file) for file in files))
    counts = {outcome: outcomes[outcome] for outcome in ("intact", "lost", "corrupt")}
    return {"files": len(files), **counts, "error_samples": stats.samples}


async def soak(args: argparse.Namespace, deployment: Deployment) -> dict[str, Any]:
    known, nonces = Known(), unique_nonces()
    async with new_session() as session:
        setup = Client("seed", session, deployment, known, Stats(), reproducible_random(f"{args.seed}-seed"), nonces)
        skipped = await unavailable_searches(setup)
        await seed(setup)
    weights = {name: weight for name, weight in WEIGHTS.items() if name not in skipped}
    print(f"soak: {args.clients} clients for {args.duration:g} s on the {args.store} store", file=sys.stderr)
    stats, elapsed, unfinished = await run_load(args, deployment, known, weights, nonces)
    print(f"load stopped after {elapsed:.1f} s; downloading every uploaded file again", file=sys.stderr)
    try:
        check: dict[str, Any] = await asyncio.wait_for(final_check(deployment, known, nonces), args.grace)
    except TimeoutError:
        check = {"files": len(known.unique_files()), "timed_out": True}
    return build_report(args, stats, elapsed, unfinished, check, skipped)


# The report.


def percentile_ms(latencies: list[float], fraction: float) -> float:
    """Nearest-rank percentile, in milliseconds."""
    ordered = sorted(latencies)
    return round(ordered[max(0, math.ceil(fraction * len(ordered)) - 1)] * 1000, 1) if ordered else 0.0


def build_report(
    args: argparse.Namespace,
    stats: Stats,
    elapsed: float,
    unfinished: int,
    check: dict[str, Any],
    skipped: list[str],
) -> dict[str, Any]:
    operations = {
        name: {
            "requests": len(op.latencies),
            "errors": op.errors,
            "p50_ms": percentile_ms(op.latencies, 0.50),
            "p99_ms": percentile_ms(op.latencies, 0.99),
            "statuses": dict(sorted(op.statuses.items())),
        }
        for name, op in sorted(stats.operations.items())
    }
    passed = (
        stats.errors == 0
        and unfinished == 0
        and not check.get("timed_out")
        and check["lost"] == 0
        and check["corrupt"] == 0
    )
    return {
        "store": args.store,
        "clients": args.clients,
        "duration_s": args.duration,
        "seed": args.seed,
        "elapsed_s": round(elapsed, 1),
        "requests": stats.requests,
        "requests_per_s": round(stats.requests / elapsed, 1),
        "errors": stats.errors,
        "server_errors": stats.server_errors,
        "integrity_failures": stats.integrity_failures,
        "protocol_errors": stats.protocol_errors,
        "unfinished_clients": unfinished,
        "error_samples": stats.samples,
        "skipped": skipped,
        "operations": operations,
        "uploads": {"committed": stats.uploads_committed, "reannounced": stats.uploads_reannounced},
        "final_check": check,
        "passed": passed,
    }


def format_report(report: dict[str, Any]) -> str:
    lines = [
        f"soak: {report['store']} store, {report['clients']} clients, {report['duration_s']:g} s, "
        f"seed {report['seed']}",
        f"{'operation':<18} {'requests':>9} {'errors':>7} {'p50 ms':>8} {'p99 ms':>8}  statuses",
    ]
    for name, op in report["operations"].items():
        statuses = " ".join(f"{status}:{count}" for status, count in op["statuses"].items())
        lines.append(
            f"{name:<18} {op['requests']:>9} {op['errors']:>7} {op['p50_ms']:>8} {op['p99_ms']:>8}  {statuses}"
        )
    check = report["final_check"]
    lines += [
        f"total: {report['requests']} requests in {report['elapsed_s']} s ({report['requests_per_s']}/s); "
        f"{report['errors']} errors ({report['server_errors']} 5xx, {report['integrity_failures']} wrong bytes, "
        f"{report['protocol_errors']} protocol), {report['unfinished_clients']} clients still busy at the hard stop",
        f"uploads: {report['uploads']['committed']} committed, {report['uploads']['reannounced']} re-announced",
        "final check: timed out"
        if check.get("timed_out")
        else f"final check: {check['files']} files downloaded again: {check['intact']} intact, "
        f"{check['lost']} lost, {check['corrupt']} corrupt",
        *(f"skipped: {name} (the server answers 501)" for name in report["skipped"]),
        *(f"error: {sample}" for sample in [*report["error_samples"], *check.get("error_samples", [])]),
        "PASS" if report["passed"] else "FAIL",
    ]
    return "\n".join(lines)


def is_error_line(line: str) -> bool:
    """A mozlog line at severity error or worse, or a traceback the process printed."""
    try:
        return int(json.loads(line).get("Severity", 7)) <= 3
    except (ValueError, AttributeError):
        return "Error" in line or "Traceback" in line


def print_proxy_errors(log_path: Path) -> None:
    """The proxy's own error lines, to explain 5xx answers (the log goes with the temp dir)."""
    errors = [line for line in log_path.read_text(errors="replace").splitlines() if is_error_line(line)]
    for line in errors[-ERROR_SAMPLES:]:
        print(f"proxy: {line}", file=sys.stderr)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.soak",
        description="Run a mixed tooltool workload (downloads, metadata reads, searches, uploads) from many "
        "concurrent clients against a proxy it starts on 127.0.0.1, for a fixed time, then check that every "
        "uploaded file downloads with the right bytes. Exit 0 only with no 5xx or other unexpected answer, "
        "no lost upload and no wrong bytes. Run it from the repository root.",
    )
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load (default: %(default)s)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default: %(default)s)")
    parser.add_argument(
        "--store", choices=("local", "s3"), default="local", help="s3 runs moto_server (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the clients' random choices and file contents")
    parser.add_argument(
        "--grace",
        type=float,
        default=60.0,
        help="seconds operations in flight at the end get before the hard stop, and the final check's limit "
        "(default: %(default)s)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.clients <= 0 or args.grace <= 0:
        parser.error("--duration, --clients and --grace must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tooltool-soak-") as tmp, contextlib.ExitStack() as servers:
        try:
            deployment = start_deployment(args.store, Path(tmp), servers)
            report = asyncio.run(soak(args, deployment))
        except SoakError as exc:
            print(f"soak: {exc}", file=sys.stderr)
            return 2
        if report["server_errors"]:
            print_proxy_errors(deployment.log_path)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
