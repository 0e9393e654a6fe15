"""The parts of the bucket admin commands walk, and which digest each key names.

proxy/keys.py spells every key and prefix; this is the reverse: from a listed key back to its
digest (None for a key that is not one of ours), and listings per store.
"""

import asyncio
from collections.abc import Iterable

from proxy.keys import ARTIFACT_PREFIX, artifact_key, digest_of_artifact_key, digest_of_index_key
from proxy.storage import ObjectStore
from proxy.stores import Stores


def artifact_digest(key: str) -> str | None:
    return digest_of_artifact_key(key)


def index_digest(key: str) -> str | None:
    return digest_of_index_key(key)


def named_stores(stores: Stores) -> list[tuple[str, ObjectStore]]:
    """Every distinct store with a name for messages: "home" or "region <name>"."""
    named: dict[int, tuple[str, ObjectStore]] = {id(stores.home): ("home", stores.home)}
    for region, store in stores.regions.items():
        named.setdefault(id(store), (f"region {region}", store))
    return list(named.values())


async def list_keys(store: ObjectStore, prefix: str) -> list[str]:
    return [key async for key in store.list_keys(prefix)]


async def artifact_holdings(stores: Stores, regions: Iterable[str] | None = None) -> dict[str, set[str]]:
    """digest -> the regions whose store holds `sha512/<digest>`, from one listing per region."""
    names = list(stores.regions if regions is None else regions)
    listings = await asyncio.gather(*(list_keys(stores.regions[name], ARTIFACT_PREFIX) for name in names))
    holdings: dict[str, set[str]] = {}
    for name, keys in zip(names, listings, strict=True):
        for key in keys:
            digest = artifact_digest(key)
            if digest is not None:
                holdings.setdefault(digest, set()).add(name)
    return holdings


async def regions_holding(stores: Stores, digest: str) -> dict[str, int]:
    """The regions whose store holds the file's bytes, with the size each has."""
    heads = await asyncio.gather(*(store.head(artifact_key(digest)) for store in stores.regions.values()))
    return {region: info.size for region, info in zip(stores.regions, heads, strict=True) if info is not None}
