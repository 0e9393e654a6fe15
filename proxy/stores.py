"""The stores of a deployment: a home store for metadata and one artifact store per region.

With no TOOLTOOL_REGIONS there is one region and its store is the home store. With regions
(`region:bucket;…`), every region's store holds `sha512/<digest>` bytes; index objects,
batches, pending uploads and the journal live in the home store (the first region's, unless
TOOLTOOL_STORE names another).

What the region stores can do (sign URLs, keep tags) is checked once, when they are opened,
against the configuration: a store that cannot serve the configured TOOLTOOL_DOWNLOAD,
TOOLTOOL_UPLOAD_TARGET or TOOLTOOL_INDEX stops start-up with ConfigError.
"""

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from proxy.config import Config, DownloadMode, StoreLocation, resolve_transfers
from proxy.storage import KeepsTags, ObjectStore, SignsURLs, keeps_tags, signs_urls
from proxy.storage.local import LocalStore
from proxy.storage.retrying import RetryingStore

if TYPE_CHECKING:
    from proxy.cloudfront import CloudFront


@dataclass
class Stores:
    home: ObjectStore
    regions: dict[str, ObjectStore]  # in configured order; the first is the default region
    # The region stores that sign URLs / keep tags, as those interfaces (all of them whenever
    # the configuration needs it: see open_stores).
    signers: dict[str, SignsURLs] = field(init=False)
    tag_keepers: dict[str, KeepsTags] = field(init=False)

    def __post_init__(self) -> None:
        self.signers = {name: store for name, store in self.regions.items() if signs_urls(store)}
        self.tag_keepers = {name: store for name, store in self.regions.items() if keeps_tags(store)}

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
    """Every store of the deployment, each retrying transient errors within the configured deadline.

    Raises ConfigError (closing what it opened) when a region's store lacks a capability the
    configuration needs.
    """
    stores = await _open_stores(config, opener)
    try:
        resolve_transfers(stores.regions, config.download_mode, config.upload_target, config.index_mode)
    except BaseException:
        await stores.close()
        raise
    return stores


async def _open_stores(config: Config, opener: StoreOpener) -> Stores:
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


# Signs a GET of `key` for `expires_in` seconds.
DownloadSigner = Callable[[str, int], Awaitable[str]]


@dataclass(frozen=True)
class DownloadPlan:
    """How GET /sha512/<d> answers, decided once at start-up: a redirect to a URL signed by the
    signer of the region serving the bytes, or (no signers) the bytes streamed by the proxy."""

    signers: Mapping[str, DownloadSigner]  # by region: every region when downloads redirect

    @property
    def redirects(self) -> bool:
        return bool(self.signers)


def download_plan(config: Config, stores: Stores) -> DownloadPlan:
    """Redirects sign with the region's store (S3 presign), or with CloudFront for the default
    region when it is configured; open_stores made sure every region's store signs."""
    if config.download_mode is DownloadMode.STREAM:
        return DownloadPlan({})
    signers = {name: _presigned_by(store) for name, store in stores.signers.items()}
    if config.cloudfront is not None:
        signers[stores.default_region] = _signed_by(config.cloudfront)
    return DownloadPlan(signers)


def _presigned_by(store: SignsURLs) -> DownloadSigner:
    async def signed_url(key: str, expires_in: int) -> str:
        return await store.presign_get(key, expires_in)

    return signed_url


def _signed_by(cloudfront: "CloudFront") -> DownloadSigner:
    async def signed_url(key: str, expires_in: int) -> str:
        return cloudfront.signed_url(key, expires_in)

    return signed_url
