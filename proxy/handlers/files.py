"""Metadata API: GET/PATCH /file/sha512/<d>, GET /upload/<id> (PROTOCOL.md §3)."""

from aiohttp import web

from manifests import ValidationError, parse_file_patch
from proxy.context import FILES, identify
from proxy.downloads import require_digest
from proxy.errors import bad_request
from proxy.handlers.uploads import read_json


async def get_file(request: web.Request) -> web.Response:
    identity = await identify(request)
    return web.json_response(await request.app[FILES].describe(request.match_info["digest"], identity))


async def patch_file(request: web.Request) -> web.Response:
    identity = await identify(request, changes_state=True)
    digest = require_digest(request.match_info["digest"])
    files = request.app[FILES]
    # Scope before body: a caller who may not manage files learns nothing about its body.
    files.require_manage(identity)
    try:
        operations = parse_file_patch(await read_json(request))
    except ValidationError as exc:
        raise bad_request(str(exc)) from None
    return web.json_response(await files.apply(digest, operations))


async def get_batch(request: web.Request) -> web.Response:
    identity = await identify(request)
    return web.json_response(await request.app[FILES].batch(request.match_info["batch_id"], identity))
