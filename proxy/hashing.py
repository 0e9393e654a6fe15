"""sha512 over a file or a stream of chunks: the one place the proxy, `upload` and `import` hash bytes.

hashlib releases the interpreter lock while it hashes more than a few KiB, so big blocks hashed in
a worker thread leave the event loop free and run in parallel with reading, receiving and writing.
"""

import asyncio
import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Reads of a file: large, so that the cost per read (a system call, a thread hop) vanishes.
READ_BYTES = 4 * 1024 * 1024
# Smaller chunks are hashed on the event loop: a thread hop would cost more than the hash.
OFF_LOOP_BYTES = 64 * 1024
# A received stream is regrouped into blocks of at least this size before each is hashed in a thread.
BLOCK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class HashedFile:
    """A file on disk with its size and sha512, as read."""

    path: Path
    digest: str
    size: int

    @property
    def name(self) -> str:
        return self.path.name


def sha512_of_file(path: Path, on_read: Callable[[int], None] | None = None) -> HashedFile:
    """Read and hash the file in large reads (blocking: call it from a worker thread);
    `on_read(count)` after each read."""
    digest = hashlib.sha512()
    buffer = bytearray(READ_BYTES)
    view = memoryview(buffer)
    size = 0
    with path.open("rb", buffering=0) as file:
        while count := file.readinto(buffer):
            digest.update(view[:count])
            size += count
            if on_read is not None:
                on_read(count)
    return HashedFile(path, digest.hexdigest(), size)


async def hash_file(path: Path, on_read: Callable[[int], None] | None = None) -> HashedFile:
    """`sha512_of_file` in a worker thread; `on_read` runs on the event loop (safe for progress bars)."""
    if on_read is None:
        return await asyncio.to_thread(sha512_of_file, path)
    loop = asyncio.get_running_loop()
    report = on_read

    def advance(count: int) -> None:
        loop.call_soon_threadsafe(report, count)

    return await asyncio.to_thread(sha512_of_file, path, advance)


async def sha512_of(chunks: AsyncIterable[bytes]) -> str:
    """The sha512 of a stream; big chunks are hashed in a worker thread."""
    digest = hashlib.sha512()
    async for chunk in chunks:
        if len(chunk) >= OFF_LOOP_BYTES:
            await asyncio.to_thread(digest.update, chunk)
        else:
            digest.update(chunk)
    return digest.hexdigest()


async def hashed_blocks(
    chunks: AsyncIterable[bytes], digest: Any, block_bytes: int = BLOCK_BYTES
) -> AsyncIterator[bytes]:
    """`chunks` regrouped into blocks of at least `block_bytes` (the last may be shorter), each
    added to `digest` (a hashlib object) in a worker thread while the consumer handles it and the
    next block arrives. Once the iterator is exhausted, `digest` covers every byte it yielded."""
    loop = asyncio.get_running_loop()
    hashing: asyncio.Future[None] | None = None
    parts: list[bytes] = []
    held = 0

    async def hand_over() -> bytes:
        nonlocal hashing, held
        block = parts[0] if len(parts) == 1 else b"".join(parts)
        parts.clear()
        held = 0
        if hashing is not None:
            await hashing  # blocks go into the digest in order
        hashing = loop.run_in_executor(None, digest.update, block)
        return block

    async for chunk in chunks:
        parts.append(chunk)
        held += len(chunk)
        if held >= block_bytes:
            yield await hand_over()
    if held:
        yield await hand_over()
    if hashing is not None:
        await hashing
