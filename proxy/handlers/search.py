"""Search: GET /file?q=, GET /upload?q= (PROTOCOL.md §3), answered from the in-memory catalog.

An answer is `{"result": [...]}` as the legacy service gave; when results are left beyond its
bounds it also carries `"next"`, a cursor, and a `Link: <?q=S&cursor=C>; rel="next"` header
(a reference relative to the request's own URL). Passing `cursor` with the same `q` answers the
next page (proxy/paging.py).
"""

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from aiohttp import web

from manifests import Visibility
from proxy.auth import Identity
from proxy.catalog import SearchPage
from proxy.http.context import CATALOG, DOWNLOADS, identify
from proxy.outcomes import InvalidInput
from proxy.paging import (
    BatchPosition,
    FilePosition,
    InvalidCursor,
    batch_cursor,
    file_cursor,
    parse_batch_cursor,
    parse_file_cursor,
)

MISSING_QUERY_DETAIL = "The query parameter q (the text to search for) is required."
INVALID_CURSOR_DETAIL = "Invalid cursor: pass the `next` value of the previous answer unchanged."

P = TypeVar("P", FilePosition, BatchPosition)


def search_query(request: web.Request) -> str:
    query = request.query.get("q")
    if query is None:
        raise InvalidInput(MISSING_QUERY_DETAIL)
    return query


def search_position(request: web.Request, parse: Callable[[str], P | None]) -> P | None:
    cursor = request.query.get("cursor")
    if cursor is None:
        return None
    try:
        return parse(cursor)
    except InvalidCursor:
        raise InvalidInput(INVALID_CURSOR_DETAIL) from None


def readable_visibilities(request: web.Request, identity: Identity) -> frozenset[Visibility]:
    """The visibilities whose files the caller may download, and so may find."""
    downloads = request.app[DOWNLOADS]
    return frozenset(v for v in Visibility if downloads.may_download(identity, v))


def paged_answer(query: str | None, page: SearchPage[P], cursor_of: Callable[[P | None], str]) -> web.Response:
    """`{"result": [...]}`, plus `"next"` and a `Link` header (with `q` when the search has
    one) when results are left beyond the page."""
    body: dict[str, Any] = {"result": page.results}
    headers = {}
    if page.more:
        body["next"] = cursor = cursor_of(page.next)
        params = {"cursor": cursor} if query is None else {"q": query, "cursor": cursor}
        headers["Link"] = f'<?{urlencode(params, quote_via=quote)}>; rel="next"'
    return web.json_response(body, headers=headers)


async def search_files(request: web.Request) -> web.Response:
    identity = await identify(request)
    query, after = search_query(request), search_position(request, parse_file_cursor)
    page = await request.app[CATALOG].search_files(query, readable_visibilities(request, identity), after)
    return paged_answer(query, page, file_cursor)


async def search_batches(request: web.Request) -> web.Response:
    identity = await identify(request)
    query, after = search_query(request), search_position(request, parse_batch_cursor)
    page = await request.app[CATALOG].search_batches(query, readable_visibilities(request, identity), after)
    return paged_answer(query, page, batch_cursor)
