"""Deciding a download: digest check, metadata, scopes, and the signed URL to redirect to."""

from cachetools import TTLCache

from manifests import IndexEntry, is_valid_digest
from proxy.auth import Identity
from proxy.errors import INVALID_DIGEST_DETAIL, bad_request, forbidden, not_found
from proxy.index import FileIndex
from proxy.keys import artifact_key
from proxy.storage import ObjectStore


def require_digest(digest: str) -> str:
    """Validate before any lookup: a malformed digest is 400, never 404 (PROTOCOL.md §3)."""
    if not is_valid_digest(digest):
        raise bad_request(INVALID_DIGEST_DETAIL)
    return digest


class Downloads:
    def __init__(self, store: ObjectStore, index: FileIndex, scope_prefix: str, signed_url_ttl: int) -> None:
        self.store = store
        self.index = index
        self.scope_prefix = scope_prefix
        self.signed_url_ttl = signed_url_ttl
        # A signed URL is handed out again only while more than half of its lifetime is left.
        self._signed_urls: TTLCache[str, str] = TTLCache(maxsize=100_000, ttl=signed_url_ttl / 2)

    async def authorize(self, digest: str, identity: Identity) -> IndexEntry:
        require_digest(digest)
        entry = await self.index.lookup(digest)
        if entry is None:
            raise not_found()
        if not identity.has_scope(f"{self.scope_prefix}/download/{entry.visibility.value}"):
            raise forbidden()
        if not entry.has_instances:
            raise not_found("The file's bytes were deleted; it must be uploaded again.")
        return entry

    async def signed_url(self, digest: str) -> str | None:
        url = self._signed_urls.get(digest)
        if url is None:
            url = await self.store.presign_get(artifact_key(digest), self.signed_url_ttl)
            if url is not None:
                self._signed_urls[digest] = url
        return url

    def forget(self, digest: str) -> None:
        self._signed_urls.pop(digest, None)
