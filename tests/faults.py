"""A store wrapper that injects failures, timeouts and latency into chosen store calls.

    faulty = FaultyStore(real_store)
    faulty.fail("read")                  # every read raises StoreUnavailable until healed
    faulty.fail("copy_if_unchanged", times=1)
    faulty.fail("write", key_prefix="index/")  # only calls whose key starts so
    faulty.delay("head", 0.2)            # latency
    faulty.heal()

It stands between the proxy and a real store (the local directory or moto), so everything
that is not injected behaves exactly as in production.
"""

import asyncio
from collections.abc import AsyncIterator
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

    def heal(self) -> None:
        self.faults.clear()

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
