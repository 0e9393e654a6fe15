"""Compare-and-swap on whole objects, the only way shared documents are changed (DESIGN.md §6).

Replicas coordinate through the store alone: a read-modify-write reads the object with its
ETag, computes the new bytes from what it read (a merge of only what the operation owns), and
writes them only if the object still has that ETag (or, for a new object, only if it is still
absent). When another writer got there first the write fails, and the loop reads again and
merges again, a bounded number of times.

A store declares that its conditions hold (capabilities.ConditionalWrites), but some
S3-compatible servers accept If-Match / If-None-Match and overwrite anyway.
`probe_conditional_writes` checks the claim at start-up; on a store that does not declare it,
or whose claim fails, this process serialises its own read-modify-writes
(`ObjectStore.serialised_writes`), which protects one replica only.
"""

import asyncio
import contextlib
import logging
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from proxy.keys import probe_key
from proxy.storage.base import ObjectStore, PreconditionFailed, StoreUnavailable, Versioned
from proxy.storage.capabilities import declares_conditional_writes

log = logging.getLogger("tooltool.store")

CAS_ATTEMPTS = 20
CONDITIONS_IGNORED_WARNING = (
    "the object store ignores conditional writes (If-None-Match); this replica serialises its own "
    "writes, so run only one replica on this store"
)

CONDITIONS_UNDECLARED_WARNING = (
    "the object store does not declare conditional writes; this replica serialises its own writes, so run "
    "only one replica on this store"
)

CONDITIONS_UNCHECKED_WARNING = (
    "could not check at start-up whether the object store honours conditional writes; this replica "
    "serialises its own writes until it is restarted"
)

Change = Callable[[bytes | None], bytes | None]


class ContendedWrite(StoreUnavailable):
    """Other writers kept changing the object; the caller should retry a little later."""


@dataclass(frozen=True)
class Updated:
    stored: Versioned | None  # the object after the update (None: there is none)
    written: bool  # False: `change` left it as it was


async def update_object(
    store: ObjectStore, key: str, change: Change, content_type: str = "application/json"
) -> Updated:
    """Apply `change` to the object at `key` as a compare-and-swap and say what is stored
    afterwards.

    `change(current)` gets the current bytes (None when absent) and returns the new bytes, or
    None to leave the object as it is. It may run several times and must depend on its
    argument only.
    """
    lock = store.serialised_writes or contextlib.nullcontext()
    async with lock:
        for attempt in range(CAS_ATTEMPTS):
            current = await store.read_versioned(key)
            new = change(None if current is None else current.data)
            if new is None or (current is not None and new == current.data):
                return Updated(current, written=False)
            try:
                if current is None:
                    etag = await store.write(key, new, content_type, if_absent=True)
                else:
                    etag = await store.write(key, new, content_type, if_match=current.etag)
                return Updated(Versioned(new, etag), written=True)
            except PreconditionFailed:
                await asyncio.sleep(random.uniform(0, 0.005 * 2 ** min(attempt, 6)))  # noqa: S311
    raise ContendedWrite(f"{key} kept changing while it was being updated; retry later")


async def probe_conditional_writes(store: ObjectStore) -> str | None:
    """None when the store refuses a second create-if-absent of one key, as it must; otherwise
    the warning to show operators (logged here).

    On a store that ignores conditions, does not declare them, or could not be asked,
    `store.serialised_writes` becomes a lock that every compare-and-swap of this process takes.
    """
    if not declares_conditional_writes(store):
        log.warning(CONDITIONS_UNDECLARED_WARNING)
        store.serialised_writes = asyncio.Lock()
        return CONDITIONS_UNDECLARED_WARNING
    key = probe_key(secrets.token_hex(8))
    try:
        await store.write(key, b"first", "text/plain", if_absent=True)
        try:
            await store.write(key, b"second", "text/plain", if_absent=True)
            warning: str | None = CONDITIONS_IGNORED_WARNING
        except PreconditionFailed:
            warning = None
    except StoreUnavailable as exc:
        warning = f"{CONDITIONS_UNCHECKED_WARNING} ({exc})"
    finally:
        with contextlib.suppress(StoreUnavailable):
            await store.delete(key)
    if warning is not None:
        log.warning(warning)
        store.serialised_writes = asyncio.Lock()
    return warning
