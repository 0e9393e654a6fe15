"""The metadata API of PROTOCOL.md §3: GET/PATCH /file/sha512/<d> and GET /upload/<id>.

Files get into the store through the real upload sequence, except where a test needs bytes
without an index object. PATCH is sent as direct HTTP signed as tooltool.py signs: its own
`change-visibility` command is broken upstream (it passes five arguments to a four-argument
function). Every test runs on the local-directory store and on S3 (moto) unless it pins
`store_kind`.
"""

import hashlib
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from manifests import IndexEntry, Visibility
from proxy.files import MANAGE_NEEDS_CREDENTIALS_DETAIL
from proxy.http.context import STORES
from proxy.keys import artifact_key
from tests.support.capabilities import signing
from tests.support.credentials import ADMIN, INTERNAL_READER, NOBODY, PUBLIC_READER, UPLOADER, Creds
from tests.support.moto import BUCKET
from tests.support.oracles import problem_body
from tests.support.proxies import Proxy, ProxyFactory

PUBLIC_DATA = b"a public tool\n"
INTERNAL_DATA = b"an internal tool\n"
FORBIDDEN = (
    "You don't have the permission to access the requested resource. "
    "It is either read-protected or not readable by the server."
)
INVALID_DIGEST = "Invalid sha512 digest"
FILE_NOT_FOUND = "The requested file was not found."
BYTES_DELETED = "The file's bytes were deleted; it must be uploaded again."
BATCH_NOT_FOUND = "The requested upload batch was not found."
INVALID_BATCH_ID = "Invalid batch id: expected a positive integer of at most 19 digits."
ANONYMOUS = None
MALFORMED_DIGESTS = {
    "word": "invalid",
    "upper-case": "A" * 128,
    "too-short": "a" * 127,
    "too-long": "a" * 129,
    "not-hex": "g" * 128,
}
TO_INTERNAL = {"op": "set_visibility", "visibility": "internal"}
TO_PUBLIC = {"op": "set_visibility", "visibility": "public"}
DELETE = {"op": "delete_instances"}
METADATA_MESSAGE = "Bug 3: metadata API"


# --- helpers -------------------------------------------------------------------------------


