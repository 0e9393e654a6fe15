"""Transient store errors retried inside a deadline, so they never reach tooltool.py.

tooltool.py's retry helper raises on the first failure (PROTOCOL.md §1), so a 503 fails a CI
task outright. `RetryingStore` wraps the real store: a call that fails with a transient
StoreUnavailable (5xx, throttling, timeouts, dropped connections) is tried again with full
jitter backoff until TOOLTOOL_STORE_RETRY_DEADLINE seconds have passed since it started; only
then does the error reach the handler (503 + Retry-After). A streamed read that loses its
connection resumes with a range read from the next byte, so the client never notices.

`RetryingStore(inner, deadline)` provides exactly the capabilities `inner` provides: it is an
instance of the subclass that adds SignsURLs and/or KeepsTags when, and only when, `inner` has
them (proxy/storage/capabilities.py).
"""

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar, cast

from proxy.storage.base import ByteStream, ObjectInfo, ObjectStore, PreconditionFailed, StoreUnavailable, Versioned
from proxy.storage.capabilities import (
    KEEPS_TAGS_METHODS,
    SIGNS_URLS_METHODS,
    KeepsTags,
    SignsURLs,
    declares_conditional_writes,
    keeps_tags,
    signs_urls,
)

log = logging.getLogger("tooltool.store")

T = TypeVar("T")

FIRST_BACKOFF_SECONDS = 0.05
MAX_BACKOFF_SECONDS = 1.0
MIN_ATTEMPT_SECONDS = 5.0


_CAPABILITY_METHODS = frozenset(SIGNS_URLS_METHODS + KEEPS_TAGS_METHODS)


