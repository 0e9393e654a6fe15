"""Sentry for the server, with credentials, query strings and signed URLs kept out of its events.

Part of the HTTP edge: its aiohttp integration imports aiohttp.
"""

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import sentry_sdk
from sentry_sdk.integrations.aiohttp import AioHttpIntegration

from proxy.observability import SECRET_HEADERS


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