def sha512(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


def encode(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def default_region(proxy: Proxy) -> str:
    return proxy.app[STORES].default_region


def file_answer(data: bytes, visibility: str, instances: list[str]) -> dict[str, Any]:
    """What GET and PATCH /file/sha512/<d> answer, computed from the bytes."""
    return {
        "algorithm": "sha512",
        "digest": sha512(data),
        "size": len(data),
        "visibility": visibility,
        "has_instances": bool(instances),
        "instances": instances,
    }


async def assert_problem(response: aiohttp.ClientResponse, status: int, detail: str) -> None:
    assert response.status == status, await response.text()
    assert response.headers["Content-Type"] == "application/json"
    assert await response.json() == problem_body(status, detail)


async def get_file(proxy: Proxy, digest: str, creds: Creds | None = ANONYMOUS) -> aiohttp.ClientResponse:
    return await proxy.request("GET", f"/file/sha512/{digest}", creds)


async def patch_file(proxy: Proxy, digest: str, body: bytes, creds: Creds | None = ADMIN) -> aiohttp.ClientResponse:
    return await proxy.request("PATCH", f"/file/sha512/{digest}", creds, body)


async def patched(proxy: Proxy, digest: str, *operations: dict[str, Any]) -> dict[str, Any]:
    """PATCH as an admin; the answer's JSON (which must be a 200)."""
    response = await patch_file(proxy, digest, encode(list(operations)))
    assert response.status == 200, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


async def get_batch(proxy: Proxy, batch_id: int | str, creds: Creds | None = ANONYMOUS) -> aiohttp.ClientResponse:
    return await proxy.request("GET", f"/upload/{batch_id}", creds)


async def download(proxy: Proxy, digest: str, creds: Creds | None = ANONYMOUS) -> tuple[int, bytes]:
    return await proxy.download(digest, creds)


async def assert_downloads(proxy: Proxy, data: bytes, creds: Creds | None = ANONYMOUS) -> None:
    assert await download(proxy, sha512(data), creds) == (200, data)


async def upload(proxy: Proxy, files: dict[str, tuple[bytes, str]], creds: Creds = UPLOADER) -> dict[str, Any]:
    """The whole tooltool.py sequence for one batch of {filename: (bytes, visibility)}; returns
    the POST /upload result."""
    result: dict[str, Any] = await proxy.upload_files(creds, files, METADATA_MESSAGE)
    return result


async def start_batch(proxy: Proxy, files: dict[str, tuple[bytes, str]], creds: Creds = UPLOADER) -> dict[str, Any]:
    """POST /upload only: the batch is recorded, no bytes are sent."""
    result: dict[str, Any] = await proxy.start_files(creds, files, METADATA_MESSAGE)
    return result


async def upload_one(proxy: Proxy, data: bytes, visibility: str) -> str:
    await upload(proxy, {f"{visibility}.bin": (data, visibility)})
    return sha512(data)


async def put_bytes_without_index(proxy: Proxy, data: bytes) -> str:
    """Artifact bytes as an admin might copy them in by hand, with no index object."""
    digest = sha512(data)
    await proxy.store.write(artifact_key(digest), data, "application/octet-stream")
    return digest


# --- GET /file/sha512/<d> ------------------------------------------------------------------


async def test_get_file_answers_the_file_shape_with_instances(proxy: Proxy) -> None:
    digest = await upload_one(proxy, PUBLIC_DATA, "public")
    response = await get_file(proxy, digest)
    assert response.status == 200, await response.text()
    assert response.content_type == "application/json"
    assert await response.json() == file_answer(PUBLIC_DATA, "public", [default_region(proxy)])


@pytest.mark.parametrize("digest", MALFORMED_DIGESTS.values(), ids=MALFORMED_DIGESTS.keys())
async def test_get_file_with_a_malformed_digest_is_400(proxy: Proxy, digest: str) -> None:
    await assert_problem(await get_file(proxy, digest, ADMIN), 400, INVALID_DIGEST)


async def test_get_unknown_file_is_404(proxy: Proxy) -> None:
    await assert_problem(await get_file(proxy, sha512(b"never uploaded"), ADMIN), 404, FILE_NOT_FOUND)


@pytest.mark.parametrize(
    ("visibility", "creds", "allowed"),
    [
        ("public", ANONYMOUS, True),
        ("internal", ANONYMOUS, False),
        ("public", PUBLIC_READER, True),
        ("internal", PUBLIC_READER, False),
        ("internal", INTERNAL_READER, True),
        ("public", INTERNAL_READER, False),  # `internal` does not imply `public`
        ("public", ADMIN, True),
        ("internal", ADMIN, True),
    ],
    ids=[
        "public-anonymous-shown",
        "internal-anonymous-403",
        "public-public_reader-shown",
        "internal-public_reader-403",
        "internal-internal_reader-shown",
        "public-internal_reader-403",
        "public-admin-shown",
        "internal-admin-shown",
    ],
)
async def test_metadata_is_shown_only_to_callers_who_may_download_the_file(
    proxy: Proxy, visibility: str, creds: Creds | None, allowed: bool
) -> None:
    digest = await upload_one(proxy, PUBLIC_DATA, visibility)
    response = await get_file(proxy, digest, creds)
    if allowed:
        assert response.status == 200, await response.text()
        assert await response.json() == file_answer(PUBLIC_DATA, visibility, [default_region(proxy)])
    else:
        await assert_problem(response, 403, FORBIDDEN)


async def test_bytes_without_an_index_object_are_shown_as_internal(proxy: Proxy) -> None:
    digest = await put_bytes_without_index(proxy, PUBLIC_DATA)
    await assert_problem(await get_file(proxy, digest), 403, FORBIDDEN)
    response = await get_file(proxy, digest, INTERNAL_READER)
    assert response.status == 200, await response.text()
    assert await response.json() == file_answer(PUBLIC_DATA, "internal", [default_region(proxy)])


# --- PATCH /file/sha512/<d>: operations ------------------------------------------------------


async def test_set_visibility_internal_takes_effect_on_the_next_download(proxy: Proxy) -> None:
    digest = await upload_one(proxy, PUBLIC_DATA, "public")
    await assert_downloads(proxy, PUBLIC_DATA)  # the entry is now in this replica's cache

    answer = await patched(proxy, digest, TO_INTERNAL)

    assert answer == file_answer(PUBLIC_DATA, "internal", [default_region(proxy)])
    status, body = await download(proxy, digest)
    assert status == 403
    assert json.loads(body) == problem_body(403, FORBIDDEN)
    await assert_problem(await get_file(proxy, digest), 403, FORBIDDEN)
    await assert_downloads(proxy, PUBLIC_DATA, INTERNAL_READER)
    stored = await proxy.index.read_entry(digest)
    assert stored is not None
    assert stored.visibility is Visibility.INTERNAL


async def test_set_visibility_public_makes_an_internal_file_downloadable(proxy: Proxy) -> None:
    digest = await upload_one(proxy, INTERNAL_DATA, "internal")
    assert (await download(proxy, digest))[0] == 403  # cached as internal

    answer = await patched(proxy, digest, TO_PUBLIC)

    assert answer == file_answer(INTERNAL_DATA, "public", [default_region(proxy)])
    await assert_downloads(proxy, INTERNAL_DATA)
    response = await get_file(proxy, digest)
    assert response.status == 200
    assert (await response.json())["visibility"] == "public"


async def test_delete_instances_then_download_is_404_until_uploaded_again(proxy: Proxy) -> None:
    digest = await upload_one(proxy, PUBLIC_DATA, "public")
    await assert_downloads(proxy, PUBLIC_DATA)

    answer = await patched(proxy, digest, DELETE)

    assert answer == file_answer(PUBLIC_DATA, "public", [])
    assert await proxy.store.head(artifact_key(digest)) is None
    status, body = await download(proxy, digest)
    assert (status, json.loads(body)) == (404, problem_body(404, BYTES_DELETED))
    metadata = await get_file(proxy, digest)  # the metadata stays
    assert await metadata.json() == file_answer(PUBLIC_DATA, "public", [])

    second = await start_batch(proxy, {"again.bin": (PUBLIC_DATA, "public")})
    assert second["files"]["again.bin"]["has_instances"] is False
    assert "put_url" in second["files"]["again.bin"]
    await upload(proxy, {"again.bin": (PUBLIC_DATA, "public")})
    await assert_downloads(proxy, PUBLIC_DATA)
    restored = await get_file(proxy, digest)
    assert await restored.json() == file_answer(PUBLIC_DATA, "public", [default_region(proxy)])


@pytest.mark.parametrize(
    ("operations", "visibility", "has_instances"),
    [
        ([TO_INTERNAL, TO_PUBLIC], "public", True),
        ([TO_PUBLIC, TO_INTERNAL], "internal", True),
        ([DELETE, TO_INTERNAL], "internal", False),
        ([TO_INTERNAL, DELETE, TO_PUBLIC], "public", False),
    ],
    ids=["internal-then-public", "public-then-internal", "delete-then-internal", "internal-delete-public"],
)
async def test_operations_are_applied_in_order(
    proxy: Proxy, operations: list[dict[str, Any]], visibility: str, has_instances: bool
) -> None:
    digest = await upload_one(proxy, PUBLIC_DATA, "public")
    instances = [default_region(proxy)] if has_instances else []
    expected = file_answer(PUBLIC_DATA, visibility, instances)

    assert await patched(proxy, digest, *operations) == expected

    assert await (await get_file(proxy, digest, ADMIN)).json() == expected
    assert (await proxy.store.head(artifact_key(digest)) is not None) == has_instances


async def test_empty_operation_list_answers_the_file_and_changes_nothing(proxy: Proxy) -> None:
    digest = await upload_one(proxy, PUBLIC_DATA, "public")
    before = await proxy.snapshot()
    assert await patched(proxy, digest) == file_answer(PUBLIC_DATA, "public", [default_region(proxy)])
    assert await proxy.snapshot() == before


async def test_patch_writes_an_index_object_for_bytes_without_one(proxy: Proxy) -> None:
    digest = await put_bytes_without_index(proxy, PUBLIC_DATA)
    assert await proxy.index.read_entry(digest) is None

    answer = await patched(proxy, digest, TO_PUBLIC)

    assert answer == file_answer(PUBLIC_DATA, "public", [default_region(proxy)])
    stored = await proxy.index.read_entry(digest)
    assert stored is not None
    assert (stored.visibility, stored.size, stored.instances) == (
        Visibility.PUBLIC,
        len(PUBLIC_DATA),
        (default_region(proxy),),
    )
    await assert_downloads(proxy, PUBLIC_DATA)


@pytest.fixture
def two_regions(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """TOOLTOOL_REGIONS with `east` (the default) and `west`, each with its own artifact store."""
    if store_kind == "local":
        return f"east:file://{tmp_path / 'east'};west:file://{tmp_path / 'west'}"
    request.getfixturevalue("s3_client").create_bucket(Bucket="tooltool-west")
    return f"east:{BUCKET};west:tooltool-west"


async def test_delete_instances_deletes_the_bytes_in_every_region_listed(
    make_proxy: ProxyFactory, two_regions: str
) -> None:
    proxy = await make_proxy(regions=two_regions)
    regions = proxy.app[STORES].regions
    digest = sha512(PUBLIC_DATA)
    for store in regions.values():
        await store.write(artifact_key(digest), PUBLIC_DATA, "application/octet-stream")
    # "elsewhere" is no region of this deployment: its bytes are looked for in the default one.
    entry = IndexEntry(digest, len(PUBLIC_DATA), Visibility.PUBLIC, instances=("elsewhere", "west"))
    await proxy.index.save(entry)

    assert await patched(proxy, digest, DELETE) == file_answer(PUBLIC_DATA, "public", [])

    assert [await store.head(artifact_key(digest)) for store in regions.values()] == [None, None]
    stored = await proxy.index.read_entry(digest)
    assert stored is not None
    assert stored.instances == ()


async def test_a_commit_landing_between_a_deletions_index_write_and_its_deletes_leaves_no_listed_bytes_missing(
    make_proxy: ProxyFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two replicas: A deletes the file's instances while B commits a new upload of it. B's
    commit lands after A's index write (so the bytes look stored and are kept) and before A
    deletes them. Whatever order wins, the index must never list bytes that are gone: that
    file would answer with a redirect to nothing, and POST /upload would call it stored, so it
    could never be uploaded again."""
    deleting, committing = await make_proxy(), await make_proxy()
    digest = await upload_one(deleting, PUBLIC_DATA, "public")
    real_delete = deleting.store.delete
    commits: list[int] = []

    async def delete_after_the_other_replica_commits(key: str) -> None:
        if key == artifact_key(digest) and not commits:
            result = await start_batch(committing, {"again.bin": (PUBLIC_DATA, "public")})
            assert await committing.put(result["files"]["again.bin"]["put_url"], PUBLIC_DATA) == 200
            complete = await committing.request("GET", f"/upload/complete/sha512/{digest}", UPLOADER)
            commits.append(complete.status)
        await real_delete(key)

    monkeypatch.setattr(deleting.store, "delete", delete_after_the_other_replica_commits)
    await patched(deleting, digest, DELETE)
    monkeypatch.undo()

    assert commits == [202]
    stored = await deleting.index.read_entry(digest)
    assert stored is not None
    bytes_there = await deleting.store.head(artifact_key(digest)) is not None
    assert bool(stored.instances) == bytes_there, (stored.instances, bytes_there)
    # Either way the file can be downloaded or uploaded again, from both replicas.
    await upload(committing, {"third.bin": (PUBLIC_DATA, "public")})
    for replica in (deleting, committing):
        await assert_downloads(replica, PUBLIC_DATA)


@pytest.mark.parametrize("store_kind", ["s3"])
async def test_a_file_uploaded_again_after_delete_gets_a_freshly_signed_url(
    proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = await upload_one(proxy, PUBLIC_DATA, "public")
    first = await proxy.request("GET", f"/sha512/{digest}")
    assert first.status == 302  # its signed URL is now cached for reuse
    await patched(proxy, digest, DELETE)
    await upload(proxy, {"again.bin": (PUBLIC_DATA, "public")})

    signed = 0
    original = signing(proxy.store).presign_get

    async def counting(key: str, expires_in: int) -> str | None:
        nonlocal signed
        signed += 1
        return await original(key, expires_in)

    monkeypatch.setattr(proxy.store, "presign_get", counting)
    assert (await proxy.request("GET", f"/sha512/{digest}")).status == 302
    assert signed == 1


# --- PATCH /file/sha512/<d>: refusals -----------------------------------------------------

INVALID_BODIES = {
    "not-json": (b"{not json", "The request body is not valid JSON."),
    "empty-body": (b"", "The request body is not valid JSON."),
    "object-not-array": (encode(DELETE), "The PATCH body must be a JSON array of operations."),
    "string-not-array": (encode("delete_instances"), "The PATCH body must be a JSON array of operations."),
    "element-not-object": (encode(["delete_instances"]), "operations[0] must be a JSON object"),
    "element-is-array": (encode([[DELETE]]), "operations[0] must be a JSON object"),
    "unknown-op": (
        encode([{"op": "delete"}]),
        "operations[0]: 'op' must be one of 'set_visibility', 'delete_instances' ('delete')",
    ),
    "missing-op": (
        encode([{"visibility": "public"}]),
        "operations[0]: 'op' must be one of 'set_visibility', 'delete_instances' (missing or not a string)",
    ),
    "op-not-a-string": (
        encode([{"op": 1}]),
        "operations[0]: 'op' must be one of 'set_visibility', 'delete_instances' (missing or not a string)",
    ),
    "missing-visibility": (
        encode([{"op": "set_visibility"}]),
        "operations[0] (set_visibility): 'visibility' is required",
    ),
    "invalid-visibility": (
        encode([{"op": "set_visibility", "visibility": "secret"}]),
        "operations[0] (set_visibility): visibility must be 'public' or 'internal'",
    ),
    "null-visibility": (
        encode([{"op": "set_visibility", "visibility": None}]),
        "operations[0] (set_visibility): visibility must be 'public' or 'internal'",
    ),
    "unexpected-field": (
        encode([{"op": "delete_instances", "region": "us-west-2"}]),
        "operations[0] (delete_instances): unexpected field(s) 'region'",
    ),
    "valid-op-before-an-invalid-one": (
        encode([DELETE, TO_INTERNAL, {"op": "rename"}]),
        "operations[2]: 'op' must be one of 'set_visibility', 'delete_instances' ('rename')",
    ),
    "too-many-operations": (encode([TO_PUBLIC] * 101), "The PATCH body may hold at most 100 operations."),
}


@pytest.mark.parametrize(("body", "detail"), INVALID_BODIES.values(), ids=INVALID_BODIES.keys())
async def test_invalid_patch_body_is_400_and_changes_nothing(proxy: Proxy, body: bytes, detail: str) -> None:
    digest = await upload_one(proxy, PUBLIC_DATA, "public")
    before = await proxy.snapshot()
    await assert_problem(await patch_file(proxy, digest, body), 400, detail)
    assert await proxy.snapshot() == before
    await assert_downloads(proxy, PUBLIC_DATA)


async def test_patch_body_larger_than_max_body_bytes_is_413_and_changes_nothing(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(max_body_bytes="1024")
    digest = await upload_one(proxy, PUBLIC_DATA, "public")
    before = await proxy.snapshot()
    body = encode([TO_INTERNAL] * 50)
    assert len(body) > 1024
    await assert_problem(await patch_file(proxy, digest, body), 413, "Request Entity Too Large")
    assert await proxy.snapshot() == before


@pytest.mark.parametrize(
    "creds",
    [UPLOADER, PUBLIC_READER, INTERNAL_READER, NOBODY],
    ids=["uploader", "public_reader", "internal_reader", "nobody"],
)
async def test_patch_without_the_manage_scope_is_403_and_changes_nothing(proxy: Proxy, creds: Creds) -> None:
    digest = await upload_one(proxy, PUBLIC_DATA, "public")
    before = await proxy.snapshot()
    await assert_problem(await patch_file(proxy, digest, encode([DELETE]), creds), 403, FORBIDDEN)
    assert await proxy.snapshot() == before
    await assert_downloads(proxy, PUBLIC_DATA)


async def test_patch_without_credentials_is_401_asking_for_hawk_and_changes_nothing(proxy: Proxy) -> None:
    """As the legacy service answered tooltool.py run without an authentication file."""
    digest = await upload_one(proxy, PUBLIC_DATA, "public")
    before = await proxy.snapshot()
    response = await patch_file(proxy, digest, encode([DELETE]), ANONYMOUS)
    await assert_problem(response, 401, MANAGE_NEEDS_CREDENTIALS_DETAIL)
    assert response.headers["WWW-Authenticate"] == "Hawk"
    assert await proxy.snapshot() == before
    await assert_downloads(proxy, PUBLIC_DATA)


async def test_patch_is_refused_for_lack_of_scope_before_its_body_is_judged(proxy: Proxy) -> None:
    digest = await upload_one(proxy, PUBLIC_DATA, "public")
    await assert_problem(await patch_file(proxy, digest, b"{not json", UPLOADER), 403, FORBIDDEN)


async def test_patch_with_failing_credentials_is_401_and_changes_nothing(proxy: Proxy) -> None:
    digest = await upload_one(proxy, PUBLIC_DATA, "public")
    before = await proxy.snapshot()
    impostor = Creds(ADMIN.client_id, "not-the-admin-token-0123456789", ADMIN.scopes)
    response = await patch_file(proxy, digest, encode([DELETE]), impostor)
    await assert_problem(response, 401, "Hawk MAC does not match")
    assert await proxy.snapshot() == before


async def test_patch_of_an_unknown_file_is_404_and_writes_nothing(proxy: Proxy) -> None:
    response = await patch_file(proxy, sha512(b"never uploaded"), encode([TO_PUBLIC]))
    await assert_problem(response, 404, FILE_NOT_FOUND)
    assert await proxy.snapshot() == {}


@pytest.mark.parametrize("digest", MALFORMED_DIGESTS.values(), ids=MALFORMED_DIGESTS.keys())
async def test_patch_with_a_malformed_digest_is_400(proxy: Proxy, digest: str) -> None:
    await assert_problem(await patch_file(proxy, digest, encode([TO_PUBLIC])), 400, INVALID_DIGEST)


# --- GET /upload/<id> ------------------------------------------------------------------------

BAD_BATCH_IDS = {
    "word": "abc",
    "negative": "-1",
    "decimal": "1.5",
    "exponent": "1e3",
    "non-ascii-digit": "\u0663",
    "digits-then-a-letter": "9" * 5000 + "x",
}
UNKNOWN_BATCH_IDS = {
    "unknown": "12345",
    "zero": "0",
    "zeros": "000",
    "twenty-digits": "9" * 20,
    # int() refuses strings of more than 4300 digits: this must never reach it.
    "five-thousand-digits": "9" * 5000,
    "leading-zeros-then-too-long": "0" * 10 + "9" * 20,
}


@pytest.mark.parametrize("batch_id", BAD_BATCH_IDS.values(), ids=BAD_BATCH_IDS.keys())
async def test_get_batch_with_a_bad_id_is_400(proxy: Proxy, batch_id: str) -> None:
    await assert_problem(await get_batch(proxy, batch_id), 400, INVALID_BATCH_ID)


@pytest.mark.parametrize("batch_id", UNKNOWN_BATCH_IDS.values(), ids=UNKNOWN_BATCH_IDS.keys())
async def test_get_batch_of_any_integer_without_a_batch_is_404(proxy: Proxy, batch_id: str) -> None:
    """As the legacy service answered: 404 for every integer id without a batch, 0 included."""
    await assert_problem(await get_batch(proxy, batch_id, ADMIN), 404, BATCH_NOT_FOUND)


async def test_get_batch_with_leading_zeros_names_the_same_batch(proxy: Proxy) -> None:
    started = await start_batch(proxy, {"tool.tar.xz": (PUBLIC_DATA, "public")})
    response = await get_batch(proxy, "000" + str(started["id"]))
    assert response.status == 200, await response.text()
    assert (await response.json())["id"] == started["id"]


async def test_get_batch_answers_the_batch_with_the_files_current_state(proxy: Proxy) -> None:
    name = "tool.tar.xz"
    started = await start_batch(proxy, {name: (PUBLIC_DATA, "public")})
    record = file_answer(PUBLIC_DATA, "public", [])
    del record["instances"]

    async def batch_answer() -> dict[str, Any]:
        response = await get_batch(proxy, started["id"])
        assert response.status == 200, await response.text()
        answer: dict[str, Any] = await response.json()
        return answer

    expected = {
        "id": started["id"],
        "uploaded": started["uploaded"],
        "author": UPLOADER.client_id,
        "message": "Bug 3: metadata API",
        "files": {name: record | {"has_instances": False}},
    }
    assert await batch_answer() == expected  # bytes not sent yet

    await upload(proxy, {name: (PUBLIC_DATA, "public")})
    assert (await batch_answer())["files"][name]["has_instances"] is True

    await patched(proxy, sha512(PUBLIC_DATA), DELETE)
    assert await batch_answer() == expected


@pytest.mark.parametrize(
    ("creds", "shown"),
    [
        (ANONYMOUS, {"public.bin"}),
        (PUBLIC_READER, {"public.bin"}),
        (INTERNAL_READER, {"internal.bin"}),
        (UPLOADER, {"public.bin", "internal.bin"}),
        (ADMIN, {"public.bin", "internal.bin"}),
    ],
    ids=["anonymous", "public_reader", "internal_reader", "uploader", "admin"],
)
async def test_batch_lists_only_the_files_the_caller_may_download(
    proxy: Proxy, creds: Creds | None, shown: set[str]
) -> None:
    result = await upload(proxy, {"public.bin": (PUBLIC_DATA, "public"), "internal.bin": (INTERNAL_DATA, "internal")})
    response = await get_batch(proxy, result["id"], creds)
    assert response.status == 200, await response.text()
    files = (await response.json())["files"]
    assert set(files) == shown
    for name, data in (("public.bin", PUBLIC_DATA), ("internal.bin", INTERNAL_DATA)):
        if name in files:
            assert files[name]["digest"] == sha512(data)


async def test_batch_showing_no_file_to_the_caller_is_404(proxy: Proxy) -> None:
    result = await upload(proxy, {"internal.bin": (INTERNAL_DATA, "internal")})
    await assert_problem(await get_batch(proxy, result["id"]), 404, BATCH_NOT_FOUND)
    await assert_problem(await get_batch(proxy, result["id"], PUBLIC_READER), 404, BATCH_NOT_FOUND)
    assert (await get_batch(proxy, result["id"], INTERNAL_READER)).status == 200


async def test_batch_follows_a_visibility_change(proxy: Proxy) -> None:
    result = await upload(proxy, {"public.bin": (PUBLIC_DATA, "public")})
    assert (await get_batch(proxy, result["id"])).status == 200

    await patched(proxy, sha512(PUBLIC_DATA), TO_INTERNAL)

    await assert_problem(await get_batch(proxy, result["id"]), 404, BATCH_NOT_FOUND)
    response = await get_batch(proxy, result["id"], ADMIN)
    assert (await response.json())["files"]["public.bin"]["visibility"] == "internal"
