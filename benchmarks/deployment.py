"""What the benchmarks run against: moto_server with seeded files, proxies, and reference servers.

Files are seeded straight into the bucket as the proxy's commit step leaves them: the bytes at
`sha512/<digest>` and an index object beside them (proxy.keys spells both keys).
"""

import hashlib
import json
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig

from benchmarks.load import Hawk
from benchmarks.processes import Cores, Server, free_port, start_server
from manifests import IndexEntry, Visibility
from proxy.config import DEFAULT_SCOPE_PREFIX
from proxy.keys import artifact_key, index_key

BUCKET = "tooltool-bench"
REGION = "us-east-1"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
READER = Hawk("bench-reader", "bench-reader-access-token-0123456789abcdef")
READER_SCOPES = [f"{DEFAULT_SCOPE_PREFIX}/download/public", f"{DEFAULT_SCOPE_PREFIX}/download/internal"]
PATTERN_BLOCK = 1024 * 1024


@dataclass(frozen=True)
class Seeded:
    digest: str
    size: int


def pattern(size: int) -> bytes:
    """`size` bytes that do not compress (one random MiB, repeated)."""
    block = os.urandom(PATTERN_BLOCK)
    return (block * (size // PATTERN_BLOCK + 1))[:size]


def start_moto(cores: Cores) -> Server:
    port = free_port()
    return start_server(
        "moto", ["-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], port, cores=cores.server, env=AWS_ENV
    )


class Bucket:
    """The benchmark's bucket on moto, through boto3 (the seeding side, not the measured one)."""

    def __init__(self, endpoint: str) -> None:
        self.client: Any = boto3.client("s3", endpoint_url=endpoint, region_name=REGION, **_credentials())
        self.client.create_bucket(Bucket=BUCKET)

    def put_file(self, data: bytes, visibility: Visibility) -> Seeded:
        digest = hashlib.sha512(data).hexdigest()
        self.put_object(artifact_key(digest), data)
        self.put_index(digest, len(data), visibility)
        return Seeded(digest, len(data))

    def put_index(self, digest: str, size: int, visibility: Visibility) -> None:
        entry = IndexEntry(digest=digest, size=size, visibility=visibility, instances=(REGION,), filenames=("f",))
        self.client.put_object(Bucket=BUCKET, Key=index_key(digest), Body=entry.to_json())

    def put_object(self, key: str, data: bytes) -> None:
        if len(data) < 64 * 1024**2:
            self.client.put_object(Bucket=BUCKET, Key=key, Body=data)
            return
        config = TransferConfig(multipart_chunksize=64 * 1024**2, max_concurrency=4)
        self.client.upload_fileobj(_Reader(data), BUCKET, key, Config=config)

    def copy(self, source: str, destination: str) -> None:
        self.client.copy({"Bucket": BUCKET, "Key": source}, BUCKET, destination)


class _Reader:
    """A file object over bytes without copying them (upload_fileobj wants one)."""

    def __init__(self, data: bytes) -> None:
        self._view = memoryview(data)
        self._position = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._view) if size < 0 else min(len(self._view), self._position + size)
        chunk = bytes(self._view[self._position : end])
        self._position = end
        return chunk


def _credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": AWS_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    }


def write_clients_file(path: Path) -> Path:
    doc = {"clients": [{"clientId": READER.client_id, "accessToken": READER.access_token, "scopes": READER_SCOPES}]}
    path.write_text(json.dumps(doc))
    return path


def start_proxy(
    moto: Server, workdir: Path, cores: Cores, name: str = "proxy", workers: int = 1, **overrides: str
) -> Server:
    """`python -m proxy serve [--workers N]` on the bucket; keyword arguments become TOOLTOOL_* variables."""
    port = free_port()
    env = {
        **AWS_ENV,
        "TOOLTOOL_STORE": f"s3://{BUCKET}/",
        "TOOLTOOL_S3_ENDPOINT_URL": moto.url,
        "TOOLTOOL_CLIENTS_FILE": str(write_clients_file(workdir / "clients.json")),
        "TOOLTOOL_PUBLIC_URL": f"http://127.0.0.1:{port}",
        **{f"TOOLTOOL_{key.upper()}": value for key, value in overrides.items()},
    }
    args = ["-m", "proxy", "serve", "--port", str(port), "--workers", str(workers)]
    return start_server(
        name, args, port, cores=cores.server, env=env, log_path=workdir / f"{name}.log", ready_path="/__lbheartbeat__"
    )


def start_reference(answer: dict[str, Any], workdir: Path, cores: Cores, name: str) -> Server:
    """The trivial aiohttp handler answering `answer` (status, headers, body) to every GET."""
    answer_file = workdir / f"{name}.json"
    answer_file.write_text(json.dumps(answer))
    port = free_port()
    args = ["-m", "benchmarks.reference", "--port", str(port), "--response", str(answer_file)]
    return start_server(name, args, port, cores=cores.server)


def record_answer(url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """The response to GET `url`, not following redirects, as the reference server replays it."""
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - loopback URL we built
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            status, reply_headers, body = response.status, response.headers, response.read()
    except urllib.error.HTTPError as answered:
        status, reply_headers, body = answered.code, answered.headers, answered.read()
        answered.close()
    kept = {k: v for k, v in reply_headers.items() if k.lower() in ("location", "cache-control", "content-type")}
    return {"status": status, "headers": kept, "body": body.decode()}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None
