"""The object-store interface the proxy is written against (DESIGN.md §2).

Two backends implement it with the same keys and semantics: `S3Store` (any S3-compatible
endpoint) and `LocalStore` (a directory, the embedded default). One contract test suite
(tests/storage/test_store_contract.py) runs against both.

Every backend failure that is the store's fault (unreachable, 5xx, timeouts) is raised as
StoreUnavailable, which the web layer answers with 503 + Retry-After.

What only some stores can do (sign URLs, keep tags, conditional writes that hold across
processes) is not here but in proxy/storage/capabilities.py, as interfaces a store declares.
"""

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from types import TracebackType

CHUNK_SIZE = 1024 * 1024


class StoreError(Exception):
    """Base of the errors a store raises."""


class StoreUnavailable(StoreError):
    """The store could not be reached or failed; the request may be retried later.

    `transient` errors (5xx, throttling, timeouts, dropped connections) are worth retrying at
    once (see RetryingStore); others (access denied, no such bucket) are not.
    """

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


class ObjectNotFound(StoreError):
    """The key does not exist."""


class LengthMismatch(StoreError):
    """`write_stream` received more or fewer bytes than announced; nothing was stored."""


class PreconditionFailed(StoreError):
    """A conditional operation found the object changed (its ETag differs), or a
    create-if-absent found it present. Never a silent overwrite."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str


@dataclass(frozen=True)
class Versioned:
    """An object's bytes with the ETag of exactly those bytes, for compare-and-swap."""

    data: bytes
    etag: str


class ByteStream:
    """The bytes of an open range read, which hold a file or a connection until closed.

    Iterate it (`async for chunk in stream`) inside `async with stream:`, or `aclose()` it: a
    stream that is not exhausted must be closed.
    """

    __slots__ = ("_chunks",)

    def __init__(self, chunks: AsyncGenerator[bytes, None]) -> None:
        self._chunks = chunks

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks  # `async for` costs nothing over the generator itself

    async def __anext__(self) -> bytes:
        return await self._chunks.__anext__()

    async def aclose(self) -> None:
        await self._chunks.aclose()

    async def __aenter__(self) -> "ByteStream":
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        # Closing a broken connection may fail again; the reader has what it read (or its error).
        with contextlib.suppress(Exception):
            await self.aclose()


class ObjectStore(ABC):
    """Keys are '/'-separated strings such as `sha512/<digest>`; values are bytes."""

    region: str
    # Set by proxy.storage.cas.probe_conditional_writes on a store whose conditions cannot be
    # trusted (not declared, or found ignored): every compare-and-swap of this process takes it.
    serialised_writes: asyncio.Lock | None = None

    @abstractmethod
    async def head(self, key: str) -> ObjectInfo | None:
        """Size and ETag of the object, or None if it does not exist."""

    @abstractmethod
    async def read(self, key: str) -> bytes | None:
        """The whole object (small documents only), or None if it does not exist."""

    @abstractmethod
    async def read_versioned(self, key: str) -> Versioned | None:
        """The whole object and its ETag (small documents only), or None if it does not exist."""

    @abstractmethod
    async def write(
        self,
        key: str,
        data: bytes,
        content_type: str = "application/json",
        *,
        if_match: str | None = None,
        if_absent: bool = False,
    ) -> str:
        """Create or replace the object atomically (readers see the old or the new bytes) and
        return its new ETag.

        Conditional forms, which hold across every process writing the store: `if_match` writes
        only while the object still has that ETag (S3 If-Match), `if_absent` only when no object
        exists (If-None-Match: *). A failed condition raises PreconditionFailed.
        """

    @abstractmethod
    async def write_stream(self, key: str, chunks: AsyncIterator[bytes], size: int) -> ObjectInfo:
        """Store exactly `size` bytes from `chunks` (raises LengthMismatch, storing nothing, when
        more or fewer arrive)."""

    @abstractmethod
    async def open_range(self, key: str, start: int = 0, end: int | None = None) -> ByteStream:
        """Open bytes start..end (inclusive; None = to the end). Raises ObjectNotFound now, not later.

        The caller must close the stream (`async with`), whether it read it all or not.
        """

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error."""

    @abstractmethod
    def list_keys(self, prefix: str, start_after: str | None = None) -> AsyncIterator[str]:
        """Every key that starts with `prefix`, in lexical order; with `start_after`, only the
        keys that sort after it (S3's ListObjectsV2 StartAfter: the store skips the rest)."""

    @abstractmethod
    async def copy_if_unchanged(
        self, source: str, destination: str, etag: str, size: int, tags: dict[str, str] | None = None
    ) -> None:
        """Server-side copy of `source` to `destination` only if `source` still has `etag`.

        The copy carries exactly `tags` (none by default), never the source's: whoever wrote the
        source (an uploader's signed PUT) must not choose the destination's tags.
        Raises PreconditionFailed when it changed, ObjectNotFound when it is gone.
        """

    @abstractmethod
    async def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers (used by /__heartbeat__)."""

    async def close(self) -> None:  # noqa: B027 - most stores hold nothing to release
        """Release connections."""
