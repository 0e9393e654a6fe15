from proxy.storage.base import (
    ByteStream,
    LengthMismatch,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    PreconditionFailed,
    StoreError,
    StoreUnavailable,
    Versioned,
)
from proxy.storage.capabilities import KeepsTags, SignsURLs, keeps_tags, signs_urls

__all__ = [
    "ByteStream",
    "KeepsTags",
    "LengthMismatch",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "PreconditionFailed",
    "SignsURLs",
    "StoreError",
    "StoreUnavailable",
    "Versioned",
    "keeps_tags",
    "signs_urls",
]
