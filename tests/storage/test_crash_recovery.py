"""A proxy killed with SIGKILL mid-upload (issue 5 §1): nothing appears under sha512/, and a retry succeeds.

The proxy runs as operators run it, `python -m proxy serve` in its own process, so it can be killed
for real and started again on the same store and port. Store failures and client disconnects
mid-upload are covered in test_faults.py.

Killing a process leaves its temporary objects behind: `.tmp-*` files in the local store and
incomplete multipart uploads on S3 after a kill mid-PUT, `uploads/<d>/<batch>.verifying` after a
kill mid-verification. These tests check that none of them is visible under sha512/ and that none
gets in the way of the retry.
"""

import asyncio
import contextlib
import hashlib
import io
import itertools
import json
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from proxy.keys import artifact_key, index_key, received_key, staging_key, staging_prefix, verifying_key
from tests.support.credentials import UPLOADER
from tests.support.hawk import tooltool_header
from tests.support.moto import BUCKET
from tests.support.serve import ServeProcess

MiB = 1024 * 1024
# Half of it (where the sender stalls) is more than one 16 MiB multipart part on S3.
MID_PUT_BYTES = 48 * MiB
# Large enough that hashing takes a few hundred milliseconds, so the test catches the proxy in it.
VERIFY_BYTES = 128 * MiB
UPLOAD_SECRET = "crash-recovery-upload-secret-0123456789"  # put_urls stay valid across restarts
POLL_SECONDS = 0.005


@pytest.fixture
def launch(store_env: dict[str, str], clients_file: Path, tmp_path: Path) -> Iterator[Callable[..., ServeProcess]]:
    """Start proxy processes on the parametrized store; keyword arguments become TOOLTOOL_* variables."""
    numbers = itertools.count()
    with contextlib.ExitStack() as started:

        def start(**overrides: str) -> ServeProcess:
            env = {
                **store_env,
                "TOOLTOOL_CLIENTS_FILE": str(clients_file),
                "TOOLTOOL_UPLOAD_SECRET": UPLOAD_SECRET,
                **{f"TOOLTOOL_{key.upper()}": value for key, value in overrides.items()},
            }
            return started.enter_context(ServeProcess(env, tmp_path / f"proxy-{next(numbers)}.log"))

        yield start


class StoreView:
    """The store as the bucket's owner sees it, behind the proxy's back."""

    def __init__(self, store_kind: str, store_env: dict[str, str], request: pytest.FixtureRequest) -> None:
        self.root = Path(store_env["TOOLTOOL_STORE"].removeprefix("file://"))
        self.s3: Any = request.getfixturevalue("s3_client") if store_kind == "s3" else None

    def keys(self, prefix: str) -> list[str]:
        """Visible objects under `prefix`: what a reader or the commit step could pick up."""
        if self.s3 is not None:
            pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
            return [item["Key"] for page in pages for item in page.get("Contents", [])]
        return [key for key, _ in self._files(prefix) if not Path(key).name.startswith(".tmp-")]

    def partial_writes(self, prefix: str) -> list[str]:
        """Writes begun but not finished: temporary files holding bytes, multipart uploads with parts."""
        if self.s3 is not None:
            uploads = self.s3.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix).get("Uploads", [])
            return [
                u["Key"]
                for u in uploads
                if self.s3.list_parts(Bucket=BUCKET, Key=u["Key"], UploadId=u["UploadId"]).get("Parts")
            ]
        return [key for key, size in self._files(prefix) if Path(key).name.startswith(".tmp-") and size > 0]

    def verification_started(self, proxy: ServeProcess, verifying: str) -> bool:
        """The proxy is hashing its `.verifying-<attempt>` copy (`verifying` is the prefix of its
        key): on the local store it has that file open (it opens it only to hash it); on S3 the
        copy exists (hashing follows at once)."""
        if self.s3 is not None:
            return bool(self.keys(verifying))
        return any(verifying in path for path in open_files(proxy.pid))

    def delete(self, key: str) -> None:
        if self.s3 is not None:
            self.s3.delete_object(Bucket=BUCKET, Key=key)
        else:
            (self.root / key).unlink()

    def _files(self, prefix: str) -> list[tuple[str, int]]:
        files = [path for path in self.root.rglob("*") if path.is_file()]
        keys = [(path.relative_to(self.root).as_posix(), path.stat().st_size) for path in files]
        return [(key, size) for key, size in keys if key.startswith(prefix)]


def open_files(pid: int) -> list[str]:
    paths = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(FileNotFoundError):  # closed meanwhile
            paths.append(os.readlink(fd))
    return paths


@pytest.fixture
def store_view(store_kind: str, store_env: dict[str, str], request: pytest.FixtureRequest) -> StoreView:
    return StoreView(store_kind, store_env, request)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as client:
        yield client


async def signed(
    session: aiohttp.ClientSession, proxy: ServeProcess, method: str, path: str, body: Any = None
) -> tuple[int, dict[str, str], Any]:
    """A request as tooltool.py signs it; (status, headers, JSON body or None)."""
    data = None if body is None else json.dumps(body).encode()
    url = proxy.url + path
    headers = {"Authorization": tooltool_header(UPLOADER.client_id, UPLOADER.access_token, method, url, data)}
    if data is not None:
        headers["Content-Type"] = "application/json"
    async with session.request(method, url, data=data, headers=headers, allow_redirects=False) as response:
        text = await response.text()
        return response.status, dict(response.headers), json.loads(text) if text.startswith("{") else None


