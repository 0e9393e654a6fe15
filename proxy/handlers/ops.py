"""Dockerflow endpoints: /__lbheartbeat__, /__heartbeat__, /__version__ (PROTOCOL.md §6), and
the Prometheus metrics at /metrics."""

from aiohttp import web

from proxy.clients import RELOAD_FAILED_WARNING
from proxy.errors import RETRY_AFTER_SECONDS
from proxy.http.context import AUTH, INDEX, METRICS, NOTICES, STORES, VERSION
from proxy.metrics import CONTENT_TYPE
from proxy.outcomes import AuthServiceUnavailable
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
    notices: list[str] = request.app[NOTICES]
    warnings = [*notices]
    if request.app[AUTH].clients.reload_problem is not None:
        warnings.append(RELOAD_FAILED_WARNING)
    invalid = len(request.app[INDEX].invalid)
    if invalid:
        # How many, not which: the heartbeat is anonymous; the log names each key and reason.
        warnings.append(f"{invalid} invalid index objects or visibility tags seen recently; see the log")
    if warnings:
        body["warnings"] = warnings
    if failed:
        return web.json_response(body, status=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    return web.json_response(body)


async def version(request: web.Request) -> web.Response:
    return web.json_response(request.app[VERSION])


async def serve_metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[METRICS].render(), headers={"Content-Type": CONTENT_TYPE})
