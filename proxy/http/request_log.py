"""The request.summary line and the request metrics of every request (a middleware), and what
aiohttp's server log may say about requests its parser refused."""

import logging
import secrets
import time

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from proxy import observability
from proxy.http.context import IDENTITY, METRICS, Handler


def route_template(request: web.Request) -> str:
    """The route's template (`/sha512/{digest}`), the only path a metric label carries."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def request_summary(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One `request.summary` log line and the request metrics for every request."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        elapsed = time.perf_counter() - started
        request.app[METRICS].observe(route_template(request), request.method, status, elapsed)
        identity = request.get(IDENTITY)
        observability.request_log.write(
            {
                "agent": request.headers.get("User-Agent", ""),
                "path": request.path,  # never the query string: it may carry signatures
                "method": request.method,
                "code": status,
                "t": round(elapsed * 1000, 3),
                "rid": secrets.token_hex(16),  # 128 random bits, like a uuid4 at a fifth of the cost
                "uid": getattr(identity, "client_id", None),
            }
        )


class RedactParserErrors(logging.Filter):
    """aiohttp logs a request its parser refuses (line too long, bad bytes) with the offending
    text in the exception: that can be a query string or an Authorization header. Keep the
    fact, drop the text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], HttpProcessingError):
            refused = record.exc_info[1]
            record.msg = "refused a request the HTTP parser could not read (%s, status %s)"
            record.args = (type(refused).__name__, refused.code)
            record.exc_info = None
            record.exc_text = None
        return True


def redact_parser_errors() -> None:
    """Install RedactParserErrors on aiohttp's server logger, once per process."""
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(existing, RedactParserErrors) for existing in server_log.filters):
        server_log.addFilter(RedactParserErrors())
