"""proxy.hashing: the one sha512 over a file or a stream that the proxy, `upload` and `import` share."""

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from proxy.commands.maintenance import upload_of
from proxy.hashing import hash_file, hashed_blocks, sha512_of, sha512_of_file
from proxy.keys import received_key

DIGEST = "a" * 128


async def pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_hashed_blocks_regroups_small_pieces_in_order_and_hashes_every_byte() -> None:
    data = os.urandom(10 * 1000 + 7)
    digest = hashlib.sha512()

    blocks = [block async for block in hashed_blocks(pieces(data, 1000), digest, block_bytes=4000)]

    assert b"".join(blocks) == data
    assert [len(block) for block in blocks] == [4000, 4000, 2007]
    assert digest.hexdigest() == hashlib.sha512(data).hexdigest()


async def test_hashed_blocks_passes_a_big_chunk_through_whole() -> None:
    data = os.urandom(9000)
    digest = hashlib.sha512()

    blocks = [block async for block in hashed_blocks(pieces(data, 9000), digest, block_bytes=4000)]

    assert blocks == [data]
    assert digest.hexdigest() == hashlib.sha512(data).hexdigest()


async def test_hashed_blocks_of_nothing_yields_nothing() -> None:
    digest = hashlib.sha512()

    assert [block async for block in hashed_blocks(pieces(b"", 1), digest)] == []
    assert digest.hexdigest() == hashlib.sha512(b"").hexdigest()


async def test_the_stream_and_the_file_hash_to_the_same_digest(tmp_path: Path) -> None:
    data = os.urandom(5 * 1024 * 1024 + 3)  # more than one of the file reads
    path = tmp_path / "toolchain.tar.xz"
    path.write_bytes(data)
    reads: list[int] = []

    hashed = await hash_file(path, reads.append)

    assert hashed.digest == hashlib.sha512(data).hexdigest()
    assert hashed.size == len(data) == sum(reads)
    assert len(reads) > 1
    assert hashed.name == "toolchain.tar.xz"
    assert sha512_of_file(path).digest == hashed.digest
    assert await sha512_of(pieces(data, 100 * 1024)) == hashed.digest


def test_gc_counts_the_record_of_a_proxied_put_as_part_of_its_upload() -> None:
    assert upload_of(received_key(DIGEST, 1733011200000123)) == (DIGEST, 1733011200000123)
