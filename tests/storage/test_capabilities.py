"""Store capabilities (proxy/storage/capabilities.py): what the wrapper forwards, what start-up
refuses, and the closeable ByteStream of open_range, on real stores."""

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from proxy.app import create_app
from proxy.config import Config, ConfigError, StoreLocation, load_config
from proxy.storage import (
    ByteStream,
    LengthMismatch,
    ObjectStore,
    declares_conditional_writes,
    keeps_tags,
    signs_urls,
)
from proxy.storage.cas import CONDITIONS_UNDECLARED_WARNING, probe_conditional_writes
from proxy.storage.local import LocalStore
from proxy.storage.retrying import RetryingStore
from proxy.stores import open_location
from tests.support.cli import clean_env, run_cli
from tests.support.faults import FaultyStore
from tests.support.moto import BUCKET
from tests.support.net import free_port
from tests.support.proxies import ProxyFactory

CHUNK = 1024 * 1024  # proxy.storage.base.CHUNK_SIZE: the local store reads this much at a time


class TaglessStore(LocalStore):
    """A backend that signs no URLs and keeps no tags."""

    get_tags = None  # type: ignore[assignment]
    put_tags = None  # type: ignore[assignment]
    closed = False

    async def close(self) -> None:
        self.closed = True


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


# --- RetryingStore provides exactly what it wraps provides ------------------------------------------


async def test_retrying_store_forwards_exactly_the_capabilities_of_the_store_it_wraps(
    store: ObjectStore, store_kind: str
) -> None:
    wrapped = RetryingStore(store, deadline=2)
    assert isinstance(wrapped, RetryingStore)
    assert keeps_tags(wrapped)
    assert signs_urls(wrapped) is (store_kind == "s3")
    assert hasattr(wrapped, "presign_put") is (store_kind == "s3")


def test_retrying_store_around_a_store_without_capabilities_has_none(tmp_path: Path) -> None:
    wrapped = RetryingStore(TaglessStore(tmp_path), deadline=2)
    assert not keeps_tags(wrapped)
    assert not signs_urls(wrapped)
    with pytest.raises(AttributeError):
        wrapped.get_tags  # noqa: B018 - not forwarded through __getattr__ either


@pytest.mark.parametrize("store_kind", ["s3"])
async def test_retrying_store_signs_with_the_store_it_wraps(store: ObjectStore) -> None:
    wrapped = RetryingStore(store, deadline=2)
    assert signs_urls(wrapped)
    assert signs_urls(store)
    url = await wrapped.presign_get("sha512/d", 300)
    assert url.split("?")[0] == (await store.presign_get("sha512/d", 300)).split("?")[0]


async def test_retrying_store_retries_the_tag_calls_it_forwards(tmp_path: Path) -> None:
    faulty = FaultyStore(LocalStore(tmp_path))
    wrapped = RetryingStore(faulty, deadline=5)  # type: ignore[arg-type]
    await wrapped.write("sha512/d", b"bytes")
    faulty.fail("put_tags", times=1)
    faulty.fail("get_tags", times=1)
    assert keeps_tags(wrapped)
    await wrapped.put_tags("sha512/d", {"visibility": "public"})
    assert await wrapped.get_tags("sha512/d") == {"visibility": "public"}
    assert (faulty.calls["put_tags"], faulty.calls["get_tags"]) == (2, 2)


# --- LengthMismatch ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("parts", "what"), [([b"12345", b"678"], "more"), ([b"12", b"34"], "fewer")])
async def test_a_stream_of_the_wrong_length_raises_length_mismatch_through_the_wrapper(
    store: ObjectStore, parts: list[bytes], what: str
) -> None:
    wrapped = RetryingStore(store, deadline=2)
    with pytest.raises(LengthMismatch, match=f"{what} bytes than announced"):
        await wrapped.write_stream("uploads/d/1", chunks(*parts), 6)
    assert await store.head("uploads/d/1") is None


# --- ByteStream ---------------------------------------------------------------------------------------


async def test_open_range_is_a_byte_stream_that_async_with_closes(store: ObjectStore) -> None:
    data = os.urandom(2 * CHUNK + 10)
    await store.write("sha512/d", data, "application/octet-stream")
    for opened in (store, RetryingStore(store, deadline=2)):
        stream = await opened.open_range("sha512/d")
        assert isinstance(stream, ByteStream)
        async with stream:
            first = await anext(aiter(stream))
        assert data.startswith(first)
        assert len(first) < len(data)
        # Closed: the rest of the object is not read, and the stream yields no more.
        assert [chunk async for chunk in stream] == []


