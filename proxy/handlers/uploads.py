"""POST /upload, the proxy's own PUT endpoint, and GET /upload/complete/sha512/<digest>."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from manifests import ValidationError, parse_upload_request
from proxy.downloads import require_digest
from proxy.http.context import CONFIG, UPLOADS, identify
from proxy.http.problems import problem_answer
from proxy.outcomes import (
    BadPutGrant,
    CommitOutcome,
    CreatedBatch,
    InvalidInput,
    LengthRequired,
    NotYetUploaded,
    PutInProgress,
    PutStalled,
)
from proxy.tokens import InvalidGrant, check_put_query
from proxy.uploads import PutBodyStalled


async def read_json(request: web.Request) -> Any:
    """The request body as JSON, or InvalidInput saying what is wrong with it."""
    body = await request.read()
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # also integers beyond int()'s limit and deep nesting
        raise InvalidInput("The request body is not valid JSON.") from None


def created_batch_answer(created: CreatedBatch) -> dict[str, Any]:
    """The batch as POST /upload answers it: each file's record, whether its bytes are stored
    (`has_instances`), and the `put_url` to send them to when they are not."""
    files: dict[str, Any] = {}
    for file in created.files:
        record = file.upload.to_dict() | {"has_instances": file.stored}
        if file.put_url is not None:
            record["put_url"] = file.put_url
        files[file.upload.filename] = record
    return created.batch.api_shape(files)


async def create_batch(request: web.Request) -> web.Response:
    identity = await identify(request, changes_state=True)
    try:
        upload_request = parse_upload_request(await read_json(request))
    except ValidationError as exc:
        raise InvalidInput(str(exc)) from None
    created = await request.app[UPLOADS].create_batch(upload_request, identity, request.query.get("region"))
    return web.json_response({"result": created_batch_answer(created)})


async def complete(request: web.Request) -> web.Response:
    identity = await identify(request, changes_state=True)
    digest = require_digest(request.match_info["digest"])
    outcome = await request.app[UPLOADS].verify_and_commit(digest, identity)
    if outcome is CommitOutcome.WAITING:
        raise NotYetUploaded()
    return web.json_response({"result": {}}, status=202)


async def _body_chunks(request: web.Request, idle_timeout: float) -> AsyncIterator[bytes]:
    """The body as it arrives; PutBodyStalled when no byte comes for `idle_timeout` seconds."""
    while True:
        try:
            async with asyncio.timeout(idle_timeout):
                chunk = await request.content.readany()
        except TimeoutError:
            raise PutBodyStalled(idle_timeout) from None
        if not chunk:
            return
        yield chunk


async def receive_put(request: web.Request) -> web.Response:
    digest = require_digest(request.match_info["digest"])
    try:
        grant = check_put_query(request.app[CONFIG].upload_secret, digest, dict(request.query))
    except InvalidGrant as exc:
        raise BadPutGrant(str(exc)) from None
    if request.content_length is None:
        raise LengthRequired()
    if request.content_length != grant.size:
        raise InvalidInput(f"Content-Length must be {grant.size}, the size announced in the upload batch.")
    try:
        await request.app[UPLOADS].receive_put(grant, _body_chunks(request, request.app[CONFIG].put_idle_timeout))
    except (PutStalled, PutInProgress) as exc:
        # The rest of the body is not wanted: close the connection rather than read it first.
        response = problem_answer(exc)
        response.force_close()
        return response
    return web.Response(status=200)
