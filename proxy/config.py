"""Configuration from `TOOLTOOL_*` environment variables (DESIGN.md §5).

Every variable is parsed once at start-up; a bad value raises ConfigError whose message is
the one line the operator sees: the variable, what it got and what it accepts.
"""

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from proxy.cloudfront import CloudFront
    from proxy.storage import ObjectStore

DEFAULT_SCOPE_PREFIX = "project:releng:services/tooltool/api"
DEFAULT_DATA_DIR = "./tooltool-data"
DEFAULT_BUG_URL = "https://bugzilla.mozilla.org/show_bug.cgi?id={}"


class ConfigError(Exception):
    """A configuration value is unusable; str() is a one-line message naming the variable."""


class DownloadMode(StrEnum):
    REDIRECT = "redirect"  # 302 to a URL the store signs (or CloudFront, for the default region)
    STREAM = "stream"  # the bytes through the proxy


class IndexMode(StrEnum):
    OBJECTS = "objects"  # visibility in the JSON index object
    TAGS = "tags"  # visibility in the object tag `visibility` on sha512/<digest>


class UploadTarget(StrEnum):
    STORE = "store"  # signed PUT URLs straight to the object store (S3)
    PROXY = "proxy"  # the proxy's own PUT endpoint, guarded by an HMAC token


@dataclass(frozen=True)
class StoreLocation:
    scheme: str  # "file" or "s3"
    path: str = ""  # file: the directory
    bucket: str = ""  # s3
    prefix: str = ""  # s3: key prefix, "" or ending with "/"

    @property
    def is_local(self) -> bool:
        return self.scheme == "file"


@dataclass(frozen=True)
class Region:
    name: str
    store: StoreLocation


@dataclass(frozen=True)
class Config:
    store: StoreLocation
    regions: tuple[Region, ...] = ()  # empty: one region, the home store's
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    index_mode: IndexMode = IndexMode.OBJECTS
    # Resolved against what the stores can do (resolve_transfers): never one they cannot serve.
    download_mode: DownloadMode = DownloadMode.STREAM
    upload_target: UploadTarget = UploadTarget.PROXY
    clients_file: Path | None = None
    taskcluster_root_url: str | None = None
    scope_prefix: str = DEFAULT_SCOPE_PREFIX
    anonymous_scopes: tuple[str, ...] = (f"{DEFAULT_SCOPE_PREFIX}/download/public",)
    public_url: str | None = None
    cache_ttl: float = 60.0
    cache_size: int = 100_000
    catalog_refresh: float = 5.0  # seconds between a replica's looks at the search journal
    signed_url_ttl: int = 300
    upload_url_ttl: int = 3600
    max_body_bytes: int = 1024 * 1024
    max_file_bytes: int = 64 * 1024**3
    upload_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    hawk_skew_seconds: int = 60
    sentry_dsn: str | None = field(default=None, repr=False)
    version_file: Path = Path("version.json")
    store_retry_deadline: float = 10.0  # seconds a store call may spend retrying transient errors
    # The web page (proxy/handlers/web.py): where "Bug N" in a batch message links to ({} is N).
    bug_url: str = DEFAULT_BUG_URL
    # Origins allowed to call the JSON API from a browser (proxy/cors.py); empty: no CORS at all.
    cors_origins: tuple[str, ...] = ()
    cloudfront: "CloudFront | None" = field(default=None, repr=False)  # redirects go to CloudFront when set
    log_flush_seconds: float = 0.2  # `serve` writes buffered log lines at least this often (0: each at once)
    search_limit: int = 1000  # results one search answer holds at most
    search_max_lookups: int = 1000  # index lookups one search request makes in the store at most
    put_idle_timeout: float = 60.0  # seconds a proxied PUT may go without sending a byte

    @property
    def streams_downloads(self) -> bool:
        return self.download_mode is DownloadMode.STREAM

    @property
    def uploads_through_proxy(self) -> bool:
        return self.upload_target is UploadTarget.PROXY


def artifact_locations(store: StoreLocation, regions: tuple[Region, ...], s3_region: str) -> dict[str, StoreLocation]:
    """Where each region's artifact bytes live, by region name (without TOOLTOOL_REGIONS, one
    region: the home store's, named as proxy.stores names it)."""
    if not regions:
        return {"local" if store.is_local else s3_region: store}
    return {region.name: region.store for region in regions}


