"""Search: GET /file?q=, GET /upload?q= (PROTOCOL.md §3), answered from the in-memory catalog."""

from aiohttp import web

from manifests import Visibility
from proxy.auth import Identity
from proxy.context import CATALOG, DOWNLOADS, identify
from proxy.errors import bad_request

MISSING_QUERY_DETAIL = "The query parameter q (the text to search for) is required."


def search_query(request: web.Request) -> str:
    query = request.query.get("q")
    if query is None:
        raise bad_request(MISSING_QUERY_DETAIL)
    return query


def readable_visibilities(request: web.Request, identity: Identity) -> frozenset[Visibility]:
    """The visibilities whose files the caller may download, and so may find."""
    downloads = request.app[DOWNLOADS]
    return frozenset(v for v in Visibility if downloads.may_download(identity, v))


async def search_files(request: web.Request) -> web.Response:
    identity = await identify(request)
    found = await request.app[CATALOG].search_files(search_query(request), readable_visibilities(request, identity))
    return web.json_response({"result": found})


async def search_batches(request: web.Request) -> web.Response:
    identity = await identify(request)
    found = await request.app[CATALOG].search_batches(search_query(request), readable_visibilities(request, identity))
    return web.json_response({"result": found})
