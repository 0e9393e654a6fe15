"""The upload sequence of PROTOCOL.md §3-§4: POST /upload, the PUT, and upload/complete.

Every test runs against the local-directory store and S3 (moto) unless it pins `store_kind`.
The clients behave as tooltool.py does: the PUT carries only Content-Type and Content-Length.
"""

import asyncio
import datetime
import hashlib
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import aiohttp
import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from manifests import parse_upload_request
from proxy import uploads as proxy_uploads
from proxy.http.context import UPLOADS
from proxy.keys import artifact_key, batch_key, pending_key, staging_key
from proxy.storage import ByteStream, PreconditionFailed
from proxy.storage.local import LocalStore
from proxy.tokens import PutGrant, put_query
from proxy.uploads import with_explicit_port
from tests.support.credentials import ADMIN, PUBLIC_UPLOADER, UPLOADER, Creds
from tests.support.moto import BUCKET
from tests.support.oracles import problem_body, sigv4_query_signature
from tests.support.proxies import Proxy, ProxyFactory

DATA = b"tooltool upload payload\n"
OTHER = b"tooltool upload PAYLOAD\n"  # same length as DATA, different bytes
NAME = "payload.bin"
MISSING = object()  # marks a key to delete in a request body
STAGING_KEY_PATH = re.compile(r"/uploads/(?P<digest>[0-9a-f]{128})/(?P<batch>\d+)$")


# --- helpers -------------------------------------------------------------------------------


