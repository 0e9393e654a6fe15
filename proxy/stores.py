"""The stores of a deployment: a home store for metadata and one artifact store per region.

With no TOOLTOOL_REGIONS there is one region and its store is the home store. With regions
(`region:bucket;…`), every region's store holds `sha512/<digest>` bytes; index objects,
batches, pending uploads and the journal live in the home store (the first region's, unless
TOOLTOOL_STORE names another).
"""

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from proxy.config import Config, StoreLocation
from proxy.storage import ObjectStore
from proxy.storage.local import LocalStore
from proxy.storage.retrying import RetryingStore


@dataclass
class Stores:
    home: ObjectStore
    regions: dict[str, ObjectStore]  # in configured order; the first is the default region

    @property
    def default_region(self) -> str:
        return next(iter(self.regions))

    def region(self, name: str | None) -> str:
        """The configured region called `name`, or the default one (unknown names are ignored)."""
        return name if name in self.regions else self.default_region

    def pick(self, instances: Iterable[str], preferred: str | None = None) -> str | None:
        """The region to serve from: the preferred one if it holds the bytes, else the first
        configured region that does. Instances named for regions this deployment does not
        configure (an index written elsewhere) count as the default region. None when the file
        has no instances at all."""
        holding = set(instances)
        if not holding:
            return None
        if preferred in holding and preferred in self.regions:
            return preferred
        return next((name for name in self.regions if name in holding), self.default_region)

    def all(self) -> list[ObjectStore]:
        stores = [self.home, *self.regions.values()]
        return list({id(store): store for store in stores}.values())

    async def close(self) -> None:
        for store in self.all():
            await store.close()


StoreOpener = Callable[[StoreLocation, str, Config], Awaitable[ObjectStore]]


async def open_location(location: StoreLocation, region: str, config: Config) -> ObjectStore:
    if location.is_local:
        root = Path(location.path)
        await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)
        return LocalStore(root, region=region)
    from proxy.storage.s3 import S3Store

    return await S3Store.connect(
        bucket=location.bucket,
        prefix=location.prefix,
        region=region,
        endpoint_url=config.s3_endpoint_url,
    )


async def open_stores(config: Config, opener: StoreOpener = open_location) -> Stores:
    """Every store of the deployment, each retrying transient errors within the configured deadline."""

    async def open_one(location: StoreLocation, region: str) -> ObjectStore:
        return RetryingStore(await opener(location, region, config), config.store_retry_deadline)

    if not config.regions:
        name = "local" if config.store.is_local else config.s3_region
        home = await open_one(config.store, name)
        return Stores(home=home, regions={name: home})
    regions: dict[str, ObjectStore] = {}
    for region in config.regions:
        regions[region.name] = await open_one(region.store, region.name)
    first = config.regions[0]
    home = regions[first.name] if config.store == first.store else await open_one(config.store, first.name)
    return Stores(home=home, regions=regions)
