"""What the web page asks beyond the legacy API: who the caller is, file search with filenames,
and the batches that uploaded a file. Same rules as the rest: a caller learns only about files it
may download."""

from aiohttp import web

from manifests import Visibility
from proxy.handlers.search import paged_answer, readable_visibilities, search_position, search_query
from proxy.http.context import CATALOG, FILES, SCOPES, identify
from proxy.paging import batch_cursor, file_cursor, parse_batch_cursor, parse_file_cursor


async def whoami(request: web.Request) -> web.Response:
    """The caller's client id (null when anonymous) and the tooltool scopes it holds, as the
    Authenticator (the clients file, or the Taskcluster auth service) says."""
    identity = await identify(request)
    scopes = request.app[SCOPES]
    held = [scope for scope in scopes.all if identity.has_scope(scope)]
    body = {
        "clientId": identity.client_id,
        "scopes": held,
        "may": {
            "download": [v.value for v in Visibility if scopes.download(v) in held],
            "upload": [v.value for v in Visibility if scopes.upload(v) in held],
            "manage": scopes.manage in held,
        },
    }
    return web.json_response(body, headers={"Cache-Control": "no-store"})


async def search_files_with_names(request: web.Request) -> web.Response:
    """GET /file?q= with each file's filenames and regions (that answer's shape must stay as it
    is): the same pages, bounds and cursor; every result's lookup counts against the bound."""
    identity = await identify(request)
    query, after = search_query(request), search_position(request, parse_file_cursor)
    page = await request.app[CATALOG].search_files(
        query, readable_visibilities(request, identity), after, detailed=True
    )
    return paged_answer(query, page, file_cursor)


async def file_batches(request: web.Request) -> web.Response:
    """The batches that uploaded a file, newest first, in pages as GET /upload?q= answers them;
    400/403/404 exactly as GET /file/sha512/<d>."""
    identity = await identify(request)
    digest = request.match_info["digest"]
    await request.app[FILES].describe(digest, identity)
    after = search_position(request, parse_batch_cursor)
    page = await request.app[CATALOG].batches_holding(digest, readable_visibilities(request, identity), after)
    return paged_answer(None, page, batch_cursor)