def parse_store(value: str) -> StoreLocation:
    parts = urlsplit(value)
    if parts.scheme == "file":
        path = (parts.netloc + parts.path) or DEFAULT_DATA_DIR
        return StoreLocation(scheme="file", path=path)
    if parts.scheme == "s3" and parts.netloc:
        prefix = parts.path.strip("/")
        return StoreLocation(scheme="s3", bucket=parts.netloc, prefix=f"{prefix}/" if prefix else "")
    if not parts.scheme and value:
        return StoreLocation(scheme="file", path=value)
    raise ConfigError(f"TOOLTOOL_STORE={value!r} is not a store URL; use file:///path/to/dir or s3://bucket[/prefix]")


def parse_regions(value: str, default_prefix: str = "") -> tuple[Region, ...]:
    """`region:bucket;region:bucket` (the legacy format); a value may also be a store URL."""
    regions = []
    for item in filter(None, (part.strip() for part in value.split(";"))):
        name, _, where = item.partition(":")
        if not name or not where:
            raise ConfigError(f"TOOLTOOL_REGIONS item {item!r} is not region:bucket")
        if "://" in where:
            try:
                location = parse_store(where)
            except ConfigError:
                raise ConfigError(
                    f"TOOLTOOL_REGIONS item {item!r} is not region:bucket or region:<store URL>"
                ) from None
        else:
            location = StoreLocation(scheme="s3", bucket=where, prefix=default_prefix)
        regions.append(Region(name, location))
    names = [r.name for r in regions]
    if not regions or len(set(names)) != len(names):
        raise ConfigError(f"TOOLTOOL_REGIONS={value!r} must list each region once, as region:bucket;region:bucket")
    return tuple(regions)


def _enum(env: Mapping[str, str], name: str, kind: type[StrEnum], default: StrEnum) -> StrEnum:
    value = env.get(name, default.value)
    return _member(name, value, kind)


