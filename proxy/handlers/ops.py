"""Dockerflow endpoints: /__lbheartbeat__, /__heartbeat__, /__version__ (PROTOCOL.md §6)."""

from aiohttp import web

from proxy.auth import AuthServiceUnavailable
from proxy.context import AUTH, STORE, VERSION
from proxy.errors import STORE_RETRY_AFTER_SECONDS
from proxy.storage import StoreUnavailable


async def lbheartbeat(request: web.Request) -> web.Response:
    return web.json_response({})


async def heartbeat(request: web.Request) -> web.Response:
    checks: dict[str, str] = {}
    try:
        await request.app[STORE].ping()
        checks["store"] = "ok"
    except StoreUnavailable as exc:
        checks["store"] = f"error: {exc}"
    try:
        await request.app[AUTH].ping()
        checks["auth"] = "ok"
    except AuthServiceUnavailable as exc:
        checks["auth"] = f"error: unreachable ({exc})"
    failed = sorted(name for name, result in checks.items() if result != "ok")
    body = {"status": "error" if failed else "ok", "checks": checks, "failed": failed}
    if failed:
        return web.json_response(body, status=503, headers={"Retry-After": str(STORE_RETRY_AFTER_SECONDS)})
    return web.json_response(body)


async def version(request: web.Request) -> web.Response:
    return web.json_response(request.app[VERSION])
