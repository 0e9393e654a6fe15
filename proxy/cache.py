"""A TTL cache for async lookups where concurrent misses for one key share one load."""

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from cachetools import TTLCache

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    loads: int = 0


def _retrieve_exception(task: "asyncio.Task[object]") -> None:
    # Waiters re-raise a failed load; mark it retrieved so one nobody awaits is not reported.
    if not task.cancelled():
        task.exception()


class LookupCache(Generic[K, V]):
    """Positive results live `ttl` seconds, "not found" (None) only `negative_ttl`.

    A key invalidated while its load is in flight is not filled with that (possibly stale)
    result, so a replica always sees its own writes.
    """

    def __init__(
        self,
        maxsize: int,
        ttl: float,
        negative_ttl: float,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._found: TTLCache[K, V] = TTLCache(maxsize=maxsize, ttl=ttl, timer=timer)
        self._missing: TTLCache[K, bool] = TTLCache(maxsize=maxsize, ttl=negative_ttl, timer=timer)
        self._in_flight: dict[K, asyncio.Task[V | None]] = {}
        self._generation: dict[K, int] = {}
        self.stats = CacheStats()

    async def get(self, key: K, load: Callable[[K], Awaitable[V | None]]) -> V | None:
        value = self._found.get(key)
        if value is not None:
            self.stats.hits += 1
            return value
        if key in self._missing:
            self.stats.hits += 1
            return None
        self.stats.misses += 1
        task = self._in_flight.get(key)
        if task is None:
            # The load runs as its own task: a caller that gives up (is cancelled) does not
            # cancel it for the others waiting on the same key.
            task = asyncio.create_task(self._fill(key, load))
            task.add_done_callback(_retrieve_exception)
            self._in_flight[key] = task
        return await asyncio.shield(task)

    def cached(self, key: K) -> tuple[bool, V | None]:
        """(True, value) when an answer is cached (value None: cached as missing), else
        (False, None). Loads nothing."""
        value = self._found.get(key)
        if value is not None:
            self.stats.hits += 1
            return True, value
        if key in self._missing:
            self.stats.hits += 1
            return True, None
        return False, None

    async def _fill(self, key: K, load: Callable[[K], Awaitable[V | None]]) -> V | None:
        generation = self._generation.get(key, 0)
        self.stats.loads += 1
        try:
            value = await load(key)
        finally:
            del self._in_flight[key]
        if self._generation.get(key, 0) == generation:
            if value is None:
                self._missing[key] = True
            else:
                self._found[key] = value
        return value

    def invalidate(self, key: K) -> None:
        self._found.pop(key, None)
        self._missing.pop(key, None)
        self._generation[key] = self._generation.get(key, 0) + 1
        if len(self._generation) > 2 * self._found.maxsize:
            # Only in-flight loads read generations; forget the rest so the map stays bounded.
            self._generation = {k: g for k, g in self._generation.items() if k in self._in_flight}

    def clear(self) -> None:
        for key in list(self._found) + list(self._missing) + list(self._in_flight):
            self.invalidate(key)
