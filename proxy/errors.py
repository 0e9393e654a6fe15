"""The one error body of PROTOCOL.md §2, and the exception handlers raise to produce it."""

import json
from collections.abc import Mapping
from http import HTTPStatus

from aiohttp import web

FORBIDDEN_DETAIL = (
    "You don't have the permission to access the requested resource. "
    "It is either read-protected or not readable by the server."
)
INVALID_DIGEST_DETAIL = "Invalid sha512 digest"
STORE_RETRY_AFTER_SECONDS = 5


class HTTPProblem(Exception):
    """Raised anywhere below a handler; the error middleware turns it into the JSON body."""

    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


def bad_request(detail: str) -> HTTPProblem:
    return HTTPProblem(400, detail)


def unauthorized(reason: str) -> HTTPProblem:
    return HTTPProblem(401, reason, {"WWW-Authenticate": "Hawk"})


def forbidden() -> HTTPProblem:
    return HTTPProblem(403, FORBIDDEN_DETAIL)


def not_found(detail: str = "The requested file was not found.") -> HTTPProblem:
    return HTTPProblem(404, detail)


def problem_body(status: int, detail: str) -> bytes:
    """Both shapes at once: the top level the runbook shows, `error` what tooltool.py logs."""
    title = f"{status} {HTTPStatus(status).phrase}: {detail}"
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": "about:blank",
        "error": {
            "type": "about:blank",
            "title": title,
            "name": title,
            "status": status,
            "detail": detail,
            "description": detail,
            "instance": "about:blank",
        },
    }
    return json.dumps(body, indent=2, sort_keys=True).encode() + b"\n"


def problem_response(status: int, detail: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=problem_body(status, detail),
        content_type="application/json",
        headers=headers,
    )
