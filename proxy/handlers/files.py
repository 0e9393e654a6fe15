"""Metadata API: GET/PATCH /file/sha512/<d>, GET /upload/<id> (PLACEHOLDER)."""

from aiohttp import web


async def get_file(request: web.Request) -> web.Response:
    raise web.HTTPNotImplemented()


async def patch_file(request: web.Request) -> web.Response:
    raise web.HTTPNotImplemented()


async def get_batch(request: web.Request) -> web.Response:
    raise web.HTTPNotImplemented()