def sha512(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


def file_entry(data: bytes = DATA, visibility: str = "public") -> dict[str, Any]:
    return {"size": len(data), "digest": sha512(data), "algorithm": "sha512", "visibility": visibility}


def batch_doc(files: dict[str, Any] | None = None, message: str = "Bug 1: test upload") -> dict[str, Any]:
    return {"message": message, "files": files if files is not None else {NAME: file_entry()}}


def encode(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def changed_batch(**changes: Any) -> bytes:
    """A valid one-file batch with top-level keys changed (MISSING deletes one)."""
    doc = batch_doc()
    for key, value in changes.items():
        if value is MISSING:
            del doc[key]
        else:
            doc[key] = value
    return encode(doc)


def changed_file(name: str = NAME, **changes: Any) -> bytes:
    """A valid one-file batch whose file record has keys changed (MISSING deletes one)."""
    entry = file_entry()
    for key, value in changes.items():
        if value is MISSING:
            del entry[key]
        else:
            entry[key] = value
    return encode(batch_doc({name: entry}))


async def assert_problem(response: aiohttp.ClientResponse, status: int, detail: str | None = None) -> str:
    """The response is the error body of PROTOCOL.md §2; returns its detail."""
    assert response.status == status, await response.text()
    assert response.headers["Content-Type"] == "application/json"
    body = await response.json()
    text = body["detail"]
    assert isinstance(text, str)
    assert text
    if detail is not None:
        assert text == detail
    assert body == problem_body(status, text)
    return str(text)


async def post_batch(proxy: Proxy, creds: Creds | None, body: bytes) -> aiohttp.ClientResponse:
    return await proxy.request("POST", "/upload", creds, body)


async def put_as_tooltool(proxy: Proxy, url: str, data: bytes) -> aiohttp.ClientResponse:
    """PUT with only Content-Type and Content-Length, keeping the response to inspect its body."""
    response = await proxy.session.put(url, data=data, headers={"Content-Type": "application/octet-stream"})
    await response.read()
    return response


async def complete(proxy: Proxy, digest: str, creds: Creds | None = UPLOADER) -> aiohttp.ClientResponse:
    return await proxy.request("GET", f"/upload/complete/sha512/{digest}", creds)


async def download(proxy: Proxy, digest: str, creds: Creds | None = UPLOADER) -> tuple[int, bytes]:
    return await proxy.download(digest, creds)


async def stored(proxy: Proxy, key: str) -> bytes | None:
    return await proxy.store.read(key)


def batch_of(put_url: str) -> int:
    """The batch id a put_url stages into (the proxy's query, or the S3 staging key)."""
    parts = urlsplit(put_url)
    query = parse_qs(parts.query)
    if "batch" in query:
        return int(query["batch"][0])
    match = STAGING_KEY_PATH.search(parts.path)
    assert match is not None, put_url
    return int(match["batch"])


async def stage(proxy: Proxy, put_url: str, data: bytes) -> None:
    """Bytes arrive in the staging key without the proxy checking them first.

    On S3 that is the presigned PUT itself; through the proxy's own PUT endpoint wrong bytes are
    refused at once, so they are written behind its back, as a racing writer would.
    """
    if "/upload/put/" in put_url:
        digest = urlsplit(put_url).path.rsplit("/", 1)[1]
        await proxy.store.write(staging_key(digest, batch_of(put_url)), data, "application/octet-stream")
    else:
        assert await proxy.put(put_url, data) == 200


async def start_upload(proxy: Proxy, creds: Creds, data: bytes = DATA, name: str = NAME) -> str:
    """POST a one-file public batch; returns the file's put_url."""
    result = await proxy.upload_batch(creds, {name: data})
    put_url = result["files"][name]["put_url"]
    assert isinstance(put_url, str)
    return put_url


@pytest.fixture
async def proxied(make_proxy: ProxyFactory, store_kind: str) -> Proxy:
    """A proxy whose put_urls point at its own PUT endpoint (always so on the local store)."""
    return await make_proxy() if store_kind == "local" else await make_proxy(upload_target="proxy")


# --- the whole sequence --------------------------------------------------------------------


@pytest.mark.parametrize("visibility", ["public", "internal"])
async def test_full_upload_sequence_makes_the_file_downloadable(proxy: Proxy, visibility: str) -> None:
    result = await proxy.upload_batch(UPLOADER, {NAME: DATA}, visibility)
    put_url = result["files"][NAME]["put_url"]
    assert await proxy.put(put_url, DATA) == 200
    response = await complete(proxy, sha512(DATA))
    assert response.status == 202, await response.text()

    assert await download(proxy, sha512(DATA)) == (200, DATA)
    assert await stored(proxy, artifact_key(sha512(DATA))) == DATA
    entry = await proxy.index.read_entry(sha512(DATA))
    assert entry is not None
    assert (entry.visibility.value, entry.size, entry.filenames) == (visibility, len(DATA), (NAME,))
    assert [key async for key in proxy.store.list_keys("uploads/")] == []


async def test_upload_response_has_the_batch_shape(proxy: Proxy) -> None:
    result = await proxy.upload_batch(UPLOADER, {NAME: DATA, "other.bin": OTHER})

    assert set(result) == {"id", "uploaded", "author", "message", "files"}
    assert isinstance(result["id"], int)
    assert not isinstance(result["id"], bool)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", result["uploaded"])
    assert result["author"] == UPLOADER.client_id
    assert result["message"] == "Bug 1: test upload"
    assert set(result["files"]) == {NAME, "other.bin"}
    for name, data in ((NAME, DATA), ("other.bin", OTHER)):
        record = result["files"][name]
        assert set(record) == {"algorithm", "digest", "size", "visibility", "has_instances", "put_url"}
        assert {k: v for k, v in record.items() if k != "put_url"} == {**file_entry(data), "has_instances": False}
        assert batch_of(record["put_url"]) == result["id"]
    assert await stored(proxy, batch_key(result["id"])) is not None


async def test_second_batch_for_a_stored_file_gets_no_put_url(proxy: Proxy) -> None:
    await proxy.upload(UPLOADER, NAME, DATA)
    before = await proxy.snapshot()

    result = await proxy.upload_batch(ADMIN, {"again.bin": DATA})

    record = result["files"]["again.bin"]
    assert "put_url" not in record
    assert record["has_instances"] is True
    assert result["author"] == ADMIN.client_id
    added = {key for key in set(await proxy.snapshot()) - set(before) if not key.startswith("journal/")}
    assert added == {batch_key(result["id"])}  # no pending upload for a stored file


# --- validation of POST /upload ------------------------------------------------------------

UPPER_DIGEST = sha512(DATA).upper()
INVALID_BATCHES = [
    pytest.param(b"{not json", id="malformed-json"),
    pytest.param(b"\xff\xfe{}", id="not-utf8"),
    pytest.param(b"[]", id="json-list"),
    pytest.param(b'"upload"', id="json-string"),
    pytest.param(b"42", id="json-number"),
    pytest.param(b"null", id="json-null"),
    pytest.param(changed_batch(message=MISSING), id="message-missing"),
    pytest.param(changed_batch(message=""), id="message-empty"),
    pytest.param(changed_batch(message="   "), id="message-blank"),
    pytest.param(changed_batch(message=42), id="message-number"),
    pytest.param(changed_batch(message=["Bug 1"]), id="message-list"),
    pytest.param(changed_batch(message="x" * 4097), id="message-too-long"),
    pytest.param(changed_batch(files=MISSING), id="files-missing"),
    pytest.param(changed_batch(files={}), id="files-empty"),
    pytest.param(changed_batch(files=[file_entry()]), id="files-list"),
    pytest.param(changed_batch(files="payload.bin"), id="files-string"),
    pytest.param(changed_batch(author="someone-else"), id="author-present"),
    pytest.param(changed_file(algorithm="md5"), id="algorithm-md5"),
    pytest.param(changed_file(algorithm=MISSING), id="algorithm-missing"),
    pytest.param(changed_file(digest=UPPER_DIGEST), id="digest-upper-case"),
    pytest.param(changed_file(digest=sha512(DATA)[:127]), id="digest-127-chars"),
    pytest.param(changed_file(digest=sha512(DATA) + "0"), id="digest-129-chars"),
    pytest.param(changed_file(digest="g" * 128), id="digest-not-hex"),
    pytest.param(changed_file(digest=MISSING), id="digest-missing"),
    pytest.param(changed_file(visibility=MISSING), id="visibility-missing"),
    pytest.param(changed_file(visibility="secret"), id="visibility-unknown"),
    pytest.param(changed_file(size=MISSING), id="size-missing"),
    pytest.param(changed_file(size=str(len(DATA))), id="size-string"),
    pytest.param(changed_file(size=True), id="size-bool"),
    pytest.param(changed_file(size=-1), id="size-negative"),
    pytest.param(changed_file(size=float(len(DATA))), id="size-float"),
    pytest.param(changed_file(name="dir/payload.bin"), id="filename-slash"),
    pytest.param(changed_file(name="dir\\payload.bin"), id="filename-backslash"),
    pytest.param(encode(batch_doc({NAME: "not an object"})), id="file-record-not-object"),
    pytest.param(encode(batch_doc({f"f{i}.bin": file_entry() for i in range(1001)})), id="1001-files"),
]


@pytest.mark.parametrize("body", INVALID_BATCHES)
async def test_invalid_batch_is_400_and_changes_nothing(proxy: Proxy, body: bytes) -> None:
    before = await proxy.snapshot()
    await assert_problem(await post_batch(proxy, UPLOADER, body), 400)
    assert await proxy.snapshot() == before


async def test_message_of_4096_characters_is_accepted(proxy: Proxy) -> None:
    response = await post_batch(proxy, UPLOADER, changed_batch(message="x" * 4096))
    assert response.status == 200, await response.text()


def test_batch_of_1000_files_is_valid() -> None:
    files = {f"f{i}.bin": file_entry() for i in range(1000)}
    assert len(parse_upload_request(batch_doc(files)).files) == 1000


async def test_body_larger_than_max_body_bytes_is_413(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(max_body_bytes="2048")
    body = changed_batch(message="Bug 1: " + "x" * 3000)
    assert len(body) > 2048
    await assert_problem(await post_batch(proxy, UPLOADER, body), 413)
    assert await proxy.snapshot() == {}


# --- scopes --------------------------------------------------------------------------------


async def test_anonymous_upload_is_403(proxy: Proxy) -> None:
    await assert_problem(await post_batch(proxy, None, encode(batch_doc())), 403)
    assert await proxy.snapshot() == {}


async def test_public_uploader_cannot_upload_an_internal_file(proxy: Proxy) -> None:
    body = encode(batch_doc({NAME: file_entry(visibility="internal")}))
    await assert_problem(await post_batch(proxy, PUBLIC_UPLOADER, body), 403)
    assert await proxy.snapshot() == {}


async def test_mixed_batch_needs_both_upload_scopes(proxy: Proxy) -> None:
    body = encode(batch_doc({NAME: file_entry(DATA, "public"), "secret.bin": file_entry(OTHER, "internal")}))
    await assert_problem(await post_batch(proxy, PUBLIC_UPLOADER, body), 403)
    assert await proxy.snapshot() == {}

    public_only = encode(batch_doc({NAME: file_entry(DATA, "public")}))
    assert (await post_batch(proxy, PUBLIC_UPLOADER, public_only)).status == 200
    assert (await post_batch(proxy, UPLOADER, body)).status == 200


async def test_complete_needs_the_upload_scope(proxy: Proxy) -> None:
    put_url = await start_upload(proxy, UPLOADER)
    assert await proxy.put(put_url, DATA) == 200
    await assert_problem(await complete(proxy, sha512(DATA), None), 403)
    assert await proxy.store.head(artifact_key(sha512(DATA))) is None


async def test_the_same_bytes_under_two_names_upload_once_and_keep_both_names(proxy: Proxy) -> None:
    body = encode(batch_doc({"a.bin": file_entry(DATA), "b.bin": file_entry(DATA)}))
    response = await post_batch(proxy, UPLOADER, body)
    assert response.status == 200, await response.text()
    files = (await response.json())["result"]["files"]
    put_url = files["a.bin"]["put_url"]
    assert files["b.bin"]["put_url"] == put_url  # one put_url: the bytes go up once

    assert await proxy.put(put_url, DATA) == 200
    assert (await complete(proxy, sha512(DATA))).status == 202

    entry = await proxy.index.read_entry(sha512(DATA))
    assert entry is not None
    assert entry.filenames == ("a.bin", "b.bin")


# --- files that already exist --------------------------------------------------------------


async def test_existing_file_with_other_visibility_is_400(proxy: Proxy) -> None:
    await proxy.upload(UPLOADER, NAME, DATA, "public")
    before = await proxy.snapshot()
    body = encode(batch_doc({"renamed.bin": file_entry(DATA, "internal")}))
    await assert_problem(
        await post_batch(proxy, UPLOADER, body), 400, "Cannot change already existing file's visibility level."
    )
    assert await proxy.snapshot() == before


async def test_existing_file_with_other_size_is_400(proxy: Proxy) -> None:
    await proxy.upload(UPLOADER, NAME, DATA, "public")
    before = await proxy.snapshot()
    body = encode(batch_doc({"renamed.bin": {**file_entry(DATA), "size": len(DATA) + 1}}))
    await assert_problem(await post_batch(proxy, UPLOADER, body), 400, "Size mismatch for renamed.bin")
    assert await proxy.snapshot() == before


# --- the proxy's own PUT endpoint ----------------------------------------------------------


async def test_proxied_put_with_tampered_signature_is_403(proxied: Proxy) -> None:
    put_url = await start_upload(proxied, UPLOADER)
    signature = parse_qs(urlsplit(put_url).query)["signature"][0]
    tampered = put_url.replace(signature, ("0" if signature[0] != "0" else "1") + signature[1:])
    before = await proxied.snapshot()
    await assert_problem(await put_as_tooltool(proxied, tampered, DATA), 403)
    assert await proxied.snapshot() == before


async def test_proxied_put_with_tampered_expiry_is_403(proxied: Proxy) -> None:
    put_url = await start_upload(proxied, UPLOADER)
    expires = parse_qs(urlsplit(put_url).query)["expires"][0]
    tampered = put_url.replace(f"expires={expires}", f"expires={int(expires) + 86400}")
    await assert_problem(await put_as_tooltool(proxied, tampered, DATA), 403)
    assert await proxied.store.head(staging_key(sha512(DATA), batch_of(put_url))) is None


async def test_proxied_put_after_expiry_is_403(make_proxy: ProxyFactory, store_kind: str) -> None:
    through_proxy = {"upload_target": "proxy"} if store_kind == "s3" else {}
    proxy = await make_proxy(upload_url_ttl="10", **through_proxy)
    put_url = await start_upload(proxy, UPLOADER)
    grant = PutGrant(sha512(DATA), batch_of(put_url), len(DATA), int(time.time()) - 1)
    expired = f"{proxy.url}/upload/put/sha512/{sha512(DATA)}?{put_query(proxy.config.upload_secret, grant)}"
    detail = await assert_problem(await put_as_tooltool(proxy, expired, DATA), 403)
    assert "expired" in detail
    assert await proxy.store.head(staging_key(sha512(DATA), grant.batch_id)) is None


async def test_proxied_put_with_wrong_content_length_is_400(proxied: Proxy) -> None:
    put_url = await start_upload(proxied, UPLOADER)
    before = await proxied.snapshot()
    await assert_problem(await put_as_tooltool(proxied, put_url, DATA + b"!"), 400)
    assert await proxied.snapshot() == before


async def test_proxied_put_with_wrong_bytes_is_400_and_stages_nothing(proxied: Proxy) -> None:
    put_url = await start_upload(proxied, UPLOADER)
    before = await proxied.snapshot()
    await assert_problem(await put_as_tooltool(proxied, put_url, OTHER), 400)
    assert await proxied.snapshot() == before
    assert await proxied.store.head(staging_key(sha512(DATA), batch_of(put_url))) is None
    assert await proxied.store.head(artifact_key(sha512(DATA))) is None
    assert (await download(proxied, sha512(DATA)))[0] == 404


@pytest.mark.parametrize("digest", ["", "not-a-digest", sha512(DATA).upper()], ids=["missing", "garbage", "upper"])
async def test_proxied_put_with_bad_digest_in_path_is_400(proxied: Proxy, digest: str) -> None:
    put_url = await start_upload(proxied, UPLOADER)
    bad = put_url.replace(f"/sha512/{sha512(DATA)}?", f"/sha512/{digest}?")
    before = await proxied.snapshot()
    await assert_problem(await put_as_tooltool(proxied, bad, DATA), 400, "Invalid sha512 digest")
    assert await proxied.snapshot() == before


# --- verification in upload/complete -------------------------------------------------------


async def test_complete_rejects_staged_bytes_with_the_wrong_hash(proxy: Proxy) -> None:
    digest = sha512(DATA)
    put_url = await start_upload(proxy, UPLOADER)
    await stage(proxy, put_url, OTHER)

    detail = await assert_problem(await complete(proxy, digest), 400)

    assert "do not hash" in detail
    assert NAME in detail
    assert [key async for key in proxy.store.list_keys(f"uploads/{digest}/")] == []
    assert await proxy.store.head(artifact_key(digest)) is None
    assert (await download(proxy, digest))[0] == 404


async def test_complete_rejects_staged_bytes_of_the_wrong_size(proxy: Proxy) -> None:
    digest = sha512(DATA)
    put_url = await start_upload(proxy, UPLOADER)
    await stage(proxy, put_url, DATA + b"extra")

    detail = await assert_problem(await complete(proxy, digest), 400)

    assert detail.startswith(f"Size mismatch for {NAME}")
    assert [key async for key in proxy.store.list_keys(f"uploads/{digest}/")] == []
    assert await proxy.store.head(artifact_key(digest)) is None


@pytest.mark.parametrize("store_kind", ["s3"])
async def test_wrong_bytes_through_presigned_put_never_reach_the_artifact_key(proxy: Proxy, s3_client: Any) -> None:
    digest = sha512(DATA)
    put_url = await start_upload(proxy, UPLOADER)
    assert await proxy.put(put_url, OTHER) == 200  # S3 takes any bytes; the proxy must catch them
    staged = f"uploads/{digest}/{batch_of(put_url)}"
    assert s3_client.get_object(Bucket=BUCKET, Key=staged)["Body"].read() == OTHER

    await assert_problem(await complete(proxy, digest), 400)

    listing = s3_client.list_objects_v2(Bucket=BUCKET, Prefix=f"uploads/{digest}/")
    assert listing.get("KeyCount") == 0
    assert s3_client.list_objects_v2(Bucket=BUCKET, Prefix="sha512/").get("KeyCount") == 0
    assert (await download(proxy, digest))[0] == 404


async def test_retry_after_failed_verification_succeeds(proxy: Proxy) -> None:
    digest = sha512(DATA)
    await stage(proxy, await start_upload(proxy, UPLOADER), OTHER)
    await assert_problem(await complete(proxy, digest), 400)

    assert await proxy.upload(UPLOADER, NAME, DATA) == digest

    assert await download(proxy, digest) == (200, DATA)


async def test_complete_before_the_put_is_409_with_retry_after(proxy: Proxy) -> None:
    digest = sha512(DATA)
    put_url = await start_upload(proxy, UPLOADER)

    for _ in range(2):
        response = await complete(proxy, digest)
        await assert_problem(response, 409)
        assert int(response.headers["X-Retry-After"]) > 0

    assert await proxy.put(put_url, DATA) == 200
    assert (await complete(proxy, digest)).status == 202


async def test_complete_with_nothing_pending_is_404(proxy: Proxy) -> None:
    await assert_problem(await complete(proxy, sha512(DATA)), 404)


async def test_complete_with_a_bad_digest_is_400(proxy: Proxy) -> None:
    await assert_problem(await complete(proxy, "not-a-digest"), 400, "Invalid sha512 digest")


async def test_expired_upload_without_bytes_is_400(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(upload_url_ttl="10")
    digest = sha512(DATA)
    put_url = await start_upload(proxy, UPLOADER)
    await assert_problem(await complete(proxy, digest), 409)

    proxy.app[UPLOADS].clock = lambda: time.time() + 11
    detail = await assert_problem(await complete(proxy, digest), 400)

    assert "expired" in detail
    assert await proxy.store.head(pending_key(digest, batch_of(put_url))) is None
    await assert_problem(await complete(proxy, digest), 404)


# --- concurrency and races -----------------------------------------------------------------


async def test_two_clients_uploading_the_same_file_at_once_both_succeed(proxy: Proxy) -> None:
    digest = sha512(DATA)
    first, second = await asyncio.gather(
        proxy.upload_batch(UPLOADER, {"first.bin": DATA}), proxy.upload_batch(ADMIN, {"second.bin": DATA})
    )
    urls = [first["files"]["first.bin"]["put_url"], second["files"]["second.bin"]["put_url"]]
    assert await asyncio.gather(*(proxy.put(url, DATA) for url in urls)) == [200, 200]

    responses = await asyncio.gather(complete(proxy, digest, UPLOADER), complete(proxy, digest, ADMIN))

    assert [r.status for r in responses] == [202, 202]
    assert [key async for key in proxy.store.list_keys("sha512/")] == [artifact_key(digest)]
    assert await stored(proxy, artifact_key(digest)) == DATA
    entry = await proxy.index.read_entry(digest)
    assert entry is not None
    assert entry.filenames == ("first.bin", "second.bin")
    assert await download(proxy, digest) == (200, DATA)


@pytest.mark.parametrize("store_kind", ["local"])  # moto ignores CopySourceIfMatch; real S3 answers 412
async def test_bytes_replaced_before_the_commit_copy_are_not_committed(
    proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = sha512(DATA)
    put_url = await start_upload(proxy, UPLOADER)
    assert await proxy.put(put_url, DATA) == 200
    staged = staging_key(digest, batch_of(put_url))
    original = proxy.store.copy_if_unchanged
    swaps: list[str] = []

    async def swap_then_copy(
        source: str, destination: str, etag: str, size: int, tags: dict[str, str] | None = None
    ) -> None:
        if not swaps:  # a racing writer replaces the staged bytes just before they are copied
            swaps.append(source)
            await proxy.store.write(staged, OTHER, "application/octet-stream")
        await original(source, destination, etag, size, tags)

    monkeypatch.setattr(proxy.store, "copy_if_unchanged", swap_then_copy)

    response = await complete(proxy, digest)

    await assert_problem(response, 409)
    assert int(response.headers["X-Retry-After"]) > 0
    assert swaps
    assert await proxy.store.head(artifact_key(digest)) is None
    monkeypatch.undo()
    await assert_problem(await complete(proxy, digest), 400)  # the next call hashes what is there now
    assert await proxy.store.head(artifact_key(digest)) is None


async def test_bytes_swapped_back_after_hashing_are_never_committed(
    proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer holding the put_url stages bad bytes, shows good bytes only while they are
    hashed, then puts the bad bytes back (on S3 the ETag, an MD5 of the content, is the same again)."""
    digest = sha512(DATA)
    put_url = await start_upload(proxy, UPLOADER)
    await stage(proxy, put_url, OTHER)
    staged = staging_key(digest, batch_of(put_url))
    original = proxy.store.open_range

    async def good_bytes_while_hashing(key: str, start: int = 0, end: int | None = None) -> ByteStream:
        await proxy.store.write(staged, DATA, "application/octet-stream")
        chunks = await original(key, start, end)

        async def then_swap_back() -> AsyncIterator[bytes]:
            async for chunk in chunks:
                yield chunk
            await proxy.store.write(staged, OTHER, "application/octet-stream")

        return ByteStream(then_swap_back())  # type: ignore[arg-type]

    monkeypatch.setattr(proxy.store, "open_range", good_bytes_while_hashing)

    response = await complete(proxy, digest)

    assert response.status in (400, 409), await response.text()
    monkeypatch.undo()
    assert await stored(proxy, artifact_key(digest)) is None
    assert (await download(proxy, digest))[0] == 404


async def test_local_copy_if_unchanged_refuses_a_changed_source(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    await store.write("uploads/a/1", DATA)
    hashed = await store.head("uploads/a/1")
    assert hashed is not None
    await store.write("uploads/a/1", OTHER)

    with pytest.raises(PreconditionFailed):
        await store.copy_if_unchanged("uploads/a/1", "sha512/a", hashed.etag, hashed.size)

    assert await store.head("sha512/a") is None
    current = await store.head("uploads/a/1")
    assert current is not None
    await store.copy_if_unchanged("uploads/a/1", "sha512/a", current.etag, current.size)
    assert await store.read("sha512/a") == OTHER


# --- S3 presigned PUT URLs -----------------------------------------------------------------


@pytest.mark.parametrize("store_kind", ["s3"])
async def test_s3_put_url_is_a_sigv4_presigned_put_to_the_staging_key(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(upload_url_ttl="900")
    result = await proxy.upload_batch(UPLOADER, {NAME: DATA})
    put_url = result["files"][NAME]["put_url"]
    parts = urlsplit(put_url)
    query = dict(parse_qsl(parts.query))

    assert parts.path == f"/{BUCKET}/uploads/{sha512(DATA)}/{result['id']}"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Credential"].startswith("testing/")
    assert query["X-Amz-Credential"].endswith("/us-east-1/s3/aws4_request")
    assert query["X-Amz-Expires"] == "900"
    assert query["X-Amz-SignedHeaders"] == "host"
    assert query["X-Amz-Signature"] == sigv4_query_signature("PUT", put_url, "testing", "us-east-1")
    assert query["X-Amz-Signature"] != sigv4_query_signature("GET", put_url, "testing", "us-east-1")


def test_sigv4_helper_matches_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    """The helper above is checked against botocore's own presigner at a fixed time."""
    fixed = datetime.datetime(2026, 1, 2, 3, 4, 5)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *args, **kwargs: fixed)
    request = AWSRequest(method="PUT", url=f"http://127.0.0.1:9000/{BUCKET}/uploads/{'a' * 128}/17")
    botocore.auth.S3SigV4QueryAuth(Credentials("testing", "testing"), "s3", "us-east-1", expires=900).add_auth(request)
    url = request.url
    assert isinstance(url, str)

    assert dict(parse_qsl(urlsplit(url).query))["X-Amz-Date"] == "20260102T030405Z"
    assert dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"] == sigv4_query_signature(
        "PUT", url, "testing", "us-east-1"
    )


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("http://tooltool.example", "http://tooltool.example:80"),
        ("https://tooltool.example/prefix", "https://tooltool.example:443/prefix"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ],
)
def test_proxied_put_urls_always_name_their_port(base: str, expected: str) -> None:
    # tooltool.py splits host:port itself and falls back to 443, even for http URLs.
    assert with_explicit_port(base) == expected


async def test_complete_answers_202_for_a_stored_file_while_an_abandoned_batch_still_waits(proxy: Proxy) -> None:
    # A client crashed after POST /upload; it retried with a new batch that completed. Its
    # 202 got lost, so it asks again: the file is stored, the old batch's bytes never come.
    abandoned = await proxy.upload_batch(UPLOADER, {NAME: DATA})
    assert "put_url" in abandoned["files"][NAME]
    retried = await proxy.upload_batch(UPLOADER, {NAME: DATA})
    assert await proxy.put(retried["files"][NAME]["put_url"], DATA) == 200
    assert (await complete(proxy, sha512(DATA))).status == 202
    again = await complete(proxy, sha512(DATA))
    assert again.status == 202, await again.text()


async def test_a_batch_id_drawn_twice_takes_another_and_overwrites_nothing(
    proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batch ids are random within a millisecond, so two replicas can draw the same one: the
    second batch must get a new id, not replace the first record (or fail)."""
    taken, free = 1796000000000000123, 1796000000000000456
    monkeypatch.setattr(proxy_uploads, "new_batch_id", iter([taken, taken, free]).__next__)
    first = await proxy.upload_batch(UPLOADER, {"first.bin": b"first bytes"})
    second = await proxy.upload_batch(UPLOADER, {"second.bin": b"second bytes"})
    assert (first["id"], second["id"]) == (taken, free)
    stored = json.loads(await proxy.store.read(batch_key(taken)) or b"{}")
    assert set(stored["files"]) == {"first.bin"}
    assert set(json.loads(await proxy.store.read(batch_key(free)) or b"{}")["files"]) == {"second.bin"}
