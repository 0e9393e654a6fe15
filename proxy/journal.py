"""The journal: one small object per metadata change, so search catalogs update incrementally.

Every index entry and batch record the proxy (or an admin command) writes is also appended
here as `journal/<UTC time>-<random>.json` holding {"kind": "file"|"batch", "doc": …}. Keys
sort by time, so a replica lists only what is newer than what it has seen (DESIGN.md §2).
"""

import json
import secrets
import time
from typing import Any

from proxy.storage import ObjectStore

JOURNAL_PREFIX = "journal/"


def journal_key(now: float | None = None) -> str:
    moment = time.time() if now is None else now
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(moment)) + f"{int(moment * 1e6) % 1_000_000:06d}"
    return f"{JOURNAL_PREFIX}{stamp}-{secrets.token_hex(4)}.json"


class Journal:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    async def append(self, kind: str, doc: dict[str, Any]) -> str:
        key = journal_key()
        await self.store.write(key, json.dumps({"kind": kind, "doc": doc}, sort_keys=True).encode())
        return key
