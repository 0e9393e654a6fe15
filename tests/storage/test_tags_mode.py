"""TOOLTOOL_INDEX=tags: the visibility lives in the object tag `visibility` on sha512/<d>.

The first part runs the essential download and upload contract in both index modes (the
`index_mode` fixture of conftest.py) on both stores: what a client sees must not depend on the
mode. The second part pins down what only tags mode does: the tag rules, never an uploader's tag,
and legacy-style buckets with tagged bytes and no index objects.
"""

import asyncio
import hashlib
import json
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from yarl import URL

from manifests import IndexEntry, Visibility
from proxy.config import IndexMode, load_config
from proxy.http.context import STORES
from proxy.keys import artifact_key, index_key, staging_key
from tests.support.capabilities import keeping_tags
from tests.support.credentials import INTERNAL_READER, UPLOADER
from tests.support.moto import BUCKET
from tests.support.oracles import problem_body
from tests.support.proxies import Proxy, ProxyFactory, count_store_calls

pytestmark = pytest.mark.usefixtures("index_mode")

FORBIDDEN_DETAIL = (
    "You don't have the permission to access the requested resource. "
    "It is either read-protected or not readable by the server."
)
DATA = b"tagged artifact bytes\n" * 50
DIGEST = hashlib.sha512(DATA).hexdigest()
WEST_BUCKET = "tooltool-west"
only_tags_mode = pytest.mark.parametrize("index_mode", ["tags"])


def success_status(proxy: Proxy) -> int:
    return 200 if proxy.config.streams_downloads else 302


async def put_bytes(proxy: Proxy, data: bytes = DATA) -> str:
    digest = hashlib.sha512(data).hexdigest()
    await proxy.store.write(artifact_key(digest), data, "application/octet-stream")
    return digest


async def publish(proxy: Proxy, visibility: str, data: bytes = DATA) -> str:
    """Bytes plus metadata written the way the proxy writes them (FileIndex.save)."""
    digest = await put_bytes(proxy, data)
    region = proxy.app[STORES].default_region
    await proxy.index.save(IndexEntry(digest, len(data), Visibility(visibility), instances=(region,)))
    return digest


async def write_index_object(proxy: Proxy, digest: str, visibility: str, size: int = len(DATA)) -> None:
    """An index object written by hand, behind the proxy's back."""
    entry = IndexEntry(digest, size, Visibility(visibility), filenames=("by-hand.bin",), author="admin")
    await proxy.store.write(index_key(digest), entry.to_json())


async def assert_anonymous_download(proxy: Proxy, digest: str, *, allowed: bool) -> None:
    response = await proxy.request("GET", f"/sha512/{digest}")
    if allowed:
        assert response.status == success_status(proxy), await response.text()
        if response.status == 200:
            assert await response.read() == DATA
        return
    assert response.status == 403
    assert await response.json() == problem_body(403, FORBIDDEN_DETAIL)


# --- the contract, in both index modes -----------------------------------------------------------


# Unset: the store's default (redirect on S3, stream on the local store, which cannot redirect).
@pytest.mark.parametrize("download", ["", "stream"], ids=["default", "stream"])
async def test_public_file_downloads_anonymously_and_internal_needs_the_scope(
    make_proxy: ProxyFactory, download: str
) -> None:
    proxy = await make_proxy(download=download)
    public = await publish(proxy, "public")
    internal = await publish(proxy, "internal", b"internal bytes")

    await assert_anonymous_download(proxy, public, allowed=True)
    await assert_anonymous_download(proxy, internal, allowed=False)
    response = await proxy.request("GET", f"/sha512/{internal}", INTERNAL_READER)
    assert response.status == success_status(proxy)


async def test_unknown_digest_is_404(proxy: Proxy) -> None:
    response = await proxy.request("GET", f"/sha512/{DIGEST}", INTERNAL_READER)
    assert response.status == 404


