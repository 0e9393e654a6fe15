"""Typed keys for everything the application owns (aiohttp AppKey), in one place, and the
request adapter that asks the Authenticator who is calling."""

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from proxy.auth import Authenticator, HawkRequest, Identity
from proxy.catalog import Catalog
from proxy.config import Config
from proxy.downloads import Downloads
from proxy.files import Files
from proxy.index import FileIndex
from proxy.metrics import Metrics
from proxy.outcomes import NeedsCredentials
from proxy.scopes import Scopes
from proxy.storage import ObjectStore
from proxy.stores import Stores
from proxy.uploads import Uploads

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CONFIG = web.AppKey("config", Config)
SCOPES = web.AppKey("scopes", Scopes)
STORE = web.AppKey("store", ObjectStore)  # the home store: metadata and staging
STORES = web.AppKey("stores", Stores)
INDEX = web.AppKey("index", FileIndex)
CATALOG = web.AppKey("catalog", Catalog)
AUTH = web.AppKey("auth", Authenticator)
DOWNLOADS = web.AppKey("downloads", Downloads)
FILES = web.AppKey("files", Files)
UPLOADS = web.AppKey("uploads", Uploads)
METRICS = web.AppKey("metrics", Metrics)
HTTP_SESSION = web.AppKey("http_session", aiohttp.ClientSession)
VERSION = web.AppKey("version", dict[str, Any])
NOTICES = web.AppKey("notices", list[str])  # what /__heartbeat__ warns operators of, found at start-up
IDENTITY = web.RequestKey("identity", Identity)


async def identify(request: web.Request, *, changes_state: bool = False) -> Identity:
    """The caller's identity, verified once per request. For a request that changes something
    its Hawk nonce is also claimed across replicas (a replay anywhere is 401)."""
    identity = request.get(IDENTITY)
    if identity is None:
        auth = request.app[AUTH]
        header = request.headers.get("Authorization")
        if header is None:
            identity = auth.anonymous  # the download hot path: nothing more to do
        else:
            identity = await auth.identify(header, partial(_hawk_request, request, auth.default_scheme))
        if changes_state:
            await auth.claim(identity)
        request[IDENTITY] = identity
    return identity


async def _hawk_request(request: web.Request, default_scheme: str | None, header: str) -> HawkRequest:
    """The parts of the request a Hawk MAC covers; the port is the Host header's, else the
    scheme's (TOOLTOOL_PUBLIC_URL's when set: behind a TLS-terminating balancer)."""
    host_header = request.headers.get("Host", "")
    try:
        parts = urlsplit(f"//{host_header}")
        host, port = parts.hostname, parts.port
    except ValueError:
        raise NeedsCredentials("the Host header is malformed") from None
    if not host:
        raise NeedsCredentials("a Host header is required for Hawk")
    if port is None:
        port = 443 if (default_scheme or request.scheme) == "https" else 80
    content = await request.read() if request.can_read_body else b""
    return HawkRequest(
        header=header,
        method=request.method,
        resource=request.raw_path,
        host=host,
        port=port,
        content=content,
        content_type=request.headers.get("Content-Type", ""),
    )
