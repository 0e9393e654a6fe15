"""Bounded concurrency: the one way the proxy and its commands keep many store or network requests in flight."""

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


async def map_concurrently(function: Callable[[T], Awaitable[R]], items: Iterable[T], limit: int) -> list[R]:
    """function(item) for every item, at most `limit` at a time, results in the items' order.

    The first failure cancels the rest and is raised as it is (not in an ExceptionGroup, which
    the callers' `except StoreError` would miss)."""
    results: dict[int, R] = {}
    remaining = enumerate(items)  # one iterator shared by all workers

    async def worker() -> None:
        for position, item in remaining:
            results[position] = await function(item)

    workers = [asyncio.create_task(worker()) for _ in range(limit)]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    return [results[position] for position in range(len(results))]


async def for_each(items: Iterable[T], work: Callable[[T], Awaitable[None]], limit: int) -> None:
    """Run `work` on every item, at most `limit` at a time; the first error stops the rest and is raised."""
    await map_concurrently(work, items, limit)
