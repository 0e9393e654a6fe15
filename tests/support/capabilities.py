"""A store as the capability a test is about to use, checked (proxy/storage/capabilities.py)."""

from proxy.storage.capabilities import KeepsTags, SignsURLs, keeps_tags, signs_urls


def keeping_tags(store: object) -> KeepsTags:
    assert keeps_tags(store), f"{type(store).__name__} keeps no object tags"
    return store


def signing(store: object) -> SignsURLs:
    assert signs_urls(store), f"{type(store).__name__} signs no URLs"
    return store
