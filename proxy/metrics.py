"""Prometheus metrics, served at /metrics (issue 5 §6).

Labels are route templates (`/sha512/{digest}`), methods and status codes only: never a
digest, a client id or anything else a caller controls, so cardinality stays bounded.
"""

import time
from bisect import bisect_left
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from proxy.auth import Authenticator
from proxy.cache import CacheStats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.answered = AnsweredRequests(LATENCY_BUCKETS)
        self.registry.register(self.answered)
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

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request (called by the request_summary middleware with the
        request's route template)."""
        self.answered.observe(route, method, status, seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class CountersReader(Collector):
    """Reads plain integer counters at scrape time: (name, help, callable returning the value)."""

    def __init__(self, counters: list[tuple[str, str, Callable[[], float]]]) -> None:
        self.counters = counters

    def collect(self) -> Iterator[CounterMetricFamily]:
        for name, help_text, value in self.counters:
            yield CounterMetricFamily(name, help_text, value=value())


class AnsweredRequests(Collector):
    """`tooltool_requests_total` and `tooltool_request_duration_seconds`, the samples
    prometheus_client's Counter and Histogram would give, kept in plain dicts: per request two
    dict updates and a bisect, without label lookups or locks (only the event loop counts; a
    scrape reads on the event loop too)."""

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.bounds = buckets
        self.counts: dict[tuple[str, str, int], int] = {}
        # (route, method) -> [count per bucket..., count above the last, sum of seconds]
        self.latency: dict[tuple[str, str], list[float]] = {}
        self.created: dict[object, float] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        try:
            self.counts[key] += 1
        except KeyError:
            self.counts[key] = 1
            self.created[key] = time.time()
        timing = self.latency.get(key[:2])
        if timing is None:
            timing = self.latency[key[:2]] = [0.0] * (len(self.bounds) + 2)
            self.created[key[:2]] = time.time()
        timing[bisect_left(self.bounds, seconds)] += 1
        timing[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "tooltool_requests",
            "Requests answered, by route template, method and status.",
            labels=["route", "method", "status"],
        )
        for (route, method, status), count in self.counts.items():
            key = (route, method, status)
            requests.add_metric([route, method, str(status)], count, created=self.created[key])
        yield requests
        latency = HistogramMetricFamily(
            "tooltool_request_duration_seconds",
            "Time to answer, by route template and method.",
            labels=["route", "method"],
        )
        bounds = [floatToGoString(bound) for bound in self.bounds] + ["+Inf"]  # type: ignore[no-untyped-call]
        for (route, method), timing in self.latency.items():
            cumulative, buckets = 0.0, []
            for bound, in_bucket in zip(bounds, timing[:-1], strict=True):
                cumulative += in_bucket
                buckets.append((bound, cumulative))
            latency.add_metric([route, method], buckets, timing[-1])
            labels = {"route": route, "method": method}
            latency.samples.append(Sample(latency.name + "_created", labels, self.created[(route, method)]))
        yield latency
