"""Prometheus metrics, served at /metrics (issue 5 §6).

Labels are route templates (`/sha512/{digest}`), methods and status codes only: never a
digest, a client id or anything else a caller controls, so cardinality stays bounded.
"""

from collections.abc import Callable, Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from proxy.auth import Authenticator
from proxy.cache import CacheStats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "tooltool_requests",
            "Requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tooltool_request_duration_seconds",
            "Time to answer, by route template and method.",
            ["route", "method"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
        )
        self.store_errors = Counter(
            "tooltool_store_errors", "Requests that failed because the object store did.", registry=self.registry
        )

    def watch(self, cache: CacheStats, auth: Authenticator) -> None:
        """Expose counters kept elsewhere, read at scrape time: nothing added to their hot paths."""
        self.registry.register(
            CountersReader(
                [
                    ("tooltool_cache_hits", "Index lookups answered from the cache.", lambda: cache.hits),
                    ("tooltool_cache_misses", "Index lookups that had to ask the store.", lambda: cache.misses),
                    (
                        "tooltool_auth_failures",
                        "Requests with credentials that failed.",
                        lambda: auth.failures,
                    ),
                ]
            )
        )

    def observe(self, request: web.Request, status: int, seconds: float) -> None:
        """Count one answered request (called by the request_summary middleware)."""
        route = route_template(request)
        self.requests.labels(route, request.method, str(status)).inc()
        self.latency.labels(route, request.method).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class CountersReader(Collector):
    """Reads plain integer counters at scrape time: (name, help, callable returning the value)."""

    def __init__(self, counters: list[tuple[str, str, Callable[[], float]]]) -> None:
        self.counters = counters

    def collect(self) -> Iterator[CounterMetricFamily]:
        for name, help_text, value in self.counters:
            yield CounterMetricFamily(name, help_text, value=value())


def route_template(request: web.Request) -> str:
    route = request.match_info.route
    resource = route.resource
    return resource.canonical if resource is not None else "unmatched"


METRICS = web.AppKey("metrics", Metrics)


async def serve_metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[METRICS].render(), headers={"Content-Type": CONTENT_TYPE})