def _member(name: str, value: str, kind: type[StrEnum]) -> StrEnum:
    try:
        return kind(value)
    except ValueError:
        accepted = "|".join(member.value for member in kind)
        raise ConfigError(f"{name}={value!r} is not valid; use one of {accepted}") from None


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0) -> float:
    value = env.get(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a number") from None
    if not number >= minimum or number == float("inf"):
        raise ConfigError(f"{name}={value!r} must be a finite number of at least {minimum:g}")
    return number


def _url(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name}={value!r} is not an http(s) URL")
    return value.rstrip("/")


def load_config(env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    regions: tuple[Region, ...] = ()
    if env.get("TOOLTOOL_REGIONS"):
        regions = parse_regions(env["TOOLTOOL_REGIONS"])
    if "TOOLTOOL_STORE" in env:
        store = parse_store(env["TOOLTOOL_STORE"])
    elif regions:
        store = regions[0].store  # metadata live beside the first region's artifacts
    else:
        store = parse_store(f"file://{DEFAULT_DATA_DIR}")
    scope_prefix = env.get("TOOLTOOL_SCOPE_PREFIX", DEFAULT_SCOPE_PREFIX).rstrip("/")
    if "TOOLTOOL_ANONYMOUS_SCOPES" in env:
        anonymous = tuple(env["TOOLTOOL_ANONYMOUS_SCOPES"].replace(",", " ").split())
    else:
        anonymous = (f"{scope_prefix}/download/public",)

    clients_file: Path | None = None
    if env.get("TOOLTOOL_CLIENTS_FILE"):
        clients_file = Path(env["TOOLTOOL_CLIENTS_FILE"])
    elif store.is_local:
        clients_file = Path(store.path) / "clients.json"

    secret = env.get("TOOLTOOL_UPLOAD_SECRET")
    if secret is not None and len(secret) < 16:
        raise ConfigError("TOOLTOOL_UPLOAD_SECRET is too short; use at least 16 random characters")

    cache_ttl = _number(env, "TOOLTOOL_CACHE_TTL", 60.0)
    s3_region = env.get("TOOLTOOL_S3_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    index_mode = IndexMode(_enum(env, "TOOLTOOL_INDEX", IndexMode, IndexMode.OBJECTS))
    download = env.get("TOOLTOOL_DOWNLOAD") or None
    upload = env.get("TOOLTOOL_UPLOAD_TARGET") or None
    download_mode, upload_target = resolve_transfers(
        {name: _store_class(location) for name, location in artifact_locations(store, regions, s3_region).items()},
        None if download is None else DownloadMode(_member("TOOLTOOL_DOWNLOAD", download, DownloadMode)),
        None if upload is None else UploadTarget(_member("TOOLTOOL_UPLOAD_TARGET", upload, UploadTarget)),
        index_mode,
    )
    return Config(
        store=store,
        regions=regions,
        s3_endpoint_url=_url(env, "TOOLTOOL_S3_ENDPOINT_URL"),
        s3_region=s3_region,
        index_mode=index_mode,
        download_mode=download_mode,
        upload_target=upload_target,
        clients_file=clients_file,
        taskcluster_root_url=_url(env, "TOOLTOOL_TASKCLUSTER_ROOT_URL"),
        scope_prefix=scope_prefix,
        anonymous_scopes=anonymous,
        public_url=_url(env, "TOOLTOOL_PUBLIC_URL"),
        cache_ttl=cache_ttl,
        cache_size=int(_number(env, "TOOLTOOL_CACHE_SIZE", 100_000, minimum=1)),
        catalog_refresh=_number(env, "TOOLTOOL_CATALOG_REFRESH", 5.0),
        signed_url_ttl=int(_number(env, "TOOLTOOL_SIGNED_URL_TTL", 300, minimum=10)),
        upload_url_ttl=int(_number(env, "TOOLTOOL_UPLOAD_URL_TTL", 3600, minimum=10)),
        max_body_bytes=int(_number(env, "TOOLTOOL_MAX_BODY_BYTES", 1024 * 1024, minimum=1024)),
        max_file_bytes=int(_number(env, "TOOLTOOL_MAX_FILE_BYTES", 64 * 1024**3, minimum=1)),
        upload_secret=secret.encode() if secret else secrets.token_bytes(32),
        sentry_dsn=env.get("SENTRY_DSN") or None,
        version_file=Path(env.get("TOOLTOOL_VERSION_FILE", "version.json")),
        store_retry_deadline=_number(env, "TOOLTOOL_STORE_RETRY_DEADLINE", 10.0),
        bug_url=_bug_url(env),
        cors_origins=_cors_origins(env),
        cloudfront=_cloudfront(env, streams=download_mode is DownloadMode.STREAM),
        log_flush_seconds=_number(env, "TOOLTOOL_LOG_FLUSH_SECONDS", 0.2),
        search_limit=int(_number(env, "TOOLTOOL_SEARCH_LIMIT", 1000, minimum=1)),
        search_max_lookups=int(_number(env, "TOOLTOOL_SEARCH_MAX_LOOKUPS", 1000, minimum=1)),
        put_idle_timeout=_number(env, "TOOLTOOL_PUT_IDLE_TIMEOUT", 60.0, minimum=0.1),
    )


def _bug_url(env: Mapping[str, str]) -> str:
    value = env.get("TOOLTOOL_BUG_URL") or DEFAULT_BUG_URL
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or value.count("{}") != 1:
        raise ConfigError(f"TOOLTOOL_BUG_URL={value!r} must be an http(s) URL with one {{}} for the bug number")
    return value


def _cors_origins(env: Mapping[str, str]) -> tuple[str, ...]:
    """`*`, or origins (scheme://host[:port]) separated by spaces or commas."""
    value = env.get("TOOLTOOL_CORS_ORIGINS", "")
    origins = tuple(value.replace(",", " ").split())
    for origin in origins:
        parts = urlsplit(origin)
        is_origin = parts.scheme in ("http", "https") and parts.netloc and parts.path in ("", "/") and not parts.query
        if origin != "*" and not is_origin:
            raise ConfigError(f"TOOLTOOL_CORS_ORIGINS item {origin!r} is not an origin; use scheme://host[:port] or *")
    if "*" in origins and len(origins) > 1:
        raise ConfigError("TOOLTOOL_CORS_ORIGINS is * or a list of origins, not both")
    return tuple(origin.rstrip("/") for origin in origins)


CLOUDFRONT_VARIABLES = ("TOOLTOOL_CLOUDFRONT_URL", "TOOLTOOL_CLOUDFRONT_KEY_ID", "TOOLTOOL_CLOUDFRONT_PRIVATE_KEY")


def _cloudfront(env: Mapping[str, str], *, streams: bool) -> "CloudFront | None":
    given = [name for name in CLOUDFRONT_VARIABLES if env.get(name)]
    if not given:
        return None
    if len(given) < len(CLOUDFRONT_VARIABLES):
        raise ConfigError(f"{', '.join(CLOUDFRONT_VARIABLES)} go together; {', '.join(given)} alone cannot sign")
    if streams:
        raise ConfigError(
            "TOOLTOOL_CLOUDFRONT_URL needs redirected downloads: an S3 store and TOOLTOOL_DOWNLOAD=redirect"
        )
    from proxy.cloudfront import CloudFront, CloudFrontKeyError, load_private_key

    try:
        key = load_private_key(env["TOOLTOOL_CLOUDFRONT_PRIVATE_KEY"])
    except CloudFrontKeyError as exc:
        raise ConfigError(f"TOOLTOOL_CLOUDFRONT_PRIVATE_KEY {exc}") from None
    url = _url(env, "TOOLTOOL_CLOUDFRONT_URL")
    assert url is not None
    return CloudFront(url, env["TOOLTOOL_CLOUDFRONT_KEY_ID"], key)


def _store_class(location: StoreLocation) -> "type[ObjectStore]":
    """The backend a location opens (proxy.stores.open_location), for what it declares it can do."""
    if location.is_local:
        from proxy.storage.local import LocalStore

        return LocalStore
    from proxy.storage.s3 import S3Store

    return S3Store


def resolve_transfers(
    stores: "Mapping[str, ObjectStore | type[ObjectStore]]",
    download: DownloadMode | None,
    upload: UploadTarget | None,
    index_mode: IndexMode,
) -> tuple[DownloadMode, UploadTarget]:
    """How downloads are answered and where uploads go, given each region's artifact store (an
    opened store or the class a location opens) and the variables as set (None: unset).

    Unset, downloads redirect and uploads get the store's own put_urls when every region's
    store signs URLs (S3), and both go through the proxy otherwise (the local store). A mode
    the stores cannot serve, asked for explicitly, raises ConfigError naming the variable.
    """
    from proxy.storage.capabilities import keeps_tags, signs_urls

    unsigned = [(name, store) for name, store in stores.items() if not signs_urls(store)]
    if download is None:
        download = DownloadMode.STREAM if unsigned else DownloadMode.REDIRECT
    elif download is DownloadMode.REDIRECT and unsigned:
        raise ConfigError(
            f"TOOLTOOL_DOWNLOAD=redirect needs a store that signs URLs, and {_describe(*unsigned[0])} cannot; "
            "set TOOLTOOL_DOWNLOAD=stream or leave it unset"
        )
    if upload is None:
        upload = UploadTarget.PROXY if unsigned else UploadTarget.STORE
    elif upload is UploadTarget.STORE and unsigned:
        raise ConfigError(
            f"TOOLTOOL_UPLOAD_TARGET=store needs a store that signs URLs, and {_describe(*unsigned[0])} cannot; "
            "set TOOLTOOL_UPLOAD_TARGET=proxy or leave it unset"
        )
    untagged = [(name, store) for name, store in stores.items() if not keeps_tags(store)]
    if index_mode is IndexMode.TAGS and untagged:
        raise ConfigError(
            f"TOOLTOOL_INDEX=tags needs a store that keeps object tags, and {_describe(*untagged[0])} does not; "
            "set TOOLTOOL_INDEX=objects"
        )
    return download, upload


def _describe(region: str, store: object) -> str:
    while hasattr(store, "inner"):  # a wrapper (RetryingStore): name the store it wraps
        store = store.inner
    kind = store if isinstance(store, type) else type(store)
    return f"the {kind.__name__} of region {region!r}"
