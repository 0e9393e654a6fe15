"""The Authenticator without a web request: it gets the Authorization header and, for Hawk only,
a reader of the request's parts; every refusal is NeedsCredentials and counts as a failure."""

from pathlib import Path

import pytest

from proxy.auth import Authenticator, HawkRequest, Identity
from proxy.clients import ClientsFile, add_bearer_token
from proxy.outcomes import NeedsCredentials

ANONYMOUS_SCOPES = ("prefix/download/public",)


async def never_read(header: str) -> HawkRequest:
    raise AssertionError("only a Hawk header needs the request's parts")


@pytest.fixture
def clients(tmp_path: Path) -> tuple[ClientsFile, str]:
    path = tmp_path / "clients.json"
    token = add_bearer_token(path, "ci", ["prefix/upload/public"])
    return ClientsFile(path), token


async def test_no_header_is_the_anonymous_identity(clients: tuple[ClientsFile, str]) -> None:
    auth = Authenticator(clients[0], ANONYMOUS_SCOPES)
    assert await auth.identify(None, never_read) == Identity(None, ANONYMOUS_SCOPES)
    assert auth.failures == 0


async def test_a_bearer_token_is_verified_without_reading_the_request(clients: tuple[ClientsFile, str]) -> None:
    auth = Authenticator(clients[0], ANONYMOUS_SCOPES)
    identity = await auth.identify(f"Bearer {clients[1]}", never_read)
    assert identity == Identity("bearer:ci", ("prefix/upload/public",))


@pytest.mark.parametrize(
    ("header", "reason"),
    [("Bearer not-a-token", "unknown Bearer token"), ("Basic dXNlcjpwYXNz", "unsupported Authorization scheme")],
)
async def test_refused_credentials_are_needs_credentials_and_counted(
    clients: tuple[ClientsFile, str], header: str, reason: str
) -> None:
    auth = Authenticator(clients[0], ANONYMOUS_SCOPES)
    with pytest.raises(NeedsCredentials, match=reason):
        await auth.identify(header, never_read)
    assert auth.failures == 1


async def test_a_malformed_hawk_header_is_refused_after_reading_the_request(clients: tuple[ClientsFile, str]) -> None:
    read: list[str] = []

    async def reader(header: str) -> HawkRequest:
        read.append(header)
        return HawkRequest(header, "GET", "/", "127.0.0.1", 80, b"", "")

    auth = Authenticator(clients[0], ANONYMOUS_SCOPES)
    with pytest.raises(NeedsCredentials, match="malformed Hawk header"):
        await auth.identify('Hawk id="x"', reader)
    assert read == ['Hawk id="x"']
    assert auth.failures == 1
