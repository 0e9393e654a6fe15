"""The one table from errors to HTTP answers, and the middleware that answers with it.

Every error leaves as the JSON body of PROTOCOL.md §2 (proxy/errors.py). The services raise
proxy/outcomes.py's domain errors; ANSWERS says, per type, the status and the headers; a type
not in the table (nor any of its bases) is a 500 and is reported.
"""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sentry_sdk
from aiohttp import web

from proxy.errors import RETRY_AFTER_SECONDS, problem_body
from proxy.http.context import METRICS, Handler
from proxy.outcomes import (
    AuthServiceUnavailable,
    BadPutGrant,
    DomainError,
    Forbidden,
    InvalidInput,
    LengthRequired,
    NeedsCredentials,
    NotFound,
    NotYetUploaded,
    PutInProgress,
    PutStalled,
    RangeNotSatisfiable,
    RejectedBytes,
)
from proxy.storage import PreconditionFailed, StoreUnavailable

log = logging.getLogger("tooltool.app")

STORE_UNAVAILABLE_DETAIL = "The object store is unavailable; retry later."
AUTH_UNAVAILABLE_DETAIL = "The authentication service is unavailable; retry later."
SERVER_FAILED_DETAIL = "The server failed to answer; the error was reported."


def _no_headers(_error: Any) -> dict[str, str]:
    return {}


def _retry_later(_error: Any) -> dict[str, str]:
    return {"Retry-After": str(RETRY_AFTER_SECONDS)}


def _retry_upload_later(_error: Any) -> dict[str, str]:
    # tooltool.py reads X-Retry-After; Retry-After is the standard name.
    wait = str(RETRY_AFTER_SECONDS)
    return {"X-Retry-After": wait, "Retry-After": wait}


def _hawk_challenge(_error: Any) -> dict[str, str]:
    return {"WWW-Authenticate": "Hawk"}


def _unsatisfiable_range(error: RangeNotSatisfiable) -> dict[str, str]:
    return {"Content-Range": f"bytes */{error.size}", "Accept-Ranges": "bytes"}


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Callable[[Any], dict[str, str]] = _no_headers
    detail: str | None = None  # None: the error's own detail


ANSWERS: Mapping[type[Exception], Answer] = {
    InvalidInput: Answer(400),
    RejectedBytes: Answer(400),
    NeedsCredentials: Answer(401, _hawk_challenge),
    Forbidden: Answer(403),
    BadPutGrant: Answer(403),
    NotFound: Answer(404),
    PutStalled: Answer(408),
    PutInProgress: Answer(409),
    NotYetUploaded: Answer(409, _retry_upload_later),
    LengthRequired: Answer(411),
    RangeNotSatisfiable: Answer(416, _unsatisfiable_range),
    AuthServiceUnavailable: Answer(503, _retry_later, AUTH_UNAVAILABLE_DETAIL),
    # A store that cannot answer, or a conditional write that lost a race its caller does not
    # retry: both are worth retrying later.
    StoreUnavailable: Answer(503, _retry_later, STORE_UNAVAILABLE_DETAIL),
    PreconditionFailed: Answer(503, _retry_later, STORE_UNAVAILABLE_DETAIL),
}


def answer_for(error: Exception) -> Answer | None:
    """The table's answer for the error's type or its nearest base; None for a server failure."""
    for kind in type(error).__mro__:
        answer = ANSWERS.get(kind)
        if answer is not None:
            return answer
    return None


def problem_response(status: int, detail: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=problem_body(status, detail), content_type="application/json", headers=headers
    )


def problem_answer(error: DomainError) -> web.Response:
    """The answer for a domain error, for a handler that must change it (say, close the
    connection) before it leaves."""
    answer = answer_for(error)
    assert answer is not None, f"{type(error).__name__} has no entry in ANSWERS"
    return problem_response(answer.status, answer.detail or error.detail, answer.headers(error))


@web.middleware
async def error_bodies(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error leaves as the JSON body of PROTOCOL.md §2; nothing leaves as a traceback."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow",)}
        return problem_response(exc.status, exc.reason, headers)
    except Exception as exc:
        answer = answer_for(exc)
        if answer is None:
            log.exception("unhandled error", extra={"path": request.path, "method": request.method})
            sentry_sdk.capture_exception()
            return problem_response(500, SERVER_FAILED_DETAIL)
        if isinstance(exc, (StoreUnavailable, PreconditionFailed)):
            # The reason is in the message too: a captured log (pytest, journald) often shows only that.
            log.warning("object store unavailable: %s", exc, extra={"reason": str(exc)})
            request.app[METRICS].store_errors.inc()
        elif isinstance(exc, AuthServiceUnavailable):
            log.warning("auth service unavailable")
        detail = answer.detail or (exc.detail if isinstance(exc, DomainError) else str(exc))
        return problem_response(answer.status, detail, answer.headers(exc))
