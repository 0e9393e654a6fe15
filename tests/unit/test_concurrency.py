"""proxy.concurrency.for_each: every item once, never more than `limit` at a time, the first error stops the rest."""

import asyncio

import pytest

from proxy.concurrency import for_each


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