async def post_batch(session: aiohttp.ClientSession, proxy: ServeProcess, data: bytes) -> tuple[int, str]:
    """POST /upload for one public file: (batch id, put_url)."""
    digest = hashlib.sha512(data).hexdigest()
    entry = {"size": len(data), "digest": digest, "algorithm": "sha512", "visibility": "public"}
    body = {"message": "Bug 1: crash recovery", "files": {"big.bin": entry}}
    status, _, answer = await signed(session, proxy, "POST", "/upload", body)
    assert status == 200, answer
    return int(answer["result"]["id"]), answer["result"]["files"]["big.bin"]["put_url"]


async def put(session: aiohttp.ClientSession, put_url: str, body: bytes | AsyncIterator[bytes], size: int) -> int:
    """PUT as tooltool.py does: only Content-Type and Content-Length, no Authorization."""
    headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
    data = io.BytesIO(body) if isinstance(body, bytes) else body
    async with session.put(put_url, data=data, headers=headers) as response:
        await response.read()
        return response.status


async def complete(session: aiohttp.ClientSession, proxy: ServeProcess, digest: str) -> tuple[int, dict[str, str]]:
    status, headers, _ = await signed(session, proxy, "GET", f"/upload/complete/sha512/{digest}")
    return status, headers


async def downloaded_digest(session: aiohttp.ClientSession, proxy: ServeProcess, digest: str) -> str:
    """sha512 of what an anonymous tooltool.py download gets (following a redirect to the store)."""
    url = f"{proxy.url}/sha512/{digest}"
    async with session.get(url, allow_redirects=False) as response:
        assert response.status in (200, 302), await response.text()
        if response.status == 302:
            url = response.headers["Location"]
    sha512 = hashlib.sha512()
    async with session.get(url) as response:
        assert response.status == 200
        async for chunk in response.content.iter_chunked(MiB):
            sha512.update(chunk)
    return sha512.hexdigest()


async def half_then_stall(data: bytes) -> AsyncIterator[bytes]:
    """The first half of `data` in 1 MiB chunks, then nothing more: the sender hangs mid-PUT."""
    for start in range(0, len(data) // 2, MiB):
        yield data[start : start + MiB]
        await asyncio.sleep(0)
    await asyncio.Event().wait()


async def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(POLL_SECONDS)
    except TimeoutError:
        pytest.fail(what)


def assert_not_committed(view: StoreView, digest: str) -> None:
    assert view.keys(artifact_key(digest)) == [], "unverified bytes are visible under sha512/"
    assert view.keys(index_key(digest)) == [], "an index entry was written for bytes never committed"


def random_bytes(size: int) -> bytes:
    """`size` bytes of a random 1 MiB block repeated: unique per test, quick to make."""
    return (os.urandom(MiB) * (size // MiB + 1))[:size]


@pytest.mark.parametrize("retry", ["same_put_url", "new_batch"])
async def test_kill_mid_put_leaves_nothing_committed_and_the_upload_can_be_retried(
    launch: Callable[..., ServeProcess], store_view: StoreView, session: aiohttp.ClientSession, retry: str
) -> None:
    proxy = launch(upload_target="proxy")
    data = random_bytes(MID_PUT_BYTES)
    digest = hashlib.sha512(data).hexdigest()
    batch_id, put_url = await post_batch(session, proxy, data)

    put_task = asyncio.create_task(put(session, put_url, half_then_stall(data), len(data)))
    await wait_until(lambda: bool(store_view.partial_writes(staging_prefix(digest))), "the PUT never reached the store")
    proxy.kill()
    with pytest.raises(aiohttp.ClientError):
        await asyncio.wait_for(put_task, timeout=10)

    proxy.start()
    assert_not_committed(store_view, digest)
    assert staging_key(digest, batch_id) not in store_view.keys(staging_prefix(digest)), "half a PUT was staged"
    status, headers = await complete(session, proxy, digest)
    assert status == 409, "complete must keep waiting for bytes that never fully arrived"
    assert headers["X-Retry-After"].isdigit()
    assert_not_committed(store_view, digest)

    if retry == "new_batch":
        _, new_put_url = await post_batch(session, proxy, data)
        assert new_put_url != put_url
        put_url = new_put_url
    assert await put(session, put_url, data, len(data)) == 200
    assert (await complete(session, proxy, digest))[0] == 202
    assert await downloaded_digest(session, proxy, digest) == digest


async def test_kill_mid_verification_leaves_nothing_committed_and_complete_can_be_retried(
    launch: Callable[..., ServeProcess],
    store_view: StoreView,
    session: aiohttp.ClientSession,
) -> None:
    proxy = launch()
    data = random_bytes(VERIFY_BYTES)
    digest = hashlib.sha512(data).hexdigest()
    batch_id, put_url = await post_batch(session, proxy, data)
    assert await put(session, put_url, data, len(data)) == 200
    # Without the record of the hash on arrival, as a presigned PUT to the store stages bytes,
    # so that upload/complete hashes them.
    store_view.delete(received_key(digest, batch_id))

    verifying = verifying_key(digest, batch_id, "")  # the prefix every attempt's copy has
    complete_task = asyncio.create_task(complete(session, proxy, digest))
    await wait_until(lambda: store_view.verification_started(proxy, verifying), "verification never started")
    proxy.freeze()  # so that what is checked next is still true when the kill lands
    assert_not_committed(store_view, digest)
    proxy.kill()
    with pytest.raises(aiohttp.ClientError):
        await asyncio.wait_for(complete_task, timeout=10)

    proxy.start()
    assert_not_committed(store_view, digest)
    async with session.get(f"{proxy.url}/sha512/{digest}", allow_redirects=False) as response:
        assert response.status == 404
    assert (await complete(session, proxy, digest))[0] == 202
    assert await downloaded_digest(session, proxy, digest) == digest
    assert store_view.keys(staging_prefix(digest)) == [], "the retry left staged bytes or a .verifying copy"
