"""Cross-origin calls to the JSON API from pages on other origins (TOOLTOOL_CORS_ORIGINS).

Off by default, and then nothing here runs at all. When configured, a response-prepare hook adds
the CORS headers to every answer (streamed downloads too, whose headers leave before any
middleware could see them) and a middleware answers preflight requests. No cookies are involved:
browsers send credentials in the Authorization header, which the preflight allows.
"""

from aiohttp import web

from proxy.config import Config
from proxy.http.context import Handler
from proxy.http.problems import problem_response

ALLOWED_METHODS = "GET, HEAD, POST, PUT, PATCH"
ALLOWED_HEADERS = "Authorization, Content-Type, Range"
# The headers a page needs to read: retry hints, ranges, the redirect target.
EXPOSED_HEADERS = "Retry-After, X-Retry-After, Content-Range, Content-Length, ETag, Location, WWW-Authenticate"
PREFLIGHT_MAX_AGE_SECONDS = "600"
ORIGINS = web.AppKey("cors_origins", tuple[str, ...])


def allowed_origin(origins: tuple[str, ...], origin: str | None) -> str | None:
    """The Access-Control-Allow-Origin value for a request from `origin`, or None."""
    if origin is None:
        return None
    if origins == ("*",):
        return "*"
    return origin if origin in origins else None


async def add_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    allowed = allowed_origin(request.app[ORIGINS], request.headers.get("Origin"))
    response.headers.add("Vary", "Origin")
    if allowed is not None:
        response.headers["Access-Control-Allow-Origin"] = allowed
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS


@web.middleware
async def answer_preflight(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
        return await handler(request)
    if allowed_origin(request.app[ORIGINS], request.headers.get("Origin")) is None:
        return problem_response(403, "This origin may not call the API; see TOOLTOOL_CORS_ORIGINS.")
    return web.Response(
        status=204,
        headers={
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": PREFLIGHT_MAX_AGE_SECONDS,
        },
    )


def setup_cors(app: web.Application, config: Config) -> None:
    """Install the CORS hook and preflight answers, only when origins are configured."""
    if not config.cors_origins:
        return
    app[ORIGINS] = config.cors_origins
    app.on_response_prepare.append(add_cors_headers)
    app.middlewares.append(answer_preflight)
