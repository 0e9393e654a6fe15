"""Operations: Dockerflow endpoints, error bodies for routing errors, store outages as 503,
request logs and Sentry events free of credentials, signed URLs and query strings."""

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import sentry_sdk
from dockerflow.logging import MozlogFormatter

from proxy.config import load_config
from proxy.http.context import CONFIG
from proxy.http.sentry import init_sentry, scrub_event
from proxy.storage import ObjectStore
from tests.support.credentials import ADMIN, BEARER_TOKEN
from tests.support.net import free_port
from tests.support.proxies import Proxy, ProxyFactory
from tests.support.sentry import CapturingTransport

S3_ONLY = pytest.mark.parametrize("store_kind", ["s3"], indirect=True)


async def test_lbheartbeat_answers_without_checking_anything(proxy: Proxy) -> None:
    response = await proxy.request("GET", "/__lbheartbeat__")
    assert response.status == 200


async def test_heartbeat_reports_each_check(proxy: Proxy) -> None:
    response = await proxy.request("GET", "/__heartbeat__")
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"store": "ok", "auth": "ok"}


@S3_ONLY
async def test_heartbeat_names_the_failed_store_check(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(s3_endpoint_url=f"http://127.0.0.1:{free_port()}", store_retry_deadline="0.2")
    response = await proxy.request("GET", "/__heartbeat__")
    assert response.status == 503
    assert response.headers["Retry-After"].isdigit()
    body = await response.json()
    assert body["failed"] == ["store"]
    assert body["checks"]["store"].startswith("error")


@S3_ONLY
async def test_store_outage_answers_503_with_retry_after_never_500(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(s3_endpoint_url=f"http://127.0.0.1:{free_port()}", store_retry_deadline="0.2")
    digest = "ab" * 64
    for method, path, creds in (
        ("GET", f"/sha512/{digest}", None),
        ("HEAD", f"/sha512/{digest}", None),
        ("GET", f"/upload/complete/sha512/{digest}", ADMIN),
    ):
        response = await proxy.request(method, path, creds)
        assert response.status == 503, (method, path)
        assert response.headers["Retry-After"].isdigit()
        if method != "HEAD":
            assert (await response.json())["status"] == 503


async def test_version_serves_version_json(make_proxy: ProxyFactory, tmp_path: Path) -> None:
    info = {"source": "https://example.invalid/src", "version": "1.2.3", "commit": "abc", "build": "ci/1"}
    version_file = tmp_path / "version.json"
    version_file.write_text(json.dumps(info))
    proxy = await make_proxy(version_file=str(version_file))
    response = await proxy.request("GET", "/__version__")
    assert response.status == 200
    assert await response.json() == info


@pytest.mark.parametrize("store_kind", ["local"], indirect=True)
async def test_unknown_route_and_method_get_the_json_error_body(proxy: Proxy) -> None:
    missing = await proxy.request("GET", "/no/such/thing")
    assert missing.status == 404
    assert missing.headers["Content-Type"] == "application/json"
    assert (await missing.json())["error"]["name"].startswith("404 Not Found")
    wrong_method = await proxy.request("DELETE", "/upload")
    assert wrong_method.status == 405
    assert "POST" in wrong_method.headers["Allow"]
    assert (await wrong_method.json())["status"] == 405


def _log_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    formatter = MozlogFormatter(logger_name="tooltool-proxy")
    return [formatter.format(record) for record in caplog.records]


async def test_request_logs_carry_no_credentials_signed_urls_or_query_strings(
    proxy: Proxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    data = b"logged bytes"
    batch = await proxy.upload_batch(ADMIN, {"x.bin": data})
    put_url = batch["files"]["x.bin"]["put_url"]
    assert await proxy.put(put_url, data) == 200
    digest = batch["files"]["x.bin"]["digest"]
    sent = proxy.headers_for(ADMIN, "GET", f"/upload/complete/sha512/{digest}")
    complete = await proxy.session.get(f"{proxy.url}/upload/complete/sha512/{digest}", headers=sent)
    assert complete.status == 202
    complete.release()
    download = await proxy.request("GET", f"/sha512/{digest}?region=secret-region", ADMIN)
    assert download.status in (200, 302)

    lines = _log_lines(caplog)
    summaries = [json.loads(line) for line in lines if '"Type": "request.summary"' in line]
    put_served_by_proxy = put_url.startswith(proxy.url)
    assert len(summaries) == (4 if put_served_by_proxy else 3)  # POST, [PUT], complete, download
    assert all(set(s["Fields"]) >= {"agent", "path", "method", "code", "t", "rid"} for s in summaries)
    text = "\n".join(lines)
    for secret in (
        sent["Authorization"],
        ADMIN.access_token,
        "Hawk ",
        "secret-region",
        "signature",
        "Signature",
        put_url.split("?", 1)[-1],
    ):
        assert secret not in text
    if "Location" in download.headers:
        assert download.headers["Location"] not in text


class ExplodingStore:
    """Delegates to a real store but fails with an unexpected error on reads."""

    def __init__(self, inner: ObjectStore) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def read(self, key: str) -> bytes | None:
        raise RuntimeError("unexpected failure")


@pytest.mark.parametrize("store_kind", ["local"], indirect=True)
async def test_unexpected_errors_reach_sentry_scrubbed_and_answer_json_500(
    proxy: Proxy, store_env: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from aiohttp.test_utils import TestServer

    from proxy.app import create_app
    from proxy.stores import open_location

    transport = CapturingTransport()
    config = load_config({**proxy.env, "SENTRY_DSN": "http://public@127.0.0.1:9/1"})

    async def exploding(location: Any, region: str, cfg: Any) -> Any:
        return ExplodingStore(await open_location(location, region, cfg))

    init_sentry(config.sentry_dsn, "test", transport=transport)
    try:
        app = create_app(config, store_opener=exploding)
        assert app[CONFIG].sentry_dsn
        server = TestServer(app, host="127.0.0.1", port=free_port())
        await server.start_server(access_log=None)
        try:
            path = f"/sha512/{'cd' * 64}?token=query-secret"
            url = str(server.make_url(path))
            headers = {"Authorization": f"Bearer {BEARER_TOKEN}"}
            async with proxy.session.get(url, headers=headers) as response:
                assert response.status == 500
                body = await response.json()
            assert "Traceback" not in json.dumps(body)
            sentry_sdk.flush()
        finally:
            await server.close()
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.init()
    payload = "\n".join(str(e.serialize()) for e in transport.envelopes)
    assert "unexpected failure" in payload
    for secret in (BEARER_TOKEN, "query-secret"):
        assert secret not in payload
        assert all(secret not in line for line in _log_lines(caplog))


def test_scrub_event_drops_credentials_and_query_strings() -> None:
    event = {
        "request": {
            "url": "http://h/sha512/x?X-Amz-Signature=abc",
            "query_string": "X-Amz-Signature=abc",
            "headers": {"Authorization": "Hawk mac=1", "Cookie": "c", "User-Agent": "ua"},
            "cookies": {"a": "b"},
        }
    }
    scrubbed = scrub_event(event, {})
    assert scrubbed["request"] == {"url": "http://h/sha512/x", "headers": {"User-Agent": "ua"}}
