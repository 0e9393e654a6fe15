"""Prometheus metrics at /metrics: counts and latency by route template, cache, store errors and
auth failures, with no digest or client id in any label."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.credentials import ADMIN
from tests.support.net import free_port
from tests.support.proxies import Proxy, ProxyFactory


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(proxy: Proxy) -> tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    response = await proxy.request("GET", "/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = await response.text()
    return text, samples(text)


async def test_requests_are_counted_by_route_template_and_status(proxy: Proxy) -> None:
    digest = await proxy.upload(ADMIN, "m.bin", b"metrics")
    for _ in range(3):
        await proxy.request("GET", f"/sha512/{digest}")
    await proxy.request("GET", "/sha512/invalid")
    text, values = await scrape(proxy)
    ok = "200" if proxy.config.streams_downloads else "302"
    route = (("method", "GET"), ("route", "/sha512/{digest}"))
    assert values[("tooltool_requests_total", (*route[:1], route[1], ("status", ok)))] == 3
    assert values[("tooltool_requests_total", (*route[:1], route[1], ("status", "400")))] == 1
    assert values[("tooltool_request_duration_seconds_count", route)] == 4
    assert digest not in text
    assert ADMIN.client_id not in text


async def test_cache_hits_and_misses_are_counted(proxy: Proxy) -> None:
    digest = await proxy.upload(ADMIN, "c.bin", b"cached")
    _, before = await scrape(proxy)
    for _ in range(5):
        await proxy.request("GET", f"/sha512/{digest}")
    _, after = await scrape(proxy)
    hits = after[("tooltool_cache_hits_total", ())] - before[("tooltool_cache_hits_total", ())]
    misses = after[("tooltool_cache_misses_total", ())] - before[("tooltool_cache_misses_total", ())]
    assert hits + misses == 5
    assert misses <= 1


@pytest.mark.parametrize("store_kind", ["local"], indirect=True)
async def test_auth_failures_are_counted(proxy: Proxy) -> None:
    await proxy.request("GET", f"/sha512/{'ab' * 64}", headers={"Authorization": "Hawk garbage"})
    await proxy.request("GET", f"/sha512/{'ab' * 64}", headers={"Authorization": "Bearer nope"})
    _, values = await scrape(proxy)
    assert values[("tooltool_auth_failures_total", ())] == 2


@pytest.mark.parametrize("store_kind", ["s3"], indirect=True)
async def test_store_errors_are_counted(make_proxy: ProxyFactory) -> None:
    proxy = await make_proxy(s3_endpoint_url=f"http://127.0.0.1:{free_port()}", store_retry_deadline="0.2")
    response = await proxy.request("GET", f"/sha512/{'cd' * 64}")
    assert response.status == 503
    _, values = await scrape(proxy)
    assert values[("tooltool_store_errors_total", ())] == 1


@pytest.mark.parametrize("store_kind", ["local"], indirect=True)
async def test_unmatched_paths_share_one_label(proxy: Proxy) -> None:
    for path in ("/a/secret-1", "/b/secret-2"):
        await proxy.request("GET", path)
    text, values = await scrape(proxy)
    assert "secret" not in text
    assert values[("tooltool_requests_total", (("method", "GET"), ("route", "unmatched"), ("status", "404")))] == 2