async def test_bytes_without_any_metadata_are_internal(proxy: Proxy) -> None:
    await put_bytes(proxy)
    await assert_anonymous_download(proxy, DIGEST, allowed=False)
    assert (await proxy.request("GET", f"/sha512/{DIGEST}", INTERNAL_READER)).status == success_status(proxy)


@pytest.mark.parametrize("visibility", ["public", "internal"])
async def test_uploaded_file_downloads_by_its_visibility(proxy: Proxy, visibility: str) -> None:
    digest = await proxy.upload(UPLOADER, "tool.tar.xz", DATA, visibility)
    await assert_anonymous_download(proxy, digest, allowed=visibility == "public")
    assert (await proxy.request("GET", f"/sha512/{digest}", INTERNAL_READER)).status == (
        success_status(proxy) if visibility == "internal" else 403
    )


async def test_save_changes_the_visibility_for_this_replica_at_once(proxy: Proxy) -> None:
    digest = await publish(proxy, "public")
    await assert_anonymous_download(proxy, digest, allowed=True)  # now cached as public
    entry = await proxy.index.lookup(digest)
    assert entry is not None

    await proxy.index.save(replace(entry, visibility=Visibility.INTERNAL))

    await assert_anonymous_download(proxy, digest, allowed=False)


async def test_upload_of_a_stored_file_with_another_visibility_is_refused(proxy: Proxy) -> None:
    await publish(proxy, "public")
    upload = {"size": len(DATA), "digest": DIGEST, "algorithm": "sha512", "visibility": "internal"}
    body = json.dumps({"message": "Bug 1: again", "files": {"tool.bin": upload}}).encode()
    response = await proxy.request("POST", "/upload", UPLOADER, body)
    assert response.status == 400
    assert await response.json() == problem_body(400, "Cannot change already existing file's visibility level.")


# --- what only tags mode does ----------------------------------------------------------------------


@only_tags_mode
async def test_config_accepts_tags_mode(store_env: dict[str, str]) -> None:
    assert load_config(store_env).index_mode is IndexMode.TAGS
    assert load_config({k: v for k, v in store_env.items() if k != "TOOLTOOL_INDEX"}).index_mode is IndexMode.OBJECTS


async def tags_seen_by_save(proxy: Proxy, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str] | None]:
    """The artifact's tags at each FileIndex.update, i.e. just after the commit's copy."""
    seen: list[dict[str, str] | None] = []
    original = proxy.index.update

    async def update(digest: str, change: Any, **options: Any) -> IndexEntry | None:
        seen.append(await keeping_tags(proxy.store).get_tags(artifact_key(digest)))
        return await original(digest, change, **options)

    monkeypatch.setattr(proxy.index, "update", update)
    return seen


