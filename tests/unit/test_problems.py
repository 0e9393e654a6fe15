"""The one table from errors to HTTP answers (proxy/http/problems.py): every domain error has an
answer, with PROTOCOL.md §2's body and the headers clients rely on."""

import json

import pytest

from proxy import outcomes
from proxy.errors import FORBIDDEN_DETAIL, RETRY_AFTER_SECONDS
from proxy.http.problems import (
    ANSWERS,
    AUTH_UNAVAILABLE_DETAIL,
    STORE_UNAVAILABLE_DETAIL,
    answer_for,
    problem_answer,
)
from proxy.storage import ObjectNotFound, PreconditionFailed, StoreUnavailable
from proxy.storage.cas import ContendedWrite
from tests.support.oracles import problem_body

WAIT = str(RETRY_AFTER_SECONDS)

# (error, status, detail, headers beyond Content-Type): what PROTOCOL.md and tooltool.py expect.
CASES = [
    (outcomes.InvalidInput("Invalid sha512 digest"), 400, "Invalid sha512 digest", {}),
    (
        outcomes.RejectedBytes("Size mismatch for a: 1 bytes arrived, not 2"),
        400,
        "Size mismatch for a: 1 bytes arrived, not 2",
        {},
    ),
    (
        outcomes.NeedsCredentials("Hawk MAC does not match"),
        401,
        "Hawk MAC does not match",
        {"WWW-Authenticate": "Hawk"},
    ),
    (outcomes.Forbidden(), 403, FORBIDDEN_DETAIL, {}),
    (outcomes.BadPutGrant("the upload URL has expired"), 403, "the upload URL has expired", {}),
    (outcomes.NotFound(), 404, "The requested file was not found.", {}),
    (outcomes.PutStalled(0.5), 408, "The upload sent no bytes for 0.5 seconds; send the file again.", {}),
    (outcomes.PutInProgress(), 409, outcomes.PutInProgress.default_detail, {}),
    (
        outcomes.NotYetUploaded(),
        409,
        "The uploaded file has not arrived yet; retry later.",
        {"X-Retry-After": WAIT, "Retry-After": WAIT},
    ),
    (outcomes.LengthRequired(), 411, "A Content-Length header is required.", {}),
    (
        outcomes.RangeNotSatisfiable(10),
        416,
        "The range starts past the end of the file (10 bytes).",
        {"Content-Range": "bytes */10", "Accept-Ranges": "bytes"},
    ),
    (outcomes.AuthServiceUnavailable("ClientError"), 503, AUTH_UNAVAILABLE_DETAIL, {"Retry-After": WAIT}),
]


def domain_error_types() -> set[type[outcomes.DomainError]]:
    found: set[type[outcomes.DomainError]] = set()
    pending = [outcomes.DomainError]
    while pending:
        for subclass in pending.pop().__subclasses__():
            if subclass.__module__.startswith("proxy."):
                found.add(subclass)
                pending.append(subclass)
    return found


def test_every_domain_error_has_its_own_answer() -> None:
    """A new DomainError subclass must say its status here, not inherit one by accident."""
    missing = sorted(kind.__name__ for kind in domain_error_types() if kind not in ANSWERS)
    assert missing == []


def test_every_domain_error_is_checked_below() -> None:
    assert {type(error) for error, *_ in CASES} == domain_error_types()


@pytest.mark.parametrize(("error", "status", "detail", "headers"), CASES, ids=lambda v: type(v).__name__)
def test_domain_error_answer(error: outcomes.DomainError, status: int, detail: str, headers: dict[str, str]) -> None:
    response = problem_answer(error)
    assert response.status == status
    assert response.content_type == "application/json"
    assert response.text is not None
    assert json.loads(response.text) == problem_body(status, detail)
    assert {k: v for k, v in response.headers.items() if k != "Content-Type"} == headers


@pytest.mark.parametrize(
    "error",
    [StoreUnavailable("down"), PreconditionFailed("raced"), ContendedWrite("busy")],
    ids=lambda e: type(e).__name__,
)
def test_store_failures_are_503_with_retry_after(error: Exception) -> None:
    answer = answer_for(error)
    assert answer is not None
    assert (answer.status, answer.detail, answer.headers(error)) == (
        503,
        STORE_UNAVAILABLE_DETAIL,
        {"Retry-After": WAIT},
    )


@pytest.mark.parametrize(
    "error", [ValueError("x"), ObjectNotFound("k"), RuntimeError()], ids=lambda e: type(e).__name__
)
def test_errors_outside_the_table_are_server_failures(error: Exception) -> None:
    assert answer_for(error) is None


def test_a_subclass_takes_its_nearest_answer() -> None:
    class Unmapped(outcomes.NotFound):
        pass

    answer = answer_for(Unmapped("gone"))
    assert answer is not None
    assert answer.status == 404
