"""Dockerflow endpoints: /__lbheartbeat__, /__heartbeat__, /__version__ (PROTOCOL.md §6)."""

from aiohttp import web

from proxy.auth import AuthServiceUnavailable
from proxy.context import AUTH, INDEX, STORES, VERSION
from proxy.errors import STORE_RETRY_AFTER_SECONDS
from proxy.storage import StoreUnavailable


async def lbheartbeat(request: web.Request) -> web.Response:
    return web.json_response({})


async def heartbeat(request: web.Request) -> web.Response:
    checks: dict[str, str] = {}
    for store in request.app[STORES].all():
        name = "store" if store is request.app[STORES].home else f"store:{store.region}"
        try:
            await store.ping()
            checks[name] = "ok"
        except StoreUnavailable as exc:
            checks[name] = f"error: {exc}"
    try:
        await request.app[AUTH].ping()
        checks["auth"] = "ok"
    except AuthServiceUnavailable as exc:
        checks["auth"] = f"error: unreachable ({exc})"
    failed = sorted(name for name, result in checks.items() if result != "ok")
    body: dict[str, object] = {"status": "error" if failed else "ok", "checks": checks, "failed": failed}
    invalid = dict(request.app[INDEX].invalid)
    if invalid:
        body["warnings"] = [f"invalid metadata at {key}: {reason}" for key, reason in sorted(invalid.items())]
    if failed:
        return web.json_response(body, status=503, headers={"Retry-After": str(STORE_RETRY_AFTER_SECONDS)})
    return web.json_response(body)


async def version(request: web.Request) -> web.Response:
    return web.json_response(request.app[VERSION])
