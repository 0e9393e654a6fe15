"""Request logs (mozlog `request.summary` lines) and Sentry, with secrets kept out of both."""

import logging
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import sentry_sdk
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from dockerflow.logging import MozlogFormatter
from sentry_sdk.integrations.aiohttp import AioHttpIntegration

from proxy.context import IDENTITY
from proxy.metrics import METRICS

summary_log = logging.getLogger("request.summary")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SECRET_HEADERS = {"authorization", "cookie", "x-amz-security-token"}


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


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(MozlogFormatter(logger_name="tooltool-proxy"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiohttp's access log would repeat each request with its query string; ours replaces it.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.server").addFilter(RedactParserErrors())


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
        request.app[METRICS].observe(request, status, elapsed)
        identity = request.get(IDENTITY)
        summary_log.info(
            "",
            extra={
                "agent": request.headers.get("User-Agent", ""),
                "path": request.path,  # never the query string: it may carry signatures
                "method": request.method,
                "code": status,
                "t": round(elapsed * 1000, 3),
                "rid": secrets.token_hex(16),  # 128 random bits, like a uuid4 at a fifth of the cost
                "uid": getattr(identity, "client_id", None),
            },
        )


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def scrub_event(event: Any, hint: Any) -> Any:
    """Sentry `before_send`: drop credentials, query strings and signed URLs from the event."""
    request = event.get("request")
    if isinstance(request, dict):
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {k: v for k, v in headers.items() if k.lower() not in SECRET_HEADERS}
        request.pop("query_string", None)
        request.pop("cookies", None)
        if isinstance(request.get("url"), str):
            request["url"] = _without_query(request["url"])
    return event


def init_sentry(dsn: str | None, release: str | None, transport: Any = None) -> None:
    if not dsn:
        return
    sentry_sdk.init(
        dsn=dsn,
        release=release,
        transport=transport,
        integrations=[AioHttpIntegration()],
        # Stack frames' local variables hold query values, headers and tokens: never send them.
        include_local_variables=False,
        before_send=scrub_event,
        before_send_transaction=scrub_event,
    )
