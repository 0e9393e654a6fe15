"""Search: GET /file?q=, GET /upload?q= (PLACEHOLDER)."""

from aiohttp import web


async def search_files(request: web.Request) -> web.Response:
    raise web.HTTPNotImplemented()


async def search_batches(request: web.Request) -> web.Response:
    raise web.HTTPNotImplemented()
