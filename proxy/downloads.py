"""Deciding a download: digest check, metadata, scopes, and the signed URL to redirect to."""

from dataclasses import dataclass

from cachetools import TTLCache

from manifests import IndexEntry, Visibility, is_valid_digest
from proxy.auth import Identity
from proxy.errors import INVALID_DIGEST_DETAIL
from proxy.index import FileIndex
from proxy.keys import artifact_key
from proxy.outcomes import Forbidden, InvalidInput, NotFound
from proxy.scopes import Scopes
from proxy.storage import ObjectStore
from proxy.stores import DownloadPlan, Stores

BYTES_DELETED_DETAIL = "The file's bytes were deleted; it must be uploaded again."


def require_digest(digest: str) -> str:
    """Validate before any lookup: a malformed digest is 400, never 404 (PROTOCOL.md §3)."""
    if not is_valid_digest(digest):
        raise InvalidInput(INVALID_DIGEST_DETAIL)
    return digest


@dataclass(frozen=True)
class Authorized:
    entry: IndexEntry
    region: str  # where the bytes are served from
    store: ObjectStore


class Downloads:
    def __init__(
        self,
        stores: Stores,
        index: FileIndex,
        scopes: Scopes,
        signed_url_ttl: int,
        plan: DownloadPlan,
    ) -> None:
        self.stores = stores
        self._signers = plan.signers
        self.redirects = plan.redirects  # else the handler streams the bytes
        self.index = index
        self.scopes = scopes
        self.signed_url_ttl = signed_url_ttl
        # A signed URL is handed out again only while more than half of its lifetime is left.
        self._signed_urls: TTLCache[tuple[str, str], str] = TTLCache(maxsize=100_000, ttl=signed_url_ttl / 2)

    async def authorize(self, digest: str, identity: Identity, region: str | None = None) -> Authorized:
        """The file and the region to serve it from (`region` is a preference among instances)."""
        require_digest(digest)
        entry = await self.index.lookup(digest)
        if entry is None:
            raise NotFound()
        if not self.may_download(identity, entry.visibility):
            raise Forbidden()
        chosen = self.stores.pick(entry.instances, region)
        if chosen is None:
            raise NotFound(BYTES_DELETED_DETAIL)
        return Authorized(entry, chosen, self.stores.regions[chosen])

    def may_download(self, identity: Identity, visibility: Visibility) -> bool:
        """Downloading a file, and seeing its metadata, needs the scope of its visibility."""
        return identity.has_scope(self.scopes.download(visibility))

    async def signed_url(self, file: Authorized) -> str:
        """The URL to redirect to (only when `redirects`), signed by the region's signer."""
        key = (file.entry.digest, file.region)
        url = self._signed_urls.get(key)
        if url is None:
            url = await self._signers[file.region](artifact_key(file.entry.digest), self.signed_url_ttl)
            self._signed_urls[key] = url
        return url

    def forget(self, digest: str) -> None:
        for region in self.stores.regions:
            self._signed_urls.pop((digest, region), None)
