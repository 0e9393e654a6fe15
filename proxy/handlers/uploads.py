"""POST /upload, the proxy's own PUT endpoint, and GET /upload/complete/sha512/<digest>."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from manifests import ValidationError, parse_upload_request
from proxy.context import CONFIG, UPLOADS, identify
from proxy.downloads import require_digest
from proxy.errors import HTTPProblem, bad_request, problem_response
from proxy.tokens import InvalidGrant, check_put_query
from proxy.uploads import RETRY_AFTER_SECONDS, PutBodyStalled


async def read_json(request: web.Request) -> Any:
    """The request body as JSON, or a 400 that says what is wrong with it."""
    body = await request.read()
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # also integers beyond int()'s limit and deep nesting
        raise bad_request("The request body is not valid JSON.") from None


async def create_batch(request: web.Request) -> web.Response:
    identity = await identify(request, changes_state=True)
    try:
        upload_request = parse_upload_request(await read_json(request))
    except ValidationError as exc:
        raise bad_request(str(exc)) from None
    result = await request.app[UPLOADS].create_batch(upload_request, identity, request.query.get("region"))
    return web.json_response({"result": result})


async def complete(request: web.Request) -> web.Response:
    identity = await identify(request, changes_state=True)
    digest = require_digest(request.match_info["digest"])
    if await request.app[UPLOADS].verify_and_commit(digest, identity):
        return web.json_response({"result": {}}, status=202)
    wait = str(RETRY_AFTER_SECONDS)
    raise HTTPProblem(
        409,
        "The uploaded file has not arrived yet; retry later.",
        {"X-Retry-After": wait, "Retry-After": wait},
    )


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
        raise HTTPProblem(403, str(exc)) from None
    if request.content_length is None:
        raise HTTPProblem(411, "A Content-Length header is required.")
    if request.content_length != grant.size:
        raise bad_request(f"Content-Length must be {grant.size}, the size announced in the upload batch.")
    try:
        await request.app[UPLOADS].receive_put(grant, _body_chunks(request, request.app[CONFIG].put_idle_timeout))
    except HTTPProblem as exc:
        if exc.status not in (408, 409):
            raise
        # The rest of the body is not wanted: close the connection rather than read it first.
        response = problem_response(exc.status, exc.detail, exc.headers)
        response.force_close()
        return response
    return web.Response(status=200)
