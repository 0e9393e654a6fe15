"""Regions (TOOLTOOL_REGIONS, the legacy `region:bucket;…` list): where uploads land, which
instance a download is served from, and `?region=` as a preference."""

import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from manifests import IndexEntry, Visibility
from proxy.config import ConfigError, load_config, parse_regions
from proxy.http.context import STORES
from proxy.keys import artifact_key
from tests.support.credentials import ADMIN
from tests.support.moto import BUCKET
from tests.support.proxies import Proxy, ProxyFactory

WEST_BUCKET = "tooltool-west"
DATA = b"regional bytes\n"
DIGEST = hashlib.sha512(DATA).hexdigest()


@pytest.fixture
def regions(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """Two regions, `east` and `west`, each with its own artifact store."""
    if store_kind == "local":
        return f"east:file://{tmp_path / 'east'};west:file://{tmp_path / 'west'}"
    request.getfixturevalue("s3_client").create_bucket(Bucket=WEST_BUCKET)
    return f"east:{BUCKET};west:{WEST_BUCKET}"


async def start(make_proxy: ProxyFactory, regions: str) -> Proxy:
    return await make_proxy(regions=regions)


async def holds(proxy: Proxy, region: str) -> bool:
    return await proxy.app[STORES].regions[region].head(artifact_key(DIGEST)) is not None


async def served_from(proxy: Proxy, path: str) -> str:
    """The region a download came from: the bucket in the redirect, or the store that streamed."""
    response = await proxy.request("GET", path, ADMIN)
    if response.status == 302:
        bucket = urlsplit(response.headers["Location"]).path.split("/")[1]
        return {BUCKET: "east", WEST_BUCKET: "west"}[bucket]
    assert response.status == 200, await response.text()
    assert await response.read() == DATA
    return "streamed"


async def test_upload_lands_in_the_region_it_names(make_proxy: ProxyFactory, regions: str) -> None:
    proxy = await start(make_proxy, regions)
    body = proxy_batch_body()
    response = await proxy.request("POST", "/upload?region=west", ADMIN, body)
    assert response.status == 200, await response.text()
    put_url = (await response.json())["result"]["files"]["r.bin"]["put_url"]
    assert await proxy.put(put_url, DATA) == 200
    complete = await proxy.request("GET", f"/upload/complete/sha512/{DIGEST}", ADMIN)
    assert complete.status == 202, await complete.text()

    assert await holds(proxy, "west")
    assert not await holds(proxy, "east")
    entry = await proxy.index.read_entry(DIGEST)
    assert entry is not None
    assert entry.instances == ("west",)
    # Asking for the region that lacks the bytes still finds them where they are.
    await assert_served(proxy, f"/sha512/{DIGEST}?region=east", "west")


async def test_upload_without_a_region_lands_in_the_first_one(make_proxy: ProxyFactory, regions: str) -> None:
    proxy = await start(make_proxy, regions)
    await proxy.upload(ADMIN, "r.bin", DATA)
    assert await holds(proxy, "east")
    assert not await holds(proxy, "west")


async def test_region_is_a_preference_among_instances(make_proxy: ProxyFactory, regions: str) -> None:
    proxy = await start(make_proxy, regions)
    await place_everywhere(proxy)
    await assert_served(proxy, f"/sha512/{DIGEST}?region=west", "west")
    await assert_served(proxy, f"/sha512/{DIGEST}?region=east", "east")
    await assert_served(proxy, f"/sha512/{DIGEST}", "east")  # no preference: the first configured
    await assert_served(proxy, f"/sha512/{DIGEST}?region=mars", "east")  # unknown: ignored


async def assert_served(proxy: Proxy, path: str, region: str) -> None:
    where = await served_from(proxy, path)
    if where != "streamed":
        assert where == region
        return
    # The local store streams: prove which store served by removing the other region's copy.
    stores = proxy.app[STORES].regions
    other = next(name for name in stores if name != region)
    saved = await stores[other].read(artifact_key(DIGEST))
    if saved is not None:
        await stores[other].delete(artifact_key(DIGEST))
    try:
        assert await served_from(proxy, path) == "streamed"
    finally:
        if saved is not None:
            await stores[other].write(artifact_key(DIGEST), saved, "application/octet-stream")


async def place_everywhere(proxy: Proxy) -> None:
    for store in proxy.app[STORES].regions.values():
        await store.write(artifact_key(DIGEST), DATA, "application/octet-stream")
    entry = IndexEntry(DIGEST, len(DATA), Visibility.PUBLIC, instances=("east", "west"))
    await proxy.index.save(entry)


def proxy_batch_body() -> bytes:
    import json

    files: dict[str, Any] = {
        "r.bin": {"size": len(DATA), "digest": DIGEST, "algorithm": "sha512", "visibility": "public"}
    }
    return json.dumps({"message": "Bug 5: regions", "files": files}).encode()


@pytest.mark.parametrize(
    "value",
    ["", "east", "east:", ":bucket", "east:a;east:b", "east:ftp://x/y"],
    ids=["empty", "no-bucket", "empty-bucket", "no-region", "duplicate", "bad-url"],
)
def test_malformed_regions_stop_start_up_with_one_line(value: str) -> None:
    with pytest.raises(ConfigError, match="TOOLTOOL_REGIONS"):
        parse_regions(value) if value else load_config({"TOOLTOOL_REGIONS": ";"})


def test_regions_use_the_legacy_format_and_the_first_region_is_home() -> None:
    config = load_config({"TOOLTOOL_REGIONS": "us-east-1:bucket-a;us-west-2:bucket-b"})
    assert [(r.name, r.store.bucket) for r in config.regions] == [("us-east-1", "bucket-a"), ("us-west-2", "bucket-b")]
    assert config.store.bucket == "bucket-a"