class RetryingStore(ObjectStore):
    def __new__(cls, inner: ObjectStore, deadline: float) -> "RetryingStore":
        if cls is RetryingStore:
            cls = _RETRYING_CLASSES[signs_urls(inner), keeps_tags(inner)]
        return super().__new__(cls)

    def __init__(self, inner: ObjectStore, deadline: float) -> None:
        self.inner = inner
        self.region = inner.region
        self.deadline = deadline

    @property
    def honours_conditions(self) -> bool:
        return declares_conditional_writes(self.inner)

    def __getattr__(self, name: str) -> Any:
        # Attributes of the real store that are not part of the interface (a LocalStore's root).
        # Capabilities are forwarded only by the subclasses that declare them.
        if name in _CAPABILITY_METHODS:
            raise AttributeError(name)
        return getattr(self.inner, name)

    async def _retry(self, what: str, call: Callable[[], Awaitable[T]], *, bounded: bool = True) -> T:
        """`call()` until it succeeds, a permanent error, or the deadline. A `bounded` attempt is
        also cut off at the deadline (small-object calls; a server-side copy of gigabytes is not:
        botocore's read timeout bounds its silence instead)."""
        started = time.monotonic()
        attempt = 0
        while True:
            try:
                if not bounded:
                    return await call()
                remaining = self.deadline - (time.monotonic() - started)
                # An attempt is cut off at the deadline, but never sooner than MIN_ATTEMPT_SECONDS
                # after it began: a slow answer is better than a 503 for one that was coming.
                async with asyncio.timeout(max(remaining, MIN_ATTEMPT_SECONDS)):
                    return await call()
            except TimeoutError:
                error = StoreUnavailable(f"the object store did not answer {what} in {self.deadline:g} s")
            except StoreUnavailable as exc:
                if not exc.transient:
                    raise
                error = exc
            attempt += 1
            pause = random.uniform(0, min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2**attempt))  # noqa: S311
            if time.monotonic() - started + pause >= self.deadline:
                raise error
            log.info("retrying a store call", extra={"operation": what, "attempt": attempt, "reason": str(error)})
            await asyncio.sleep(pause)

    async def head(self, key: str) -> ObjectInfo | None:
        return await self._retry("head", lambda: self.inner.head(key))

    async def read(self, key: str) -> bytes | None:
        return await self._retry("read", lambda: self.inner.read(key))

    async def read_versioned(self, key: str) -> Versioned | None:
        return await self._retry("read", lambda: self.inner.read_versioned(key))

    async def write(
        self,
        key: str,
        data: bytes,
        content_type: str = "application/json",
        *,
        if_match: str | None = None,
        if_absent: bool = False,
    ) -> str:
        attempts = 0

        async def attempt() -> str:
            nonlocal attempts
            attempts += 1
            try:
                return await self.inner.write(key, data, content_type, if_match=if_match, if_absent=if_absent)
            except PreconditionFailed:
                # A retried conditional write can fail because the first attempt did land (its
                # answer was lost): the object then holds exactly our bytes.
                found = await self.inner.read_versioned(key) if attempts > 1 else None
                if found is not None and found.data == data:
                    return found.etag
                raise

        return await self._retry("write", attempt)

    async def write_stream(self, key: str, chunks: AsyncIterator[bytes], size: int) -> ObjectInfo:
        return await self.inner.write_stream(key, chunks, size)  # the chunks cannot be replayed

    async def open_range(self, key: str, start: int = 0, end: int | None = None) -> ByteStream:
        chunks = await self._retry("open_range", lambda: self.inner.open_range(key, start, end))
        return ByteStream(self._resuming(key, chunks, start, end))

    async def _resuming(self, key: str, chunks: ByteStream, start: int, end: int | None) -> AsyncGenerator[bytes, None]:
        position = start
        # A stream that breaks again and again without a byte of progress gives up once the
        # deadline has passed since it stopped moving (every re-open would succeed for ever).
        stuck_at, stuck_since = position, time.monotonic()
        try:
            while True:
                try:
                    async for chunk in chunks:
                        position += len(chunk)
                        yield chunk
                    return
                except StoreUnavailable as exc:
                    now = time.monotonic()
                    if position != stuck_at:
                        stuck_at, stuck_since = position, now
                    if not exc.transient or now - stuck_since >= self.deadline:
                        raise
                    log.info("store connection lost mid-stream; resuming", extra={"key": key, "at": position})
                    await _close(chunks)
                    if position == stuck_at:
                        await asyncio.sleep(random.uniform(0, FIRST_BACKOFF_SECONDS))  # noqa: S311
                    if end is not None and position > end:
                        return
                    chunks = await self._retry(
                        "open_range", functools.partial(self.inner.open_range, key, position, end)
                    )
        finally:
            await _close(chunks)

    async def delete(self, key: str) -> None:
        await self._retry("delete", lambda: self.inner.delete(key))

    async def list_keys(self, prefix: str, start_after: str | None = None) -> AsyncIterator[str]:
        # Retried only until the first key is out: a listing cannot be resumed half-way.
        started = time.monotonic()
        while True:
            listing = self.inner.list_keys(prefix, start_after)
            yielded = False
            try:
                async for key in listing:
                    yielded = True
                    yield key
                return
            except StoreUnavailable as exc:
                if yielded or not exc.transient or time.monotonic() - started >= self.deadline:
                    raise
                await asyncio.sleep(random.uniform(0, MAX_BACKOFF_SECONDS))  # noqa: S311

    async def copy_if_unchanged(
        self, source: str, destination: str, etag: str, size: int, tags: dict[str, str] | None = None
    ) -> None:
        copy = functools.partial(self.inner.copy_if_unchanged, source, destination, etag, size, tags)
        await self._retry("copy", copy, bounded=False)

    async def ping(self) -> None:
        await self.inner.ping()  # the heartbeat reports the store as it is, at once

    async def close(self) -> None:
        await self.inner.close()


class _RetryingTagKeeper(RetryingStore, KeepsTags):
    async def get_tags(self, key: str) -> dict[str, str] | None:
        tagged = cast(KeepsTags, self.inner)
        return await self._retry("get_tags", lambda: tagged.get_tags(key))

    async def put_tags(self, key: str, tags: dict[str, str]) -> None:
        tagged = cast(KeepsTags, self.inner)
        await self._retry("put_tags", lambda: tagged.put_tags(key, tags))


class _RetryingSigner(RetryingStore, SignsURLs):
    # Signing is computed locally (no request to retry).
    async def presign_get(self, key: str, expires_in: int) -> str:
        return await cast(SignsURLs, self.inner).presign_get(key, expires_in)

    async def presign_put(self, key: str, expires_in: int) -> str:
        return await cast(SignsURLs, self.inner).presign_put(key, expires_in)


class _RetryingSignerAndTagKeeper(_RetryingSigner, _RetryingTagKeeper):
    pass


# (signs URLs, keeps tags) of the wrapped store -> the class of its wrapper.
_RETRYING_CLASSES: dict[tuple[bool, bool], type[RetryingStore]] = {
    (False, False): RetryingStore,
    (False, True): _RetryingTagKeeper,
    (True, False): _RetryingSigner,
    (True, True): _RetryingSignerAndTagKeeper,
}


async def _close(chunks: AsyncIterator[bytes] | ByteStream) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):  # closing a broken connection may fail again
            await aclose()
