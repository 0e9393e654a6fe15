"""A store wrapper that injects failures, timeouts and latency into chosen store calls.

    faulty = FaultyStore(real_store)
    faulty.fail("read")                  # every read raises StoreUnavailable until healed
    faulty.fail("copy_if_unchanged", times=1)
    faulty.fail("write", key_prefix="index/")  # only calls whose key starts so
    faulty.delay("head", 0.2)            # latency
    faulty.break_stream(after=1_000_000)  # the next open_range stream drops after so many bytes
    faulty.heal()

It stands between the proxy and a real store (the local directory or moto), so everything
that is not injected behaves exactly as in production.
"""

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

from proxy.storage import ObjectStore, StoreUnavailable

STREAMING = {"list_keys"}


@dataclass
class Fault:
    error: BaseException | None = None
    delay: float = 0.0
    times: int | None = None  # None: until healed
    key_prefix: str = ""  # only calls whose first argument (the key) starts with it

    def spend(self, key: object) -> bool:
        """True if this fault applies to the current call."""
        if not (isinstance(key, str) and key.startswith(self.key_prefix)):
            return False
        if self.times is None:
            return True
        if self.times <= 0:
            return False
        self.times -= 1
        return True


class FaultyStore:
    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.faults: dict[str, Fault] = {}
        self.calls: dict[str, int] = {}
        self.stream_breaks: list[tuple[int, BaseException]] = []  # (after so many bytes, raise) per stream
        self.ranges_opened: list[tuple[str, int, int | None]] = []  # (key, start, end) of open_range

    def fail(
        self, operation: str, times: int | None = None, error: BaseException | None = None, key_prefix: str = ""
    ) -> None:
        error = error or StoreUnavailable(f"injected failure in {operation}")
        self.faults[operation] = Fault(error=error, times=times, key_prefix=key_prefix)

    def time_out(self, operation: str, times: int | None = None) -> None:
        """What the S3 store raises when botocore's read timeout expires."""
        self.fail(operation, times, StoreUnavailable(f"S3 is unreachable (ReadTimeoutError in {operation})"))

    def delay(self, operation: str, seconds: float) -> None:
        self.faults[operation] = Fault(delay=seconds)

    def break_stream(self, after: int, times: int = 1, error: BaseException | None = None) -> None:
        """The next `times` streams open_range returns raise `error` (a transient StoreUnavailable
        unless given) once they have yielded `after` bytes, as a connection lost mid-transfer does."""
        error = error or StoreUnavailable("injected: store connection lost mid-stream")
        self.stream_breaks += [(after, error)] * times

    def heal(self) -> None:
        self.faults.clear()
        self.stream_breaks.clear()

    async def open_range(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        await self._inject("open_range", key)
        self.ranges_opened.append((key, start, end))
        chunks = await self.inner.open_range(key, start, end)
        if not self.stream_breaks:
            return chunks
        return _breaking(chunks, *self.stream_breaks.pop(0))

    async def _inject(self, operation: str, key: object = "") -> None:
        self.calls[operation] = self.calls.get(operation, 0) + 1
        fault = self.faults.get(operation)
        if fault is None or not fault.spend(key):
            return
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.error is not None:
            raise fault.error

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if not callable(target) or name.startswith("_"):
            return target
        if name in STREAMING:

            async def stream(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
                await self._inject(name, args[0] if args else "")
                async for item in target(*args, **kwargs):
                    yield item

            return stream

        async def call(*args: Any, **kwargs: Any) -> Any:
            await self._inject(name, args[0] if args else "")
            return await target(*args, **kwargs)

        return call


async def _breaking(chunks: AsyncIterator[bytes], after: int, error: BaseException) -> AsyncGenerator[bytes, None]:
    """`chunks` up to `after` bytes (cutting a chunk if need be), then `error`."""
    sent = 0
    try:
        async for chunk in chunks:
            if sent + len(chunk) >= after:
                if after > sent:
                    yield chunk[: after - sent]
                raise error
            sent += len(chunk)
            yield chunk
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
