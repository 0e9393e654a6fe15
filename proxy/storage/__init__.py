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
from proxy.storage.capabilities import (
    ConditionalWrites,
    KeepsTags,
    SignsURLs,
    declares_conditional_writes,
    keeps_tags,
    signs_urls,
)

__all__ = [
    "ByteStream",
    "ConditionalWrites",
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
    "declares_conditional_writes",
    "keeps_tags",
    "signs_urls",
]
