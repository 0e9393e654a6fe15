"""A directory that behaves like a bucket: the embedded default store.

Keys map to files below the root; an object's tags live in a JSON file at the same path below
the hidden directory `.tags/`, which no key can reach. Every write goes to a temporary file that is renamed into
place, so a file's bytes never change once visible; that makes (inode, mtime, size) a sound
ETag and lets `copy_if_unchanged` hard-link exactly the bytes that were verified.

Writes and deletes of whole objects hold an exclusive `flock` on one of a fixed set of lock
files under the hidden `.locks/` directory (chosen by the key's hash), so a conditional write's
compare and its rename are one step for every process sharing the directory on one machine
(flock is not reliable over NFS: several machines need S3).
"""

import asyncio
import bisect
import contextlib
import fcntl
import json
import os
import secrets
import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from pathlib import Path
from stat import S_ISREG
from typing import BinaryIO

from proxy.storage.base import (
    CHUNK_SIZE,
    ByteStream,
    LengthMismatch,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    PreconditionFailed,
    StoreUnavailable,
    Versioned,
)
from proxy.storage.capabilities import ConditionalWrites, KeepsTags

_TMP_PREFIX = ".tmp-"
_TAGS_DIR = ".tags"
_LOCKS_DIR = ".locks"
_HIDDEN = (_TAGS_DIR, _LOCKS_DIR)
_LOCK_STRIPES = 64


async def _create_for_writing(tmp: Path) -> BinaryIO:
    """Create `tmp` and open it for writing, in a worker thread. A cancellation that arrives
    while the thread is at it (a PUT that timed out, a shutdown) does not stop the thread, so
    what it opens is then closed and removed here, not left with its descriptor."""
    opening = asyncio.ensure_future(asyncio.to_thread(_open_new, tmp))
    try:
        return await asyncio.shield(opening)
    except asyncio.CancelledError:
        opening.add_done_callback(lambda done: _discard_opened(done, tmp))
        raise


def _open_new(tmp: Path) -> BinaryIO:
    return open(tmp, "xb")


def _discard_opened(opening: "asyncio.Future[BinaryIO]", tmp: Path) -> None:
    if opening.cancelled() or opening.exception() is not None:
        return
    opening.result().close()
    tmp.unlink(missing_ok=True)


def _etag(stat: os.stat_result) -> str:
    return f'"{stat.st_ino:x}-{stat.st_mtime_ns:x}-{stat.st_size:x}"'


