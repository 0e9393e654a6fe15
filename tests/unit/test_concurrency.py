"""proxy.concurrency: every item once, never more than `limit` at a time, results in order, the first error
stops the rest and is raised as it is."""

import asyncio

import pytest

from proxy.concurrency import for_each, map_concurrently
from proxy.storage import StoreUnavailable


class Gauge:
    """How many works are running now, and the most that ever ran at once."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self.done: list[int] = []

    async def work(self, item: int) -> None:
        self.running += 1
        self.most = max(self.most, self.running)
        for _ in range(3):  # let every other worker start before this one ends
            await asyncio.sleep(0)
        self.running -= 1
        self.done.append(item)


@pytest.mark.parametrize(("items", "limit"), [(10, 3), (2, 5), (7, 1), (0, 4)])
async def test_every_item_is_worked_on_once_and_never_more_than_limit_at_once(items: int, limit: int) -> None:
    gauge = Gauge()
    await for_each(range(items), gauge.work, limit)
    assert sorted(gauge.done) == list(range(items))
    assert gauge.most == min(items, limit)


async def test_the_first_error_propagates_and_the_rest_are_not_started() -> None:
    started: list[int] = []
    gate = asyncio.Event()

    async def work(item: int) -> None:
        started.append(item)
        if item == 1:
            raise ValueError("item 1 failed")
        await gate.wait()  # the others would wait for ever: for_each must cancel them

    with pytest.raises(ValueError, match="item 1 failed"):
        await for_each(range(100), work, 3)
    assert started == [0, 1, 2]


async def test_map_concurrently_answers_in_the_items_order() -> None:
    async def double_later(item: int) -> int:
        for _ in range(item % 3):  # later items of a round finish first
            await asyncio.sleep(0)
        return 2 * item

    assert await map_concurrently(double_later, range(10), 4) == [2 * item for item in range(10)]


async def test_map_concurrently_raises_the_failure_itself_not_an_exception_group() -> None:
    async def work(item: int) -> int:
        if item == 2:
            raise StoreUnavailable("the store is down")
        await asyncio.sleep(0)
        return item

    # An ExceptionGroup would slip past the HTTP edge's `except StoreUnavailable` (503) as a 500.
    with pytest.raises(StoreUnavailable, match="the store is down"):
        await map_concurrently(work, [0, 1, 2, 3, 4], 2)
