"""A stand-in for the Taskcluster auth service, following its published API.

`POST /api/auth/v1/authenticate-hawk` takes {method, resource, host, port, authorization}
and answers 200 with status auth-success (+ clientId, scopes, expires, hash), auth-failed
(+ message) or no-auth. It checks the MAC and the timestamp and, like the real service, leaves the payload
hash to its caller by returning it.
Every request body it received is kept in `calls` so tests can see what the proxy sent.
"""

import hmac
import time
from typing import Any

import mohawk.exc
import mohawk.util
from aiohttp import web

from tests.support.hawk import hawk_mac

CALLS = web.AppKey("calls", list[dict[str, Any]])
CLIENTS = web.AppKey("clients", dict[str, dict[str, Any]])


async def authenticate_hawk(request: web.Request) -> web.Response:
    body = await request.json()
    request.app[CALLS].append(body)
    header = body.get("authorization")
    if not header:
        return web.json_response({"status": "no-auth"})
    try:
        parsed = mohawk.util.parse_authorization_header(header)
        client = request.app[CLIENTS][parsed["id"]]
    except (mohawk.exc.HawkFail, KeyError):
        return web.json_response({"status": "auth-failed", "message": "ext.certificate or clientId is invalid"})
    expected = hawk_mac(
        client["accessToken"],
        parsed.get("ts", ""),
        parsed.get("nonce", ""),
        body["method"],
        body["resource"],
        body["host"],
        body["port"],
        parsed.get("hash", ""),
        parsed.get("ext", ""),
    )
    if not hmac.compare_digest(expected, parsed.get("mac", "")):
        return web.json_response({"status": "auth-failed", "message": "Bad mac"})
    if abs(time.time() - int(parsed.get("ts", "0"))) > 60:
        return web.json_response({"status": "auth-failed", "message": "Stale timestamp"})
    answer = {
        "status": "auth-success",
        "scheme": "hawk",
        "clientId": parsed["id"],
        "scopes": client["scopes"],
        "expires": "2099-01-01T00:00:00.000Z",
    }
    if "hash" in parsed:
        answer["hash"] = parsed["hash"]
    return web.json_response(answer)


async def ping(request: web.Request) -> web.Response:
    return web.json_response({"alive": True, "uptime": 1})


def create_fake_taskcluster(clients: dict[str, dict[str, Any]]) -> web.Application:
    app = web.Application()
    app[CALLS] = []
    app[CLIENTS] = clients
    app.router.add_post("/api/auth/v1/authenticate-hawk", authenticate_hawk)
    app.router.add_get("/api/auth/v1/ping", ping)
    return app
