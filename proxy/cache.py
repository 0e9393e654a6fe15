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
        self._in_flight: dict[K, asyncio.Future[V | None]] = {}
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
        pending = self._in_flight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        return await self._load(key, load)

    async def _load(self, key: K, load: Callable[[K], Awaitable[V | None]]) -> V | None:
        future: asyncio.Future[V | None] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        generation = self._generation.get(key, 0)
        self.stats.loads += 1
        try:
            value = await load(key)
        except BaseException as exc:
            future.set_exception(exc)
            # Waiters re-raise it; mark it retrieved so an unshared failure is not reported twice.
            future.exception()
            raise
        finally:
            del self._in_flight[key]
        if self._generation.get(key, 0) == generation:
            if value is None:
                self._missing[key] = True
            else:
                self._found[key] = value
        future.set_result(value)
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