async def test_a_byte_stream_read_to_the_end_holds_the_range(store: ObjectStore) -> None:
    await store.write("sha512/d", b"0123456789", "application/octet-stream")
    async with await RetryingStore(store, deadline=2).open_range("sha512/d", 2, 5) as stream:
        assert b"".join([chunk async for chunk in stream]) == b"2345"


# --- start-up refuses a store that cannot serve the configuration ----------------------------------------


@pytest.mark.parametrize("store_kind", ["local"])
async def test_tags_mode_on_a_store_without_tags_stops_create_app_with_one_line(
    make_proxy: ProxyFactory, tmp_path: Path
) -> None:
    opened: list[TaglessStore] = []

    async def tagless(location: StoreLocation, region: str, config: Config) -> ObjectStore:
        local = await open_location(location, region, config)
        assert isinstance(local, LocalStore)
        opened.append(TaglessStore(local.root, region=region))
        return opened[-1]

    with pytest.raises(ConfigError) as raised:
        await make_proxy(store_opener=tagless, index="tags")
    assert str(raised.value) == (
        "TOOLTOOL_INDEX=tags needs a store that keeps object tags, and the TaglessStore of region 'local' does not; "
        "set TOOLTOOL_INDEX=objects"
    )
    assert [store.closed for store in opened] == [True]  # what start-up opened, it closed


async def test_redirects_on_a_store_that_cannot_sign_stop_start_up(tmp_path: Path) -> None:
    """An S3 configuration redirects and hands out store put_urls; a store opened for it that
    cannot sign (here a directory) stops start-up before any request is answered."""
    config = load_config({"TOOLTOOL_STORE": f"s3://{BUCKET}/", "TOOLTOOL_PUBLIC_URL": "http://127.0.0.1:1"})

    async def local_instead(location: StoreLocation, region: str, config: Config) -> ObjectStore:
        return LocalStore(tmp_path, region=region)

    app = create_app(config, store_opener=local_instead)
    server = TestServer(app, host="127.0.0.1", port=free_port())
    with pytest.raises(ConfigError, match=r"^TOOLTOOL_DOWNLOAD=redirect needs a store that signs URLs, and the Local"):
        await server.start_server(access_log=None)
    await server.close()


def test_serve_exits_2_with_the_line_for_a_redirect_the_local_store_cannot_do(tmp_path: Path) -> None:
    env = clean_env() | {"TOOLTOOL_STORE": f"file://{tmp_path / 'data'}", "TOOLTOOL_DOWNLOAD": "redirect"}
    result = run_cli("serve", "--port", str(free_port()), cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "tooltool-proxy: error: TOOLTOOL_DOWNLOAD=redirect needs a store that signs URLs, and the LocalStore of "
        "region 'local' cannot; set TOOLTOOL_DOWNLOAD=stream or leave it unset"
    ]
    assert not (tmp_path / "data").exists()  # stopped before it created the store


# --- conditional writes ------------------------------------------------------------------------------


class UnconditionalStore(LocalStore):
    """A backend that does not declare that its conditional writes hold across processes."""

    honours_conditions = False


async def test_both_backends_declare_conditional_writes_and_the_wrapper_forwards_it(
    store: ObjectStore, tmp_path: Path
) -> None:
    assert declares_conditional_writes(store)
    assert declares_conditional_writes(RetryingStore(store, deadline=2))
    assert not declares_conditional_writes(RetryingStore(UnconditionalStore(tmp_path), deadline=2))


async def test_a_store_without_conditional_writes_is_serialised_without_probing(tmp_path: Path) -> None:
    store = RetryingStore(UnconditionalStore(tmp_path), deadline=2)
    assert await probe_conditional_writes(store) == CONDITIONS_UNDECLARED_WARNING
    assert store.serialised_writes is not None
    assert [key async for key in store.list_keys("")] == []  # nothing was written to find out


@pytest.mark.parametrize("store_kind", ["local"])
async def test_a_store_without_conditional_writes_is_named_in_the_heartbeat(make_proxy: ProxyFactory) -> None:
    async def unconditional(location: StoreLocation, region: str, config: Config) -> ObjectStore:
        local = await open_location(location, region, config)
        assert isinstance(local, LocalStore)
        return UnconditionalStore(local.root, region=region)

    proxy = await make_proxy(store_opener=unconditional)
    body = await (await proxy.request("GET", "/__heartbeat__")).json()
    assert CONDITIONS_UNDECLARED_WARNING in body["warnings"]
