"""What a store can do beyond the ObjectStore contract, each a small interface it declares.

As giftless splits its storage backends, a backend implements the base contract (bytes under
keys) and declares the extra interfaces it supports by subclassing them:

- `SignsURLs`: hands out URLs a client GETs or PUTs the bytes at, without the proxy
  (TOOLTOOL_DOWNLOAD=redirect, TOOLTOOL_UPLOAD_TARGET=store). S3Store does; LocalStore does not.
- `KeepsTags`: keeps key/value tags per object (TOOLTOOL_INDEX=tags). Both backends do.
- `ConditionalWrites`: its conditional writes (`write(if_match=…)`, `write(if_absent=True)`)
  hold across every process writing it, so replicas can share it (DESIGN.md §6). Both backends
  declare it; start-up checks the claim of the store it runs on (proxy.storage.cas), since some
  S3-compatible servers accept the conditions and overwrite anyway.

Which ones a deployment needs is decided once at start-up (proxy.config.resolve_transfers),
never per request. A wrapper such as RetryingStore provides exactly what it wraps provides.

`signs_urls`/`keeps_tags`/`declares_conditional_writes` ask an object, or a store class,
whether it provides the interface.
They look the methods up by name rather than with isinstance, so that transparent wrappers
(delegating through __getattr__) pass on what they wrap on every Python version.
"""

from typing import ClassVar, Protocol, TypeGuard


class SignsURLs(Protocol):
    async def presign_get(self, key: str, expires_in: int) -> str:
        """A URL anyone can GET the object from for `expires_in` seconds."""
        ...

    async def presign_put(self, key: str, expires_in: int) -> str:
        """A URL a client can PUT the object to for `expires_in` seconds."""
        ...


class KeepsTags(Protocol):
    async def get_tags(self, key: str) -> dict[str, str] | None:
        """The object's tags ({} when it has none), or None if it does not exist."""
        ...

    async def put_tags(self, key: str, tags: dict[str, str]) -> None:
        """Replace the object's tags. Raises ObjectNotFound when it does not exist.

        Writing an object (write, write_stream, a copy) replaces its tags too, as on S3.
        """
        ...


class ConditionalWrites(Protocol):
    """A store that declares this (by subclassing it) honours if_match / if_absent atomically.

    Every store accepts the conditions; on one without this capability a replica serialises its
    own compare-and-swaps, which protects nothing across processes.
    """

    honours_conditions: ClassVar[bool] = True


SIGNS_URLS_METHODS = ("presign_get", "presign_put")
KEEPS_TAGS_METHODS = ("get_tags", "put_tags")


def _provides(store: object, methods: tuple[str, ...]) -> bool:
    return all(callable(getattr(store, name, None)) for name in methods)


def signs_urls(store: object) -> TypeGuard[SignsURLs]:
    return _provides(store, SIGNS_URLS_METHODS)


def keeps_tags(store: object) -> TypeGuard[KeepsTags]:
    return _provides(store, KEEPS_TAGS_METHODS)


def declares_conditional_writes(store: object) -> bool:
    return getattr(store, "honours_conditions", False) is True
