"""Typed keys for everything the application owns (aiohttp AppKey), in one place."""

from typing import Any

import aiohttp
from aiohttp import web

from proxy.auth import Authenticator, Identity
from proxy.catalog import Catalog
from proxy.config import Config
from proxy.downloads import Downloads
from proxy.files import Files
from proxy.index import FileIndex
from proxy.storage import ObjectStore
from proxy.stores import Stores
from proxy.uploads import Uploads

CONFIG = web.AppKey("config", Config)
STORE = web.AppKey("store", ObjectStore)  # the home store: metadata and staging
STORES = web.AppKey("stores", Stores)
INDEX = web.AppKey("index", FileIndex)
CATALOG = web.AppKey("catalog", Catalog)
AUTH = web.AppKey("auth", Authenticator)
DOWNLOADS = web.AppKey("downloads", Downloads)
FILES = web.AppKey("files", Files)
UPLOADS = web.AppKey("uploads", Uploads)
HTTP_SESSION = web.AppKey("http_session", aiohttp.ClientSession)
VERSION = web.AppKey("version", dict[str, Any])
NOTICES = web.AppKey("notices", list[str])  # what /__heartbeat__ warns operators of, found at start-up
IDENTITY = web.RequestKey("identity", Identity)


async def identify(request: web.Request, *, changes_state: bool = False) -> Identity:
    """The caller's identity, verified once per request. For a request that changes something
    its Hawk nonce is also claimed across replicas (a replay anywhere is 401)."""
    identity = request.get(IDENTITY)
    if identity is None:
        identity = await request.app[AUTH].identify(request)
        if changes_state:
            await request.app[AUTH].claim(identity)
        request[IDENTITY] = identity
    return identity
