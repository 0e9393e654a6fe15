"""Metadata API: GET/PATCH /file/sha512/<d>, GET /upload/<id> (PROTOCOL.md §3)."""

from typing import Any

from aiohttp import web

from manifests import IndexEntry, ValidationError, parse_file_patch
from proxy.downloads import require_digest
from proxy.handlers.uploads import read_json
from proxy.http.context import FILES, identify
from proxy.outcomes import InvalidInput, VisibleBatch


def file_with_instances(entry: IndexEntry) -> dict[str, Any]:
    """The answer of GET and PATCH /file/sha512/<d>: the file shape plus its regions."""
    return entry.file_record() | {"instances": list(entry.instances)}


def visible_batch_answer(visible: VisibleBatch) -> dict[str, Any]:
    """GET /upload/<id>: a committed file in its current state; one never committed as the
    batch recorded it, without instances."""
    files = {
        filename: file.file_record() if isinstance(file, IndexEntry) else file.to_dict() | {"has_instances": False}
        for filename, file in visible.files.items()
    }
    return visible.batch.api_shape(files)


async def get_file(request: web.Request) -> web.Response:
    identity = await identify(request)
    entry = await request.app[FILES].describe(request.match_info["digest"], identity)
    return web.json_response(file_with_instances(entry))


async def patch_file(request: web.Request) -> web.Response:
    identity = await identify(request, changes_state=True)
    digest = require_digest(request.match_info["digest"])
    files = request.app[FILES]
    # Scope before body: a caller who may not manage files learns nothing about its body.
    files.require_manage(identity)
    try:
        operations = parse_file_patch(await read_json(request))
    except ValidationError as exc:
        raise InvalidInput(str(exc)) from None
    return web.json_response(file_with_instances(await files.apply(digest, operations)))


async def get_batch(request: web.Request) -> web.Response:
    identity = await identify(request)
    return web.json_response(
        visible_batch_answer(await request.app[FILES].batch(request.match_info["batch_id"], identity))
    )