class LocalStore(ObjectStore, KeepsTags, ConditionalWrites):
    """Keeps tags; signs no URLs (its bytes are reachable only through the proxy)."""

    def __init__(self, root: Path | str, region: str = "local") -> None:
        self.root = Path(root).absolute()
        self.region = region

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") or p.startswith(_TMP_PREFIX) for p in parts):
            raise ValueError(f"invalid key {key!r}")
        if parts[0] in _HIDDEN:
            raise ValueError(f"invalid key {key!r}")
        return self.root.joinpath(*parts)

    def _tags_path(self, path: Path) -> Path:
        return self.root.joinpath(_TAGS_DIR, path.relative_to(self.root))

    def _drop_tags(self, path: Path) -> None:
        self._tags_path(path).unlink(missing_ok=True)

    def _set_tags(self, path: Path, tags: dict[str, str] | None) -> None:
        if tags:
            self._write_file(self._tags_path(path), json.dumps(tags, sort_keys=True).encode())
        else:
            self._drop_tags(path)

    @contextlib.contextmanager
    def _locked(self, path: Path) -> Iterator[None]:
        """Hold the lock of `path`'s stripe (blocking: call from a worker thread)."""
        stripe = zlib.crc32(str(path.relative_to(self.root)).encode()) % _LOCK_STRIPES
        lock_path = self.root / _LOCKS_DIR / f"{stripe:02x}"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _tmp_path(self, path: Path) -> Path:
        return path.with_name(f"{_TMP_PREFIX}{secrets.token_hex(8)}-{path.name}")

    async def head(self, key: str) -> ObjectInfo | None:
        try:
            stat = await asyncio.to_thread(os.stat, self._path(key))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise StoreUnavailable(f"local store: {exc.strerror}") from exc
        if not S_ISREG(stat.st_mode):
            return None  # a directory is a key prefix, not an object (as on S3)
        return ObjectInfo(key=key, size=stat.st_size, etag=_etag(stat))

    async def read(self, key: str) -> bytes | None:
        found = await self.read_versioned(key)
        return None if found is None else found.data

    @staticmethod
    def _read_versioned(path: Path) -> Versioned:
        with open(path, "rb") as file:
            # The open file pins one inode, whose bytes never change: its ETag is theirs.
            etag = _etag(os.fstat(file.fileno()))
            return Versioned(file.read(), etag)

    async def read_versioned(self, key: str) -> Versioned | None:
        try:
            return await asyncio.to_thread(self._read_versioned, self._path(key))
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError as exc:
            raise StoreUnavailable(f"local store: {exc.strerror}") from exc

    def _write_file(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._tmp_path(path)
        try:
            tmp.write_bytes(data)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def _write_object(self, path: Path, data: bytes, if_match: str | None, if_absent: bool) -> str:
        with self._locked(path):
            if if_match is not None or if_absent:
                try:
                    stat = os.stat(path)
                    current = _etag(stat) if S_ISREG(stat.st_mode) else None
                except (FileNotFoundError, NotADirectoryError):
                    current = None
                if (if_absent and current is not None) or (if_match is not None and current != if_match):
                    raise PreconditionFailed(str(path.relative_to(self.root)))
            self._drop_tags(path)  # a new object starts without tags, as on S3
            self._write_file(path, data)
            return _etag(os.stat(path))

    async def write(
        self,
        key: str,
        data: bytes,
        content_type: str = "application/json",
        *,
        if_match: str | None = None,
        if_absent: bool = False,
    ) -> str:
        try:
            return await asyncio.to_thread(self._write_object, self._path(key), data, if_match, if_absent)
        except PreconditionFailed:
            raise
        except OSError as exc:
            raise StoreUnavailable(f"local store: {exc.strerror}") from exc

    async def write_stream(self, key: str, chunks: AsyncIterator[bytes], size: int) -> ObjectInfo:
        path = self._path(key)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        tmp = self._tmp_path(path)
        file = await _create_for_writing(tmp)
        try:
            received = 0
            async for chunk in chunks:
                received += len(chunk)
                if received > size:
                    raise LengthMismatch("more bytes than announced")
                await asyncio.to_thread(file.write, chunk)
            if received != size:
                raise LengthMismatch("fewer bytes than announced")
            await asyncio.to_thread(file.close)
            await asyncio.to_thread(self._drop_tags, path)
            await asyncio.to_thread(os.replace, tmp, path)
        except OSError as exc:
            raise StoreUnavailable(f"local store: {exc.strerror}") from exc
        finally:
            file.close()
            tmp.unlink(missing_ok=True)
        info = await self.head(key)
        assert info is not None
        return info

    async def open_range(self, key: str, start: int = 0, end: int | None = None) -> ByteStream:
        try:
            file: BinaryIO = await asyncio.to_thread(open, self._path(key), "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFound(key) from None
        except OSError as exc:
            raise StoreUnavailable(f"local store: {exc.strerror}") from exc
        return ByteStream(self._iterate_file(file, start, end))

    async def _iterate_file(self, file: BinaryIO, start: int, end: int | None) -> AsyncGenerator[bytes, None]:
        try:
            file.seek(start)
            remaining = None if end is None else end - start + 1
            while remaining is None or remaining > 0:
                want = CHUNK_SIZE if remaining is None else min(CHUNK_SIZE, remaining)
                chunk = await asyncio.to_thread(file.read, want)
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        finally:
            file.close()

    def _delete_object(self, path: Path) -> None:
        with self._locked(path):
            path.unlink(missing_ok=True)
            self._drop_tags(path)

    async def delete(self, key: str) -> None:
        try:
            await asyncio.to_thread(self._delete_object, self._path(key))
        except OSError as exc:
            raise StoreUnavailable(f"local store: {exc.strerror}") from exc

    def _walk(self, prefix: str) -> list[str]:
        base_key = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        base = self.root.joinpath(*base_key.split("/")) if base_key else self.root
        keys = []
        for directory, subdirectories, files in os.walk(base):
            if Path(directory) == self.root:
                subdirectories[:] = [d for d in subdirectories if d not in _HIDDEN]  # tags and locks, not keys
            for name in files:
                if name.startswith(_TMP_PREFIX):
                    continue
                key = Path(directory, name).relative_to(self.root).as_posix()
                if key.startswith(prefix) and key.split("/", 1)[0] not in _HIDDEN:
                    keys.append(key)
        return sorted(keys)

    async def list_keys(self, prefix: str, start_after: str | None = None) -> AsyncIterator[str]:
        try:
            keys = await asyncio.to_thread(self._walk, prefix)
        except OSError as exc:
            raise StoreUnavailable(f"local store: {exc.strerror}") from exc
        first = 0 if start_after is None else bisect.bisect_right(keys, start_after)
        for key in keys[first:]:
            yield key

    def _link_if_unchanged(self, source: Path, destination: Path, etag: str, tags: dict[str, str] | None) -> None:
        destination.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._tmp_path(destination)
        try:
            os.link(source, tmp)
        except FileNotFoundError:
            raise ObjectNotFound(str(source)) from None
        try:
            # The link now pins one inode; if it is the one that was hashed, so are its bytes.
            if _etag(os.stat(tmp)) != etag:
                raise PreconditionFailed(str(source))
            self._set_tags(destination, tags)  # before the bytes appear, so they never show other tags
            os.replace(tmp, destination)
        finally:
            tmp.unlink(missing_ok=True)

    async def copy_if_unchanged(
        self, source: str, destination: str, etag: str, size: int, tags: dict[str, str] | None = None
    ) -> None:
        try:
            await asyncio.to_thread(self._link_if_unchanged, self._path(source), self._path(destination), etag, tags)
        except (ObjectNotFound, PreconditionFailed):
            raise
        except OSError as exc:
            raise StoreUnavailable(f"local store: {exc.strerror}") from exc

    def _read_tags(self, path: Path) -> dict[str, str] | None:
        if not path.is_file():
            return None
        try:
            tags: dict[str, str] = json.loads(self._tags_path(path).read_bytes())
        except FileNotFoundError:
            return {}
        return tags

    async def get_tags(self, key: str) -> dict[str, str] | None:
        try:
            return await asyncio.to_thread(self._read_tags, self._path(key))
        except OSError as exc:
            raise StoreUnavailable(f"local store: {exc.strerror}") from exc

    def _write_tags(self, path: Path, tags: dict[str, str]) -> None:
        if not path.is_file():
            raise ObjectNotFound(str(path.relative_to(self.root)))
        self._set_tags(path, tags)

    async def put_tags(self, key: str, tags: dict[str, str]) -> None:
        try:
            await asyncio.to_thread(self._write_tags, self._path(key), tags)
        except OSError as exc:
            raise StoreUnavailable(f"local store: {exc.strerror}") from exc

    async def ping(self) -> None:
        if not await asyncio.to_thread(os.access, self.root, os.W_OK):
            raise StoreUnavailable(f"local store: {self.root} is not a writable directory")