@only_tags_mode
@pytest.mark.parametrize("visibility", ["public", "internal"])
async def test_upload_tags_the_bytes_only_once_they_are_verified(
    proxy: Proxy, visibility: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = await proxy.upload_batch(UPLOADER, {"tool.bin": DATA}, visibility)
    assert await proxy.put(result["files"]["tool.bin"]["put_url"], DATA) == 200
    assert await keeping_tags(proxy.store).get_tags(artifact_key(DIGEST)) is None  # staged, not yet committed
    tags_when_committed = await tags_seen_by_save(proxy, monkeypatch)

    complete = await proxy.request("GET", f"/upload/complete/sha512/{DIGEST}", UPLOADER)

    assert complete.status == 202
    assert tags_when_committed == [{"visibility": visibility}]
    assert await keeping_tags(proxy.store).get_tags(artifact_key(DIGEST)) == {"visibility": visibility}
    stored = await proxy.index.read_entry(DIGEST)
    assert stored is not None
    assert stored.filenames == ("tool.bin",)


@only_tags_mode
@pytest.mark.parametrize("store_kind", ["s3"])
async def test_an_uploaders_tag_on_the_signed_put_never_reaches_the_artifact(
    proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = await proxy.upload_batch(UPLOADER, {"secret.bin": DATA}, "internal")
    put_url = result["files"]["secret.bin"]["put_url"]
    headers = {"Content-Type": "application/octet-stream", "x-amz-tagging": "visibility=public"}
    async with proxy.session.put(URL(put_url, encoded=True), data=DATA, headers=headers) as response:
        assert response.status == 200
    batch = int(URL(put_url, encoded=True).path.rsplit("/", 1)[1])
    assert await keeping_tags(proxy.store).get_tags(staging_key(DIGEST, batch)) == {
        "visibility": "public"
    }  # S3 kept it
    tags_when_committed = await tags_seen_by_save(proxy, monkeypatch)

    complete = await proxy.request("GET", f"/upload/complete/sha512/{DIGEST}", UPLOADER)

    assert complete.status == 202
    assert tags_when_committed == [{"visibility": "internal"}]  # set by the copy itself
    assert await keeping_tags(proxy.store).get_tags(artifact_key(DIGEST)) == {"visibility": "internal"}
    await assert_anonymous_download(proxy, DIGEST, allowed=False)


@only_tags_mode
@pytest.mark.parametrize(
    ("tag", "index_object", "public"), [("public", "internal", True), ("internal", "public", False)]
)
async def test_the_tag_rules_not_the_index_objects_visibility(
    proxy: Proxy, tag: str, index_object: str, public: bool
) -> None:
    await put_bytes(proxy)
    await keeping_tags(proxy.store).put_tags(artifact_key(DIGEST), {"visibility": tag})
    await write_index_object(proxy, DIGEST, index_object)

    await assert_anonymous_download(proxy, DIGEST, allowed=public)
    entry = await proxy.index.lookup(DIGEST)
    assert entry is not None
    assert (entry.visibility, entry.filenames, entry.author) == (Visibility(tag), ("by-hand.bin",), "admin")


@only_tags_mode
@pytest.mark.parametrize(
    "tags", [{}, {"visibility": "everyone"}, {"owner": "releng"}], ids=["none", "unknown", "other"]
)
async def test_missing_or_unknown_visibility_tag_is_internal(proxy: Proxy, tags: dict[str, str]) -> None:
    await put_bytes(proxy)
    if tags:  # (moto answers 500 to an empty tag set)
        await keeping_tags(proxy.store).put_tags(artifact_key(DIGEST), tags)
    await write_index_object(proxy, DIGEST, "public")

    await assert_anonymous_download(proxy, DIGEST, allowed=False)
    assert (await proxy.request("GET", f"/sha512/{DIGEST}", INTERNAL_READER)).status == success_status(proxy)
    assert (artifact_key(DIGEST) in proxy.index.invalid) == ("visibility" in tags)


@only_tags_mode
# Unset: the store's default (redirect on S3, stream on the local store, which cannot redirect).
@pytest.mark.parametrize("download", ["", "stream"], ids=["default", "stream"])
async def test_legacy_bucket_with_a_public_tag_and_no_index_object_serves_anonymously(
    make_proxy: ProxyFactory, download: str
) -> None:
    proxy = await make_proxy(download=download)
    await put_bytes(proxy)
    await keeping_tags(proxy.store).put_tags(artifact_key(DIGEST), {"visibility": "public"})
    assert await proxy.store.read(index_key(DIGEST)) is None

    response = await proxy.request("GET", f"/sha512/{DIGEST}")

    assert response.status == success_status(proxy)
    if proxy.config.streams_downloads:
        assert await response.read() == DATA
        assert response.headers["Cache-Control"].startswith("public")
    entry = await proxy.index.lookup(DIGEST)
    assert entry is not None
    assert (entry.size, entry.instances) == (len(DATA), (proxy.app[STORES].default_region,))


@only_tags_mode
async def test_save_flips_the_tag_and_keeps_other_tags(proxy: Proxy) -> None:
    await put_bytes(proxy)
    await keeping_tags(proxy.store).put_tags(artifact_key(DIGEST), {"visibility": "internal", "cost-center": "releng"})
    await assert_anonymous_download(proxy, DIGEST, allowed=False)  # now cached as internal
    entry = await proxy.index.lookup(DIGEST)
    assert entry is not None

    await proxy.index.save(replace(entry, visibility=Visibility.PUBLIC))

    assert await keeping_tags(proxy.store).get_tags(artifact_key(DIGEST)) == {
        "visibility": "public",
        "cost-center": "releng",
    }
    await assert_anonymous_download(proxy, DIGEST, allowed=True)


@only_tags_mode
async def test_hand_edit_of_the_tag_is_seen_within_the_cache_ttl(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(cache_ttl="1")
    digest = await publish(proxy, "public")
    await assert_anonymous_download(proxy, digest, allowed=True)

    await keeping_tags(proxy.store).put_tags(artifact_key(digest), {"visibility": "internal"})

    edited = time.monotonic()
    while (await proxy.request("GET", f"/sha512/{digest}")).status != 403:
        assert time.monotonic() - edited < 1.2, "the edit was not picked up within the 1 s TTL"
        await asyncio.sleep(0.05)


@only_tags_mode
async def test_metadata_outlives_deleted_bytes(proxy: Proxy) -> None:
    digest = await publish(proxy, "public")
    await proxy.store.delete(artifact_key(digest))

    entry = await proxy.index.load(digest)

    assert entry is not None
    assert (entry.visibility, entry.instances) == (Visibility.PUBLIC, ())
    response = await proxy.request("GET", f"/sha512/{digest}")
    assert response.status == 404
    assert await response.json() == problem_body(404, "The file's bytes were deleted; it must be uploaded again.")


@pytest.fixture
def two_regions(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """`east` (the default, also the home store on S3) and `west`, each with its own artifacts."""
    if store_kind == "local":
        return f"east:file://{tmp_path / 'east'};west:file://{tmp_path / 'west'}"
    request.getfixturevalue("s3_client").create_bucket(Bucket=WEST_BUCKET)
    return f"east:{BUCKET};west:{WEST_BUCKET}"


@only_tags_mode
async def test_regions_holding_the_bytes_are_the_instances_and_all_get_the_tag(
    make_proxy: ProxyFactory, two_regions: str
) -> None:
    proxy = await make_proxy(regions=two_regions)
    east, west = proxy.app[STORES].regions["east"], proxy.app[STORES].regions["west"]
    await west.write(artifact_key(DIGEST), DATA, "application/octet-stream")
    await keeping_tags(west).put_tags(artifact_key(DIGEST), {"visibility": "public"})

    entry = await proxy.index.load(DIGEST)
    assert entry is not None
    assert (entry.visibility, entry.instances, entry.size) == (Visibility.PUBLIC, ("west",), len(DATA))

    await east.write(artifact_key(DIGEST), DATA, "application/octet-stream")
    entry = await proxy.index.load(DIGEST)
    assert entry is not None
    assert (entry.visibility, entry.instances) == (Visibility.INTERNAL, ("east", "west"))  # east has no tag

    await proxy.index.save(replace(entry, visibility=Visibility.PUBLIC))
    assert await keeping_tags(east).get_tags(artifact_key(DIGEST)) == {"visibility": "public"}
    assert await keeping_tags(west).get_tags(artifact_key(DIGEST)) == {"visibility": "public"}


@only_tags_mode
async def test_a_cache_miss_costs_three_requests_and_a_hit_none(proxy: Proxy, monkeypatch: pytest.MonkeyPatch) -> None:
    """One region: the index object GET, one HEAD, one GetObjectTagging (FileIndex docstring)."""
    digest = await publish(proxy, "public")
    calls = count_store_calls(proxy, monkeypatch)

    await assert_anonymous_download(proxy, digest, allowed=True)
    lookups = Counter({k: v for k, v in calls.items() if k in ("head", "read", "get_tags")})
    assert lookups == Counter({"read": 1, "head": 1, "get_tags": 1})

    calls.clear()
    await assert_anonymous_download(proxy, digest, allowed=True)
    assert {k: v for k, v in calls.items() if k in ("head", "read", "get_tags")} == {}
