"""The one error body of PROTOCOL.md §2 and the details every layer shares; no HTTP library.

The services raise proxy/outcomes.py's errors; proxy/http/problems.py turns them into answers.
"""

import json
from http import HTTPStatus

FORBIDDEN_DETAIL = (
    "You don't have the permission to access the requested resource. "
    "It is either read-protected or not readable by the server."
)
INVALID_DIGEST_DETAIL = "Invalid sha512 digest"
# How long a client is told to wait (Retry-After) before asking again: an upload not arrived
# yet, a store or auth service unavailable, a failing heartbeat.
RETRY_AFTER_SECONDS = 5


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
